"""Group commit (issue 13, item 7): threads sharing an Engine share transactions, and nothing else.

Every call still returns only once the transaction holding its record is durable; a transaction
that fails fails every call in it, and records none of them. Real SQLite files, real threads; a
failure is caused the real way, by another connection holding the log's write lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability import Client, InputError, LogError
from suitability.engine import Engine
from suitability.log import verify as audit_verify
from suitability.log.merkle import leaf_hash
from suitability.log.sqlite import SQLiteStore
from suitability.log.store import Draft, layout, prepare, render
from suitability.models import Assessment
from suitability.replay import replay as replay_log

from .conftest import AS_OF
from .property.strategies import json_values
from .workload import CATALOG, REGISTRY

Q = "cn-securities-individual"


def _client(n: int) -> Client:
    return Client(client_id=f"CN-{n:06d}", investor_type="ordinary", birth_date="1980-05-01")


def _gap_free_and_sound(store: SQLiteStore) -> None:
    assert [seq for seq, _, _ in store.scan()] == list(range(store.size()))
    assert audit_verify.verify(store).ok and replay_log(store).ok


def test_threads_sharing_an_engine_each_find_their_record_at_its_seq(tmp_path: Path, answers: dict[str, Any]) -> None:
    """8 threads x 12 sales-steps: every result's record is at its seq, the log gap-free, verified, replayed."""
    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(REGISTRY, store)
    product = next(p for p in CATALOG if p.id == "FUND-EQ-01")
    results: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for m in range(4):
                client = _client(t * 100 + m)
                when = AS_OF + timedelta(minutes=m)
                a = engine.assess(Q, answers, client, when)
                d = engine.decide(a, product, client, "cn-csrc", "client", when + timedelta(minutes=1))
                c = engine.confirm(
                    d, "I insist", "staff-1", "app", language="en", confirmed_at=when + timedelta(minutes=2)
                )
                results.extend([("assessment", a.id), ("decision", d.id), ("confirmation", c.id)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 8 * 4 * 3
    for kind, ident in results:
        found = store.find(ident)
        assert found is not None
        record = orjson.loads(found.data)
        assert record["type"] == kind and record["seq"] == found.seq and record["result"]["id"] == ident
        assert store.get(found.seq) == found
    types = [orjson.loads(d)["type"] for _, d, _ in store.scan()]
    assert types.count("artifact") == 2  # the questionnaire and the policy, once each
    _gap_free_and_sound(store)


class _Held:
    """Another connection holding the log's write lock (BEGIN EXCLUSIVE) until released."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the calls never queued"
        time.sleep(0.005)


def _pile_up(
    tmp_path: Path, answers: dict[str, Any], queued: int, timeout: float
) -> tuple[SQLiteStore, Engine, _Held, list[str], dict[int, Any], list[threading.Thread]]:
    """A leader blocked on the held lock, then ``queued`` calls waiting behind it for the next group."""
    path = tmp_path / "log.sqlite3"
    store = SQLiteStore(path, timeout=timeout)
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    engine = Engine(REGISTRY, store)
    held = _Held(path)
    outcome: dict[int, Any] = {}

    def call(n: int) -> None:
        try:
            outcome[n] = engine.assess(Q, answers, _client(n), AS_OF)
        except LogError as exc:
            outcome[n] = exc

    commits = engine._commits
    leader = threading.Thread(target=call, args=(0,))
    leader.start()
    _wait_for(lambda: commits._leading and not commits._queue)  # the leader is inside the store
    threads = [threading.Thread(target=call, args=(n,)) for n in range(1, queued + 1)]
    for thread in threads:
        thread.start()
    _wait_for(lambda: len(commits._queue) == queued)
    leader.join()  # the held lock outlasts its timeout: it fails alone, and the queue leads on
    assert isinstance(outcome[0], LogError)
    return store, engine, held, statements, outcome, threads


def test_calls_that_queue_together_share_one_commit_and_one_artifact(tmp_path: Path, answers: dict[str, Any]) -> None:
    store, _, held, statements, outcome, threads = _pile_up(tmp_path, answers, queued=7, timeout=3.0)
    held.release()  # the group of 7 is waiting for the lock: now it commits
    for thread in threads:
        thread.join()
    assert all(isinstance(outcome[n], Assessment) for n in range(1, 8))
    assert statements.count("BEGIN IMMEDIATE") == 2 and statements.count("COMMIT") == 1  # one shared transaction
    types = [orjson.loads(d)["type"] for _, d, _ in store.scan()]
    assert types == ["artifact"] + ["assessment"] * 7  # the questionnaire both needed, written once
    for n in range(1, 8):
        found = store.find(outcome[n].id)
        assert found is not None and orjson.loads(found.data)["result"]["id"] == outcome[n].id
    _gap_free_and_sound(store)


def test_a_failed_shared_commit_fails_every_call_in_it_and_records_nothing(
    tmp_path: Path, answers: dict[str, Any]
) -> None:
    store, engine, held, statements, outcome, threads = _pile_up(tmp_path, answers, queued=5, timeout=0.5)
    for thread in threads:
        thread.join()  # the lock is still held: the group of 5 fails as one
    held.release()
    assert all(isinstance(outcome[n], LogError) for n in range(6))
    assert all("nothing was recorded" in str(outcome[n]) for n in range(6))
    assert statements.count("BEGIN IMMEDIATE") == 2 and "COMMIT" not in statements
    assert store.size() == 0
    a = engine.assess(Q, answers, _client(99), AS_OF)  # the engine goes on once the lock is free
    assert store.find(a.id) is not None and store.size() == 2
    _gap_free_and_sound(store)


def test_an_append_costs_six_statements_whatever_the_group_size(tmp_path: Path) -> None:
    """BEGIN, one read of the log's end, the records, their keys, the gap-free mark, COMMIT (was 8 for one)."""
    store = SQLiteStore(tmp_path / "log.sqlite3")
    store.append([Draft("note", {"n": 0}, key="k0")])
    for size in (1, 3, 40):
        statements: list[str] = []
        store._db.set_trace_callback(statements.append)
        store.append([Draft("note", {"n": i}, key=f"k{size}-{i}") for i in range(size)])
        store._db.set_trace_callback(None)
        assert len(statements) == 6, statements
    _gap_free = [seq for seq, _, _ in store.scan()]
    assert _gap_free == list(range(45))


def test_a_bad_draft_fails_its_own_call_before_it_joins_a_group(tmp_path: Path) -> None:
    """Rendering happens in the caller, outside the lock: a body that cannot be rendered never reaches a group."""
    from suitability.engine import _GroupCommit

    store = SQLiteStore(tmp_path / "log.sqlite3")
    commits = _GroupCommit(lambda: store)
    with pytest.raises(InputError, match="canonical"):
        commits.append([Draft("note", {"n": "\ud800"})])
    assert commits.append([Draft("note", {"n": 1})])[0].seq == 0


@settings(max_examples=60, deadline=None)
@given(
    body=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
    kind=st.sampled_from(["artifact", "assessment", "note"]),
    seq=st.integers(0, 2**53 - 1),
    micros=st.integers(0, 999_999),
)
def test_a_prepared_draft_has_exactly_the_bytes_and_leaf_of_a_whole_render(
    body: dict[str, Any], kind: str, seq: int, micros: int
) -> None:
    """Splicing seq and time into the pre-rendered bytes is byte-identical to rendering the record whole."""
    when = f"2026-11-28T09:30:00.{micros:06d}Z"
    try:
        whole = render(Draft(kind, body), seq, when)
    except Exception:
        return  # a body canonical JSON refuses (e.g. a key clashing with an envelope field's type)
    draft = prepare(Draft(kind, body))
    rows, stored, _ = layout([draft], seq, when, set(), lambda key: True)
    assert stored[0].data == whole and rows[0][4] == leaf_hash(whole)
