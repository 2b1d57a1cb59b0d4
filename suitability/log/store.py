"""The store contract of the decision log: an append-only sequence of canonical records.

A store keeps, for each record, its sequence number, its exact bytes (RFC 8785 canonical JSON, as
hashed) and its RFC 6962 leaf hash, plus a way to find a record by its key (an assessment, decision
or confirmation id, or an artifact's content hash). The key index and the stored leaf hashes are
conveniences; verification recomputes everything from the bytes. :class:`LogStore` is what every
store provides (:class:`~suitability.log.sqlite.SQLiteStore`,
:class:`~suitability.log.postgres.PostgresStore`); :func:`layout` and :func:`render` turn drafts
into the rows both stores write, so the two write the same bytes. See docs/adr/0001-record-format.md.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Self

from .. import __about__
from ..codec import canonical_bytes
from ..errors import IntegrityError, LogError, Problem
from .merkle import leaf_hash

#: The default log file, in the current folder, used by the CLI when no --log is given.
DEFAULT_LOG = "suitability-log.sqlite3"


RECORD_TYPES = ("artifact", "assessment", "decision", "confirmation", "recheck")


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
    #: The record rendered ahead of the append by :func:`prepare`, all but its seq and time.
    template: Template | None = field(default=None, repr=False, compare=False)


class Template(NamedTuple):
    """A draft's canonical bytes cut where ``recorded_at`` and ``seq`` go (``recorded_at`` sorts first)."""

    head: bytes
    middle: bytes
    tail: bytes
    hashed_head: Any  # a sha256 already fed the leaf prefix and ``head``

    def bytes_and_leaf(self, seq: int, recorded_at: str) -> tuple[bytes, bytes]:
        when = canonical_bytes(recorded_at, floats_possible=False)
        number = b"%d" % seq
        digest = self.hashed_head.copy()
        for part in (when, self.middle, number, self.tail):
            digest.update(part)
        return b"".join((self.head, when, self.middle, number, self.tail)), digest.digest()


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
    def latest_kept(self) -> KeptCheckpoint | None:
        """Return the latest checkpoint kept beside the log, or None."""

    def latest_checkpoint(self) -> str | None:
        """Return the latest signed checkpoint kept beside the log."""
        latest = self.latest_kept()
        return None if latest is None else latest.note

    def public_key(self) -> str | None:
        """Return the verifier key of the latest checkpoint kept beside the log."""
        latest = self.latest_kept()
        return None if latest is None else latest.public_key

    def analyze(self) -> None:  # noqa: B027 - a hook: most stores have nothing to do
        """Refresh whatever statistics the store's query planner keeps, after a bulk load."""

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
            data, leaf = _rendered(artifact, seq, recorded_at)
            rows.append((seq, artifact.type, artifact.key, data, leaf))
            written.add(key)
            seq += 1
        data, leaf = _rendered(draft, seq, recorded_at)
        rows.append((seq, draft.type, draft.key, data, leaf))
        stored.append(Stored(seq, data))
        seq += 1
    return rows, stored, written


def _rendered(draft: Draft, seq: int, recorded_at: str) -> tuple[bytes, bytes]:
    """The bytes and leaf hash of ``draft`` at ``seq``: from its template when it was prepared."""
    if draft.template is not None:
        return draft.template.bytes_and_leaf(seq, recorded_at)
    data = render(draft, seq, recorded_at)
    return data, leaf_hash(data)


_SEQ_MARK = 2**53 - 1  # the largest integer canonical JSON carries exactly
_TIME_MARK = "@@suitability:recorded_at@@"


def prepare(draft: Draft) -> Draft:
    """Render ``draft`` ahead of its append: all of its bytes but its seq and time, and half its hash.

    A writer holding the log's lock then only splices the two in (:func:`layout` does), so the
    bytes are those :func:`render` writes (a property test holds them equal). A draft whose body
    happens to hold the marks used to find the two places is left to be rendered whole.

    Raises:
        InputError: the body cannot be rendered canonically (found now, before anything is locked).
    """
    if draft.template is None:
        marked = render(draft, _SEQ_MARK, _TIME_MARK)
        time_at = b'"recorded_at":' + canonical_bytes(_TIME_MARK, floats_possible=False)
        seq_at = b'"seq":%d' % _SEQ_MARK
        if marked.count(time_at) == 1 and marked.count(seq_at) == 1 and marked.index(time_at) < marked.index(seq_at):
            head, rest = marked.split(time_at)
            middle, tail = rest.split(seq_at)
            head += b'"recorded_at":'
            middle += b'"seq":'
            hashed = hashlib.sha256(b"\x00")
            hashed.update(head)
            draft.template = Template(head, middle, tail, hashed)
    return draft


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


def kept_checkpoint(location: str, number: Any, size: Any, note: Any, public_key: Any) -> KeptCheckpoint:
    """A row of the kept checkpoints as read from a store; one that is not a count, a note and a key
    (a column rewritten outside the store) is an :class:`~suitability.errors.IntegrityError`."""
    if type(number) is not int or type(size) is not int or type(note) is not str or type(public_key) is not str:
        found = ", ".join("NULL" if v is None else type(v).__name__ for v in (number, size, note, public_key))
        raise IntegrityError(
            f"the decision log {location} was altered: a kept checkpoint is not stored as written",
            [Problem(f"expected a number, a size, a note and a key (int, int, str, str), found {found}")],
        )
    return KeptCheckpoint(number, size, note, public_key)


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


def key_of(record: dict[str, Any]) -> str | None:
    """The key a stored record is found by: an artifact's hash, or its result's id."""
    if record.get("type") == "artifact":
        return str(record["hash"])
    result = record.get("result")
    return str(result["id"]) if isinstance(result, dict) and "id" in result else None
