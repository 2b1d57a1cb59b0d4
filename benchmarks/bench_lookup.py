"""Lookups by id as the log grows: SQLiteStore.find and PostgresStore.find at 1k, 100k and 1M records.

Run: python benchmarks/bench_lookup.py [--sizes 1000,100000,1000000] [--lookups 2000] [--url …] [--no-pg]

The logs are built fast, not through the Engine: SQLite through ``append_raw`` in batches of
20,000 (so the key index is folded exactly as appends fold it), the last 1,000 records in batches
of 100 so that 1,000 keys wait for their fold (half the most, as on average); PostgreSQL by one
``INSERT … SELECT generate_series`` and *no* ANALYZE, as a freshly copied or freshly grown log
is before autovacuum reaches it. Records are 600 bytes, keys digests as the engine writes them.
For each size, after 200 untimed finds: the median and p99 time of ``find`` for ids present
(spread over the whole log) and for an id that is absent (every place it could be is looked at).
Everything is removed at the end (temporary folder; a schema of its own, dropped).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import scratch, table

from suitability.log.merkle import leaf_hash
from suitability.log.sqlite import SQLiteStore
from suitability.log.store import Row


def key(i: int) -> str:
    return "asm_" + hashlib.sha256(str(i).encode()).hexdigest()[:32]


def rows(first: int, n: int) -> list[Row]:
    out: list[Row] = []
    for i in range(first, first + n):
        data = b'{"seq":%d,"pad":"' % i + b"x" * 580 + b'"}'
        out.append((i, "assessment", key(i), data, leaf_hash(data)))
    return out


def timings(find: Callable[[str], object], size: int, lookups: int) -> tuple[float, float, float]:
    """Median and p99 µs of finding present ids, and median µs of an absent one."""
    rnd = random.Random(size)
    for i in range(0, size, max(size // 200, 1)):  # untimed: statements prepared, caches filled
        find(key(i))
    present = []
    for _ in range(lookups):
        i = rnd.randrange(size)
        start = time.perf_counter()
        assert find(key(i)) is not None
        present.append((time.perf_counter() - start) * 1e6)
    absent = []
    for j in range(max(lookups // 10, 20)):
        start = time.perf_counter()
        assert find("asm_absent" + str(j)) is None
        absent.append((time.perf_counter() - start) * 1e6)
    present.sort()
    return statistics.median(present), present[int(len(present) * 0.99) - 1], statistics.median(absent)


def sqlite_sizes(sizes: list[int], lookups: int) -> list[list[str]]:
    out = []
    with scratch("bench-lookup-") as folder:
        store = SQLiteStore(folder / "log.sqlite3")
        built = 0
        for size in sorted(sizes):
            while built < size:  # the last 1,000 by the hundred: about half a fold's keys wait, as on average
                n = min(20_000, size - 1_000 - built) if built < size - 1_000 else 100
                store.append_raw(rows(built, n))
                built += n
            med, p99, miss = timings(store.find, size, lookups)
            out.append(["SQLite", f"{size:,}", f"{med:.0f} µs", f"{p99:.0f} µs", f"{miss:.0f} µs"])
        store.close()
    return out


def postgres_sizes(url: str, sizes: list[int], lookups: int) -> list[list[str]]:
    import psycopg

    from suitability.log.postgres import PostgresStore, upgrade

    out = []
    admin = psycopg.connect(url, autocommit=True)
    joiner = "&" if "?" in url else "?"
    for size in sorted(sizes):
        schema = "bench_lookup_" + uuid.uuid4().hex[:8]
        admin.execute(f"CREATE SCHEMA {schema}")
        scoped = f"{url}{joiner}options=-csearch_path%3D{schema}"
        try:
            upgrade(scoped)  # analyzes the empty table; the rows below come after, unanalyzed
            with psycopg.connect(scoped, autocommit=True) as conn:
                conn.execute(
                    "ALTER TABLE records SET (autovacuum_enabled = false)"
                )  # no statistics behind our back: the worst case the issue names
                conn.execute(
                    "INSERT INTO records SELECT g, 'assessment',"
                    " 'asm_' || left(encode(sha256(g::text::bytea), 'hex'), 32),"
                    " convert_to('{\"seq\":' || g || ',\"pad\":\"' || repeat('x', 580) || '\"}', 'UTF8'),"
                    " sha256('\\x00'::bytea) FROM generate_series(0, %s - 1) g",
                    (size,),
                )
            store = PostgresStore(scoped)
            med, p99, miss = timings(store.find, size, lookups)
            out.append(["PostgreSQL (no ANALYZE)", f"{size:,}", f"{med:.0f} µs", f"{p99:.0f} µs", f"{miss:.0f} µs"])
            store.close()
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
    admin.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,1000000", help="comma-separated log sizes")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    body = sqlite_sizes(sizes, args.lookups)
    if not args.no_pg:
        body += postgres_sizes(args.url, sizes, args.lookups)
    print(table([["store", "records", "find, median", "find, p99", "absent id, median"], *body]))


if __name__ == "__main__":
    main()
