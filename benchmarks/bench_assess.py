"""Assessments per second on the bundled questionnaire, one core, and the time to load it.

Run: python benchmarks/bench_assess.py
Ratio: against the raw scoring limit, a dict comprehension that sums the chosen options' scores of
the same answers (no enable_when, bands, rules, checks or result object): what pure Python costs
for the arithmetic alone.

Method: the two run interleaved, the same number of rounds (--rounds, 7 by default), pinned to one
core; each figure is the median of the rounds with the range beside it. The rates depend on the
host (the target of 50,000/s is one core of this project's machine); the ratio is the claim.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved, pin_one_core, ratio_cell, table
from _workload import random_answers

from suitability import Client, assess, load_questionnaire, read_json

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "questionnaires" / "cn-securities-individual" / "2026.1.json"
N = 20_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    pin_one_core()
    loads = []
    for _ in range(20):
        start = time.perf_counter()
        load_questionnaire(read_json(FILE), str(FILE))
        loads.append(time.perf_counter() - start)
    load_s = statistics.median(loads)
    q = load_questionnaire(read_json(FILE))
    rnd = random.Random(7)
    pool = [random_answers(rnd, q, knockout_rate=None, multi_max=None) for _ in range(1000)]
    clients = [Client(client_id=f"C-{i}", birth_date="1970-01-01") for i in range(100)]
    when = datetime(2026, 11, 28, tzinfo=UTC)
    scores = {qq.id: qq.scores for qq in q.questions}

    def run_assess() -> int:
        for i in range(N):
            assess(q, pool[i % 1000], clients[i % 100], when)
        return N

    def run_raw() -> int:
        for i in range(N):
            a = pool[i % 1000]
            sum(scores[k][v] if type(v) is str else max(scores[k][o] for o in v) for k, v in a.items())
        return N

    rates = interleaved({"assess": run_assess, "raw": run_raw}, rounds=args.rounds)
    rate, raw = rates["assess"], rates["raw"]
    print(
        table(
            [
                ["measure", "result: median (range)", "target", "ratio"],
                [
                    "load + validate + compile the bundled questionnaire (median of 20)",
                    f"{load_s * 1000:.1f} ms",
                    "-",
                    "-",
                ],
                ["assessments per second (one core)", rate.cell(), "≥ 50,000", f"{rate.median / 50_000:.2f}× target"],
                ["raw score sum, same answers (limit)", raw.cell(), "-", f"assess = {ratio_cell(rate, raw)} raw"],
            ]
        )
    )
    print(f"\n{args.rounds} interleaved rounds of {N:,} each")


if __name__ == "__main__":
    main()
