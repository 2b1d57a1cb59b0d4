"""Running the service under uvicorn: the log, the Engine, the keys and the catalog, opened once."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn

from ..engine import Engine
from ..errors import InputError, LogError, Problem
from ..log import open_store
from ..log.store import is_url
from ..product import Product, load_catalog
from ..registry import Registry
from .app import DEFAULT_AS_OF_TOLERANCE, DEFAULT_POLICIES, Checkpointing, create_app
from .idempotency import IdempotencyTable, PostgresIdempotency, SQLiteIdempotency
from .keys import KeyRing
from .metrics import MeteredStore, Metrics


def serve(
    log: str,
    keys: str,
    *,
    registry: Registry,
    host: str = "127.0.0.1",
    port: int = 8080,
    catalog: str | None = None,
    pseudonym_key: bytes | None = None,
    checkpointing: Checkpointing | None = None,
    workers_threads: int = 64,
    workers: int = 1,
    policies: Sequence[str] = DEFAULT_POLICIES,
    as_of_tolerance: timedelta | None = DEFAULT_AS_OF_TOLERANCE,
) -> None:
    """Open the log and serve it until interrupted.

    ``policies`` and ``as_of_tolerance`` are :func:`~suitability.service.app.create_app`'s: the
    policies requests may name, and how far a given ``as_of`` may be from the clock.

    With ``workers`` above 1, that many processes (forked from this one, which only supervises
    them) accept connections on one listening socket, each with its own Engine, group commit,
    idempotency connection and metrics, sharing the log (a SQLite file on this host, or
    PostgreSQL); only the first signs checkpoints.

    Raises:
        InputError: the keys file holds no key, or the catalog or keys file is bad.
        LogError: the log cannot be opened (or, with several workers, a worker stopped on an error).
    """
    ring = KeyRing(keys)
    if not ring.has_keys():
        raise InputError(
            f"{keys}: no API key",
            [
                Problem(
                    "expected at least one key: suitability keys add --file FILE --actor NAME --role sales", source=keys
                )
            ],
        )
    products = load_catalog(catalog) if catalog else None
    options = {"policies": tuple(policies), "as_of_tolerance": as_of_tolerance}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if workers <= 1:
        _serve_one(
            log, ring, registry, products, pseudonym_key, checkpointing, workers_threads, host, port, None, options
        )
        return
    if not hasattr(os, "fork"):
        raise InputError(
            f"--workers {workers}: this system cannot fork",
            [Problem("expected a POSIX system (Linux, macOS) for more than one worker process; use --workers 1")],
        )
    open_store(log).close()  # the schema, and a bad log refused here, before any worker starts
    (PostgresIdempotency(log) if is_url(log) else SQLiteIdempotency(str(Path(log)))).close()
    listening = socket.create_server((host, port), backlog=2048)
    children: list[int] = []
    for index in range(workers):
        pid = os.fork()
        if pid == 0:  # a worker: serve until told to stop, then leave without running the parent's exit code
            code = 1
            try:
                _die_with_parent()
                signing = checkpointing if index == 0 else None
                _serve_one(
                    log,
                    ring,
                    registry,
                    products,
                    pseudonym_key,
                    signing,
                    workers_threads,
                    host,
                    port,
                    listening,
                    options,
                )
                code = 0
            except BaseException:
                logging.getLogger("suitability.service").exception("worker %d stopped on an error", index)
            finally:
                os._exit(code)
        children.append(pid)
    listening.close()
    if _supervise(children) != 0:
        raise LogError(
            "a worker of the service stopped on an error", [Problem("expected every worker to serve until stopped")]
        )


def _serve_one(
    log: str,
    ring: KeyRing,
    registry: Registry,
    products: list[Product] | None,
    pseudonym_key: bytes | None,
    checkpointing: Checkpointing | None,
    threads: int,
    host: str,
    port: int,
    listening: socket.socket | None,
    options: dict[str, Any],
) -> None:
    import anyio

    metrics = Metrics()
    store = MeteredStore(open_store(log), metrics)
    idempotency: IdempotencyTable = PostgresIdempotency(log) if is_url(log) else SQLiteIdempotency(str(Path(log)))
    engine = Engine(registry, store, pseudonym_key=pseudonym_key)
    app = create_app(
        engine, ring, products, idempotency=idempotency, checkpointing=checkpointing, threads=threads, **options
    )
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        http=_http_protocol(),
        proxy_headers=False,  # served directly: no proxy's X-Forwarded-For to trust
        server_header=False,
    )
    server = uvicorn.Server(config)
    try:
        anyio.run(_run, server, threads, listening, backend_options=_loop_options())
    finally:
        idempotency.close()
        store.close()


def _die_with_parent() -> None:
    """A worker gets SIGTERM when the supervisor dies, even by SIGKILL (Linux; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the supervisor died before the line above
            os._exit(1)


def _supervise(children: list[int]) -> int:
    """Wait for the workers; pass SIGTERM and SIGINT on to them; stop them all when one stops.

    Returns:
        0, or the first non-zero exit status of a worker.
    """

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    remaining = set(children)
    failed = 0
    while remaining:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        remaining.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if code > 0 and not failed:
            failed = code
        for other in remaining:  # one worker gone: the others stop too, so that a supervisor restarts all
            with contextlib.suppress(ProcessLookupError):
                os.kill(other, signal.SIGTERM)
    return failed


def _http_protocol() -> str:
    """httptools (the C parser of the service extra) when installed, else h11 (pure Python)."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def _loop_options() -> dict[str, Any]:
    """uvloop's event loop (of the service extra) when installed, else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return {}
    return {"loop_factory": uvloop.new_event_loop}


async def _run(server: uvicorn.Server, threads: int, listening: socket.socket | None) -> None:
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = threads  # one per concurrent sale
    await server.serve(sockets=None if listening is None else [listening])
