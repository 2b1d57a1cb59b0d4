"""The SQLite decision log, the embedded default.

:class:`SQLiteStore` is one file in WAL mode with ``synchronous=FULL``, so a commit that returned
survives a crash of the process or the machine. Appends run in ``BEGIN IMMEDIATE`` transactions,
which serialise writers across processes, so sequence numbers stay gap-free with any number of
writers (docs/adr/0005-gap-free-sequence.md). Triggers refuse UPDATE and DELETE on the records and
on the checkpoints kept beside them. An append first checks that the records it extends are
gap-free, and the read paths turn a damaged file or a record not stored as bytes into a clean
error. Records are found by key through an index ordered by epoch, each closed epoch with a Bloom
filter so that a lookup seeks only where the key may be (docs/adr/0002-epoch-ordered-key-index.md).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from zlib import crc32

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
FORMAT = "suitability-log/3"
_FORMAT_2 = "suitability-log/2"  # a folded key index without filters; still read and written
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
#: Bits of the Bloom filter of one closed epoch (64 KiB, 32 bits per key when every record has one),
#: three probes per key: about one false positive in 1,500 keys absent from an epoch.
FILTER_BITS = 1 << 19
# One filter per epoch whose every key is folded (``epoch`` from 0 up without a hole), written by the
# fold that closes the epoch, in its transaction. A closed epoch never changes, so neither does its
# filter: a reader caches them all.
_FILTERS_TABLE = "CREATE TABLE key_filters (epoch INTEGER PRIMARY KEY, bits BLOB NOT NULL)"
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
    _FILTERS_TABLE,
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
# The first record with a key: through the folded index, a seek in each epoch from ?2 on (those
# without a filter in the reader's cache: usually only the open one) and in each closed epoch whose
# filter may hold the key ({candidates}); among the keys not folded yet, those the reader has not
# seen yet (seq beyond ?4), and ?3, where the reader saw the key waiting. One statement, so one
# snapshot, whatever another writer folds meanwhile: what the reader cached is true forever (a
# closed epoch never changes, a record never changes), and whatever it cached that has been folded
# since is found in the index as well.
_FIND = """
WITH epochs(e) AS (SELECT ?2 UNION ALL SELECT e + 1 FROM epochs WHERE e < (SELECT MAX(epoch) FROM keys))
SELECT seq, data FROM records WHERE seq IN (
    SELECT keys.seq FROM epochs JOIN keys ON keys.epoch = epochs.e AND keys.suffix = substr(?1, -15)
    UNION ALL
    SELECT seq FROM recent_keys WHERE seq > ?4 AND key = ?1
    UNION ALL
    SELECT ?3{candidates}
) AND key = ?1 ORDER BY seq LIMIT 1
"""
# The keys that began waiting after ``?1``, and the oldest key waiting (key NULL), in one snapshot.
_WAITING = "SELECT seq, key FROM recent_keys WHERE seq > ?1 UNION ALL SELECT MIN(seq), NULL FROM recent_keys"
_CANDIDATES = """
    UNION ALL
    SELECT seq FROM keys WHERE epoch IN ({marks}) AND suffix = substr(?1, -15)"""
# The end of the log, its gap-free mark and the oldest key not folded yet, in one statement.
_HEAD = (
    "SELECT (SELECT MAX(seq) FROM records), (SELECT value FROM meta WHERE name = 'contiguous'),"
    " (SELECT MIN(seq) FROM recent_keys)"
)
_HEAD_LEGACY = "SELECT (SELECT MAX(seq) FROM records), (SELECT value FROM meta WHERE name = 'contiguous'), NULL"
_CHUNK = 500  # rows per INSERT statement (5 values each, well under SQLite's limit on parameters)
_FIND_LEGACY = "SELECT seq, data FROM records WHERE key = ?1 ORDER BY seq LIMIT 1"
_FOLD = "INSERT INTO keys SELECT seq >> ?, substr(key, -15), seq FROM recent_keys ORDER BY 1, 2, 3"


def _bits(suffix: bytes) -> tuple[int, int, int]:
    """The three filter bits of a key's suffix (its UTF-8 bytes), from two CRC-32s of it.

    Not a cryptographic hash: it is cheap (an epoch's filter is built in a few ms, within an append),
    and a key that collides with others costs only a needless seek, never a wrong answer.
    """
    x = crc32(suffix) | crc32(suffix, 0x5BD1E995) << 32
    return x & _MASK, x >> 21 & _MASK, x >> 42 & _MASK


_MASK = FILTER_BITS - 1


def _close_epochs(db: sqlite3.Connection, end: int, epoch_bits: int) -> None:
    """Write the filter of every epoch wholly below ``end`` (the first seq not folded) that has none."""
    (start,) = db.execute("SELECT COALESCE(MAX(epoch) + 1, 0) FROM key_filters").fetchone()
    for epoch in range(start, end >> epoch_bits):
        bits = bytearray(FILTER_BITS // 8)
        for (suffix,) in db.execute("SELECT CAST(suffix AS BLOB) FROM keys WHERE epoch = ?", (epoch,)):
            x = crc32(suffix) | crc32(suffix, 0x5BD1E995) << 32  # _bits, inlined: 16,384 keys an epoch
            bit = x & _MASK
            bits[bit >> 3] |= 1 << (bit & 7)
            bit = x >> 21 & _MASK
            bits[bit >> 3] |= 1 << (bit & 7)
            bit = x >> 42 & _MASK
            bits[bit >> 3] |= 1 << (bit & 7)
        db.execute("INSERT INTO key_filters VALUES (?, ?)", (epoch, bytes(bits)))


class SQLiteStore(LogStore):
    """The embedded store: one SQLite file, safe for many threads and processes.

    Records are found by key through an index that is brought up to date once every ``fold``
    records, in the transaction of the append that crosses the mark, in one sorted pass, and that
    is ordered by epoch (:data:`EPOCH_BITS`) before key. Keys are digests: indexing each as it was
    written scattered every commit over the whole index and wrote each page it touched to the WAL
    again, which cost batched appends a third of their speed in a new log and two thirds in a log
    of a million records. The fold that closes an epoch writes its Bloom filter, which readers
    cache, so a lookup seeks only the epochs that may hold the key. Until its fold a key waits in
    ``recent_keys``, a narrow table in sequence order; a reader remembers the keys it saw there
    and reads only those appended since. A log of an older format (a plain index on the key
    column, or no filters) is read and written as it is until ``upgrade``.
    """

    #: Every writer of a log must use the same; only tests make epochs smaller, to close many.
    _epoch_bits = EPOCH_BITS

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
        # Where this store's last append left the log: (data_version, end, oldest key waiting).
        # True while no other connection has committed since (SQLite's data_version is unchanged).
        self._head: tuple[int, int, int | None] | None = None
        self._data_version = -1
        self._filters: list[bytes] = []  # of the closed epochs 0, 1, ...: they never change
        # The keys seen waiting in recent_keys, each with its first seq (true forever: records never
        # change), every one waiting up to seq ``_seen`` included; those since folded are dropped.
        self._waiting: dict[str, int] = {}
        self._seen = -1
        self._oldest_seen: int | None = None  # the oldest key waiting at the last look
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
            self._version = self._format(tables)
        except sqlite3.DatabaseError as exc:
            raise LogError(
                f"cannot open the decision log {path}",
                [Problem(f"expected a SQLite decision log: {exc}", source=str(path))],
            ) from None
        self._legacy = self._version == _LEGACY_FORMAT

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
        if row[0] not in (FORMAT, _FORMAT_2, _LEGACY_FORMAT):
            raise LogError(
                f"{self.location}: unknown log format {row[0]!r}",
                [Problem(f"expected {FORMAT}, {_FORMAT_2} or {_LEGACY_FORMAT}", source=self.location)],
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

        When no other connection has committed since this store's last append (``PRAGMA
        data_version`` unchanged), the log is as that append left it: nothing is read.

        Raises:
            LogError: a record is missing below the end of the log (or records were removed).
        """
        (self._data_version,) = db.execute("PRAGMA data_version").fetchone()
        head, self._head = self._head, None  # set again only once this append commits
        if head is not None and head[0] == self._data_version:
            self._oldest_recent = head[2]
            return head[1]
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
        # An UPDATE leaves meta's key index alone (a REPLACE deletes and inserts: one more page to
        # write at every commit); the row is missing only in a log written before the mark existed.
        if db.execute("UPDATE meta SET value = ? WHERE name = 'contiguous'", (str(size),)).rowcount == 0:
            db.execute("INSERT INTO meta (name, value) VALUES ('contiguous', ?)", (str(size),))

    def _insert(self, db: sqlite3.Connection, rows: Sequence[Row]) -> None:
        """Insert ``rows`` and their keys; once ``fold`` keys wait, fold them into the index, sorted.

        Call after :meth:`_next_seq` in the same transaction (it reads the oldest waiting key).
        Rows go in by the hundred per statement: a group commit costs the same few statements
        whatever its size.
        """
        if self._version != FORMAT:
            (self._version,) = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            self._legacy = self._version == _LEGACY_FORMAT  # upgraded meanwhile by another process
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
        self._oldest_recent = oldest
        if oldest is not None and rows[-1][0] + 1 - oldest >= self._fold:
            db.execute(_FOLD, (self._epoch_bits,))
            db.execute("DELETE FROM recent_keys")
            self._oldest_recent = None
            if self._version == FORMAT:
                _close_epochs(db, rows[-1][0] + 1, self._epoch_bits)

    def upgrade(self) -> list[str]:
        """Bring a log of an older format to the current one; return what was done (idempotent).

        In one transaction: from format 1, builds the folded key index from every record and drops
        the plain index; from format 1 or 2, writes the filter of every closed epoch; then records
        the new format. No record is touched. A process that still has the log open in an older
        format notices at its next append and writes in the current one.
        """
        if self._version == FORMAT:
            return []
        self._head = None
        with self._transaction() as db:
            (version,) = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
            if version == _LEGACY_FORMAT:
                db.execute(_KEYS_TABLE)
                db.execute(_RECENT_KEYS_TABLE)
                db.execute("INSERT INTO recent_keys SELECT seq, key FROM records WHERE key IS NOT NULL")
                db.execute(_FOLD, (self._epoch_bits,))
                db.execute("DELETE FROM recent_keys")
                db.execute("DROP INDEX IF EXISTS records_key")
            if version != FORMAT:
                db.execute(_FILTERS_TABLE)
                (waiting,) = db.execute("SELECT MIN(seq) FROM recent_keys").fetchone()
                _close_epochs(db, self._size(db) if waiting is None else int(waiting), self._epoch_bits)
                db.execute("UPDATE meta SET value = ? WHERE name = 'format'", (FORMAT,))
        self._version, self._legacy = FORMAT, False
        done = {_LEGACY_FORMAT: "folded key index, epoch filters", _FORMAT_2: "epoch filters"}
        return [] if version == FORMAT else [f"{version} -> {FORMAT} ({done[version]})"]

    def append(self, drafts: Sequence[Draft]) -> list[Stored]:
        with self._transaction() as db:
            first = self._next_seq(db)
            rows, stored, written = layout(
                drafts, first, self._clock(), self._artifacts, lambda key: self._find(db, key) is not None
            )
            self._insert(db, rows)
        self._artifacts |= written
        if not self._legacy:
            self._head = (self._data_version, rows[-1][0] + 1 if rows else first, self._oldest_recent)
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
            return self._size(db)

    @staticmethod
    def _size(db: sqlite3.Connection) -> int:
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
        if self._legacy:
            row = db.execute(_FIND_LEGACY, (key,)).fetchone()
            return None if row is None else Stored(row[0], self._bytes(row[0], row[1]))
        if not db.in_transaction:  # inside an append's, rows read could yet be rolled back
            self._see_waiting(db)
        waiting = self._waiting.get(key)
        if self._version != FORMAT:
            row = db.execute(_FIND.format(candidates=""), (key, 0, waiting, self._seen)).fetchone()
        else:
            filters = self._filters
            for epoch, bits in db.execute(
                "SELECT epoch, bits FROM key_filters WHERE epoch >= ? ORDER BY epoch", (len(filters),)
            ):
                if epoch != len(filters) or type(bits) is not bytes or len(bits) != FILTER_BITS // 8:
                    break  # not written by a fold: the epochs from here on are sought one by one
                filters.append(bits)
            candidates: Sequence[int] = range(len(filters))
            for bit in _bits(key[-15:].encode("utf-8", "surrogatepass")):
                at, mask = bit >> 3, 1 << (bit & 7)
                candidates = [epoch for epoch in candidates if filters[epoch][at] & mask]
            marks = _CANDIDATES.format(marks=", ".join("?" * len(candidates))) if candidates else ""
            row = db.execute(
                _FIND.format(candidates=marks), (key, len(filters), waiting, self._seen, *candidates)
            ).fetchone()
        return None if row is None else Stored(row[0], self._bytes(row[0], row[1]))

    def _see_waiting(self, db: sqlite3.Connection) -> None:
        """Learn the keys that began waiting since the last look; forget those folded since.

        So a lookup reads only the few keys appended since the last one, not every key waiting.
        """
        oldest = None
        waiting = self._waiting
        for seq, key in db.execute(_WAITING, (self._seen,)):
            if key is None:
                oldest = seq
            else:
                if waiting.setdefault(key, seq) > seq:
                    waiting[key] = seq
                self._seen = max(self._seen, seq)
        if oldest != self._oldest_seen:  # a fold: the keys it moved are found in the index
            self._waiting = {} if oldest is None else {k: s for k, s in waiting.items() if s >= oldest}
            self._oldest_seen = oldest

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
