"""The Engine under concurrency: group commit beside raw durable inserts, in one run, interleaved.

Run: python benchmarks/bench_engine.py [--calls 400] [--rounds 5] [--url postgresql://…] [--no-pg]

Sides (each does --calls calls per round; rounds interleaved, see _common.py):

SQLite (WAL, synchronous=FULL, one file per side, in a temporary folder):
  engine 1 thread     Engine.assess, one thread: score, render, one durable append per call.
  engine 8 threads    the same calls from 8 threads sharing one Engine (group commit).
  raw 8 threads       8 threads handing the bytes of assessment records (rendered beforehand) to
                      the Engine's own group commit (its class, behind a stand-in for the log),
                      whose leader inserts each group into a plain table in one durable
                      transaction: the same group commit with nothing else to do. (A copy of its
                      scheme on a condition variable, which woke every waiter at each commit, was
                      the baseline until 2026-12-01: about 20% slower, so the ratios read higher.)
  compute floor       1 and 8 threads each doing only the work no engine that writes these records can
  1 and 8 threads     skip (score the answers, build the record, render it and hash it), handing
                      it to the raw side's group commit, whose committer splices in the seq and
                      time and inserts the bytes into a plain table: the Engine's rate if its log,
                      its locks and its checks cost nothing. Its records are checked equal to the
                      Engine's (but for seq and time) before anything is timed.
PostgreSQL (a schema of its own, dropped at the end):
  engine 1 thread     Engine.assess on a PostgresStore, one thread.
  plain INSERT        single-row INSERT of the same bytes into a plain table, autocommitted
                      (one durable commit each), one thread.

Claims (issue 13): engine 8 threads ≥ 2× engine 1 thread; engine 8 threads ≥ 50% of raw 8
threads; on PostgreSQL, engine 1 thread ≥ 50% of plain INSERT. Rates depend on the host (its
disk above all); the ratios are the claim. The compute floor's ratio to raw bounds the Engine's: the
threads share one interpreter lock, so the Python work per call adds up across them, whatever the
store does.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _common import interleaved, ratio_cell, scratch, table
from _workload import random_answers

from suitability import Client, Registry, assess
from suitability.engine import Engine, _GroupCommit
from suitability.log.sqlite import SQLiteStore
from suitability.log.store import Draft, LogStore, now_text
from suitability.records import assessment_draft

REGISTRY = Registry.default(environ={})
Q = "cn-securities-individual"
START = datetime(2026, 1, 1, tzinfo=UTC)


class _Bytes:
    """Bytes rendered beforehand, queued as a draft whose template is made (nothing left to prepare)."""

    __slots__ = ("data", "template")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.template = True


class _Committer:
    """A stand-in for the log behind the Engine's own group commit: ``commit`` writes a group."""

    def __init__(self, commit: Callable[[list[Any]], None]) -> None:
        self.commit = commit

    def append(self, items: list[Any]) -> list[Any]:
        self.commit(items)
        return items


def grouped(commit: Callable[[list[Any]], None]) -> Callable[[Any], Any]:
    """Submit one item to the Engine's group commit (the class itself, not a copy of its scheme):
    the caller prepares a draft if it needs it, queues, and returns once its group is written."""
    committer = _Committer(commit)
    group = _GroupCommit(lambda: committer)  # type: ignore[arg-type, return-value]
    return lambda item: group.append([item])


class Calls:
    """Inputs for assess calls, made up front so every side does the same work."""

    def __init__(self, n: int, seed: int = 7) -> None:
        rnd = random.Random(seed)
        self.inputs = [random_answers(rnd) for _ in range(n)]
        self.counter = 0
        self.lock = threading.Lock()

    def client(self) -> tuple[Client, datetime]:
        with self.lock:
            self.counter += 1
            n = self.counter
        return Client(client_id=f"C-{n}", birth_date="1970-01-01"), START + timedelta(seconds=n)


def in_threads(work: Callable[[int], None], threads: int, per: int) -> Callable[[], int]:
    """A side: ``work(t)`` for t in range(threads), one thread each (in this thread when one);
    returns the number of operations (``per`` a thread)."""

    def run() -> int:
        if threads == 1:
            work(0)
        else:
            pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
            for th in pool:
                th.start()
            for th in pool:
                th.join()
        return per * threads

    return run


def engine_side(engine: Engine, calls: Calls, threads: int) -> Callable[[], int]:
    per = len(calls.inputs) // threads

    def work(t: int) -> None:
        for answers in calls.inputs[t * per : (t + 1) * per]:
            client, when = calls.client()
            engine.assess(Q, answers, client, when)

    return in_threads(work, threads, per)


def sample_bytes(n: int) -> list[bytes]:
    """The bytes of ``n`` real assessment records (as the Engine stores them)."""
    with scratch("bench-engine-sample-") as folder:
        store = SQLiteStore(folder / "s.sqlite3")
        engine = Engine(REGISTRY, store)
        calls = Calls(n, seed=11)
        engine_side(engine, calls, 1)()
        data = [d for _, d, _ in store.scan()][1:]  # without the questionnaire artifact
        store.close()
    return data


def raw_sqlite_side(db: sqlite3.Connection, data: list[bytes], threads: int) -> Callable[[], int]:
    state = {"seq": 0}

    def commit(items: list[_Bytes]) -> None:
        db.execute("BEGIN IMMEDIATE")
        first = state["seq"]
        db.executemany("INSERT INTO t VALUES (?, ?)", [(first + i, item.data) for i, item in enumerate(items)])
        db.execute("COMMIT")
        state["seq"] = first + len(items)

    submit = grouped(commit)
    per = len(data) // threads

    def work(t: int) -> None:
        for b in data[t * per : (t + 1) * per]:
            submit(_Bytes(b))

    return in_threads(work, threads, per)


def plain_table(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    return db


def floor_side(db: sqlite3.Connection, calls: Calls, threads: int) -> Callable[[], int]:
    state = {"seq": 0}
    q = REGISTRY.questionnaire(Q, allow_retired=False)

    def commit(items: list[Draft]) -> None:
        db.execute("BEGIN IMMEDIATE")
        first, at = state["seq"], now_text()
        rows = []
        for i, draft in enumerate(items):
            assert draft.template is not None
            data, _leaf = draft.template.bytes_and_leaf(first + i, at)
            rows.append((first + i, data))
        db.executemany("INSERT INTO t VALUES (?, ?)", rows)
        db.execute("COMMIT")
        state["seq"] = first + len(items)

    submit = grouped(commit)
    per = len(calls.inputs) // threads

    def work(t: int) -> None:
        for answers in calls.inputs[t * per : (t + 1) * per]:
            client, when = calls.client()
            given = dict(answers)
            submit(assessment_draft(q, given, client, assess(q, given, client, when)))  # prepared as the Engine does

    return in_threads(work, threads, per)


def check_floor_agrees(folder: Path, n: int = 50) -> None:
    """The compute floor (the side timed, run here on a table of its own) writes the Engine's records:
    equal, but for seq and time, on the same calls."""
    store = SQLiteStore(folder / "agree.sqlite3")
    try:
        engine_side(Engine(REGISTRY, store), Calls(n, seed=5), 1)()
        recorded = [orjson.loads(d) for _, d, _ in store.scan()][1:]  # without the questionnaire artifact
    finally:
        store.close()
    db = plain_table(folder / "agree-floor.sqlite3")
    try:
        floor_side(db, Calls(n, seed=5), 1)()
        made = [orjson.loads(d) for (d,) in db.execute("SELECT data FROM t ORDER BY seq")]
    finally:
        db.close()
    for record in recorded + made:
        del record["seq"], record["recorded_at"]
    if len(made) != n or made != recorded:
        raise SystemExit("the compute floor does not write the Engine's records: not timed")


def sqlite_part(calls_n: int, rounds: int) -> list[list[str]]:
    with scratch("bench-engine-") as folder:
        check_floor_agrees(folder)
        data = sample_bytes(calls_n)
        stores: list[LogStore] = [SQLiteStore(folder / "one.sqlite3"), SQLiteStore(folder / "eight.sqlite3")]
        tables = [plain_table(folder / f"{name}.sqlite3") for name in ("raw", "floor1", "floor8")]
        try:
            sides = {
                "engine 1 thread": engine_side(Engine(REGISTRY, stores[0]), Calls(calls_n), 1),
                "engine 8 threads": engine_side(Engine(REGISTRY, stores[1]), Calls(calls_n, seed=8), 8),
                "raw 8 threads": raw_sqlite_side(tables[0], data, 8),
                "compute floor 1 thread": floor_side(tables[1], Calls(calls_n, seed=10), 1),
                "compute floor 8 threads": floor_side(tables[2], Calls(calls_n, seed=9), 8),
            }
            rates = interleaved(sides, rounds)
        finally:  # every connection closed before its folder is removed, also on an error
            for store in stores:
                store.close()
            for db in tables:
                db.close()
    return [
        ["SQLite", "rate (median, range)", "ratio"],
        ["engine 1 thread", rates["engine 1 thread"].cell(), ""],
        [
            "engine 8 threads",
            rates["engine 8 threads"].cell(),
            f"{ratio_cell(rates['engine 8 threads'], rates['engine 1 thread'])} of 1 thread (≥ 2×); "
            f"{ratio_cell(rates['engine 8 threads'], rates['raw 8 threads'])} of raw (≥ 0.50×)",
        ],
        ["raw 8 threads (same group commit)", rates["raw 8 threads"].cell(), ""],
        [
            "compute floor 1 thread: score, record, render, hash; one raw commit each",
            rates["compute floor 1 thread"].cell(),
            f"engine 1 thread = {ratio_cell(rates['engine 1 thread'], rates['compute floor 1 thread'])} of it",
        ],
        [
            "compute floor 8 threads: the same, in the raw side's group commit",
            rates["compute floor 8 threads"].cell(),
            f"{ratio_cell(rates['compute floor 8 threads'], rates['compute floor 1 thread'])} of 1 thread; "
            f"{ratio_cell(rates['compute floor 8 threads'], rates['raw 8 threads'])} of raw; engine 8 threads = "
            f"{ratio_cell(rates['engine 8 threads'], rates['compute floor 8 threads'])} of it",
        ],
    ]


def postgres_part(url: str, calls_n: int, rounds: int) -> list[list[str]]:
    import psycopg

    from suitability.log.postgres import PostgresStore, upgrade

    schema = "bench_engine_" + uuid.uuid4().hex[:8]
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in url else "?"
    scoped = f"{url}{joiner}options=-csearch_path%3D{schema}"
    try:
        upgrade(scoped)
        store = PostgresStore(scoped)
        plain = psycopg.connect(scoped, autocommit=True)
        plain.execute("CREATE TABLE plain (seq BIGINT PRIMARY KEY, data BYTEA NOT NULL)")
        data = sample_bytes(calls_n)
        state = {"seq": 0}

        def inserts() -> int:
            for b in data:
                plain.execute("INSERT INTO plain VALUES (%s, %s)", (state["seq"], b))
                state["seq"] += 1
            return len(data)

        sides = {"engine 1 thread": engine_side(Engine(REGISTRY, store), Calls(calls_n), 1), "plain INSERT": inserts}
        rates = interleaved(sides, rounds)
        store.close()
        plain.close()
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()
    return [
        ["PostgreSQL", "rate (median, range)", "ratio"],
        [
            "engine 1 thread",
            rates["engine 1 thread"].cell(),
            f"{ratio_cell(rates['engine 1 thread'], rates['plain INSERT'])} of plain INSERT (≥ 0.50×)",
        ],
        ["plain single-row INSERT, autocommit", rates["plain INSERT"].cell(), ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400, help="calls per side per round (default 400)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL part")
    args = parser.parse_args()
    print(table(sqlite_part(args.calls, args.rounds)))
    if not args.no_pg:
        print()
        print(table(postgres_part(args.url, args.calls, args.rounds)))


if __name__ == "__main__":
    main()
