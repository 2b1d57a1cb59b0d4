"""PostgreSQL decision-log appends with 1, 4 and 8 concurrent writer processes.

Run: python benchmarks/bench_pg.py [--url postgresql://127.0.0.1:5432/test]

Each writer process appends real assessment records through `PostgresStore` (one record per
commit, or batches of 100), all starting together; beside it, the same processes run plain
`INSERT`s of the same bytes into a bare table (bigserial key, bytea), with the same commit sizes,
on the same server. Rates are records per second over all writers.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import table

PER_WRITER = {1: 400, 100: 4_000}  # records per writer, by commit size


def _drafts(writer: int, n: int) -> list:  # type: ignore[type-arg]
    from bench_log import assessment_drafts

    return assessment_drafts(n, random.Random(writer))


def _ours(url: str, writer: int, batch: int, start: mp.synchronize.Event, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from suitability.store_pg import PostgresStore

    drafts = _drafts(writer, PER_WRITER[batch])
    store = PostgresStore(url)
    start.wait()
    t = time.perf_counter()
    for lo in range(0, len(drafts), batch):
        store.append(drafts[lo : lo + batch])
    out.put((len(drafts), time.perf_counter() - t))
    store.close()


def _plain(url: str, writer: int, batch: int, start: mp.synchronize.Event, out: mp.Queue) -> None:  # type: ignore[type-arg]
    import psycopg

    from suitability.store import render

    data = [render(d, i, "2026-01-01T00:00:00Z") for i, d in enumerate(_drafts(writer, PER_WRITER[batch]))]
    conn = psycopg.connect(url, autocommit=True)
    start.wait()
    t = time.perf_counter()
    for lo in range(0, len(data), batch):
        with conn.transaction(), conn.cursor() as cur:
            if batch > 50:
                with cur.copy("COPY plain (data) FROM STDIN") as copy:
                    for d in data[lo : lo + batch]:
                        copy.write_row((d,))
            else:
                cur.executemany("INSERT INTO plain (data) VALUES (%s)", [(d,) for d in data[lo : lo + batch]])
    out.put((len(data), time.perf_counter() - t))
    conn.close()


def run(target, url: str, writers: int, batch: int) -> float:  # type: ignore[no-untyped-def]
    ctx = mp.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, w, batch, start, out)) for w in range(writers)]
    for p in procs:
        p.start()
    time.sleep(2 + writers * 0.6)  # let every writer build its records and connect
    t = time.perf_counter()
    start.set()
    results = [out.get() for _ in procs]
    wall = time.perf_counter() - t
    for p in procs:
        p.join()
    return sum(n for n, _ in results) / wall


def main() -> None:
    import psycopg

    from suitability.store_pg import upgrade

    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://127.0.0.1:5432/test")
    args = parser.parse_args()
    admin = psycopg.connect(args.url, autocommit=True)
    rows = [["writers", "records per commit", "suitability appends", "plain INSERTs", "ratio"]]
    for writers in (1, 4, 8):
        for batch in (1, 100):
            schema = "bench_" + uuid.uuid4().hex[:8]
            admin.execute(f"CREATE SCHEMA {schema}")
            joiner = "&" if "?" in args.url else "?"
            url = f"{args.url}{joiner}options={quote(f'-csearch_path={schema}')}"
            upgrade(url)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE plain (seq BIGSERIAL PRIMARY KEY, data BYTEA NOT NULL)")
            ours = run(_ours, url, writers, batch)
            plain = run(_plain, url, writers, batch)
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            rows.append([str(writers), str(batch), f"{ours:,.0f}/s", f"{plain:,.0f}/s", f"{ours / plain:.0%}"])
            print(rows[-1], file=sys.stderr)
    print(table(rows))


if __name__ == "__main__":
    main()
