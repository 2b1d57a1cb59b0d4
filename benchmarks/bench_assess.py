"""Assessments per second on the bundled questionnaire, one core, and the time to load it.

Run: python benchmarks/bench_assess.py
Ratio: against the raw scoring limit, a dict comprehension that sums the chosen options' scores of
the same answers (no enable_when, bands, rules, checks or result object): what pure Python costs
for the arithmetic alone.

Format 2 (issue 12 item 11): the two-axis chart document (tests/data/format2/two-axis-chart.json,
a chart composition) and the decimal document (tests/data/format2/mifid-weighted.json: 2.5-point
answers, 0.1-point options, weights 0.3/0.7, two-place bands, computed exactly in integer units)
run in the same rounds; each is reported with the ratio of its rate to the CN default's (target:
each at least 0.90x, i.e. at most 10% more time per assessment). The documents differ in size (the
questions column): the ratio is per assessment, as a firm would run it.

Method: the sides run interleaved, the same number of rounds (--rounds, 7 by default), pinned to one
core; each figure is the median of the rounds with the range beside it. The rates depend on the
host (the target, 50,000/s with issue 16's margin: 60,000/s on an idle core of this project's machine);
the ratio is the claim.
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from typing import Any

from _common import interleaved, pin_one_core, ratio_cell, table
from _workload import random_answers

from suitability import Client, Questionnaire, SuitabilityError, assess, load_questionnaire, read_json

ROOT = Path(__file__).resolve().parent.parent
FILE = ROOT / "questionnaires" / "cn-securities-individual" / "2026.1.json"
FORMAT_2 = {
    "chart": ROOT / "tests" / "data" / "format2" / "two-axis-chart.json",
    "decimal": ROOT / "tests" / "data" / "format2" / "mifid-weighted.json",
}
N = 20_000


def integer_twin(doc: dict[str, Any]) -> dict[str, Any]:
    """The decimal document in integers: scores, caps and dimension thresholds times 10, weights
    times 10 (3 and 7), total bands times 100: the same profiles for every answer set, scored
    without decimals. Decimal ÷ twin is what exactness costs."""
    twin = copy.deepcopy(doc)
    twin["id"] += "-integer-twin"

    def times(value: float, factor: int) -> int:
        return int(Decimal(repr(value)) * factor)

    for q in twin["questions"]:
        for o in q.get("options", []):
            o["score"] = times(o["score"], 10)
        if "cap" in q:
            q["cap"] = times(q["cap"], 10)
    twin["weights"] = {d: times(w, 10) for d, w in twin["weights"].items()}
    for band in twin["bands"]:
        band["min"], band["max"] = times(band["min"], 100), times(band["max"], 100)
    for rule in twin.get("rules", []) + twin.get("stops", []):
        for key in ("score_at_most", "score_at_least"):
            if key in rule["when"]:
                rule["when"][key] = times(rule["when"][key], 10)
    return twin


def _pool(q: Questionnaire, rnd: random.Random, clients: list[Client], when: datetime) -> list[dict[str, Any]]:
    """1,000 random valid responses to ``q`` (a draw that picks an exclusive option beside another is drawn again)."""
    pool: list[dict[str, Any]] = []
    while len(pool) < 1000:
        answers = random_answers(rnd, q, knockout_rate=None, multi_max=None)
        try:
            assess(q, answers, clients[len(pool) % 100], when)
        except SuitabilityError:
            continue
        pool.append(answers)
    return pool


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

    def runner(doc: Questionnaire, answers: list[dict[str, Any]]) -> Callable[[], int]:
        def run() -> int:
            for i in range(N):
                assess(doc, answers[i % 1000], clients[i % 100], when)
            return N

        return run

    others = {name: load_questionnaire(read_json(path), str(path)) for name, path in FORMAT_2.items()}
    sides: dict[str, Callable[[], int]] = {"assess": run_assess, "raw": run_raw}
    for name, doc in others.items():
        sides[name] = runner(doc, _pool(doc, rnd, clients, when))
    twin = load_questionnaire(integer_twin(read_json(FORMAT_2["decimal"])))
    decimal_pool = _pool(others["decimal"], random.Random(11), clients, when)
    sides["decimal"] = runner(others["decimal"], decimal_pool)
    sides["twin"] = runner(twin, decimal_pool)
    rates = interleaved(sides, rounds=args.rounds)
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
                [
                    "assessments per second (one core)",
                    rate.cell(),
                    "≥ 60,000 (idle core)",
                    f"{rate.median / 60_000:.2f}× target",
                ],
                ["raw score sum, same answers (limit)", raw.cell(), "-", f"assess = {ratio_cell(rate, raw)} raw"],
                *[
                    [
                        f"assessments per second, {name} ({FORMAT_2[name].name}, {len(doc.questions)} questions; "
                        f"CN default {len(q.questions)})",
                        rates[name].cell(),
                        "≥ 0.90× CN default",
                        f"{ratio_cell(rates[name], rate)} CN default",
                    ]
                    for name, doc in others.items()
                ],
                [
                    "assessments per second, the decimal document in integers (same answers, same profiles)",
                    rates["twin"].cell(),
                    "-",
                    f"decimal = {ratio_cell(rates['decimal'], rates['twin'])} integer twin",
                ],
            ]
        )
    )
    print(f"\n{args.rounds} interleaved rounds of {N:,} each")


if __name__ == "__main__":
    main()
