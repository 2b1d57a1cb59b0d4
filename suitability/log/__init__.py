"""The tamper-evident decision log: stores, the Merkle tree, checkpoints, verification and export.

This wing never imports a rule (the layer contract in pyproject.toml says so and CI checks it):
it handles records as canonical bytes and the few envelope fields every record has. What needs
the rules (replay, review) lives above it.
"""

from __future__ import annotations

from pathlib import Path

from .sqlite import SQLiteStore
from .store import DEFAULT_LOG, BatchWriter, Draft, LogStore, Stored, is_url


def open_store(location: str | Path, *, create: bool = True) -> LogStore:
    """Open the decision log at ``location``: a SQLite file path, or a ``postgresql://`` URL.

    A PostgreSQL log must have been created with ``suitability db upgrade URL`` first.

    Raises:
        LogError: the log cannot be opened (or does not exist and ``create`` is false).
    """
    if is_url(location):
        from .postgres import PostgresStore

        return PostgresStore(str(location))
    return SQLiteStore(location, create=create)


def upgrade(location: str | Path, *, app_role: str | None = None) -> list[str]:
    """Bring the log at ``location`` to the current format; return what was done, one line a step.

    A SQLite file gets the current key index and triggers (no record is touched); a PostgreSQL
    database gets the pending migrations, and with ``app_role`` its grants (see
    :func:`suitability.log.postgres.upgrade`).

    Raises:
        LogError: the log cannot be opened or upgraded.
        ValueError: ``app_role`` was given for a SQLite file (roles are PostgreSQL's).
    """
    if is_url(location):
        from .postgres import upgrade as upgrade_postgres

        return upgrade_postgres(str(location), app_role=app_role)
    if app_role is not None:
        raise ValueError("--app-role applies to a PostgreSQL log only")
    with SQLiteStore(location, create=False) as store:
        return store.upgrade()


__all__ = [
    "DEFAULT_LOG",
    "BatchWriter",
    "Draft",
    "LogStore",
    "SQLiteStore",
    "Stored",
    "is_url",
    "open_store",
    "upgrade",
]
