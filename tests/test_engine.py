"""The Engine: every result recorded before it is returned; decisions rest on recorded results."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from suitability import Client, DecisionError, LogError, audit
from suitability.engine import Engine
from suitability.records import pseudonym
from suitability.store import SQLiteStore

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
    assert audit.verify(store).ok and audit.replay(store).ok


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
    assert audit.replay(store).ok


def test_the_engine_is_safe_to_share_between_threads(store: SQLiteStore, answers: dict[str, Any]) -> None:
    engine = Engine(REGISTRY, store)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(25):
                c = Client(client_id=f"T{t}-{i}")
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
    assert audit.verify(store).ok


def test_mixed_workload_verifies_and_replays(store: SQLiteStore) -> None:
    counts = mixed_workload(store, clients=8)
    assert counts["confirmation"] > 0
    report = audit.verify(store)
    assert report.ok and report.size == store.size()
    replayed = audit.replay(store)
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
