"""Format 2 policies with more than one axis (issue 12 item 7): a client fact besides the profile
limits the matrix, as data; the monotonicity check runs along every axis; decisions show the band
each axis put the client in, and the engine, replay and ``policy check`` follow."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from suitability import Client
from suitability.cli import cli
from suitability.engine import Engine
from suitability.errors import DecisionError, DocumentError
from suitability.log.sqlite import SQLiteStore
from suitability.matching import Decision, decide
from suitability.models import Assessment, DocumentRef
from suitability.policy import check_pair, load_policy
from suitability.product import Product, parse_product
from suitability.questionnaire import load_questionnaire
from suitability.replay import replay as replay_log

from .conftest import AS_OF, CSRC_FILE, load

F2 = Path(__file__).parent / "data" / "format2"
POLICY_FILE = F2 / "policy-vulnerable.json"
DOC = load(POLICY_FILE)
POLICY = load_policy(DOC, "policy-vulnerable.json")


def _questionnaire() -> Any:
    """The six-level RPQ, with varieties fixed so that only the risk dimension decides."""
    doc = load(F2 / "six-level-rpq.json")
    doc["derive"]["varieties"] = {"value": ["fixed_income", "equity"], "source": {"zh-CN": "测试", "en": "test"}}
    return load_questionnaire(doc, "six-level-rpq.json")


SIX = _questionnaire()
#: answers giving each profile of the six-level RPQ (found by scoring them)
PROFILE_ANSWERS = {
    "P2": {"loss": "none", "reaction": "hold", "share": "gt50", "savings": "m3_6"},
    "P3": {"loss": "none", "reaction": "buy", "share": "gt50", "savings": "gt6m"},
    "P4": {"loss": "small", "reaction": "buy", "share": "p20_50", "savings": "gt6m"},
    "P6": {"loss": "large", "reaction": "buy", "share": "lt20", "savings": "gt6m"},
}


def _answers(profile: str, age: str = "under_65") -> dict[str, Any]:
    return {"age": age, "goal": "over_5y", **PROFILE_ANSWERS[profile]}


def _product(level: str) -> Product:
    return parse_product({"id": f"F-{level}", "name": {"zh-CN": "基金", "en": "Fund"}, "risk_level": level,
                          "term": "short", "variety": "fixed_income"})  # fmt: skip


def _assessment(profile: str, client_id: str = "HK-1") -> Assessment:
    at = AS_OF - timedelta(days=10)
    return Assessment(
        id="asm_1", client_id=client_id, profile=profile, score=0, dimension_scores={}, lowest_category=False,
        rules_fired=[], consistency_violations=[], horizon="long", varieties=["fixed_income"], assessed_at=at,
        valid_until=at + timedelta(days=365), format=2,
        questionnaire=DocumentRef(id="six-level-rpq", version="2026.1", hash="sha256:" + "0" * 64),
    )  # fmt: skip


def _born(age: int) -> str:
    """A birth date giving ``age`` on AS_OF (born on 1 January)."""
    return f"{AS_OF.year - age}-01-01"


def _decide(profile: str, level: str, policy: Any = POLICY, initiated_by: str = "client", **facts: Any) -> Decision:
    client = Client(client_id="HK-1", **facts)
    return decide(_assessment(profile), _product(level), client, policy, initiated_by, AS_OF)  # type: ignore[arg-type]


def _codes(d: Decision) -> list[str]:
    return [r.code for r in d.reasons]


def _bands(d: Decision) -> dict[str, tuple[str, str]]:
    return {a.axis: (a.band, a.basis) for a in d.axes or ()}


# --- outcomes computed by hand from tests/data/format2/policy-vulnerable.json ---------------------
# P3 may buy SRI1-SRI3 (own limit SRI3); aged 65+: suitable up to one below (SRI2), confirmable up to
# SRI3, blocked above; without experience (< 1 year): SRI1-SRI3 only, SRI4 and above blocked.
HAND = [
    # profile, level, age, experience, outcome, codes
    ("P3", "SRI1", 67, 5, "suitable", []),
    ("P3", "SRI2", 67, 5, "suitable", []),
    ("P3", "SRI3", 67, 5, "requires_confirmation", ["AXIS_CONFIRMATION_REQUIRED"]),
    ("P3", "SRI4", 67, 5, "blocked", ["RISK_ABOVE_PROFILE", "AXIS_LIMIT_EXCEEDED"]),
    ("P3", "SRI3", 64, 5, "suitable", []),
    ("P3", "SRI4", 64, 5, "requires_confirmation", ["RISK_ABOVE_PROFILE"]),
    ("P6", "SRI3", 40, 0, "suitable", []),
    ("P6", "SRI4", 40, 0, "blocked", ["AXIS_LIMIT_EXCEEDED"]),
    ("P6", "SRI7", 40, 1, "suitable", []),
    # P6 may buy up to SRI7: aged 65+, SRI6 suitable, SRI7 confirmable
    ("P6", "SRI6", 65, 3, "suitable", []),
    ("P6", "SRI7", 65, 3, "requires_confirmation", ["AXIS_CONFIRMATION_REQUIRED"]),
    # both axes: P5 aged 70 without experience; SRI4 is within age's limit but not experience's
    ("P5", "SRI4", 70, 0, "blocked", ["AXIS_LIMIT_EXCEEDED"]),
    ("P5", "SRI3", 70, 0, "suitable", []),
    # P1 may buy SRI1 only: aged 65+, nothing is suitable and SRI1 needs confirmation
    ("P1", "SRI1", 80, 9, "requires_confirmation", ["AXIS_CONFIRMATION_REQUIRED"]),
]


@pytest.mark.parametrize(("profile", "level", "age", "years", "outcome", "codes"), HAND)
def test_hand_computed_outcomes(profile: str, level: str, age: int, years: int, outcome: str, codes: list[str]) -> None:
    d = _decide(profile, level, birth_date=_born(age), experience_years=years)
    assert (d.outcome, _codes(d)) == (outcome, codes)
    assert _bands(d) == {
        "elderly": ("aged_65_plus" if age >= 65 else "under_65", "value"),
        "experience": ("experienced" if years >= 1 else "none", "value"),
    }


def test_each_limit_gives_its_own_reason_in_both_languages() -> None:
    d = _decide("P5", "SRI5", birth_date=_born(70), experience_years=0)
    assert _codes(d) == ["AXIS_CONFIRMATION_REQUIRED", "AXIS_LIMIT_EXCEEDED"]  # age confirms; experience blocks
    confirm, block = d.reasons
    assert confirm.dimension == block.dimension == "axis"
    # no message in the policy: the built-in one, from the catalogs
    assert confirm.text["en"] == (
        "The product's risk level SRI5 is above what clients in band 65 and over of age (from the client's facts) "
        "may buy without confirming (up to SRI4): it needs your confirmation"
    )
    assert "65 岁及以上" in confirm.text["zh-CN"] and "须经您确认" in confirm.text["zh-CN"]
    # the policy's own message
    assert block.text["zh-CN"] == (
        "产品风险等级 SRI5 超出投资经验为「无投资经验（不足 1 年）」的客户可购买的范围（最高 SRI3；依据客户信息），"
        "即使您主动要求也不得销售。"
    )
    assert block.text["en"].startswith("The product's risk level SRI5 is above what clients whose investment")
    assert d.outcome == "blocked" and d.warnings == []


def test_a_firm_initiated_sale_needing_an_axis_confirmation_is_not_recommended() -> None:
    d = _decide("P3", "SRI3", initiated_by="firm", birth_date=_born(67), experience_years=5)
    assert (d.outcome, _codes(d)) == ("requires_confirmation", ["AXIS_CONFIRMATION_REQUIRED"])
    assert [w.code for w in d.warnings] == ["AXIS_CONFIRMATION_REQUIRED"]


def test_axes_apply_to_professionals_too() -> None:
    """``professional_may_buy_all`` lifts the matrix, not the axes: a firm that exempts professionals
    bands ``investor_type``."""
    d = _decide("P3", "SRI4", investor_type="professional", birth_date=_born(67), experience_years=5)
    assert (d.outcome, _codes(d)) == ("blocked", ["AXIS_LIMIT_EXCEEDED"])


# --- unknown facts: the least permissive band, shown as such --------------------------------------


def test_an_unknown_fact_puts_the_client_in_the_least_permissive_band() -> None:
    no_age = _decide("P3", "SRI3", experience_years=5)
    assert (no_age.outcome, _codes(no_age)) == ("requires_confirmation", ["AXIS_CONFIRMATION_REQUIRED"])
    assert _bands(no_age)["elderly"] == ("aged_65_plus", "fact_unknown")
    assert "did not give this fact" in no_age.reasons[0].text["en"]
    no_experience = _decide("P6", "SRI4", birth_date=_born(40))
    assert (no_experience.outcome, _codes(no_experience)) == ("blocked", ["AXIS_LIMIT_EXCEEDED"])
    assert _bands(no_experience)["experience"] == ("none", "fact_unknown")
    assert "未提供" in no_experience.reasons[0].text["zh-CN"]


def test_a_value_no_band_lists_is_the_least_permissive_band() -> None:
    doc = copy.deepcopy(DOC)
    doc["axes"].append(
        {"id": "training", "name": {"zh-CN": "培训", "en": "training"}, "fact": "product_training",
         "permissive": "ascending", "bands": [
             {"id": "untrained", "name": {"zh-CN": "未培训", "en": "untrained"}, "values": ["none"],
              "suitable_up_to": {"max_risk": "SRI2"}},
             {"id": "trained", "name": {"zh-CN": "已培训", "en": "trained"}, "values": ["done", True]}]}
    )  # fmt: skip
    policy = load_policy(doc)
    ok = _decide("P6", "SRI3", policy, birth_date=_born(40), experience_years=5, facts={"product_training": "done"})
    odd = _decide("P6", "SRI3", policy, birth_date=_born(40), experience_years=5, facts={"product_training": "maybe"})
    typed = _decide("P6", "SRI3", policy, birth_date=_born(40), experience_years=5, facts={"product_training": 1})
    assert ok.outcome == "suitable" and _bands(ok)["training"] == ("trained", "value")
    for d in (odd, typed):  # 1 is not True: values are compared with their type
        assert d.outcome == "blocked" and _bands(d)["training"] == ("untrained", "value_unknown")


# --- format 1 and policies without axes keep their bytes ------------------------------------------


def test_a_decision_without_axes_serializes_as_before() -> None:
    doc = copy.deepcopy(DOC)
    del doc["axes"]
    d = _decide("P3", "SRI3", load_policy(doc), birth_date=_born(67))
    assert d.axes is None and "axes" not in d.model_dump(mode="json")
    with_axes = _decide("P3", "SRI3", birth_date=_born(67))
    dumped = with_axes.model_dump(mode="json")
    assert dumped["axes"][0] == {"axis": "elderly", "fact": "age", "band": "aged_65_plus", "basis": "value"}
    assert Decision.model_validate_json(with_axes.model_dump_json()) == with_axes


def test_a_format_1_policy_refuses_axes() -> None:
    v1 = load(CSRC_FILE)
    v1["axes"] = DOC["axes"]
    with pytest.raises(DocumentError) as caught:
        load_policy(v1)
    assert any(p.pointer in ("", "/axes") or "axes" in p.message for p in caught.value.problems)


# --- load errors -----------------------------------------------------------------------------------


def _problems(doc: dict[str, Any]) -> list[Any]:
    with pytest.raises(DocumentError) as caught:
        load_policy(doc, "p.json")
    return caught.value.problems


def test_an_axis_not_monotone_in_its_direction_is_a_load_error() -> None:
    doc = copy.deepcopy(DOC)
    doc["axes"][0]["permissive"] = "ascending"  # as if clients 65+ were the more permissive band
    problems = _problems(doc)
    assert {p.code for p in problems} == {"AXIS_NOT_MONOTONE"}
    first = problems[0]
    assert first.pointer == "/axes/0/bands/0"
    assert "elderly" in first.message and "under_65" in first.message and "aged_65_plus" in first.message


def test_a_less_permissive_band_blocking_less_is_a_load_error() -> None:
    """Suitable sets alike, but the band on the less permissive side confirms more: not monotone."""
    doc = copy.deepcopy(DOC)
    doc["axes"][1]["bands"][0]["confirmable_up_to"] = {"max_risk": "SRI5"}
    doc["axes"][1]["bands"][1]["suitable_up_to"] = {"max_risk": "SRI3"}
    doc["axes"][1]["bands"][1]["confirmable_up_to"] = {"max_risk": "SRI4"}
    problems = _problems(doc)
    assert problems[0].code == "AXIS_NOT_MONOTONE" and problems[0].pointer == "/axes/1/bands/0"
    assert "not blocked" in problems[0].message and "'SRI5'" in problems[0].message


def test_confirming_less_than_suitable_is_a_load_error() -> None:
    doc = copy.deepcopy(DOC)
    band = doc["axes"][0]["bands"][1]
    band["suitable_up_to"], band["confirmable_up_to"] = {"lower_by": 0}, {"lower_by": 1}
    problems = _problems(doc)
    assert (problems[0].code, problems[0].pointer) == ("AXIS_NOT_MONOTONE", "/axes/0/bands/1/confirmable_up_to")


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["axes"][0]["bands"][0].update(at_least=0), "/axes/0/bands/0/at_least"),
        (lambda d: d["axes"][0]["bands"][1].pop("at_least"), "/axes/0/bands/1"),
        (lambda d: d["axes"][1]["bands"][0].update(suitable_up_to={"max_risk": "R9"}),
         "/axes/1/bands/0/suitable_up_to/max_risk"),
        (lambda d: d["axes"][1].update(fact="classes_traded"), "/axes/1/fact"),
        (lambda d: d["axes"][0]["bands"][1].update(values=["old"]), "/axes/0/bands/1/values"),
        (lambda d: d["axes"][0]["bands"][1].pop("suitable_up_to"), "/axes/0/bands/1/confirmable_up_to"),
        (lambda d: d["axes"][1]["bands"][1].update(id="none"), "/axes/1/bands/1/id"),
        (lambda d: d["axes"][1]["bands"][0].update(suitable_up_to={"max_risk": "SRI3", "lower_by": 1}),
         "/axes/1/bands/0/suitable_up_to"),
    ],
)  # fmt: skip
def test_a_malformed_axis_is_a_load_error_naming_its_pointer(change: Any, where: str) -> None:
    doc = copy.deepcopy(DOC)
    change(doc)
    assert where in [p.pointer for p in _problems(doc)]


def test_string_axes_check_their_values() -> None:
    doc = copy.deepcopy(DOC)
    doc["axes"].append(
        {"id": "type", "name": {"zh-CN": "类型", "en": "type"}, "fact": "investor_type", "permissive": "descending",
         "bands": [{"id": "pro", "name": {"zh-CN": "专业", "en": "pro"}, "values": ["professional"]},
                   {"id": "ord", "name": {"zh-CN": "普通", "en": "ordinary"}, "values": ["ordinary", "professional", True],
                    "suitable_up_to": {"max_risk": "SRI5"}}]}
    )  # fmt: skip
    wheres = {p.pointer for p in _problems(doc)}
    assert {"/axes/2/bands/1/values/1", "/axes/2/bands/1/values/2"} <= wheres


def test_axis_messages_may_use_their_placeholders_only() -> None:
    doc = copy.deepcopy(DOC)
    doc["messages"]["AXIS_CONFIRMATION_REQUIRED"] = {"zh-CN": "{band}{axis}{limit}", "en": "{reason}"}
    assert [p.pointer for p in _problems(doc)] == ["/messages/AXIS_CONFIRMATION_REQUIRED/en"]


# --- policy check ------------------------------------------------------------------------------------


def test_policy_check_is_quiet_about_axes_the_questionnaire_can_feed() -> None:
    errors, warnings = check_pair(POLICY, SIX)
    assert errors == [] and not [w for w in warnings if w.code.startswith("AXIS_")]


def test_policy_check_warns_of_unrecorded_facts_and_unreachable_bands(tmp_path: Path) -> None:
    doc = copy.deepcopy(DOC)
    doc["axes"][0]["bands"].append({"id": "over_200", "name": {"zh-CN": "200 岁以上", "en": "over 200"},
                                    "at_least": 200, "suitable_up_to": {"lower_by": 2}})  # fmt: skip
    doc["axes"].append(
        {"id": "training", "name": {"zh-CN": "培训", "en": "training"}, "fact": "product_training",
         "permissive": "ascending", "bands": [
             {"id": "untrained", "name": {"zh-CN": "未培训", "en": "untrained"}, "values": ["no"],
              "suitable_up_to": {"max_risk": "SRI2"}},
             {"id": "trained", "name": {"zh-CN": "已培训", "en": "trained"}, "values": ["yes"]}]}
    )  # fmt: skip
    doc["axes"].append(
        {"id": "type", "name": {"zh-CN": "类型", "en": "type"}, "fact": "investor_type", "permissive": "descending",
         "bands": [{"id": "pro", "name": {"zh-CN": "专业", "en": "pro"}, "values": ["professional"]},
                   {"id": "retail", "name": {"zh-CN": "零售", "en": "retail"}, "values": ["retail"],
                    "suitable_up_to": {"max_risk": "SRI5"}}]}
    )  # fmt: skip
    errors, warnings = check_pair(load_policy(doc), SIX)
    axis = [(w.code, w.pointer) for w in warnings if w.code.startswith("AXIS_")]
    assert errors == [] and axis == [
        ("AXIS_BAND_UNREACHABLE", "/axes/0/bands/2"),
        ("AXIS_FACT_NOT_RECORDED", "/axes/2/fact"),
        ("AXIS_BAND_UNREACHABLE", "/axes/3/bands/1"),
    ]
    assert (
        "only clients whose fact is unknown" in warnings[[w.pointer for w in warnings].index("/axes/0/bands/2")].message
    )
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    q = tmp_path / "q.json"
    q.write_text(json.dumps(SIX.document, ensure_ascii=False), encoding="utf-8")
    run = CliRunner().invoke(cli, ["policy", "check", str(path), "--questionnaire", str(q)])
    assert run.exit_code == 0, run.output
    assert "AXIS_FACT_NOT_RECORDED" in run.output and "AXIS_BAND_UNREACHABLE" in run.output


# --- the engine: the facts are those recorded; the age is the decision's -----------------------------


def _engine(tmp_path: Path) -> tuple[Engine, SQLiteStore]:
    from suitability import Registry

    store = SQLiteStore(tmp_path / "log.sqlite3")
    return Engine(Registry.default(environ={}), store), store


SRI = load_policy(load(F2 / "policy-sri-seven.json"))


@pytest.mark.parametrize("policy", [POLICY, SRI], ids=["with-axes", "without-axes"])
def test_facts_not_recorded_with_the_assessment_cannot_be_claimed_at_decide_time(tmp_path: Path, policy: Any) -> None:
    """Experience, classes traded and declared facts are facts of the assessment, like age."""
    engine, _ = _engine(tmp_path)
    recorded = Client(client_id="HK-1", birth_date=_born(40), experience_years=0)
    a = engine.assess(SIX, _answers("P6"), recorded, AS_OF)
    for claimed, where in (
        (recorded.model_copy(update={"experience_years": 5}), "/client/experience_years"),
        (recorded.model_copy(update={"classes_traded": ("equity",)}), "/client/classes_traded"),
        (recorded.model_copy(update={"facts": {"product_training": "done"}}), "/client/facts"),
    ):
        with pytest.raises(DecisionError) as caught:
            engine.decide(a, _product("SRI4"), claimed, policy, "client", AS_OF)
        assert [(p.code, p.pointer) for p in caught.value.problems] == [("CLIENT_FACTS_DIFFER", where)]


def test_experience_not_recorded_with_the_assessment_cannot_lift_an_axis(tmp_path: Path) -> None:
    engine, _ = _engine(tmp_path)
    recorded = Client(client_id="HK-1", birth_date=_born(40), experience_years=0)
    a = engine.assess(SIX, _answers("P6"), recorded, AS_OF)
    for claimed in (
        recorded.model_copy(update={"experience_years": 5}),
        Client(client_id="HK-1", birth_date=_born(40)),  # dropping it is a change too
        recorded.model_copy(update={"facts": {"product_training": "done"}}),
    ):
        with pytest.raises(DecisionError) as caught:
            engine.decide(a, _product("SRI4"), claimed, POLICY, "client", AS_OF)
        assert caught.value.problems[0].code == "CLIENT_FACTS_DIFFER"
        assert caught.value.problems[0].pointer in ("/client/experience_years", "/client/facts")
    # the recorded facts decide: no experience, so SRI4 is blocked
    d = engine.decide(a, _product("SRI4"), None, POLICY, "client", AS_OF)
    assert d.outcome == "blocked" and _bands(d)["experience"] == ("none", "value")


def test_a_client_64_at_assessment_and_65_at_decision_gets_the_65_plus_band(tmp_path: Path) -> None:
    engine, store = _engine(tmp_path)
    client = Client(client_id="HK-1", birth_date=f"{AS_OF.year - 65}-12-15", experience_years=5)  # 64 on AS_OF
    a = engine.assess(SIX, _answers("P3"), client, AS_OF)
    before = engine.decide(a, _product("SRI3"), client, POLICY, "client", AS_OF)
    later = AS_OF + timedelta(days=30)  # past the 65th birthday
    after = engine.decide(a, _product("SRI3"), client, POLICY, "client", later)
    assert (before.outcome, _bands(before)["elderly"]) == ("suitable", ("under_65", "value"))
    assert (after.outcome, _bands(after)["elderly"]) == ("requires_confirmation", ("aged_65_plus", "value"))
    assert _codes(after) == ["AXIS_CONFIRMATION_REQUIRED"]
    report = replay_log(store)
    assert report.ok, report.differences or report.errors


def test_replay_reproduces_every_axis_decision(tmp_path: Path) -> None:
    engine, store = _engine(tmp_path)
    made = []
    for profile, age, years, answer_age in (("P3", 67, 5, "from_65_to_70"), ("P6", 40, 0, "under_65"),
                                            ("P6", None, None, "under_65"), ("P2", 30, 2, "under_65")):  # fmt: skip
        facts: dict[str, Any] = {}
        if age is not None:
            facts["birth_date"] = _born(age)
        if years is not None:
            facts["experience_years"] = years
        client = Client(client_id=f"HK-{profile}-{age}", **facts)
        a = engine.assess(SIX, _answers(profile, answer_age), client, AS_OF)
        for level in ("SRI1", "SRI3", "SRI4", "SRI7"):
            for initiator in ("client", "firm"):
                made.append(engine.decide(a, _product(level), None, POLICY, initiator, AS_OF))  # type: ignore[arg-type]
    assert {d.outcome for d in made} == {"suitable", "requires_confirmation", "blocked"}
    assert {a.basis for d in made for a in d.axes or ()} == {"value", "fact_unknown"}
    records = [json.loads(data) for _, data, _ in store.scan()]
    logged = [r["result"] for r in records if r["type"] == "decision"]
    assert [Decision.model_validate(r) for r in logged] == made
    report = replay_log(store)
    assert report.ok, report.differences or report.errors
    assert report.counts["decision"] == len(made)


@pytest.mark.parametrize(
    ("lang", "shown"),
    [("en", ["age: 65 and over", "investment experience: no investment experience (under 1 year) (not given"]),
     ("zh-CN", ["年龄：65 岁及以上", "投资经验：无投资经验（不足 1 年）（未提供，按最严格档位）"])],
)  # fmt: skip
def test_the_cli_shows_the_band_of_each_axis(tmp_path: Path, lang: str, shown: list[str]) -> None:
    engine, store = _engine(tmp_path)
    client = Client(client_id="HK-1", birth_date=_born(67))
    a = engine.assess(SIX, _answers("P3", "from_65_to_70"), client, AS_OF)
    store.close()
    product = tmp_path / "product.json"
    product.write_text(_product("SRI3").model_dump_json(), encoding="utf-8")
    run = CliRunner().invoke(
        cli,
        ["decide", "--assessment", a.id, "--product", str(product), "--initiated-by", "client", "--policy",
         str(POLICY_FILE), "--log", str(tmp_path / "log.sqlite3"), "--as-of", AS_OF.isoformat(), "--lang", lang],
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    for line in shown:
        assert line in run.output
    assert "AXIS_CONFIRMATION_REQUIRED" in run.output


def test_a_regulator_finds_axis_decisions_by_their_reason_codes(tmp_path: Path) -> None:
    """`audit query --reason` takes the codes format-2 policies add, as it takes format 1's."""
    engine, store = _engine(tmp_path)
    client = Client(client_id="HK-67", birth_date=_born(67), experience_years=5)
    a = engine.assess(SIX, _answers("P3", "from_65_to_70"), client, AS_OF)
    made = [engine.decide(a, _product(level), None, POLICY, "client", AS_OF) for level in ("SRI1", "SRI3", "SRI7")]
    store.close()
    for code in ("AXIS_CONFIRMATION_REQUIRED", "AXIS_LIMIT_EXCEEDED"):
        expected = {d.product.id for d in made if code in _codes(d)}
        assert expected, code
        run = CliRunner().invoke(
            cli, ["audit", "query", str(tmp_path / "log.sqlite3"), "--reason", code, "--format", "jsonl"]
        )
        assert run.exit_code == 0, run.output
        rows = [json.loads(line) for line in run.stdout.splitlines()]
        assert {row["product"] for row in rows} == expected and all(code in row["reasons"] for row in rows)
