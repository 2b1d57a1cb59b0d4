"""Cold start of the command line: every command, beside `python -c "import click, pydantic"`.

Run: python benchmarks/bench_cli.py [--rounds 7]

Each command starts in a fresh process (`python -m suitability <command> --help`: parsed, ready,
nothing done), interleaved with the baseline in the same rounds (benchmarks/_common.py), so the
ratio of medians is taken in one run on one machine. The target (issue 14) is at most 2x the
baseline for every command. `python -X importtime -m suitability <command> --help` shows what a
slow one imports.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved, ratio_cell, table

ROOT = Path(__file__).resolve().parent.parent
TARGET = 2.0


def commands() -> list[tuple[str, ...]]:
    """Every leaf command of the CLI (read from click's tree in this process)."""
    import click

    from suitability.cli import cli

    found: list[tuple[str, ...]] = []

    def walk(group: click.Group, prefix: tuple[str, ...]) -> None:
        for name, command in sorted(group.commands.items()):
            if isinstance(command, click.Group):
                walk(command, (*prefix, name))
            else:
                found.append((*prefix, name))

    walk(cli, ())
    return found


def run(argv: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    baseline = [sys.executable, "-c", "import click, pydantic"]
    sides = {"import click, pydantic": lambda: run(baseline)}
    for command in [(), *commands()]:
        argv = [sys.executable, "-m", "suitability", *command, "--help"]
        sides[" ".join(("suitability", *command, "--help"))] = lambda argv=argv: run(argv)
    rates = interleaved(sides, rounds=args.rounds)
    base = rates["import click, pydantic"]
    rows = [["command", "start (median, range)", "÷ import click, pydantic"]]
    worst = 0.0
    for name, rate in rates.items():
        rows.append([f"`{name}`", rate.seconds_cell(), "1.00" if rate is base else ratio_cell(base, rate)])
        if rate is not base:
            worst = max(worst, base.median / rate.median)
    print(table(rows))
    print(
        f"\nslowest command: {worst:.2f}x the baseline (target <= {TARGET:.0f}x): {'met' if worst <= TARGET else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
