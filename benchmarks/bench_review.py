"""Regulator review at scale: `audit query` and `audit report` time and peak memory by log size.

Run: python benchmarks/bench_review.py [--records 1000000]

A demo log (`suitability demo`, planted patterns included) of --records records is generated once;
logs of a tenth and three tenths of it are cut from its start. Each command runs in a fresh
process, which reports its own peak resident memory: memory should stay flat as the log grows,
since both stream the log (the report spills its facts to a temporary SQLite file on disk).
The logs go into a temporary folder removed at the end (also on Ctrl-C or SIGTERM) unless
--folder names one to keep. Times depend on the host; the claim is that peak memory stays flat.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import peak_resident_mb, scratch, table


def child(kind: str, log: str, out: str) -> None:
    """Run one command in this process and print its wall time and peak memory as JSON."""
    from suitability.cli import cli

    args = {
        "query": [
            "audit",
            "query",
            log,
            "--type",
            "decision",
            "--outcome",
            "blocked",
            "--reason",
            "LOWEST_CATEGORY",
            "--format",
            "jsonl",
        ],
        "query-all": ["audit", "query", log, "--format", "csv"],
        "report": ["audit", "report", log, "--out", out],
    }[kind]
    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # output streams away, as in a pipe
        cli.main(args=args, prog_name="suitability", standalone_mode=False)
    elapsed = time.perf_counter() - start
    peak_mb = peak_resident_mb()
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb}))


def cut(source: Path, target: Path, records: int) -> None:
    """Copy the first ``records`` records (and the schema) of a log."""
    if target.exists():
        return
    db = sqlite3.connect(target)
    for (sql,) in sqlite3.connect(source).execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND type IN ('table', 'index')"
    ):
        db.execute(sql)
    db.execute("ATTACH DATABASE ? AS src", (str(source),))
    db.execute("INSERT INTO records SELECT * FROM src.records WHERE seq < ?", (records,))
    db.execute("INSERT INTO meta SELECT * FROM src.meta")
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'keys'").fetchone():  # the folded key index
        db.execute("INSERT INTO keys SELECT * FROM src.keys WHERE seq < ?", (records,))
        db.execute("INSERT INTO recent_keys SELECT * FROM src.recent_keys WHERE seq < ?", (records,))
    db.commit()
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "LOG", "OUT"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with scratch("bench-review-", keep=args.folder) as folder:
        measure(folder, args.records)


def measure(folder: Path, records: int) -> None:
    big = folder / f"demo-{records}.sqlite3"
    if not big.exists():
        clients = records * 27 // 100  # about 3.8 records a client: a little over --records
        subprocess.run(
            [sys.executable, "-m", "suitability", "demo", "--log", str(big), "--clients", str(clients)], check=True
        )
    sizes = [records // 10, records * 3 // 10, None]
    rows = [["log", "records", "query (blocked, lowest category)", "query (every row, CSV)", "report (HTML)"]]
    for size in sizes:
        log = big if size is None else folder / f"demo-cut-{size}.sqlite3"
        if size is not None:
            cut(big, log, size)
        n = sqlite3.connect(log).execute("SELECT COUNT(*) FROM records").fetchone()[0]
        cells = []
        for kind in ("query", "query-all", "report"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(log), str(folder / "report.html")],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            cells.append(f"{measured['seconds']:.1f} s, peak {measured['peak_mb']:.0f} MB")
        rows.append([log.name, f"{n:,}", *cells])
    print(table(rows))


if __name__ == "__main__":
    main()
