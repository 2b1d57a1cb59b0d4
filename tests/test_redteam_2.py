"""Red team, round 2: attacks on what changed on 2026-12-01 (format-2 axes, decimal scores, the
service's front layer, the log's cached end, replay's engine_version dispatch).

Each test is one attack by a dishonest caller (a salesperson wanting the sale, an insider wanting a
record gone); its docstring says the attack. A test passes when the attack is refused.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suitability import Client
from suitability.errors import DecisionError
from suitability.models import age_on, oldest_age_at, youngest_age_at
from suitability.policy import load_policy
from suitability.replay import replay as replay_log

from .conftest import AS_OF
from .test_format2_axes import DOC, SIX, _answers, _engine, _product


def _young_policy() -> Any:
    """policy-vulnerable with its age axis turned around: under 18 may buy SRI1 only (ascending)."""
    doc = copy.deepcopy(DOC)
    doc["axes"] = [
        {
            "id": "young",
            "name": {"zh-CN": "年龄", "en": "age"},
            "fact": "age",
            "permissive": "ascending",
            "bands": [
                {"id": "minor", "name": {"zh-CN": "未满 18 岁", "en": "under 18"},
                 "suitable_up_to": {"max_risk": "SRI1"}},
                {"id": "adult", "name": {"zh-CN": "18 岁及以上", "en": "18 and over"}, "at_least": 18},
            ],
        }
    ]  # fmt: skip
    return load_policy(doc, "young.json")


def test_an_age_only_client_is_not_aged_past_an_ascending_age_axis(tmp_path: Any) -> None:
    """Attack: the log holds only an age (pseudonymized), 17 at assessment. The next day the
    salesperson sells SRI4 under a policy whose age axis limits the under-18s (ascending). The
    engine takes the *oldest* age the recorded one allows (18), which is right for special care and
    65+ axes but here lifts the minor's limit on a client who is almost surely still 17."""
    engine, store = _engine(tmp_path)
    policy = _young_policy()
    client = Client(client_id="HK-1", age=17, experience_years=5)
    a = engine.assess(SIX, _answers("P6"), client, AS_OF)
    d = engine.decide(a, _product("SRI4"), None, policy, "client", AS_OF + timedelta(days=1))
    assert d.axes is not None and d.axes[0].band == "minor"
    assert d.outcome == "blocked"
    report = replay_log(store)
    assert report.ok, report.differences or report.errors


def test_an_age_only_client_under_age_rules_both_ways_needs_a_birth_date(tmp_path: Any) -> None:
    """Attack: the same, under a policy limiting the under-18s (ascending) and the 65+ (special
    care): one age cannot be the stricter for both, so the decision is refused, not guessed."""
    engine, _ = _engine(tmp_path)
    doc = copy.deepcopy(_young_policy().document)
    doc["special_care"] = {"min_age": 65, "from_risk": "SRI5"}
    policy = load_policy(doc, "young-and-old.json")
    a = engine.assess(SIX, _answers("P6"), Client(client_id="HK-1", age=17, experience_years=5), AS_OF)
    with pytest.raises(DecisionError) as caught:
        engine.decide(a, _product("SRI4"), None, policy, "client", AS_OF + timedelta(days=1))
    assert [(p.code, p.pointer) for p in caught.value.problems] == [("AGE_REQUIRED", "/client/birth_date")]
    # on the day of the assessment the age is certain: decided as recorded
    d = engine.decide(a, _product("SRI4"), None, policy, "client", AS_OF)
    assert d.axes is not None and d.axes[0].band == "minor" and d.outcome == "blocked"


@given(born=st.dates(date(1900, 1, 1), date(2020, 12, 31)), gap=st.integers(0, 3000), later=st.integers(0, 3000))
def test_a_recorded_age_bounds_the_true_age_from_both_sides(born: date, gap: int, later: int) -> None:
    """Property: for anyone, the age recorded on one day gives, on any later day, a youngest and an
    oldest age between which the person's true age lies."""
    on = born + timedelta(days=gap)
    at = on + timedelta(days=later)
    recorded = age_on(born, on)
    assert youngest_age_at(recorded, on, at) <= age_on(born, at) <= oldest_age_at(recorded, on, at)


def test_a_salesperson_cannot_backdate_a_decision_to_before_the_65th_birthday(tmp_path: Any) -> None:
    """Attack: the client turns 65 today (birth date recorded). Over HTTP, with a sales key, the
    salesperson sends ``as_of`` twelve hours ago, the day before the birthday: the age axis puts
    the client under 65 and SRI4 is suitable without the confirmation a 65-year-old needs. Twelve
    hours is within the review's 24-hour dating tolerance, so no reviewer is shown it either."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    import anyio

    from suitability import Registry
    from suitability.engine import Engine
    from suitability.log.sqlite import SQLiteStore
    from suitability.service.app import create_app
    from suitability.service.keys import KeyRing, add_key

    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # the engine's clock
    born = date(1961, 12, 1)  # 65 today
    registry = Registry.default(environ={})
    registry.add_document(copy.deepcopy(DOC), "policy-vulnerable.json")
    registry.add_document(copy.deepcopy(SIX.document), "six-level-rpq.json")
    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(registry, store, clock=lambda: now)
    client = Client(client_id="HK-1", birth_date=born, experience_years=5)
    a = engine.assess(SIX, _answers("P4", "from_65_to_70"), client, now - timedelta(days=2))
    _, sales = add_key(tmp_path / "keys.json", "staff-07", "sales")
    app = create_app(engine, KeyRing(tmp_path / "keys.json"), policies=[f"{DOC['id']}@{DOC['version']}"])
    body = {
        "assessment_id": a.id,
        "client": client.model_dump(mode="json", exclude_none=True),
        "product": _product("SRI4").model_dump(mode="json", exclude_none=True),
        "policy": f"{DOC['id']}@{DOC['version']}",
        "initiated_by": "client",
        "as_of": (now - timedelta(hours=12)).isoformat(),
    }

    async def post() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.post("/v1/decisions", json=body, headers={"Authorization": f"Bearer {sales}"})

    r = anyio.run(post)
    assert r.status_code >= 400 or r.json()["outcome"] != "suitable", r.json()
    assert r.status_code == 422 and r.json()["problems"][0]["pointer"] == "/as_of", r.text
    assert r.json()["code"] == "AS_OF_NOT_NOW" and store.size() == 2  # the artifact and the assessment only
    # an as_of within the tolerance (a minute ago) is the client's today: 65, the confirmation is needed
    body["as_of"] = (now - timedelta(minutes=1)).isoformat()
    r = anyio.run(post)
    assert r.status_code == 201 and r.json()["outcome"] == "requires_confirmation", r.text


def _trained_policy() -> Any:
    """policy-vulnerable with one axis on a declared boolean fact: the untrained may buy SRI1 only."""
    doc = copy.deepcopy(DOC)
    doc["axes"] = [
        {
            "id": "training",
            "name": {"zh-CN": "产品培训", "en": "product training"},
            "fact": "trained",
            "permissive": "ascending",
            "bands": [
                {"id": "untrained", "name": {"zh-CN": "未培训", "en": "untrained"}, "values": [False],
                 "suitable_up_to": {"max_risk": "SRI1"}},
                {"id": "trained", "name": {"zh-CN": "已培训", "en": "trained"}, "values": [True]},
            ],
        }
    ]  # fmt: skip
    return load_policy(doc, "trained.json")


@pytest.mark.parametrize(("recorded", "claimed"), [(1, True), (0, False)])
def test_a_fact_of_another_type_but_equal_in_python_is_a_change_of_facts(
    tmp_path: Any, recorded: int, claimed: bool
) -> None:
    """Attack: the assessment recorded the declared fact ``trained`` as ``1`` (no band lists it:
    the least permissive band). At decide time the salesperson sends ``true``: Python finds
    ``{"trained": 1} == {"trained": True}``, so the facts pass as those recorded, and the decision,
    made on the facts given, puts the client in the ``trained`` band."""
    engine, _ = _engine(tmp_path)
    policy = _trained_policy()
    client = Client(client_id="HK-1", birth_date="1980-01-01", experience_years=5, facts={"trained": recorded})
    a = engine.assess(SIX, _answers("P6"), client, AS_OF)
    claimed_client = client.model_copy(update={"facts": {"trained": claimed}})
    with pytest.raises(DecisionError) as caught:
        engine.decide(a, _product("SRI4"), claimed_client, policy, "client", AS_OF)
    assert [(p.code, p.pointer) for p in caught.value.problems] == [("CLIENT_FACTS_DIFFER", "/client/facts")]
    d = engine.decide(a, _product("SRI4"), None, policy, "client", AS_OF)  # the recorded facts
    assert d.axes is not None and (d.axes[0].band, d.axes[0].basis) == ("untrained", "value_unknown")


_FACT_VALUES = st.one_of(st.booleans(), st.integers(-2, 2), st.sampled_from(["0", "1", "true"]))


@given(
    recorded=st.dictionaries(st.sampled_from(["a", "b"]), _FACT_VALUES, max_size=2),
    given_facts=st.dictionaries(st.sampled_from(["a", "b"]), _FACT_VALUES, max_size=2),
)
def test_declared_facts_pass_as_recorded_only_when_they_are_the_same_json(
    recorded: dict[str, Any], given_facts: dict[str, Any]
) -> None:
    """Property: facts given at decide time are those recorded exactly when their JSON is the same."""
    from suitability.matching import client_fact_differences

    was = Client(client_id="HK-1", age=40, facts=recorded)
    now = Client(client_id="HK-1", age=40, facts=given_facts)
    same = json.dumps(recorded, sort_keys=True) == json.dumps(given_facts, sort_keys=True)
    assert (client_fact_differences(was, AS_OF, now, AS_OF) == []) is same


@pytest.mark.parametrize("route", ["/v1/decisions", "/v1/recommendations"])
def test_a_catalog_product_cannot_be_sent_inline_with_a_lower_risk_level(tmp_path: Any, route: str) -> None:
    """Attack: the service's catalog holds F-SRI4 at SRI4. The salesperson sends the product
    inline instead of by id, with the same id and risk level SRI1: a 65-year-old client is decided
    suitable for it (and it is screened in), on product facts the firm's own catalog contradicts."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    import anyio

    from suitability import Registry
    from suitability.engine import Engine
    from suitability.log.sqlite import SQLiteStore
    from suitability.service.app import create_app
    from suitability.service.keys import KeyRing, add_key

    registry = Registry.default(environ={})
    registry.add_document(copy.deepcopy(DOC), "policy-vulnerable.json")
    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(registry, store)
    client = Client(client_id="HK-1", birth_date="1950-01-01", experience_years=5)
    a = engine.assess(SIX, _answers("P4", "from_65_to_70"), client, AS_OF)
    _, sales = add_key(tmp_path / "keys.json", "staff-07", "sales")
    app = create_app(
        engine,
        KeyRing(tmp_path / "keys.json"),
        [_product("SRI4")],
        policies=[f"{DOC['id']}@{DOC['version']}"],
        as_of_tolerance=None,
    )
    relabelled = _product("SRI1").model_dump(mode="json", exclude_none=True) | {"id": "F-SRI4"}
    body: dict[str, Any] = {
        "assessment_id": a.id,
        "client": client.model_dump(mode="json", exclude_none=True),
        "policy": f"{DOC['id']}@{DOC['version']}",
        "as_of": AS_OF.isoformat(),
    }
    if route == "/v1/decisions":
        body |= {"product": relabelled, "initiated_by": "client"}
    else:
        body |= {"products": [relabelled]}
    size = store.size()

    async def post(sent: dict[str, Any]) -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.post(route, json=sent, headers={"Authorization": f"Bearer {sales}"})

    r = anyio.run(post, body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "PRODUCT_DIFFERS"
    assert store.size() == size  # nothing recorded
    # the catalog's product, given whole as the catalog has it, is decided
    same = _product("SRI4").model_dump(mode="json", exclude_none=True)
    r = anyio.run(post, body | ({"product": same} if route == "/v1/decisions" else {"products": [same]}))
    assert r.status_code == 201, r.text


def test_a_salesperson_cannot_pick_a_policy_without_the_age_axis(tmp_path: Any) -> None:
    """Attack: the firm decides under hk-vulnerable (a 65+ client buying SRI4 as P4 needs a
    confirmation). Another registered policy on the same profile scale, sri-seven, has no age axis
    (special care only from SRI5). The salesperson names it in the decision's body: the
    70-year-old is decided suitable for SRI4 with no warning at all."""
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    import anyio

    from suitability import Registry
    from suitability.engine import Engine
    from suitability.log.sqlite import SQLiteStore
    from suitability.service.app import create_app
    from suitability.service.keys import KeyRing, add_key

    from .test_format2_axes import F2

    registry = Registry.default(environ={})
    registry.add_document(copy.deepcopy(DOC), "policy-vulnerable.json")
    registry.add_file(F2 / "policy-sri-seven.json")
    engine = Engine(registry, SQLiteStore(tmp_path / "log.sqlite3"))
    client = Client(client_id="HK-1", birth_date="1956-01-01", experience_years=5)  # 70
    a = engine.assess(SIX, _answers("P4", "from_65_to_70"), client, AS_OF)
    assert engine.decide(a, _product("SRI4"), None, f"{DOC['id']}", "client", AS_OF).outcome == "requires_confirmation"
    _, sales = add_key(tmp_path / "keys.json", "staff-07", "sales")
    app = create_app(engine, KeyRing(tmp_path / "keys.json"), policies=["hk-vulnerable"])  # the firm's policy
    body = {
        "assessment_id": a.id,
        "client": client.model_dump(mode="json", exclude_none=True),
        "product": _product("SRI4").model_dump(mode="json", exclude_none=True),
        "policy": "sri-seven",
        "initiated_by": "client",
        "as_of": AS_OF.isoformat(),
    }

    async def post() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.post("/v1/decisions", json=body, headers={"Authorization": f"Bearer {sales}"})

    r = anyio.run(post)
    assert r.status_code >= 400 or r.json()["outcome"] != "suitable", r.json()
