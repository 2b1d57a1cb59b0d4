"""Before and after a refactor: the same work timed on two source trees, interleaved in one run.

Run: python benchmarks/bench_before_after.py --before /path/to/old/checkout [--after .] [--rounds 3]

Each round runs every task once per tree, in a fresh process whose PYTHONPATH is that tree, the order
rotated by round; a task times only its own loop and prints its rate. Only the public API
(``from suitability import …``) is used, so trees with different module layouts compare. The claim is
the ratio after ÷ before (a refactor should be within noise of 1.00×); absolute rates depend on the host.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Rates, scratch, table

WORKER = r"""
import json, random, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from suitability import Client, Engine, Registry, SQLiteStore, assess, decide_many, load_catalog, replay, verify
from suitability.scoring import next_question

task, folder, root = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
registry = Registry.default(environ={})
q = registry.questionnaire("cn-securities-individual")
policy = registry.policy("cn-csrc")
catalog = load_catalog(root / "examples" / "catalog.csv")
rnd = random.Random(7)
start_at = datetime(2026, 1, 5, 9, tzinfo=UTC)

def answers():
    given = {}
    while (question := next_question(q, given)) is not None:
        ids = [o.id for o in question.options]
        if question.id in ("civil_capacity", "accept_loss"):
            given[question.id] = "yes"
        elif question.type == "multi":
            given[question.id] = rnd.sample(ids, rnd.randint(1, 2))
        else:
            given[question.id] = rnd.choice(ids)
    return given

pool = [answers() for _ in range(300)]
clients = [Client(client_id=f"C-{i}", birth_date=f"{1940 + i % 60}-03-15") for i in range(300)]
if task == "assess":
    n = 6000
    t = time.perf_counter()
    for i in range(n):
        assess(q, pool[i % 300], clients[i % 300], start_at + timedelta(seconds=i))
elif task == "decide":
    made = [assess(q, pool[i], clients[i], start_at) for i in range(300)]
    n = 0
    t = time.perf_counter()
    for r in range(100):
        for i in range(0, 300, 7):
            n += len(decide_many(made[i], catalog, clients[i], policy, "firm", start_at + timedelta(days=1, seconds=r)))
elif task == "record":
    engine = Engine(registry, SQLiteStore(folder / f"record-{time.time_ns()}.sqlite3"))
    n = 300
    t = time.perf_counter()
    for i in range(n):
        a = engine.assess(q, pool[i], clients[i], start_at + timedelta(seconds=i))
elif task in ("verify", "replay"):
    store = SQLiteStore(folder / "shared.sqlite3")
    n = store.size()
    t = time.perf_counter()
    ok = verify(store).ok if task == "verify" else replay(store).ok
    assert ok
print(json.dumps(n / (time.perf_counter() - t)))
"""

BUILD = r"""
import random, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from suitability import Client, Engine, Registry, SQLiteStore, load_catalog
from suitability.scoring import next_question
folder, root = Path(sys.argv[1]), Path(sys.argv[2])
registry = Registry.default(environ={})
engine = Engine(registry, SQLiteStore(folder / "shared.sqlite3"))
q = registry.questionnaire("cn-securities-individual")
catalog = load_catalog(root / "examples" / "catalog.csv")
rnd = random.Random(3)
when = datetime(2026, 1, 5, 9, tzinfo=UTC)
for i in range(int(sys.argv[3])):
    given = {}
    while (question := next_question(q, given)) is not None:
        ids = [o.id for o in question.options]
        given[question.id] = "yes" if question.id in ("civil_capacity", "accept_loss") else (
            rnd.sample(ids, 1) if question.type == "multi" else rnd.choice(ids))
    client = Client(client_id=f"B-{i}", birth_date="1970-01-01")
    a = engine.assess(q, given, client, when)
    engine.recommend(a, catalog, client, "cn-csrc", when + timedelta(minutes=1))
    when += timedelta(minutes=3)
"""


def run(tree: Path, script: Path, *args: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {args[0]} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=600, help="clients in the shared log (each ~10 records)")
    parser.add_argument("--tasks", default="assess,decide,record,verify,replay")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    tasks = args.tasks.split(",")
    with scratch("suitability-before-after-") as folder:
        worker, builder = folder / "worker.py", folder / "build.py"
        worker.write_text(WORKER, encoding="utf-8")
        builder.write_text(BUILD, encoding="utf-8")
        subprocess.run(
            [sys.executable, str(builder), str(folder), str(trees["before"]), str(args.clients)],
            env={**os.environ, "PYTHONPATH": str(trees["before"])},
            check=True,
        )  # the log is written by the old code: the new code must read it at the same speed
        rates: dict[tuple[str, str], list[float]] = {(t, s): [] for t in tasks for s in trees}
        for r in range(args.rounds):
            for task in tasks:
                sides = list(trees)
                for side in sides[r % 2 :] + sides[: r % 2]:
                    rates[(task, side)].append(run(trees[side], worker, task, str(folder), str(trees[side])))
    rows = [["task", "before", "after", "after ÷ before"]]
    for task in tasks:
        before, after = Rates(rates[(task, "before")]), Rates(rates[(task, "after")])
        per_round = [a / b for a, b in zip(after.rounds, before.rounds, strict=True)]
        rows.append(
            [task, before.cell(), after.cell(),
             f"{after.median / before.median:.2f}× ({min(per_round):.2f}–{max(per_round):.2f})"]
        )  # fmt: skip
    print(table(rows))
    print(f"\n{args.rounds} interleaved rounds; median (range); a fresh process per task, tree and round")


if __name__ == "__main__":
    main()
