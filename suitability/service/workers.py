"""The threads that run the Engine's calls for the event loop, with one hand-off each way.

An Engine call waits for a durable commit, so it must not run on the event loop. asyncio's
``run_in_executor`` costs a ``ThreadPoolExecutor`` work item with its locks and a chain of two
futures per call; here a call is put on a :class:`queue.SimpleQueue` (written in C) and its result
is set on the loop's future by one ``call_soon_threadsafe``. Threads start as they are needed, up
to ``limit`` (one per concurrent sale), and stay.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

T = TypeVar("T")
_Item = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _reject(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class Workers:
    """A pool of threads for blocking calls made from an event loop."""

    def __init__(self, limit: int, name: str = "engine") -> None:
        self.limit, self.name = max(1, limit), name
        self._queue: SimpleQueue[_Item | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread; its result (or its exception) here."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, future, fn, args))
        if self._idle < self._queue.qsize() and len(self._threads) < self.limit:
            self._start()
        return await future

    def _start(self) -> None:
        with self._lock:
            if len(self._threads) >= self.limit:
                return
            thread = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
            if item is None:
                return
            loop, future, fn, args = item
            try:
                result = fn(*args)
            except BaseException as exc:
                loop.call_soon_threadsafe(_reject, future, exc)
            else:
                loop.call_soon_threadsafe(_resolve, future, result)
            del item, future, fn, args

    def shutdown(self) -> None:
        """Let every thread finish its call and stop."""
        for _ in self._threads:
            self._queue.put(None)
