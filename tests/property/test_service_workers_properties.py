"""The service's worker threads hand every call's result, or its exception, back to its own caller."""

from __future__ import annotations

import asyncio
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from suitability.service.workers import Workers


class Refused(Exception):
    pass


def _call(n: int, fail: bool, pause: float) -> tuple[int, str]:
    time.sleep(pause)
    if fail:
        raise Refused(n)
    return n, threading.current_thread().name


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(st.tuples(st.booleans(), st.sampled_from([0.0, 0.0005, 0.002])), min_size=1, max_size=40),
    limit=st.integers(1, 8),
)
def test_every_call_gets_its_own_result_or_exception_from_at_most_limit_threads(
    calls: list[tuple[bool, float]], limit: int
) -> None:
    workers = Workers(limit, name="t")

    async def main() -> list[object]:
        return await asyncio.gather(
            *(workers.run(_call, n, fail, pause) for n, (fail, pause) in enumerate(calls)), return_exceptions=True
        )

    try:
        outcomes = asyncio.run(main())
    finally:
        workers.shutdown()
    names = set()
    for n, ((fail, _), outcome) in enumerate(zip(calls, outcomes, strict=True)):
        if fail:
            assert isinstance(outcome, Refused) and outcome.args == (n,)
        else:
            assert isinstance(outcome, tuple) and outcome[0] == n and outcome[1].startswith("t-")
            names.add(outcome[1])
    assert len(names) <= limit
