"""Helpers shared by the benchmark scripts: timing and a Markdown table."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_rate(run: Callable[[], int], repeat: int = 5) -> float:
    """Return the best operations per second over ``repeat`` runs of ``run`` (which returns its op count)."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        ops = run()
        elapsed = time.perf_counter() - start
        best = max(best, ops / elapsed)
    return best


def best_seconds(run: Callable[[], object], repeat: int = 5) -> float:
    """Return the best wall time in seconds over ``repeat`` runs of ``run``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def table(rows: list[list[str]]) -> str:
    """Return ``rows`` (the first is the header) as a Markdown table."""
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)
