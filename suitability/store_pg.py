"""The PostgreSQL decision-log store, for many app servers writing one log.

Same contract as :class:`~suitability.store.SQLiteStore`: records are stored as the exact bytes
that were hashed; appends run in one transaction that first takes ``LOCK TABLE records IN
EXCLUSIVE MODE`` (readers go on; writers on every connection and process queue), so sequence
numbers stay gap-free; a commit is durable before the result is returned (PostgreSQL's
``synchronous_commit``); triggers reject UPDATE, DELETE and TRUNCATE on the records, and the
application role can be granted INSERT and SELECT only.

The schema is created and upgraded only by versioned migrations (:func:`upgrade`, run by
``suitability db upgrade URL``); a store refuses a database whose schema is missing or newer than
it knows. Reads stream through server-side cursors, so verify, replay, query, report and export
hold no more than a page of records in memory.

psycopg 3 is an optional dependency: ``pip install 'suitability[postgres]'``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import LogError, Problem
from .store import Draft, LogStore, Row, Stored, check_continues, layout, now_text

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "records, checkpoints and append-only triggers",
        """
        CREATE TABLE records (
            seq BIGINT PRIMARY KEY CHECK (seq >= 0),
            type TEXT NOT NULL,
            key TEXT,
            data BYTEA NOT NULL,
            leaf BYTEA NOT NULL CHECK (length(leaf) = 32)
        );
        CREATE INDEX records_key ON records (key);
        CREATE TABLE checkpoints (
            id BIGSERIAL PRIMARY KEY,
            size BIGINT NOT NULL,
            note TEXT NOT NULL,
            public_key TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE FUNCTION suitability_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the decision log is append-only: % refused on %', TG_OP, TG_TABLE_NAME;
        END $$;
        CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON records
            FOR EACH ROW EXECUTE FUNCTION suitability_append_only();
        CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
            FOR EACH STATEMENT EXECUTE FUNCTION suitability_append_only();
        """,
    ),
)
LATEST = MIGRATIONS[-1][0]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the test extras install it
        raise LogError(
            "PostgreSQL logs need psycopg",
            [Problem("expected psycopg 3 to be installed: pip install 'suitability[postgres]'")],
        ) from None
    return psycopg


def _connect(url: str) -> Any:
    psycopg = _psycopg()
    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise LogError(
            "cannot connect to the PostgreSQL decision log",
            [Problem(f"expected a reachable PostgreSQL server at the URL given: {str(exc).strip()}")],
        ) from None


def _version(conn: Any) -> int:
    exists = conn.execute("SELECT to_regclass('suitability_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM suitability_migrations").fetchone()
    return int(row[0])


def upgrade(url: str) -> list[str]:
    """Apply every migration the database lacks, each in its own transaction; idempotent.

    Returns:
        The migrations applied now (empty when the schema was already current).
    """
    psycopg = _psycopg()
    conn = _connect(url)
    applied: list[str] = []
    try:
        with conn.transaction():
            # One upgrader at a time, whatever else connects.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('suitability-migrations:' || current_schema()))")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS suitability_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            current = _version(conn)
            for version, name, sql in MIGRATIONS:
                if version > current:
                    conn.execute(sql)
                    conn.execute("INSERT INTO suitability_migrations (version, name) VALUES (%s, %s)", (version, name))
                    applied.append(f"{version:03d} {name}")
    except psycopg.Error as exc:
        raise LogError("the migration failed; nothing was changed", [Problem(str(exc).strip())]) from None
    finally:
        conn.close()
    return applied


class PostgresStore(LogStore):
    """A decision log in PostgreSQL, shared by many connections and processes."""

    def __init__(self, url: str, *, clock: Callable[[], str] = now_text) -> None:
        self.location = url.split("@")[-1] if "@" in url else url  # never echo a password
        self._clock = clock
        self._lock = threading.RLock()
        self._artifacts: set[str] = set()
        self._psycopg = _psycopg()
        self._url = url
        self._conn = _connect(url)
        version = _version(self._conn)
        if version != LATEST:
            self._conn.close()
            found = "no schema" if version == 0 else f"schema version {version}"
            raise LogError(
                f"the PostgreSQL decision log at {self.location} is not ready",
                [Problem(f"expected schema version {LATEST}, found {found}: run `suitability db upgrade URL`")],
            )

    def _fail(self, exc: Exception) -> LogError:
        return LogError(
            f"cannot use the decision log {self.location}; nothing was recorded",
            [Problem(f"PostgreSQL said: {str(exc).strip()}")],
        )

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One writer at a time, across connections: the exclusive table lock, held to commit."""
        with self._lock:
            try:
                with self._conn.transaction():
                    self._conn.execute("LOCK TABLE records IN EXCLUSIVE MODE")
                    yield self._conn
            except self._psycopg.Error as exc:
                raise self._fail(exc) from None

    def _next_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM records").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def append(self, drafts: Sequence[Draft]) -> list[Stored]:
        with self._transaction() as conn:

            def exists(key: str) -> bool:
                return conn.execute("SELECT 1 FROM records WHERE key = %s", (key,)).fetchone() is not None

            rows, stored, written = layout(drafts, self._next_seq(), self._clock(), self._artifacts, exists)
            self._insert(rows)
        self._artifacts |= written
        return stored

    def _insert(self, rows: list[Row]) -> None:
        with self._conn.cursor() as cur:
            if len(rows) > 50:
                with cur.copy("COPY records (seq, type, key, data, leaf) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cur.executemany("INSERT INTO records (seq, type, key, data, leaf) VALUES (%s, %s, %s, %s, %s)", rows)

    def append_raw(self, rows: Sequence[Row]) -> None:
        with self._transaction():
            check_continues(self._next_seq(), rows)
            self._insert(list(rows))

    def size(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT MAX(seq) FROM records").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def scan(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        # A server-side cursor in its own connection: the log streams a page at a time, and
        # lookups on the store's connection can run while it is open.
        conn = _connect(self._url)
        try:
            with conn.transaction(), conn.cursor(name="suitability_scan") as cur:
                cur.itersize = 5_000
                cur.execute(
                    "SELECT seq, data, leaf FROM records WHERE seq >= %s AND (%s::bigint IS NULL OR seq < %s) ORDER BY seq",
                    (start, end, end),
                )
                for seq, data, leaf in cur:
                    yield int(seq), bytes(data), bytes(leaf)
        finally:
            conn.close()

    def find(self, key: str) -> Stored | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT seq, data FROM records WHERE key = %s ORDER BY seq LIMIT 1", (key,)
            ).fetchone()
        return None if row is None else Stored(int(row[0]), bytes(row[1]))

    def get(self, seq: int) -> Stored | None:
        with self._lock:
            row = self._conn.execute("SELECT seq, data FROM records WHERE seq = %s", (seq,)).fetchone()
        return None if row is None else Stored(int(row[0]), bytes(row[1]))

    def add_checkpoint(self, size: int, note: str, public_key: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO checkpoints (size, note, public_key) VALUES (%s, %s, %s)", (size, note, public_key)
            )

    def latest_checkpoint(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT note FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def public_key(self) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT public_key FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
