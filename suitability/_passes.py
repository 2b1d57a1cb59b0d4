"""Long passes over a whole log: the cyclic garbage collector set to run rarely meanwhile.

Process-wide and reference-counted, so nested and concurrent passes share one raised setting and the
last to finish restores the original (docs/adr/0003-fast-paths-for-long-passes.md).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Container allocations between collections of the youngest generation during a pass.
PASS_THRESHOLD = 100_000

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def long_pass() -> Iterator[None]:
    """Raise the collector's thresholds for the duration of a pass over a log, then restore them."""
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(PASS_THRESHOLD, 50, 1_000)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                gc.set_threshold(*_saved)
