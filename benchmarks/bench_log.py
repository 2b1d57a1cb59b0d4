"""Decision-log throughput: durable appends beside raw SQLite, verify and replay beside hashlib.

Run: python benchmarks/bench_log.py [--records 1000000] [--folder DIR] [--rounds 3] [--only-verify]

1. Appends of real assessment records (canonical bytes, leaf hash, one durable transaction each):
   one record per commit, and batches of 100 and 1,000, beside raw SQLite inserts of the bytes
   they stored into a plain table with the same durability (WAL, synchronous=FULL), in turns.
2. A log of --records records (assessments, and decisions on them, one product in three needing
   a confirmation) is built, then `verify` (deep and --quick, one core) runs over it interleaved
   with hashing the same bytes with hashlib alone (SHA-256 of 0x00 ‖ record, the leaf hashes and
   nothing else) and parsing them with orjson alone (a bound on any check that reads every
   record), median and range of --rounds rounds; then `verify --jobs N` on every core (its wall
   time), and `replay`.

Every file it writes goes into temporary folders removed at the end, also on Ctrl-C or SIGTERM,
unless --folder names where to keep the big log (then it is reused by the next run). The rates
depend on the host (its disk above all: appends wait for fsync); the ratios to the baselines,
taken in the same run, are the claim.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _common import Rates, interleaved, pin_one_core, scratch, table
from _workload import random_answers

from suitability import Client, Registry, assess, confirm, decide, load_catalog, verify
from suitability.log.sqlite import SQLiteStore
from suitability.log.store import BatchWriter, Draft, Stored
from suitability.log.verify import default_jobs
from suitability.records import assessment_draft, confirmation_draft, decision_draft

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = Registry.default(environ={})
Q = REGISTRY.questionnaire("cn-securities-individual")
POLICY = REGISTRY.policy("cn-csrc")
CATALOG = load_catalog(ROOT / "examples" / "catalog.csv")
START = datetime(2026, 1, 1, tzinfo=UTC)
ALL_CORES = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def assessment_drafts(n: int, rnd: random.Random, first: int = 0) -> list[Draft]:
    out = []
    for i in range(first, first + n):
        client = Client(client_id=f"C-{i}", birth_date="1970-01-01")
        answers = random_answers(rnd)
        out.append(assessment_draft(Q, answers, client, assess(Q, answers, client, START + timedelta(seconds=i))))
    return out


def insert_raw(db: sqlite3.Connection, first: int, records: list[Stored]) -> float:
    """Insert the bytes of ``records`` into a plain table in one durable transaction; return the time."""
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(first + i, r.data) for i, r in enumerate(records)])
    db.execute("COMMIT")
    return time.perf_counter() - start


def raw_table(path: Path, copy_of: Path | None = None) -> sqlite3.Connection:
    """A plain two-column table with the log's durability, holding a copy of ``copy_of``'s records if given."""
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)")
    if copy_of is not None:
        raw.execute("ATTACH DATABASE ? AS src", (str(copy_of),))
        raw.execute("INSERT INTO t SELECT seq, data FROM src.records")
        raw.execute("DETACH DATABASE src")
    return raw


def append_turns(store: SQLiteStore, raw: sqlite3.Connection, batch: int, count: int, rnd: random.Random) -> list[str]:
    """Our appends and raw inserts of the very bytes they stored, batch by batch, in turns.

    Each batch's drafts are built just before it is appended, untimed, as the Engine builds a
    record and appends it at once; only ``append`` is timed. The raw side inserts bytes that
    append stored into a plain two-column table with the same durability. The two take turns at
    going first, since whichever commits first after the untimed work pays more for it (about
    2 µs a record here).
    """
    ours = theirs = 0.0
    stored: list[Stored] = []
    raw_seq = int(raw.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM t").fetchone()[0])
    raw_count = 0
    for turn, lo in enumerate(range(0, count, batch)):
        drafts = assessment_drafts(batch, rnd, lo)
        if turn % 2:  # raw first, with the bytes of the batch before
            theirs += insert_raw(raw, raw_seq + raw_count, stored)
            raw_count += len(stored)
        start = time.perf_counter()
        stored = store.append(drafts)
        ours += time.perf_counter() - start
        if not turn % 2:
            theirs += insert_raw(raw, raw_seq + raw_count, stored)
            raw_count += len(stored)
    ours_rate, raw_rate = count / ours, raw_count / theirs  # raw_count == count: one raw batch a turn
    return [f"{ours_rate:,.0f}/s", f"{raw_rate:,.0f}/s", f"{ours_rate / raw_rate:.0%}"]


def bench_appends(folder: Path) -> list[list[str]]:
    """Appends to a new log, one record per commit, and batches of 100 and 1,000 (see append_turns)."""
    rnd = random.Random(3)
    rows = []
    for batch, count in ((1, 2_000), (100, 20_000), (1_000, 20_000)):
        store = SQLiteStore(folder / f"log-{batch}.sqlite3")
        store.append(assessment_drafts(1, rnd))  # the questionnaire artifact, once
        raw = raw_table(folder / f"raw-{batch}.sqlite3")
        measured = append_turns(store, raw, batch, count, rnd)
        store.close()
        raw.close()
        rows.append([f"appends, {batch} per commit", *measured, "≥ 50%" if batch > 1 else "-"])
    return rows


def bench_appends_at_scale(log: Path, folder: Path) -> list[list[str]]:
    """Batches appended to a copy of the big log, beside raw inserts into a table holding its records."""
    copy = folder / "log.sqlite3"
    shutil.copy(log, copy)
    raw = raw_table(folder / "raw.sqlite3", copy_of=copy)
    store = SQLiteStore(copy)
    rnd = random.Random(13)
    rows = []
    for batch in (100, 1_000):
        size = store.size()
        measured = append_turns(store, raw, batch, 20_000, rnd)
        rows.append([f"appends, {batch} per commit, to a {size:,}-record log", *measured, "-"])
    store.close()
    raw.close()
    return rows


def build_log(path: Path, records: int) -> None:
    """Assessments, each followed by decisions on three products, a confirmation when one is needed."""
    rnd = random.Random(5)
    store = SQLiteStore(path)
    started = time.perf_counter()

    def progress(done: int) -> None:
        print(f"\rbuilding: {done:,} records ({time.perf_counter() - started:.0f}s)", end="", file=sys.stderr)

    writer = BatchWriter(store, progress=progress)
    add = writer.add
    i = 0
    while writer.next_seq < records:
        client = Client(client_id=f"C-{i}", birth_date=f"{rnd.randint(1945, 2000)}-06-01")
        when = START + timedelta(minutes=i)
        answers = random_answers(rnd)
        a = assess(Q, answers, client, when)
        a_seq = add(assessment_draft(Q, answers, client, a))
        for product in rnd.sample(CATALOG, 3):
            d = decide(a, product, client, POLICY, rnd.choice(["client", "firm"]), when + timedelta(seconds=30))
            d_seq = add(decision_draft(d, a_seq, POLICY, "active"))
            if d.outcome == "requires_confirmation":
                c = confirm(d, "我已知晓风险，坚持购买", "staff-1", "app", confirmed_at=when + timedelta(seconds=60))
                add(confirmation_draft(c, d_seq))
        i += 1
    writer.flush()
    print(file=sys.stderr)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=None, help="keep the logs here (default: a temporary folder)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of verify and its baselines")
    parser.add_argument("--only-verify", action="store_true", help="skip the append benchmarks")
    args = parser.parse_args()
    pin_one_core()
    with scratch("bench-log-", keep=args.folder) as folder, scratch("bench-work-") as work:
        measure(folder, work, args.records, args.rounds, appends=not args.only_verify)


def percent_cell(subject: Rates, baseline: Rates) -> str:
    """The ratio of medians as a percentage, with the range of the per-round ratios."""
    per_round = [s / b for s, b in zip(subject.rounds, baseline.rounds, strict=True)]
    return f"{subject.median / baseline.median:.1%} ({min(per_round):.1%}–{max(per_round):.1%})"


def bench_verify(store: SQLiteStore, log: Path, rounds: int) -> list[list[str]]:
    """verify (deep and --quick, one core) interleaved with hashlib over the same bytes; then --jobs on every core.

    The baselines: SHA-256 of 0x00 ‖ record over the bytes held in memory (the leaf hashes and
    nothing else), and orjson.loads of every record (a bound on any check that reads each record's
    content). Each round runs every side once, the order rotated; the ratio is of the medians.
    """
    n = store.size()
    data = [d for _, d, _ in store.scan()]

    def hashing() -> int:
        for d in data:
            hashlib.sha256(b"\x00" + d).digest()
        return n

    def parsing() -> int:
        for d in data:
            orjson.loads(d)
        return n

    parsed = [orjson.loads(d) for d in data[:50_000]]  # a sample: every record parsed would double the memory
    sample = len(parsed)

    def reserializing() -> int:
        for record in parsed:
            orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        return sample

    def deep() -> int:
        assert verify(store, jobs=1).ok
        return n

    def quick() -> int:
        assert verify(store, deep=False, jobs=1).ok
        return n

    rates = interleaved(
        {"hashlib": hashing, "orjson": parsing, "dumps": reserializing, "deep": deep, "quick": quick}, rounds=rounds
    )
    data.clear()
    parsed.clear()
    # The floor of a deep pass: what it cannot skip, each part timed above, added per record: read,
    # hash and fold every record (--quick), parse it, and serialize it again to compare with the
    # stored bytes (RFC 8785 form); the checks themselves come on top of this.
    floor = 1 / (1 / rates["quick"].median + 1 / rates["orjson"].median + 1 / rates["dumps"].median)
    h = rates["hashlib"]
    mb = log.stat().st_size / 1e6
    rows = [
        [f"verify, one core, {n:,} records ({mb:,.0f} MB)", rates["deep"].cell(), f"{h.cell()} hashlib",
         percent_cell(rates["deep"], h), "≥ 15%"],
        ["(bound) orjson.loads of every record, nothing else", rates["orjson"].cell(), f"{h.cell()} hashlib",
         percent_cell(rates["orjson"], h), "-"],
        [f"verify --quick (checks 1, 3, 4), one core, {n:,} records", rates["quick"].cell(), f"{h.cell()} hashlib",
         percent_cell(rates["quick"], h), "≥ 25%"],
        ["(bound) orjson.dumps, sorted keys, of a parsed record (the canonical re-serialization)",
         rates["dumps"].cell(), f"{h.cell()} hashlib", percent_cell(rates["dumps"], h), "-"],
        ["(floor of a deep pass) --quick + parse + re-serialize, per record, before any check", f"{floor:,.0f}/s",
         f"{h.median:,.0f}/s hashlib", f"{floor / h.median:.1%}", "-"],
    ]  # fmt: skip
    # every core: the workers inherit this process's affinity, so lift the one-core pin meanwhile
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if pinned is not None:
        os.sched_setaffinity(0, ALL_CORES)
    try:
        jobs = default_jobs()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            assert verify(store, jobs=jobs).ok
            times.append(time.perf_counter() - start)
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, pinned)
    wall = statistics.median(times)
    rows.append(
        [f"verify --jobs {jobs} (every core), {n:,} records: wall time", f"{wall:.1f} s ({min(times):.1f}–{max(times):.1f})",
         "-", f"{n / wall:,.0f}/s", "< 10 s at 1M, 2 cores"]
    )  # fmt: skip
    return rows


_REPLAY_ALONE = """
import json, sys, time
from _common import peak_resident_mb
from suitability import replay
from suitability.log.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
n = store.size()
start = time.perf_counter()
replayed = replay(store)
elapsed = time.perf_counter() - start
assert replayed.ok, (replayed.differences[:3], replayed.errors[:3])
# VmHWM, not ru_maxrss: the benchmark that forked this process held the whole log in memory
print(json.dumps({"rate": n / elapsed, "peak_mb": peak_resident_mb()}))
"""


def replay_alone(log: Path) -> tuple[float, float]:
    """Replay ``log`` in a fresh process (pinned to this one's core): its rate and its peak resident memory."""
    done = subprocess.run(
        [sys.executable, "-c", _REPLAY_ALONE, str(log)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "benchmarks")))},
    )
    measured = json.loads(done.stdout)
    return float(measured["rate"]), float(measured["peak_mb"])


def measure(folder: Path, work: Path, records: int, rounds: int = 3, *, appends: bool = True) -> None:
    rows = [["measure", "suitability", "baseline", "ratio", "target"]]
    if appends:
        (work / "appends").mkdir()
        rows += bench_appends(work / "appends")

    log = folder / f"log-{records}.sqlite3"
    if not log.exists():
        build_log(log, records)
    store = SQLiteStore(log)
    n = store.size()
    rows += bench_verify(store, log, rounds)
    replay_rate, peak_mb = replay_alone(log)
    rows.append(
        [f"replay, {n:,} records (own process, one core)", f"{replay_rate:,.0f}/s", "-",
         f"{replay_rate / 20_000:.2f}× target", "≥ 20,000/s"]
    )  # fmt: skip
    rows.append([f"replay peak resident memory, {n:,} records", f"{peak_mb:,.0f} MB", "-", "-", "≤ 200 MB"])
    store.close()
    if appends:
        (work / "scale").mkdir()
        rows += bench_appends_at_scale(log, work / "scale")
    print(table(rows))


if __name__ == "__main__":
    main()
