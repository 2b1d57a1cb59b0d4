"""The SQLite decision log, the embedded default.

:class:`SQLiteStore` is one file in WAL mode with ``synchronous=FULL``, so a commit that returned
survives a crash of the process or the machine. Appends run in ``BEGIN IMMEDIATE`` transactions,
which serialise writers across processes, so sequence numbers stay gap-free with any number of
writers (docs/adr/0005-gap-free-sequence.md). Triggers refuse UPDATE and DELETE on the records and
on the checkpoints kept beside them. An append first checks that the records it extends are
gap-free, and the read paths turn a damaged file or a record not stored as bytes into a clean
error. Records are found by key through an index ordered by epoch (docs/adr/0002-epoch-key-index.md).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import LogError, Problem
from .store import (
    Draft,
    KeptCheckpoint,
    LogStore,
    Row,
    Stored,
    altered,
    check_continues,
    gap_error,
    kept_checkpoint,
    layout,
    now_text,
)

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
# The end of the log, its gap-free mark and the oldest key not folded yet, in one statement.
_HEAD = (
    "SELECT (SELECT MAX(seq) FROM records), (SELECT value FROM meta WHERE name = 'contiguous'),"
    " (SELECT MIN(seq) FROM recent_keys)"
)
_HEAD_LEGACY = "SELECT (SELECT MAX(seq) FROM records), (SELECT value FROM meta WHERE name = 'contiguous'), NULL"
_CHUNK = 500  # rows per INSERT statement (5 values each, well under SQLite's limit on parameters)
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
        self._oldest_recent: int | None = None  # read by _next_seq in each append's transaction
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
        written before it): only the records beyond it, usually none, are counted here. The end
        of the log, the mark and the oldest key waiting for its fold are read in one statement.

        Raises:
            LogError: a record is missing below the end of the log (or records were removed).
        """
        top, mark, self._oldest_recent = db.execute(_HEAD_LEGACY if self._legacy else _HEAD).fetchone()
        size = 0 if top is None else int(top) + 1
        known = int(mark) if mark is not None else 0
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
        """Insert ``rows`` and their keys; once ``fold`` keys wait, fold them into the index, sorted.

        Call after :meth:`_next_seq` in the same transaction (it reads the oldest waiting key).
        Rows go in by the hundred per statement: a group commit costs the same few statements
        whatever its size.
        """
        if self._legacy:
            (version,) = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            self._legacy = version == _LEGACY_FORMAT  # upgraded meanwhile by another process
            self._oldest_recent = None if self._legacy else db.execute("SELECT MIN(seq) FROM recent_keys").fetchone()[0]
        if not rows:
            return
        for at in range(0, len(rows), _CHUNK):
            chunk = rows[at : at + _CHUNK]
            db.execute(_INSERT + ", (?, ?, ?, ?, ?)" * (len(chunk) - 1), [v for row in chunk for v in row])
        self._set_contiguous(db, rows[-1][0] + 1)
        if self._legacy:
            return
        keyed = [(row[0], row[2]) for row in rows if row[2]]
        for at in range(0, len(keyed), _CHUNK):
            pairs = keyed[at : at + _CHUNK]
            db.execute(
                "INSERT INTO recent_keys VALUES (?, ?)" + ", (?, ?)" * (len(pairs) - 1), [v for k in pairs for v in k]
            )
        oldest = self._oldest_recent if self._oldest_recent is not None else (keyed[0][0] if keyed else None)
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
        return [kept_checkpoint(self.location, *row) for row in rows]

    def latest_kept(self) -> KeptCheckpoint | None:
        with self._reading() as db:
            row = db.execute(
                "SELECT rowid, size, note, public_key FROM checkpoints ORDER BY rowid DESC LIMIT 1"
            ).fetchone()
        return None if row is None else kept_checkpoint(self.location, *row)

    def close(self) -> None:
        with self._lock:
            self._db.close()
