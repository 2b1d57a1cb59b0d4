"""PostgreSQL appends and lookups (issue 13, items 7 and 8), against a real server."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest

from suitability import Client
from suitability.engine import Engine
from suitability.errors import LogError
from suitability.log import verify as audit_verify
from suitability.log.postgres import _FIND, PostgresStore, upgrade
from suitability.log.store import Draft
from suitability.replay import replay as replay_log

from .conftest import AS_OF
from .test_store_pg import _app_url, app_role, psycopg, pytestmark, request_close, url  # noqa: F401 - fixtures, skip
from .workload import CATALOG, REGISTRY


class _Counting:
    """The store's real connection, counting what is sent through it (statements and transactions)."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.sent = conn, []

    def execute(self, query: str, *args: Any, **options: Any) -> Any:
        self.sent.append(query)
        return self.conn.execute(query, *args, **options)

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
        call = "SELECT suitability_append_one(" if size == 1 else "SELECT suitability_append("
        assert len(counting.sent) == 1 and counting.sent[0].startswith(call), counting.sent
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


def test_one_record_is_appended_through_the_scalar_function_checked_under_the_lock(url: str) -> None:  # noqa: F811
    """Migration 4: one record, no arrays; the function checks the seq and the gap-free head itself."""
    upgrade(url)
    store = PostgresStore(url)
    request_close(store)
    store.append([Draft("note", {"n": 0}, key="k0")])
    with psycopg.connect(url, autocommit=True) as conn:
        leaf = bytes(32)
        with pytest.raises(psycopg.errors.RaiseException, match="must continue the log: expected seq 1, found 5"):
            conn.execute("SELECT suitability_append_one(5, 'note', NULL, '\\x7b7d', %s)", (leaf,))
        conn.execute("INSERT INTO records VALUES (7, 'note', NULL, '\\x7b7d', %s)", (leaf,))  # an insider's gap
        with pytest.raises(psycopg.errors.RaiseException, match="has a gap: expected seq 1 next, found seq 7"):
            conn.execute("SELECT suitability_append_one(8, 'note', NULL, '\\x7b7d', %s)", (leaf,))
    with pytest.raises(LogError, match="gap"):
        store.append([Draft("note", {"n": 1}, key="k1")])
    assert [seq for seq, _, _ in store.scan()] == [0, 7]


def test_a_role_set_up_before_migration_4_may_append_one_record(url: str, app_role: str) -> None:  # noqa: F811
    """`db upgrade` alone (no --app-role) gives the new function to whoever could call the old one."""
    upgrade(url, app_role=app_role)
    with psycopg.connect(url, autocommit=True) as conn:  # as it was at version 3
        conn.execute("DROP FUNCTION suitability_append_one(bigint, text, text, bytea, bytea)")
        conn.execute("DELETE FROM suitability_migrations WHERE version = 4")
        other = "suitability_other_" + uuid.uuid4().hex[:8]
        conn.execute(f"CREATE ROLE {other}")  # may call nothing: must get nothing
    try:
        assert upgrade(url) == [
            "004 one record appended through a function of scalar arguments; append plans that never scan the log"
        ]
        with PostgresStore(_app_url(url, app_role)) as store:
            stored = store.append([Draft("note", {"n": 0}, key="k0")])
            stored += store.append([Draft("note", {"n": 1}, key="k1")])
        assert [s.seq for s in stored] == [0, 1]
        with psycopg.connect(url, autocommit=True) as conn:
            signature = "suitability_append_one(bigint, text, text, bytea, bytea)"
            allowed = conn.execute(
                "SELECT has_function_privilege(%s, %s, 'EXECUTE'), has_function_privilege(%s, %s, 'EXECUTE')",
                (app_role, signature, other, signature),
            ).fetchone()
            assert allowed == (True, False)
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {other}")


def test_appends_descend_the_primary_key_whatever_the_log_held_when_their_plans_were_made(url: str) -> None:  # noqa: F811
    """Plans made at a session's first append, on an empty log, must not read the whole log ever after.

    Was: `MAX(seq)` planned on an empty table read every row of an index at each later append.
    The plans of the functions' statements are shown by auto_explain (needs a superuser to load).
    """
    upgrade(url)
    store = PostgresStore(url)
    request_close(store)
    store.append([Draft("note", {"n": 0}, key="k0")])  # plans made now, on a one-record log
    with psycopg.connect(url, autocommit=True) as conn:  # the owner fills the log meanwhile
        conn.execute(
            "INSERT INTO records SELECT g, 'note', 'k' || g, '\\x00'::bytea, sha256('\\x00'::bytea)"
            " FROM generate_series(1, 3000) g"
        )
        conn.execute("UPDATE log_head SET contiguous = 3001")
    plans: list[str] = []
    conn = store._conn
    try:
        conn.execute("LOAD 'auto_explain'")
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("auto_explain needs a superuser")
    conn.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
    for setting in ("log_min_duration = 0", "log_nested_statements = on", "log_analyze = on"):
        conn.execute(f"SET auto_explain.{setting}")
    conn.execute("SET client_min_messages = log")
    store.append([Draft("note", {"n": 1}, key="k3001")])  # the guessed end is stale: the locked way
    store.append([Draft("note", {"n": 2}, key="k3002")])  # at the known end: the one-record function
    conn.execute("SET client_min_messages = notice")
    read = [int(rows) for plan in plans for rows in re.findall(r"actual time=\S+ rows=(\d+)", plan)]
    assert read and max(read) <= 2, plans
    assert [seq for seq, _, _ in store.scan(3000)] == [3000, 3001, 3002]
