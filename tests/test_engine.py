"""The Engine: every result recorded before it is returned; decisions rest on recorded results."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from suitability import Client, DecisionError, LogError
from suitability.engine import Engine
from suitability.log import verify as audit_verify
from suitability.log.sqlite import SQLiteStore
from suitability.records import pseudonym
from suitability.replay import replay as replay_log

from .conftest import AS_OF
from .workload import CATALOG, REGISTRY, mixed_workload


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "log.sqlite3")


def types(store: SQLiteStore) -> list[str]:
    return [orjson.loads(d)["type"] for _, d, _ in store.scan()]


def test_each_call_is_recorded_with_its_artifacts_first(
    store: SQLiteStore, answers: dict[str, Any], client: Client
) -> None:
    engine = Engine(REGISTRY, store)
    a = engine.assess("cn-securities-individual", answers, client, AS_OF)
    assert types(store) == ["artifact", "assessment"]
    record = orjson.loads(store.get(1).data)  # type: ignore[union-attr]
    assert record["result"] == a.model_dump(mode="json")
    assert record["answers"] == answers and record["client"]["client_id"] == "CN-000123"
    assert record["questionnaire"]["hash"] == REGISTRY.questionnaire("cn-securities-individual").hash
    product = next(p for p in CATALOG if p.id == "FUND-EQ-01")
    d = engine.decide(a, product, client, "cn-csrc", "client", AS_OF + timedelta(days=1))
    assert types(store)[2:] == ["artifact", "decision"]
    c = engine.confirm(
        d, "I insist", "staff-1", "app", language="en", confirmed_at=AS_OF + timedelta(days=1, minutes=5)
    )
    assert types(store)[4:] == ["confirmation"]
    assert orjson.loads(store.get(4).data)["decision_seq"] == 3  # type: ignore[union-attr]
    assert c.decision_id == d.id
    found = engine.recommend(a, CATALOG, client, "cn-csrc", AS_OF + timedelta(days=2))
    assert types(store)[5:] == ["decision"] * len(CATALOG)  # every product screened is on the record
    assert [r.product.id for r in found] == ["MMF-01", "BOND-03", "MIX-05"]
    assert audit_verify.verify(store).ok and replay_log(store).ok


def test_no_result_escapes_when_the_append_fails(tmp_path: Path, answers: dict[str, Any], client: Client) -> None:
    store = SQLiteStore(tmp_path / "log.sqlite3", timeout=0.2)
    engine = Engine(REGISTRY, store)
    blocker = sqlite3.connect(tmp_path / "log.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(LogError):
        engine.assess("cn-securities-individual", answers, client, AS_OF)
    blocker.execute("ROLLBACK")
    assert store.size() == 0


def test_decisions_rest_only_on_recorded_unaltered_results(
    store: SQLiteStore, answers: dict[str, Any], client: Client
) -> None:
    engine = Engine(REGISTRY, store)
    from suitability import assess

    outside = assess(REGISTRY.questionnaire("cn-securities-individual"), answers, client, AS_OF)
    with pytest.raises(DecisionError, match="not in the decision log"):
        engine.decide(outside, CATALOG[0], client)
    recorded = engine.assess("cn-securities-individual", answers, client, AS_OF)
    forged = recorded.model_copy(update={"profile": "C5"})
    with pytest.raises(DecisionError, match="differs from its record"):
        engine.decide(forged, CATALOG[4], client)
    d = engine.decide(recorded.id, CATALOG[3], client, as_of=AS_OF)
    with pytest.raises(DecisionError, match="differs from its record"):
        engine.confirm(d.model_copy(update={"warnings": []}), "ok", "a", "b")
    with pytest.raises(DecisionError, match="not in the decision log"):
        engine.confirm("dec_missing", "ok", "a", "b")


def test_client_ids_can_be_pseudonymized(store: SQLiteStore, answers: dict[str, Any], client: Client) -> None:
    key = b"firm secret"
    engine = Engine(REGISTRY, store, pseudonym_key=key)
    a = engine.assess("cn-securities-individual", answers, client, AS_OF)
    assert a.client_id == pseudonym("CN-000123", key)
    engine.decide(a, CATALOG[0], client, as_of=AS_OF)
    for _, data, _ in store.scan():
        assert b"CN-000123" not in data
    assert replay_log(store).ok


def test_the_engine_is_safe_to_share_between_threads(store: SQLiteStore, answers: dict[str, Any]) -> None:
    engine = Engine(REGISTRY, store)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(25):
                c = Client(client_id=f"T{t}-{i}", birth_date="1980-01-01")
                a = engine.assess("cn-securities-individual", answers, c, AS_OF + timedelta(seconds=i))
                engine.decide(a, CATALOG[i % len(CATALOG)], c, as_of=AS_OF + timedelta(seconds=i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.size() == 2 + 8 * 25 * 2
    assert audit_verify.verify(store).ok


def test_mixed_workload_verifies_and_replays(store: SQLiteStore) -> None:
    counts = mixed_workload(store, clients=8)
    assert counts["confirmation"] > 0
    report = audit_verify.verify(store)
    assert report.ok and report.size == store.size()
    replayed = replay_log(store)
    assert replayed.ok, replayed.differences[:3] or replayed.errors[:3]
    assert replayed.counts["assessment"] == counts["assessment"]
    assert replayed.counts["decision"] == counts["decision"]
    assert replayed.counts["confirmation"] == counts["confirmation"]


def test_a_screen_with_an_unknown_product_records_nothing(
    store: SQLiteStore, answers: dict[str, Any], client: Client
) -> None:
    from suitability import Product, ProductError

    engine = Engine(REGISTRY, store)
    a = engine.assess("cn-securities-individual", answers, client, AS_OF)
    size = store.size()
    odd = Product(id="X", name={"zh-CN": "彩票", "en": "Lottery"}, risk_level="R3", term="short", variety="lottery")
    with pytest.raises(ProductError, match="does not fit policy"):
        engine.recommend(a, [*CATALOG, odd], client, "cn-csrc", AS_OF)
    assert store.size() == size


# --- issue 10: a caller may be dishonest -------------------------------------------------------


ELDER = Client(client_id="CN-ELDER-1", birth_date="1950-03-01")  # 76 on AS_OF: special care for R4+


def _with(changes: dict[str, Any]) -> Client:
    return Client.model_validate({**ELDER.model_dump(), **changes})


def _elder_assessment(engine: Engine, answers: dict[str, Any]) -> Any:
    return engine.assess("cn-securities-individual", answers, ELDER, AS_OF)


@pytest.mark.parametrize(
    ("lie", "fields"),
    [
        ({"investor_type": "professional"}, ["investor_type"]),  # would lift the risk limit
        ({"birth_date": "1990-03-01"}, ["birth_date"]),  # would drop SPECIAL_CARE_REQUIRED
        ({"birth_date": None}, ["birth_date"]),  # so would leaving the birth date out
        ({"full_civil_capacity": False}, ["full_civil_capacity"]),
        ({"investor_type": "professional", "birth_date": "1990-03-01"}, ["investor_type", "birth_date"]),
    ],
)
def test_client_facts_at_decide_time_cannot_lift_a_limit(
    store: SQLiteStore, answers: dict[str, Any], lie: dict[str, Any], fields: list[str]
) -> None:
    engine = Engine(REGISTRY, store)
    a = _elder_assessment(engine, answers)
    r5 = next(p for p in CATALOG if p.risk_level == "R5")
    honest = engine.decide(a, r5, ELDER, "cn-csrc", "client", AS_OF)
    assert honest.outcome != "suitable"
    size = store.size()
    liar = _with(lie)
    for call in (
        lambda: engine.decide(a, r5, liar, "cn-csrc", "client", AS_OF),
        lambda: engine.recommend(a, CATALOG, liar, "cn-csrc", AS_OF),
    ):
        with pytest.raises(DecisionError) as caught:
            call()
        named = [p.pointer for p in caught.value.problems]
        assert named == [f"/client/{f}" for f in fields]
        assert all(p.code == "CLIENT_FACTS_DIFFER" for p in caught.value.problems)
    assert store.size() == size  # nothing recorded for a refused call


def test_an_assessment_without_a_client_backs_no_decision(store: SQLiteStore, answers: dict[str, Any]) -> None:
    from suitability import assess, decide

    engine = Engine(REGISTRY, store)
    anonymous = engine.assess("cn-securities-individual", answers, None, AS_OF)
    size = store.size()
    for anyone in (ELDER, Client(client_id="CN-999")):
        with pytest.raises(DecisionError, match="without a client") as caught:
            engine.decide(anonymous, CATALOG[0], anyone, "cn-csrc", "client", AS_OF)
        assert caught.value.problems[0].code == "ASSESSMENT_WITHOUT_CLIENT"
        with pytest.raises(DecisionError, match="without a client"):
            engine.recommend(anonymous.id, CATALOG, anyone, "cn-csrc", AS_OF)
    assert store.size() == size
    # the pure function refuses it too, so no path decides on an anonymous assessment
    pure = assess(REGISTRY.questionnaire("cn-securities-individual"), answers, None, AS_OF)
    with pytest.raises(DecisionError, match="without a client"):
        decide(pure, CATALOG[0], ELDER, REGISTRY.policy("cn-csrc"), "client", AS_OF)


def test_replay_catches_a_decision_on_other_facts_than_its_assessment(
    store: SQLiteStore, answers: dict[str, Any]
) -> None:
    # An insider writes the decision today's engine refuses, straight through the store.
    from suitability import decide
    from suitability.records import decision_draft

    engine = Engine(REGISTRY, store)
    a = _elder_assessment(engine, answers)
    policy = REGISTRY.policy("cn-csrc")
    r5 = next(p for p in CATALOG if p.risk_level == "R5")
    pro = _with({"investor_type": "professional", "birth_date": None})
    lifted = decide(a, r5, pro, policy, "client", AS_OF)
    assert lifted.outcome == "suitable"
    store.append([decision_draft(lifted, 1, policy, "active")])
    report = replay_log(store)
    assert not report.ok
    assert [e.pointer for e in report.errors] == ["/records/3"]
    assert "investor_type" in report.errors[0].message and "birth_date" in report.errors[0].message


def test_under_a_key_records_hold_the_age_not_the_birth_date(store: SQLiteStore, answers: dict[str, Any]) -> None:
    key = b"firm secret"
    engine = Engine(REGISTRY, store, pseudonym_key=key)
    a = _elder_assessment(engine, answers)
    r4 = next(p for p in CATALOG if p.risk_level == "R4")
    later = AS_OF + timedelta(days=400)  # the client had a birthday in between: 77 now
    d = engine.decide(a, r4, ELDER, "cn-csrc", "client", later)
    assert "SPECIAL_CARE_REQUIRED" in [r.code for r in d.reasons]
    records = [orjson.loads(data) for _, data, _ in store.scan()]
    facts = [r["client"] for r in records if r["type"] in ("assessment", "decision")]
    # the decision holds the highest age the recorded one allows 400 days on (the true age is 77):
    # with only an age in the log, a later decision never takes the client younger than they may be
    assert [f["age"] for f in facts] == [76, 78]
    assert all(f["birth_date"] is None for f in facts)
    for _, data, _ in store.scan():
        assert b"1950-03-01" not in data and b"CN-ELDER-1" not in data
    assert audit_verify.verify(store).ok and replay_log(store).ok
    # a birth date that does not give the recorded age on the day of the assessment is refused
    with pytest.raises(DecisionError, match="birth_date"):
        engine.decide(a, r4, _with({"birth_date": "1960-03-01"}), "cn-csrc", "client", later)
    # an age given in place of the birth date must be the recorded age grown by the time since
    with pytest.raises(DecisionError, match="age"):
        engine.decide(a, r4, _with({"birth_date": None, "age": 60}), "cn-csrc", "client", later)
    aged = engine.decide(a, r4, _with({"birth_date": None, "age": 77}), "cn-csrc", "client", later)
    assert aged.outcome == d.outcome and aged.client.age == 78


def test_an_empty_pseudonym_key_is_an_error_not_off(store: SQLiteStore) -> None:
    from suitability import InputError

    with pytest.raises(InputError, match="empty"):
        Engine(REGISTRY, store, pseudonym_key=b"")


@pytest.mark.parametrize(
    "ident",
    ["hmac-sha256:张三-110101199001011234", "hmac-sha256:", "hmac-sha256:" + "A" * 64, "hmac-sha256:" + "0" * 63],
)
def test_an_id_that_merely_looks_pseudonymous_is_pseudonymized(
    store: SQLiteStore, answers: dict[str, Any], ident: str
) -> None:
    key = b"firm secret"
    engine = Engine(REGISTRY, store, pseudonym_key=key)
    a = engine.assess("cn-securities-individual", answers, Client(client_id=ident), AS_OF)
    assert a.client_id == pseudonym(ident, key)
    assert orjson.dumps(ident) not in b"".join(data for _, data, _ in store.scan())  # never as a value


def test_a_well_formed_pseudonym_is_taken_as_it_is(store: SQLiteStore, answers: dict[str, Any]) -> None:
    key = b"firm secret"
    engine = Engine(REGISTRY, store, pseudonym_key=key)
    a = engine.assess("cn-securities-individual", answers, ELDER, AS_OF)
    again = _with({"client_id": a.client_id})
    d = engine.decide(a, CATALOG[0], again, "cn-csrc", "client", AS_OF)  # the app holds only the pseudonym
    assert d.client.client_id == a.client_id == pseudonym("CN-ELDER-1", key)


@pytest.mark.parametrize("actor", ["", "  ", "staff\u202e-07", "staff\x1b[2J", " staff-07"])
def test_an_actor_a_reviewer_would_misread_is_refused_by_the_library(
    store: SQLiteStore, answers: dict[str, Any], actor: str
) -> None:
    from suitability import InputError

    engine = Engine(REGISTRY, store)
    with pytest.raises(InputError, match="invalid actor"):
        engine.assess("cn-securities-individual", answers, ELDER, AS_OF, actor=actor)
    a = _elder_assessment(engine, answers)
    size = store.size()
    with pytest.raises(InputError, match="invalid actor"):
        engine.decide(a, CATALOG[0], ELDER, "cn-csrc", "client", AS_OF, actor=actor)
    with pytest.raises(InputError, match="invalid actor"):
        engine.recommend(a, CATALOG, ELDER, "cn-csrc", AS_OF, actor=actor)
    assert store.size() == size


@pytest.mark.parametrize("investor_type", ["ordinary", "professional"])
def test_recommend_through_the_engine_is_matching_recommend_on_the_record(
    store: SQLiteStore, answers: dict[str, Any], client: Client, investor_type: str
) -> None:
    """Engine.recommend and matching.recommend give equal results; the engine records every decision screened."""
    from suitability.matching import recommend, screen

    who = client.model_copy(update={"investor_type": investor_type})
    engine = Engine(REGISTRY, store)
    a = engine.assess("cn-securities-individual", answers, who, AS_OF)
    when = AS_OF + timedelta(days=2)
    before = store.size()
    found = engine.recommend(a, CATALOG, who, "cn-csrc", when)
    policy = REGISTRY.policy("cn-csrc")
    assert found == recommend(a, CATALOG, who, policy, when) and found
    decisions, chosen = screen(a, CATALOG, who, policy, when)
    assert chosen == found
    records = [orjson.loads(data) for _, data, _ in store.scan(before)]
    recorded = [r["result"] for r in records if r["type"] == "decision"]
    assert recorded == [d.model_dump(mode="json") for d in decisions]


def test_a_record_of_another_type_under_the_id_given_is_not_in_the_log(
    store: SQLiteStore, answers: dict[str, Any], client: Client
) -> None:
    """An artifact hash or a decision id given as an assessment (or an assessment id as a decision)
    is refused as not in the log (before: a KeyError or a pydantic error, exit 70)."""
    engine = Engine(REGISTRY, store)
    a = engine.assess("cn-securities-individual", answers, client, AS_OF)
    product = next(p for p in CATALOG if p.id == "FUND-EQ-01")
    d = engine.decide(a, product, client, "cn-csrc", "client", AS_OF)
    questionnaire_hash = REGISTRY.questionnaire("cn-securities-individual").hash
    for wrong in (questionnaire_hash, d.id):
        with pytest.raises(DecisionError, match=f"assessment {wrong} is not in the decision log"):
            engine.decide(wrong, product, client, "cn-csrc", "client", AS_OF)
    with pytest.raises(DecisionError, match=f"decision {a.id} is not in the decision log"):
        engine.confirm(a.id, "I insist", "staff-1", "app")


def test_a_damaged_record_the_engine_reads_is_an_integrity_error(
    tmp_path: Path, answers: dict[str, Any], client: Client
) -> None:
    """A recorded assessment whose bytes an insider rewrote: the engine names the record (exit 10), not exit 70."""
    from suitability import IntegrityError

    path = tmp_path / "log.sqlite3"
    with SQLiteStore(path) as store:
        a = Engine(REGISTRY, store).assess("cn-securities-individual", answers, client, AS_OF)
    db = sqlite3.connect(path, isolation_level=None)
    product = next(p for p in CATALOG if p.id == "FUND-EQ-01")
    for damage in (b"not json", b'{"type": "assessment", "result": {"id": 1}}', b"[1]"):
        db.execute("DROP TRIGGER IF EXISTS records_no_update")  # each open of the store puts it back
        db.execute("UPDATE records SET data = ? WHERE seq = 1", (damage,))
        with SQLiteStore(path, create=False) as store, pytest.raises(IntegrityError, match="record 1 ") as caught:
            Engine(REGISTRY, store).decide(a.id, product, client, "cn-csrc", "client", AS_OF)
        assert caught.value.seq == 1
