"""The impact of a draft (`audit impact`) beside replay of the same log: rate and peak memory.

Run: python benchmarks/bench_impact.py [--records 1000000] [--rounds 3] [--folder DIR]

A demo log (`suitability demo`) of about --records records is generated once. The draft
questionnaire moves the C3/C4 edge, drops an option and adds a knock-out (every assessment and
decision is replayed under it). `impact` and `replay` run interleaved in this process, the same
number of rounds each (benchmarks/_common.py); the target is impact ≥ 50% of replay's rate.
Then `impact` runs in a fresh process on a quarter of the log and on the whole of it, each
reporting its peak resident memory, which should stay flat as the log grows (it streams, with
bounded caches). The logs go into a temporary folder removed at the end unless --folder keeps it.
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

from _common import interleaved, peak_resident_mb, ratio_cell, scratch, table

ROOT = Path(__file__).resolve().parent.parent


def draft(path: Path) -> None:
    """A draft of the bundled questionnaire that moves clients, rejects some answers and adds a knock-out."""
    document = json.loads((ROOT / "questionnaires" / "cn-securities-individual" / "2026.1.json").read_text("utf-8"))
    document["version"], document["status"] = "2027.1", "draft"
    for band in document["bands"]:
        if band["profile"] == "C3":
            band["max"] = 49
        if band["profile"] == "C4":
            band["min"] = 50
    for q in document["questions"]:
        if q["id"] == "income_source":
            q["options"] = [o for o in q["options"] if o["id"] != "none"]
        if q["id"] == "reaction_to_loss":
            for o in q["options"]:
                if o["id"] == "sell_all":
                    o["knockout"] = "lowest_category"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def child(log: str, draft_file: str) -> None:
    """Run `audit impact` in this process; print its wall time and peak memory as JSON."""
    from suitability.cli import cli

    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        cli.main(
            args=["audit", "impact", log, "--questionnaire", draft_file, "--json"],
            prog_name="suitability",
            standalone_mode=False,
        )
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - start,
                "peak_mb": peak_resident_mb(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("LOG", "DRAFT"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with scratch("bench-impact-", keep=args.folder) as folder:
        measure(folder, args.records, args.rounds)


def measure(folder: Path, records: int, rounds: int) -> None:
    from bench_review import cut

    from suitability import Registry, replay
    from suitability.log.sqlite import SQLiteStore
    from suitability.review.impact import impact

    big = folder / f"demo-{records}.sqlite3"
    if not big.exists():
        clients = records * 27 // 100  # about 3.8 records a client
        subprocess.run(
            [sys.executable, "-m", "suitability", "demo", "--log", str(big), "--clients", str(clients)], check=True
        )
    draft_file = folder / "draft.json"
    draft(draft_file)
    q = Registry.default(environ={}).resolve_questionnaire(draft_file)
    store = SQLiteStore(big, create=False)
    n = store.size()

    def run_replay() -> int:
        assert replay(store).ok
        return n

    def run_impact() -> int:
        result = impact(store, q)
        assert result.assessments > 0
        return n

    rates = interleaved({"replay": run_replay, "impact": run_impact}, rounds=rounds)
    print(table([
        ["measure", f"records/s ({n:,} records, median of {rounds} rounds, range)", "impact ÷ replay", "target"],
        ["replay", rates["replay"].cell(), "-", "-"],
        ["impact (draft questionnaire)", rates["impact"].cell(), ratio_cell(rates["impact"], rates["replay"]), "≥ 0.50×"],
    ]))  # fmt: skip
    rows = [["log", "records", "impact (fresh process)"]]
    quarter = folder / f"demo-cut-{records // 4}.sqlite3"
    cut(big, quarter, records // 4)
    for log in (quarter, big):
        count = sqlite3.connect(log).execute("SELECT COUNT(*) FROM records").fetchone()[0]
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(log), str(draft_file)], capture_output=True, text=True, check=True
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append([log.name, f"{count:,}", f"{measured['seconds']:.1f} s, peak {measured['peak_mb']:.0f} MB"])
    print(table(rows))


if __name__ == "__main__":
    main()
