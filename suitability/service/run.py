"""Running the service under uvicorn: the log, the Engine, the keys and the catalog, opened once."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import uvicorn

from ..engine import Engine
from ..errors import InputError, Problem
from ..log import open_store
from ..log.store import is_url
from ..product import load_catalog
from ..registry import Registry
from .app import Checkpointing, create_app
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
) -> None:
    """Open the log and serve it until interrupted.

    Raises:
        InputError: the keys file holds no key, or the catalog or keys file is bad.
        LogError: the log cannot be opened.
    """
    import anyio

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
    metrics = Metrics()
    store = MeteredStore(open_store(log), metrics)
    idempotency: IdempotencyTable = PostgresIdempotency(log) if is_url(log) else SQLiteIdempotency(str(Path(log)))
    engine = Engine(registry, store, pseudonym_key=pseudonym_key)
    app = create_app(
        engine, ring, products, idempotency=idempotency, checkpointing=checkpointing, threads=workers_threads
    )

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
        anyio.run(_run, server, workers_threads, backend_options=_loop_options())
    finally:
        idempotency.close()
        store.close()


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


async def _run(server: uvicorn.Server, threads: int) -> None:
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = threads  # one per concurrent sale
    await server.serve()
