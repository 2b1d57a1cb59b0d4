"""Decision-log storage: an append-only sequence of canonical records.

A store keeps, for each record, its sequence number, its exact bytes (RFC 8785 canonical JSON, as
hashed) and its RFC 6962 leaf hash, plus a way to find a record by its key (an assessment, decision
or confirmation id, or an artifact's content hash). The key index and the stored leaf hashes are
conveniences; verification recomputes everything from the bytes.

:class:`SQLiteStore` is the embedded default: one file in WAL mode with ``synchronous=FULL``, so
a commit that returned survives a crash of the process or the machine. Appends run in
``BEGIN IMMEDIATE`` transactions, which serialise writers across processes, so sequence numbers
stay gap-free with any number of writers. Triggers refuse UPDATE and DELETE on the records and on
the checkpoints kept beside them. An append first checks that the records it extends are gap-free
(a seq written out of band far ahead would otherwise strand every later record beyond a gap), and
the read paths turn a damaged file or a record not stored as bytes into a clean error.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Self

from . import __about__
from .codec import canonical_bytes
from .errors import IntegrityError, LogError, Problem
from .merkle import leaf_hash

#: The default log file, in the current folder, used by the CLI when no --log is given.
DEFAULT_LOG = "suitability-log.sqlite3"
RECORD_TYPES = ("artifact", "assessment", "decision", "confirmation")


@dataclass
class Draft:
    """A record to append: its type, body and key, and the artifacts it needs first.

    Attributes:
        type: one of :data:`RECORD_TYPES`.
        body: the type's fields (``seq``, ``type``, ``recorded_at`` and ``engine_version`` are
            added when it is written).
        key: the id the record is found by (an assessment id, or an artifact's hash).
        artifacts: artifact drafts that must precede this record; each is written once per log.
    """

    type: str
    body: dict[str, Any]
    key: str | None = None
    artifacts: list[Draft] = field(default_factory=list)


class Stored(NamedTuple):
    """A record as stored: sequence number and exact bytes."""

    seq: int
    data: bytes


class KeptCheckpoint(NamedTuple):
    """A signed checkpoint kept beside the log: its number in the log (1, 2, …), size, note and key."""

    number: int
    size: int
    note: str
    public_key: str


class LogStore(ABC):
    """What every decision-log store provides."""

    location: str

    @abstractmethod
    def append(self, drafts: Sequence[Draft]) -> list[Stored]:
        """Append ``drafts`` (and the artifacts they need) in one durable transaction.

        Returns the stored form of each draft, in order, once it is committed.

        Raises:
            LogError: nothing was appended.
        """

    @abstractmethod
    def append_raw(self, rows: Sequence[Row]) -> None:
        """Append records exactly as given (seq, type, key, bytes, leaf hash), continuing the log.

        For copying a log between stores; the rows must continue its sequence.

        Raises:
            LogError: nothing was appended.
        """

    @abstractmethod
    def size(self) -> int:
        """Return the number of records."""

    @abstractmethod
    def scan(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        """Yield ``(seq, bytes, stored leaf hash)`` in order, streaming, from ``start`` to ``end``."""

    @abstractmethod
    def find(self, key: str) -> Stored | None:
        """Return the first record whose key is ``key``."""

    @abstractmethod
    def get(self, seq: int) -> Stored | None:
        """Return the record at ``seq``."""

    @abstractmethod
    def add_checkpoint(self, size: int, note: str, public_key: str) -> None:
        """Keep a signed checkpoint, and the verifier key that checks it, beside the log."""

    @abstractmethod
    def checkpoints(self) -> list[KeptCheckpoint]:
        """Return every checkpoint kept beside the log, oldest first (they are append-only)."""

    @abstractmethod
    def latest_checkpoint(self) -> str | None:
        """Return the latest signed checkpoint kept beside the log."""

    @abstractmethod
    def public_key(self) -> str | None:
        """Return the verifier key of the latest checkpoint kept beside the log."""

    @abstractmethod
    def close(self) -> None:
        """Release the store."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Row = tuple[int, str, str | None, bytes, bytes]  # seq, type, key, bytes, leaf hash


def layout(
    drafts: Sequence[Draft], first: int, recorded_at: str, known: set[str], exists: Callable[[str], bool]
) -> tuple[list[Row], list[Stored], set[str]]:
    """Give each draft, and each artifact it needs that the log lacks, its seq, bytes and leaf hash.

    Args:
        drafts: what to append, in order.
        first: the seq of the first new record.
        recorded_at: the time every new record carries.
        known: artifact keys already known to be in the log (never removed, so safe to cache).
        exists: asks the log whether an artifact key is in it.

    Returns:
        The rows to insert, the stored form of each draft, and the artifact keys written.
    """
    seq = first
    rows: list[Row] = []
    stored: list[Stored] = []
    written: set[str] = set()
    for draft in drafts:
        for artifact in draft.artifacts:
            key = artifact.key or ""
            if key in written or key in known:
                continue
            if exists(key):
                known.add(key)
                continue
            data = render(artifact, seq, recorded_at)
            rows.append((seq, artifact.type, artifact.key, data, leaf_hash(data)))
            written.add(key)
            seq += 1
        data = render(draft, seq, recorded_at)
        rows.append((seq, draft.type, draft.key, data, leaf_hash(data)))
        stored.append(Stored(seq, data))
        seq += 1
    return rows, stored, written


def check_continues(expected: int, rows: Sequence[Row]) -> None:
    """Refuse copied rows that do not continue the log at ``expected``, one seq after another."""
    for offset, row in enumerate(rows):
        if row[0] != expected + offset:
            where = "first" if offset == 0 else f"after seq {expected + offset - 1}"
            raise LogError(
                "records must continue the log", [Problem(f"expected seq {expected + offset} {where}, found {row[0]}")]
            )


def gap_error(location: str, missing: int, found: int) -> LogError:
    """The refusal to append after a gap: records ``missing`` to ``found - 1`` are absent."""
    return LogError(
        f"cannot append to the decision log {location}: it has a gap; nothing was recorded",
        [
            Problem(
                f"expected seq {missing} next, found seq {found} (records {missing} to {found - 1} are missing); "
                "an append never writes after a gap: find who wrote seq "
                f"{found} outside the log, and verify the log against a held checkpoint",
                f"/records/{missing}",
                source=location,
            )
        ],
    )


def altered(location: str, seq: int, what: str, value: object) -> IntegrityError:
    """A record whose stored bytes or leaf hash is not bytes at all: the log was altered outside the store."""
    found = "NULL" if value is None else type(value).__name__
    return IntegrityError(
        f"the decision log {location} was altered: record {seq} is not stored as bytes",
        [Problem(f"expected the record's {what} stored as bytes (a BLOB), found {found}", f"/records/{seq}")],
        seq=seq,
    )


def render(draft: Draft, seq: int, recorded_at: str) -> bytes:
    """Return the canonical bytes of ``draft`` written at ``seq``."""
    record = {
        **draft.body,
        "seq": seq,
        "type": draft.type,
        "recorded_at": recorded_at,
        "engine_version": __about__.__version__,
    }
    # Artifacts hold documents as written, which may hold floats; every other record is built from
    # models without a float field (tests/test_records.py holds them to that).
    return canonical_bytes(record, floats_possible=draft.type == "artifact")


def now_text() -> str:
    """The current time in UTC, ISO 8601 with microseconds and ``Z``."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


_INSERT = "INSERT INTO records (seq, type, key, data, leaf) VALUES (?, ?, ?, ?, ?)"
FORMAT = "suitability-log/2"
_LEGACY_FORMAT = "suitability-log/1"  # its key index lies on the records table; still read and written
#: Records per epoch of the key index (2**14): the index is ordered by epoch first, so a fold
#: writes only into the newest epoch's few pages however long the log is, and a lookup seeks once
#: per epoch (61 seeks in a log of a million records).
EPOCH_BITS = 14
# A key is filed under its last 15 characters: the end of a hex digest for every id and hash the
# engine writes, half the size of the whole key in the index. A lookup compares whole keys.
_KEYS_TABLE = (
    "CREATE TABLE keys (epoch INTEGER NOT NULL, suffix TEXT NOT NULL, seq INTEGER NOT NULL,"
    " PRIMARY KEY (epoch, suffix, seq)) WITHOUT ROWID"
)
_RECENT_KEYS_TABLE = "CREATE TABLE recent_keys (seq INTEGER PRIMARY KEY, key TEXT NOT NULL)"
_NEW_LOG = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER NOT NULL, note TEXT NOT NULL, public_key TEXT NOT NULL)",
    """CREATE TABLE records (
        seq INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        key TEXT,
        data BLOB NOT NULL,
        leaf BLOB NOT NULL
    )""",
    _KEYS_TABLE,
    _RECENT_KEYS_TABLE,
    f"INSERT INTO meta VALUES ('format', '{FORMAT}')",
)
# Created whenever a log is opened (IF NOT EXISTS), so logs made before a trigger existed get it
# at their next open, whether to write, verify or upgrade.
_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
        BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
        BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
        BEGIN SELECT RAISE(ABORT, 'the checkpoints kept with the decision log are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS checkpoints_no_delete BEFORE DELETE ON checkpoints
        BEGIN SELECT RAISE(ABORT, 'the checkpoints kept with the decision log are append-only'); END""",
)
# The first record with a key: through the folded index, one seek per epoch, or among the keys
# not folded yet (at most ``fold``, in a narrow table read whole). One statement, so one
# snapshot, whatever another writer folds meanwhile.
_FIND = """
WITH epochs(e) AS (SELECT 0 UNION ALL SELECT e + 1 FROM epochs WHERE e < (SELECT MAX(epoch) FROM keys))
SELECT seq, data FROM records WHERE seq IN (
    SELECT keys.seq FROM epochs JOIN keys ON keys.epoch = epochs.e AND keys.suffix = substr(?1, -15)
    UNION ALL
    SELECT seq FROM recent_keys WHERE key = ?1
) AND key = ?1 ORDER BY seq LIMIT 1
"""
_FIND_LEGACY = "SELECT seq, data FROM records WHERE key = ?1 ORDER BY seq LIMIT 1"
_FOLD = (
    f"INSERT INTO keys SELECT seq >> {EPOCH_BITS}, substr(key, -15), seq FROM recent_keys ORDER BY 1, 2, 3",
    "DELETE FROM recent_keys",
)


class SQLiteStore(LogStore):
    """The embedded store: one SQLite file, safe for many threads and processes.

    Records are found by key through an index that is brought up to date once every ``fold``
    records, in the transaction of the append that crosses the mark, in one sorted pass, and that
    is ordered by epoch (:data:`EPOCH_BITS`) before key. Keys are digests: indexing each as it was
    written scattered every commit over the whole index and wrote each page it touched to the WAL
    again, which cost batched appends a third of their speed in a new log and two thirds in a log
    of a million records. Until its fold a key waits in ``recent_keys``, a narrow table in
    sequence order that lookups read whole. A log of the older format, with a plain index on the
    key column, is read and written as it is until ``upgrade``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], str] = now_text,
        create: bool = True,
        timeout: float = 60.0,
        fold: int = 2_048,
    ) -> None:
        self.location = str(path)
        self._clock = clock
        self._fold = fold
        self._lock = threading.RLock()
        self._artifacts: set[str] = set()  # keys known to be in the log (records are never removed)
        if not create and not Path(path).is_file():
            raise LogError(
                f"no decision log at {path}",
                [Problem("expected an existing log file, found nothing", source=str(path))],
            )
        try:
            self._db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
            tables = self._tables(self._db)
            self._refuse_foreign(tables)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._format(tables)
        except sqlite3.DatabaseError as exc:
            raise LogError(
                f"cannot open the decision log {path}",
                [Problem(f"expected a SQLite decision log: {exc}", source=str(path))],
            ) from None
        self._legacy = version == _LEGACY_FORMAT

    def _tables(self, db: sqlite3.Connection) -> set[str]:
        return {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _refuse_foreign(self, tables: set[str]) -> None:
        """Refuse someone else's SQLite database before changing anything in it."""
        if tables and "meta" not in tables:
            raise LogError(
                f"{self.location} is not a decision log",
                [
                    Problem(
                        "expected a suitability decision log or an empty file, found a SQLite database with the "
                        f"tables {', '.join(sorted(tables))}",
                        source=self.location,
                    )
                ],
            )

    def _format(self, tables: set[str]) -> str:
        """The log's format (``tables``: those it had when opened); a new log is created in the current one."""
        query = "SELECT value FROM meta WHERE name = 'format'"
        row = self._db.execute(query).fetchone() if "meta" in tables else None
        if row is None:
            with self._transaction() as db:  # another process may be creating it too
                if "meta" in self._tables(db):
                    row = db.execute(query).fetchone()
                if row is None:
                    for statement in _NEW_LOG:
                        db.execute(statement)
                    row = (FORMAT,)
        if row[0] not in (FORMAT, _LEGACY_FORMAT):
            raise LogError(
                f"{self.location}: unknown log format {row[0]!r}",
                [Problem(f"expected {FORMAT} or {_LEGACY_FORMAT}", source=self.location)],
            )
        for statement in _TRIGGERS:
            self._db.execute(statement)
        return str(row[0])

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One writer at a time, across processes: BEGIN IMMEDIATE ... COMMIT, or nothing at all."""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    with suppress(sqlite3.Error):  # a damaged file may refuse even the rollback
                        db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise LogError(
                        f"cannot append to the decision log {self.location}; nothing was recorded",
                        [Problem(f"SQLite said: {exc}", source=self.location)],
                    ) from None
                raise

    def _next_seq(self, db: sqlite3.Connection) -> int:
        """The seq an append starts at, once the records it extends are known to be gap-free.

        ``meta.contiguous`` is how many records every append so far left gap-free (0 in a log
        written before it): only the records beyond it, usually none, are counted here.

        Raises:
            LogError: a record is missing below the end of the log (or records were removed).
        """
        (top,) = db.execute("SELECT MAX(seq) FROM records").fetchone()
        size = 0 if top is None else int(top) + 1
        row = db.execute("SELECT value FROM meta WHERE name = 'contiguous'").fetchone()
        known = int(row[0]) if row is not None else 0
        if size == known:
            return size
        if size < known:
            raise LogError(
                f"cannot append to the decision log {self.location}: records were removed; nothing was recorded",
                [Problem(f"expected at least {known} records, found {size}", source=self.location)],
            )
        (present,) = db.execute("SELECT COUNT(*) FROM records WHERE seq >= ?", (known,)).fetchone()
        if present != size - known:
            expected = known
            for (seq,) in db.execute("SELECT seq FROM records WHERE seq >= ? ORDER BY seq", (known,)):
                if seq != expected:
                    raise gap_error(self.location, expected, int(seq))
                expected += 1
        self._set_contiguous(db, size)
        return size

    @staticmethod
    def _set_contiguous(db: sqlite3.Connection, size: int) -> None:
        db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('contiguous', ?)", (str(size),))

    def _insert(self, db: sqlite3.Connection, rows: Sequence[Row]) -> None:
        """Insert ``rows`` and their keys; once ``fold`` keys wait, fold them into the index, sorted."""
        if self._legacy:
            (version,) = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            self._legacy = version == _LEGACY_FORMAT  # upgraded meanwhile by another process
        db.executemany(_INSERT, rows)
        if rows:
            self._set_contiguous(db, rows[-1][0] + 1)
        if self._legacy or not rows:
            return
        db.executemany("INSERT INTO recent_keys VALUES (?, ?)", [(row[0], row[2]) for row in rows if row[2]])
        (oldest,) = db.execute("SELECT MIN(seq) FROM recent_keys").fetchone()
        if oldest is not None and rows[-1][0] + 1 - oldest >= self._fold:
            for statement in _FOLD:
                db.execute(statement)

    def upgrade(self) -> list[str]:
        """Bring a log of the older format to the current one; return what was done (idempotent).

        Builds the folded key index from every record, drops the plain index and records the new
        format, in one transaction. No record is touched. A process that still has the log open
        in the older format notices at its next append and writes in the current one.
        """
        if not self._legacy:
            return []
        with self._transaction() as db:
            (version,) = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if version == _LEGACY_FORMAT:
                db.execute(_KEYS_TABLE)
                db.execute(_RECENT_KEYS_TABLE)
                db.execute("INSERT INTO recent_keys SELECT seq, key FROM records WHERE key IS NOT NULL")
                for statement in _FOLD:
                    db.execute(statement)
                db.execute("DROP INDEX IF EXISTS records_key")
                db.execute("UPDATE meta SET value = ? WHERE name = 'format'", (FORMAT,))
        self._legacy = False
        return [] if version != _LEGACY_FORMAT else [f"{_LEGACY_FORMAT} -> {FORMAT} (folded key index)"]

    def append(self, drafts: Sequence[Draft]) -> list[Stored]:
        with self._transaction() as db:
            rows, stored, written = layout(
                drafts, self._next_seq(db), self._clock(), self._artifacts, lambda key: self._find(db, key) is not None
            )
            self._insert(db, rows)
        self._artifacts |= written
        return stored

    def append_raw(self, rows: Sequence[Row]) -> None:
        with self._transaction() as db:
            check_continues(self._next_seq(db), rows)
            self._insert(db, rows)

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for a read: a driver error (a damaged file, say) becomes a LogError."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise LogError(
                    f"cannot read the decision log {self.location}",
                    [Problem(f"expected a readable SQLite decision log; SQLite said: {exc}", source=self.location)],
                ) from None

    def _bytes(self, seq: int, data: object, what: str = "bytes") -> bytes:
        if type(data) is not bytes:  # TEXT, NULL or a number: written outside the store
            raise altered(self.location, seq, what, data)
        return data

    def size(self) -> int:
        with self._reading() as db:
            row = db.execute("SELECT MAX(seq) FROM records").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def scan(self, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes, bytes]]:
        # Pages by seq, so memory stays flat however long the log is.
        page = 20_000
        position = start
        while end is None or position < end:
            limit = page if end is None else min(page, end - position)
            with self._reading() as db:
                rows = db.execute(
                    "SELECT seq, data, leaf FROM records WHERE seq >= ? ORDER BY seq LIMIT ?", (position, limit)
                ).fetchall()
            if not rows:
                return
            for seq, data, leaf in rows:
                yield seq, self._bytes(seq, data), self._bytes(seq, leaf, "leaf hash")
            position = rows[-1][0] + 1

    def find(self, key: str) -> Stored | None:
        with self._reading() as db:
            found = self._find(db, key)
        return found

    def _find(self, db: sqlite3.Connection, key: str) -> Stored | None:
        row = db.execute(_FIND_LEGACY if self._legacy else _FIND, (key,)).fetchone()
        return None if row is None else Stored(row[0], self._bytes(row[0], row[1]))

    def get(self, seq: int) -> Stored | None:
        with self._reading() as db:
            row = db.execute("SELECT seq, data FROM records WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else Stored(row[0], self._bytes(row[0], row[1]))

    def add_checkpoint(self, size: int, note: str, public_key: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO checkpoints (size, note, public_key) VALUES (?, ?, ?)", (size, note, public_key))

    def checkpoints(self) -> list[KeptCheckpoint]:
        with self._reading() as db:
            rows = db.execute("SELECT rowid, size, note, public_key FROM checkpoints ORDER BY rowid").fetchall()
        return [KeptCheckpoint(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    def public_key(self) -> str | None:
        with self._reading() as db:
            row = db.execute("SELECT public_key FROM checkpoints ORDER BY rowid DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def latest_checkpoint(self) -> str | None:
        with self._reading() as db:
            row = db.execute("SELECT note FROM checkpoints ORDER BY rowid DESC LIMIT 1").fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def is_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL log rather than a SQLite file."""
    return str(location).startswith(("postgresql://", "postgres://"))


class BatchWriter:
    """Appends drafts in large batches while telling each its seq at once, for bulk loads.

    Records often name earlier ones by seq (a decision its assessment); a bulk load cannot wait
    for a commit per record, so this predicts each seq exactly as :func:`layout` will assign it and
    checks the prediction at every flush. Nobody else may write to the log meanwhile.
    """

    def __init__(self, store: LogStore, *, batch: int = 5_000, progress: Callable[[int], None] | None = None) -> None:
        self.store, self.batch, self.progress = store, batch, progress
        self.pending: list[Draft] = []
        self.next_seq = store.size()
        self._artifacts: set[str] = set()

    def add(self, draft: Draft) -> int:
        """Queue ``draft`` (and the artifacts it needs that the log lacks); return its seq."""
        for artifact in draft.artifacts:
            key = artifact.key or ""
            if key not in self._artifacts:
                self._artifacts.add(key)
                if self.store.find(key) is None:
                    self.next_seq += 1
        self.pending.append(draft)
        self.next_seq += 1
        if len(self.pending) >= self.batch:
            self.flush()
        return self.next_seq - 1

    def flush(self) -> None:
        """Append what is queued, in one transaction.

        Raises:
            LogError: another writer appended meanwhile, so the seqs in the records would lie
                (the batch was written, and verification will name the first wrong reference).
        """
        if not self.pending:
            return
        stored = self.store.append(self.pending)
        self.pending = []
        if stored[-1].seq != self.next_seq - 1:
            raise LogError(
                f"{self.store.location} was written to by someone else during a bulk load",
                [Problem(f"expected the batch to end at seq {self.next_seq - 1}, found {stored[-1].seq}")],
            )
        if self.progress:
            self.progress(self.next_seq)


def open_store(location: str | Path, *, create: bool = True) -> LogStore:
    """Open the decision log at ``location``: a SQLite file path, or a ``postgresql://`` URL.

    A PostgreSQL log must have been created with ``suitability db upgrade URL`` first.

    Raises:
        LogError: the log cannot be opened (or does not exist and ``create`` is false).
    """
    if is_url(location):
        from .store_pg import PostgresStore

        return PostgresStore(str(location))
    return SQLiteStore(location, create=create)
