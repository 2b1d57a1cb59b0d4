"""PostgreSQL decision-log appends with 1, 4 and 8 concurrent writer processes.

Run: python benchmarks/bench_pg.py [--url postgresql://127.0.0.1:5432/test]

Each writer process appends real assessment records through `PostgresStore` (one record per
commit, or batches of 100); beside it, the same number of processes run plain `INSERT`s of the
same bytes into a bare table (bigserial key, bytea), with the same commit sizes, on the same
server. Rates are records per second over all writers.

Method: every writer builds its records and connects first, then waits on a barrier
(`multiprocessing.Barrier`, the parent its last party) so all start at once; the clock runs from
the barrier to the last writer's end. The two sides take turns (round r runs ours first when r is
even), three rounds each, each in a fresh schema; the table gives the median and range of the
rounds and the ratio of medians. Rates depend on the host, its disk and the server's settings;
the ratios are the claim.
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

from _common import Rates, ratio_cell, table

PER_WRITER = {1: 400, 100: 4_000}  # records per writer, by commit size


def _drafts(writer: int, n: int) -> list:  # type: ignore[type-arg]
    from bench_log import assessment_drafts

    return assessment_drafts(n, random.Random(writer))


def _ours(url: str, writer: int, batch: int, start: mp.synchronize.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from suitability.log.postgres import PostgresStore

    drafts = _drafts(writer, PER_WRITER[batch])
    store = PostgresStore(url)
    start.wait()
    for lo in range(0, len(drafts), batch):
        store.append(drafts[lo : lo + batch])
    out.put(len(drafts))
    store.close()


def _plain(url: str, writer: int, batch: int, start: mp.synchronize.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    import psycopg

    from suitability.log.store import render

    data = [render(d, i, "2026-01-01T00:00:00Z") for i, d in enumerate(_drafts(writer, PER_WRITER[batch]))]
    conn = psycopg.connect(url, autocommit=True)
    start.wait()
    for lo in range(0, len(data), batch):
        with conn.transaction(), conn.cursor() as cur:
            if batch > 50:
                with cur.copy("COPY plain (data) FROM STDIN") as copy:
                    for d in data[lo : lo + batch]:
                        copy.write_row((d,))
            else:
                cur.executemany("INSERT INTO plain (data) VALUES (%s)", [(d,) for d in data[lo : lo + batch]])
    out.put(len(data))
    conn.close()


def run(target, url: str, writers: int, batch: int) -> float:  # type: ignore[no-untyped-def]
    """Records per second over ``writers`` processes released together by a barrier."""
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(writers + 1), ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, w, batch, start, out)) for w in range(writers)]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=600)  # every writer has built its records and connected
        t = time.perf_counter()
        done = sum(out.get(timeout=600) for _ in procs)
        wall = time.perf_counter() - t
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    return done / wall


def fresh_schema(admin, base_url: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A new schema holding an empty log and an empty plain table; return its name and a URL into it."""
    import psycopg

    from suitability.log.postgres import upgrade

    schema = "bench_" + uuid.uuid4().hex[:8]
    admin.execute(f"CREATE SCHEMA {schema}")
    joiner = "&" if "?" in base_url else "?"
    url = f"{base_url}{joiner}options={quote(f'-csearch_path={schema}')}"
    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE plain (seq BIGSERIAL PRIMARY KEY, data BYTEA NOT NULL)")
    return schema, url


def main() -> None:
    import psycopg

    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", default="1,4,8", help="comma-separated writer counts")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the records per writer (0.1 for a quick check)"
    )
    args = parser.parse_args()
    for batch in PER_WRITER:
        PER_WRITER[batch] = max(batch, int(PER_WRITER[batch] * args.scale))
    admin = psycopg.connect(args.url, autocommit=True)
    rows = [["writers", "records per commit", "suitability appends", "plain INSERTs", "ratio"]]
    schemas: list[str] = []
    try:
        for writers in (int(w) for w in args.writers.split(",")):
            for batch in (1, 100):
                sides: dict[str, list[float]] = {"ours": [], "plain": []}
                for r in range(args.rounds):
                    schema, url = fresh_schema(admin, args.url)
                    schemas.append(schema)
                    for name in ("ours", "plain") if r % 2 == 0 else ("plain", "ours"):
                        sides[name].append(run(_ours if name == "ours" else _plain, url, writers, batch))
                    admin.execute(f"DROP SCHEMA {schema} CASCADE")
                    schemas.remove(schema)
                ours, plain = Rates(sides["ours"]), Rates(sides["plain"])
                rows.append([str(writers), str(batch), ours.cell(), plain.cell(), ratio_cell(ours, plain)])
                print(rows[-1], file=sys.stderr)
    finally:
        for schema in schemas:  # also on Ctrl-C: no schema is left behind
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()
    print(table(rows))
    print(f"\nmedian (range) of {args.rounds} rounds, the sides in turns; ratio: of the medians (range of the rounds)")


if __name__ == "__main__":
    main()
