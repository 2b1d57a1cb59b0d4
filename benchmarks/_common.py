"""Helpers shared by the benchmark scripts: interleaved rounds, median and range, a Markdown table,
one-core pinning and temporary folders that go away also on Ctrl-C or SIGTERM.

How every ratio here is measured: the subject and its baselines run *interleaved*, the same number
of rounds each (round r runs every side once, the order rotated by r so no side always goes first),
and each side is reported as the median of its rounds with the range (lowest–highest) beside it.
The ratio is of the medians. Absolute rates depend on the host; the ratios are the claim.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType


@dataclass(frozen=True)
class Rates:
    """Operations per second of one side, one figure per round."""

    rounds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def low(self) -> float:
        return min(self.rounds)

    @property
    def high(self) -> float:
        return max(self.rounds)

    def cell(self, unit: str = "/s") -> str:
        """``median unit (low–high)``, e.g. ``101,279/s (98,100–103,400)``."""
        return f"{self.median:,.0f}{unit} ({self.low:,.0f}–{self.high:,.0f})"

    def seconds_cell(self) -> str:
        """For rates that are really times (ops = 1): ``median s (low–high)`` of the seconds."""
        times = sorted(1 / r for r in self.rounds)
        return f"{statistics.median(times):.2f} s ({times[0]:.2f}–{times[-1]:.2f})"


def interleaved(sides: dict[str, Callable[[], int]], rounds: int = 5) -> dict[str, Rates]:
    """Run every side once per round, the order rotated each round; return each side's rates.

    Each callable does its work and returns how many operations it did.
    """
    names = list(sides)
    out: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            ops = sides[name]()
            out[name].append(ops / (time.perf_counter() - start))
    return {name: Rates(values) for name, values in out.items()}


def ratio_cell(subject: Rates, baseline: Rates) -> str:
    """The ratio of medians, with the range of the per-round ratios (the sides ran in the same rounds)."""
    per_round = [s / b for s, b in zip(subject.rounds, baseline.rounds, strict=True)]
    return f"{subject.median / baseline.median:.2f}× ({min(per_round):.2f}–{max(per_round):.2f})"


def pin_one_core() -> None:
    """Pin this process to one core (where the OS allows it): every 'per core' figure means this."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def scratch(prefix: str, keep: Path | None = None) -> Iterator[Path]:
    """A temporary folder removed on exit, also on Ctrl-C and SIGTERM; or ``keep``, left in place."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM unwinds like Ctrl-C does
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as folder:
            yield Path(folder)
    finally:
        signal.signal(signal.SIGTERM, previous)


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM): Linux carries ru_maxrss over exec from the
    forking parent, so a child started by a big parent would report the parent's peak."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def table(rows: list[list[str]]) -> str:
    """Return ``rows`` (the first is the header) as a Markdown table."""
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)
