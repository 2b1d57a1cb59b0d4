"""PostgreSQL appends and lookups (issue 13, items 7 and 8), against a real server."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import orjson

from suitability import Client
from suitability.engine import Engine
from suitability.log import verify as audit_verify
from suitability.log.postgres import _FIND, PostgresStore, upgrade
from suitability.log.store import Draft
from suitability.replay import replay as replay_log

from .conftest import AS_OF
from .test_store_pg import psycopg, pytestmark, request_close, url  # noqa: F401 - the fixture and the skip
from .workload import CATALOG, REGISTRY


class _Counting:
    """The store's real connection, counting what is sent through it (statements and transactions)."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.sent = conn, []

    def execute(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return self.conn.execute(query, *args)

    def transaction(self) -> Any:
        self.sent.append("BEGIN … COMMIT")
        return self.conn.transaction()

    def close(self) -> None:
        self.conn.close()


def test_an_append_at_the_known_end_is_one_statement(url: str) -> None:  # noqa: F811
    """Was: BEGIN, next seq, append, COMMIT. Now one autocommitted call, its seqs checked under the lock."""
    upgrade(url)
    store = PostgresStore(url)
    request_close(store)
    store.append([Draft("note", {"n": 0}, key="k0")])  # the first append learns where the log ends
    counting = _Counting(store._conn)
    store._conn = counting
    for size in (1, 5):
        counting.sent.clear()
        store.append([Draft("note", {"n": i}, key=f"k{size}-{i}") for i in range(size)])
        assert len(counting.sent) == 1 and counting.sent[0].startswith("SELECT suitability_append("), counting.sent
    # another writer appends meanwhile: the guess is refused under the lock, nothing is written by
    # it, and the append goes the locked way, continuing the log gap-free
    other = PostgresStore(url)
    request_close(other)
    other.append([Draft("note", {"n": 99}, key="other")])
    counting.sent.clear()
    stored = store.append([Draft("note", {"n": 100}, key="after")])
    assert stored[0].seq == 8 and "BEGIN … COMMIT" in counting.sent
    assert [seq for seq, _, _ in store.scan()] == list(range(9))
    assert [orjson.loads(d)["n"] for _, d, _ in store.scan()] == [0, 0, 0, 1, 2, 3, 4, 99, 100]


def _plan(conn: Any, key: str) -> str:
    return str(conn.execute("EXPLAIN (FORMAT JSON) " + _FIND, (key,)).fetchone()[0])


def test_a_lookup_by_key_descends_the_key_index_with_or_without_statistics(url: str) -> None:  # noqa: F811
    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO records SELECT g, 'note', 'k' || g, '\\x00'::bytea, sha256('\\x00'::bytea)"
            " FROM generate_series(0, 49999) g"
        )
        before = _plan(conn, "k123")  # no statistics for these rows yet
        conn.execute("ANALYZE records")
        after = _plan(conn, "k123")
        for plan in (before, after):
            assert "records_key_seq" in plan and "records_pkey" not in plan and "Seq Scan" not in plan, plan
        assert conn.execute(_FIND, ("k123",)).fetchone()[0] == 123


def test_threads_sharing_an_engine_on_postgres(url: str, answers: dict[str, Any]) -> None:  # noqa: F811
    upgrade(url)
    store = PostgresStore(url)
    request_close(store)
    engine = Engine(REGISTRY, store)
    product = next(p for p in CATALOG if p.id == "FUND-EQ-01")
    ids: list[str] = []
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for m in range(3):
                client = Client(client_id=f"CN-{t:03d}{m:03d}", investor_type="ordinary", birth_date="1980-05-01")
                a = engine.assess("cn-securities-individual", answers, client, AS_OF)
                d = engine.decide(a, product, client, "cn-csrc", "client", AS_OF + timedelta(minutes=1))
                ids.extend([a.id, d.id])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(ids) == 48
    for ident in ids:
        found = store.find(ident)
        assert found is not None and orjson.loads(found.data)["result"]["id"] == ident
    assert [seq for seq, _, _ in store.scan()] == list(range(store.size())) and store.size() == 50
    assert audit_verify.verify(store).ok and replay_log(store).ok


def test_copy_into_postgres_leaves_statistics(url: str, tmp_path: Any) -> None:  # noqa: F811
    from suitability.log.export import copy_log
    from suitability.log.sqlite import SQLiteStore

    from .workload import mixed_workload

    source = SQLiteStore(tmp_path / "log.sqlite3")
    mixed_workload(source, clients=2)
    upgrade(url)
    target = PostgresStore(url)
    request_close(target)
    copy_log(source, target)
    with psycopg.connect(url, autocommit=True) as conn:
        (tuples,) = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'records'::regclass").fetchone()
    assert tuples == source.size()  # ANALYZE ran after the copy: the planner knows the table's size
