"""Idempotency keys, kept durably beside the log, so a retried request writes nothing new.

A request with an ``Idempotency-Key`` first *claims* the key (scope: the calling actor) in a table
of the log's own database, with a fingerprint of the request (method, path and body bytes) and
the instant it is for (``as_of``: the body's, or the moment of the claim). Then the Engine runs
and records; then the claim is *completed* with the response. A retry with the same key and
fingerprint gets the stored response; with another fingerprint, ``409``.

The claim and the record are separate transactions (the record is the Engine's; the store
contract has no hook for a foreign row), so a server can die between them. That window is closed
by the ids: a result's id is a digest of everything it was computed from, and the claim pins the
instant, so a retry of an unfinished claim recomputes the result without writing
(:class:`DryRunStore`), finds whether the log already holds it, and only if not records it. On
SQLite the claim is written to the log's file before the record, in the same write-ahead log, so
a durable record implies a durable claim.

A claim held by a live request (this process, or another within its lease) is ``409`` with
``Retry-After``; a claim left by a dead process (same host, pid gone or reused) or older than
the lease is taken over.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import LogError, Problem
from ..log.store import Draft, KeptCheckpoint, LogStore, Row, Stored

#: How long a claim by a process that may be alive elsewhere keeps others waiting.
LEASE_SECONDS = 60.0
_HOST = socket.gethostname()

State = Literal["new", "replay", "resume", "busy", "mismatch"]


@dataclass(frozen=True)
class Claim:
    """What a claim found: ``new`` (go ahead), ``resume`` (an abandoned claim, now ours: check the
    log first), ``replay`` (a stored response), ``busy`` (in flight) or ``mismatch`` (another body)."""

    state: State
    as_of: str | None = None
    status: int | None = None
    body: bytes | None = None


def _owner() -> str:
    return f"{_HOST}:{os.getpid()}:{secrets.token_hex(6)}"


def _abandoned(owner: str, me: str, claimed_at: float) -> bool:
    host, _, rest = owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    if host == _HOST and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return owner != me  # an earlier process with our pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            pass
    return time.time() - claimed_at > LEASE_SECONDS


class IdempotencyTable(ABC):
    """Claims of idempotency keys, durable in the log's database."""

    def __init__(self) -> None:
        self.owner = _owner()

    def _decide(self, found: tuple[Any, ...] | None, fingerprint: str) -> tuple[Claim, bool]:
        """The claim for what the table holds; and whether to take the row over."""
        if found is None:
            return Claim("new"), False
        fp, as_of, owner, claimed_at, status, body = found
        if fp != fingerprint:
            return Claim("mismatch"), False
        if status is not None:
            return Claim("replay", as_of, int(status), bytes(body)), False
        if _abandoned(str(owner), self.owner, float(claimed_at)):
            return Claim("resume", as_of), True
        return Claim("busy", as_of), False

    @abstractmethod
    def claim(self, scope: str, key: str, fingerprint: str, as_of: str) -> Claim:
        """Claim ``key`` for ``scope``, or say what holds it."""

    @abstractmethod
    def complete(self, scope: str, key: str, status: int, body: bytes) -> None:
        """Store the response of a claimed key."""

    @abstractmethod
    def release(self, scope: str, key: str) -> None:
        """Drop an unfinished claim of ours (the request was refused: nothing was recorded)."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""


_SQLITE_TABLE = """CREATE TABLE IF NOT EXISTS service_idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, as_of TEXT NOT NULL,
    owner TEXT NOT NULL, claimed_at REAL NOT NULL, status INTEGER, body BLOB,
    PRIMARY KEY (scope, key)) WITHOUT ROWID"""
_SELECT = "SELECT fingerprint, as_of, owner, claimed_at, status, body FROM {table} WHERE scope = {p} AND key = {p}"


class SQLiteIdempotency(IdempotencyTable):
    """The claims in a table of the SQLite log file (its own connection; writers serialise with the log's)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
            # NORMAL: in WAL mode commits reach the disk in order, so the record's FULL commit,
            # which follows the claim, makes the claim durable too.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SQLITE_TABLE)
        except sqlite3.Error as exc:
            raise LogError(
                "cannot keep idempotency keys in the decision log", [Problem(f"SQLite said: {exc}")]
            ) from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise LogError(
                        "cannot keep the idempotency key; nothing was recorded", [Problem(f"SQLite said: {exc}")]
                    ) from None
                raise

    def claim(self, scope: str, key: str, fingerprint: str, as_of: str) -> Claim:
        with self._tx() as db:
            found = db.execute(_SELECT.format(table="service_idempotency", p="?"), (scope, key)).fetchone()
            claim, take = self._decide(found, fingerprint)
            if claim.state == "new":
                db.execute(
                    "INSERT INTO service_idempotency (scope, key, fingerprint, as_of, owner, claimed_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (scope, key, fingerprint, as_of, self.owner, time.time()),
                )
                return Claim("new", as_of)
            if take:
                db.execute(
                    "UPDATE service_idempotency SET owner = ?, claimed_at = ? WHERE scope = ? AND key = ?",
                    (self.owner, time.time(), scope, key),
                )
            return claim

    def complete(self, scope: str, key: str, status: int, body: bytes) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE service_idempotency SET status = ?, body = ? WHERE scope = ? AND key = ? AND owner = ?",
                (status, body, scope, key, self.owner),
            )

    def release(self, scope: str, key: str) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM service_idempotency WHERE scope = ? AND key = ? AND owner = ? AND status IS NULL",
                (scope, key, self.owner),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


_PG_TABLE = """CREATE TABLE IF NOT EXISTS suitability_idempotency (
    scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, as_of TEXT NOT NULL,
    owner TEXT NOT NULL, claimed_at DOUBLE PRECISION NOT NULL, status INTEGER, body BYTEA,
    PRIMARY KEY (scope, key))"""


class PostgresIdempotency(IdempotencyTable):
    """The claims in a table of the PostgreSQL log's schema (created by the first server that may)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        import psycopg

        self._psycopg = psycopg
        self._lock = threading.Lock()
        try:
            self._conn = psycopg.connect(url, autocommit=True)
            row = self._conn.execute("SELECT to_regclass('suitability_idempotency') IS NOT NULL").fetchone()
            if row is None or not row[0]:
                self._conn.execute(_PG_TABLE)
        except psycopg.Error as exc:
            raise LogError(
                "cannot keep idempotency keys in the PostgreSQL log",
                [Problem(f"expected the table suitability_idempotency, or the right to create it: {str(exc).strip()}")],
            ) from None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            try:
                with self._conn.transaction():
                    yield self._conn
            except self._psycopg.Error as exc:
                raise LogError(
                    "cannot keep the idempotency key; nothing was recorded",
                    [Problem(f"PostgreSQL said: {str(exc).strip()}")],
                ) from None

    def claim(self, scope: str, key: str, fingerprint: str, as_of: str) -> Claim:
        with self._tx() as conn:
            inserted = conn.execute(
                "INSERT INTO suitability_idempotency (scope, key, fingerprint, as_of, owner, claimed_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
                (scope, key, fingerprint, as_of, self.owner, time.time()),
            ).fetchone()
            if inserted is not None:
                return Claim("new", as_of)
            found = conn.execute(
                _SELECT.format(table="suitability_idempotency", p="%s") + " FOR UPDATE", (scope, key)
            ).fetchone()
            claim, take = self._decide(found, fingerprint)
            if take:
                conn.execute(
                    "UPDATE suitability_idempotency SET owner = %s, claimed_at = %s WHERE scope = %s AND key = %s",
                    (self.owner, time.time(), scope, key),
                )
            return claim

    def complete(self, scope: str, key: str, status: int, body: bytes) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE suitability_idempotency SET status = %s, body = %s"
                " WHERE scope = %s AND key = %s AND owner = %s",
                (status, body, scope, key, self.owner),
            )

    def release(self, scope: str, key: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM suitability_idempotency WHERE scope = %s AND key = %s AND owner = %s AND status IS NULL",
                (scope, key, self.owner),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class DryRunStore(LogStore):
    """A store that reads from ``real`` and writes nothing: what an Engine call *would* append."""

    def __init__(self, real: LogStore) -> None:
        self.real = real
        self.location = real.location
        self.drafts: list[Draft] = []

    def append(self, drafts: Sequence[Draft]) -> list[Stored]:
        self.drafts.extend(drafts)
        return [Stored(-1, b"") for _ in drafts]

    def append_raw(self, rows: Sequence[Row]) -> None:
        raise LogError("a dry run writes nothing")

    def size(self) -> int:
        return self.real.size()

    def scan(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        return self.real.scan(start, end)

    def find(self, key: str) -> Stored | None:
        return self.real.find(key)

    def get(self, seq: int) -> Stored | None:
        return self.real.get(seq)

    def add_checkpoint(self, size: int, note: str, public_key: str) -> None:
        raise LogError("a dry run writes nothing")

    def checkpoints(self) -> list[KeptCheckpoint]:
        return self.real.checkpoints()

    def latest_kept(self) -> KeptCheckpoint | None:
        return self.real.latest_kept()

    def close(self) -> None:
        pass
