"""The engine of :func:`~suitability.log.verify.verify`: the per-record checks over a run of records.

A pass over the log is cut into chunks of consecutive records. :func:`check_rows` runs, over one
chunk, everything that needs only the chunk's own bytes: check 1's gaps inside the chunk and each
record's own ``seq``, checks 2 and 3, the leaf hashes (and, for a full chunk, the root of its
subtree) for check 4, and check 5's local parts (an artifact's hash is its document's; a record is
complete and of a known type). What needs the records before the chunk it hands back as data: the
type and id fingerprint of each record, the artifacts it defines and the references it makes, in
order. :class:`~suitability.log.verify.verify` folds the chunks in order, so one process or many
(``jobs``) give the same report: the same first failure of each check, the same root.

Worker processes are spawned (never forked: a forked copy of a parent holding open database
connections and threads is unsafe), open their own connection to the log and ignore Ctrl-C: the
parent handles it, cancels what is queued and waits for at most the chunk each is on. A worker
whose parent died reads the end of its task pipe and exits.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from ..codec import content_hash, is_canonical
from .store import RECORD_TYPES, LogStore

#: Records per chunk: a power of two, so a full chunk aligned in the tree is one complete subtree.
CHUNK = 1 << 14

TYPE_CODES = {"artifact": 1, "assessment": 2, "decision": 3, "confirmation": 4, "recheck": 5}
_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_NO_ID = bytes(8)


class _Float(Exception):
    """A number with a fraction or exponent: the record leaves the fast path."""


def _no_float(text: str) -> Any:
    raise _Float


# Deep pass: msgspec parses into plain dicts and lists, as orjson does, but calls float_hook for
# every number with a fraction or exponent; raising there tells at parse time, with no scan of the
# bytes, that the value holds a float (RFC 8785 formats floats its own way). A value without one
# and without a character beyond U+FFFF, re-serialized by orjson (sorted keys, compact), is its
# own RFC 8785 form; if those bytes are the stored ones, the record is canonical. Anything else
# (a float, a decode error, an integer beyond 2**53, different bytes) takes the exact path of
# before: orjson's parse and codec.is_canonical.
_DEEP = msgspec.json.Decoder(float_hook=_no_float)


class _Seq(msgspec.Struct):
    seq: int


# Quick pass: the record's own seq, read by a real JSON parser that decodes the top-level object
# key by key and skips every other value without building it. Why a string cannot fool it: the
# parser tracks where each string starts and ends (escapes included), so bytes `"seq":` inside a
# string value, or a "seq" key in a nested object, are never taken for the top-level member; a
# duplicate top-level "seq" gives the last one, as orjson's dict does; `true` or `5.0` is not an
# int (strict types), so it fails as before. What it does not do is build or fully validate the
# skipped values (their UTF-8, the range of their numbers): that is check 2's work, which --quick
# skips. A record it cannot read goes to orjson, the path of before, for the message.
_QUICK = msgspec.json.Decoder(_Seq)


def own_seq(data: bytes) -> Any:
    """The top-level ``seq`` of a record, as ``orjson.loads(data).get("seq")`` sees it (None if unreadable)."""
    try:
        return _QUICK.decode(data).seq
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return parsed.get("seq") if isinstance(parsed, dict) else None


def _fingerprint(ident: str) -> bytes:
    return hashlib.sha256(ident.encode()).digest()[:8]


@dataclass
class Chunk:
    """What one chunk of records leaves for the in-order fold (all positions are within the chunk).

    Attributes:
        count: records read.
        first, last: the first and last seq read.
        leaves: the computed leaf hashes, 32 bytes each, in order.
        subtree: the root of the chunk's leaves when it holds exactly :data:`CHUNK` records.
        failures: per check number, the first local failure ``(position, sub, seq, message)``.
        types, ids: each record's type code (one byte) and id fingerprint (eight bytes, zeros for none).
        events: check 5's references to earlier records, in order: ``("def", pos, 0, hash, kind)`` an
            artifact, ``("need", pos, sub, seq, hash, kind)`` an earlier artifact of that kind,
            ``("holds", pos, sub, seq, target, code, fingerprint, ident)`` record ``target`` is of
            ``code`` with that id.
    """

    count: int = 0
    first: int | None = None
    last: int | None = None
    leaves: bytes = b""
    subtree: bytes | None = None
    failures: dict[int, tuple[int, int, int | None, str]] = field(default_factory=dict)
    types: bytes = b""
    ids: bytes = b""
    events: list[tuple[Any, ...]] = field(default_factory=list)


def check_rows(rows: Iterable[tuple[int, bytes, bytes]], deep: bool, chunk: int = CHUNK) -> Chunk:
    """Run the local checks over ``rows`` (seq, bytes, stored leaf hash), one chunk, in order.

    A chunk of exactly ``chunk`` records (a power of two) also gets the root of its subtree.
    """
    out = Chunk()
    failures = out.failures
    leaves: list[bytes] = []
    add_leaf = leaves.append
    sha256 = hashlib.sha256
    types = bytearray()
    ids: list[bytes] = []
    events = out.events
    needed: set[tuple[Any, str]] = set()
    decode, dumps, options = _DEEP.decode, orjson.dumps, _ORJSON_OPTIONS
    first = prev = None
    pos = -1
    for pos, (seq, data, stored_leaf) in enumerate(rows):
        # (1) sequence, inside the chunk (the fold checks the seam between chunks)
        if prev is None:
            first = seq
        elif seq != prev + 1 and 1 not in failures:
            failures[1] = (pos, 0, prev + 1, f"expected record {prev + 1} next, found {seq} (a gap)")
        prev = seq
        # (3) leaf hashes
        leaf = sha256(b"\x00" + data).digest()
        add_leaf(leaf)
        if leaf != stored_leaf and 3 not in failures:
            failures[3] = (
                pos,
                0,
                seq,
                f"expected leaf hash {leaf.hex()} of the stored bytes, found {bytes(stored_leaf).hex()}",
            )
        if not deep:
            own = own_seq(data)
            if (own != seq or type(own) is not int) and 1 not in failures:
                failures[1] = (pos, 1, seq, f"expected the record to say seq {seq}, found {own!r}")
            continue
        # (2) canonical bytes (the parse also serves checks 1 and 5)
        record: Any
        try:
            record = decode(data)
            canonical = dumps(record, option=options) == data and (
                data.isascii()
                or not (b"\xf0" in data or b"\xf1" in data or b"\xf2" in data or b"\xf3" in data or b"\xf4" in data)
            )
        except Exception:  # a float, bytes msgspec refuses, an integer beyond 2**53: the exact path below
            canonical = False
        if not canonical:
            try:
                record = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                if 2 not in failures:
                    failures[2] = (pos, 0, seq, f"expected a JSON record, found bytes that do not parse ({exc})")
                record = None
            if record is not None and not is_canonical(data, record) and 2 not in failures:
                failures[2] = (pos, 0, seq, "expected RFC 8785 canonical bytes, found another serialization")
        if type(record) is dict:
            own = record.get("seq")
            if (own != seq or type(own) is not int) and 1 not in failures:
                failures[1] = (pos, 1, seq, f"expected the record to say seq {seq}, found {own!r}")
            code, ident = _references(record, pos, seq, failures, events, needed)
            types.append(code)
            ids.append(_fingerprint(ident) if ident else _NO_ID)
        else:
            if record is not None and 1 not in failures:
                failures[1] = (pos, 1, seq, f"expected a JSON object, found {type(record).__name__}")
            types.append(0)
            ids.append(_NO_ID)
    out.count = pos + 1
    out.first, out.last = first, prev
    out.leaves = b"".join(leaves)
    out.types, out.ids = bytes(types), b"".join(ids)
    if out.count == chunk and chunk & (chunk - 1) == 0:
        out.subtree = _subtree(leaves)
    return out


def _subtree(leaves: list[bytes]) -> bytes:
    """The root of a power-of-two number of leaf hashes."""
    sha256 = hashlib.sha256
    level = leaves
    while len(level) > 1:
        level = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def _references(
    record: dict[str, Any],
    pos: int,
    seq: int,
    failures: dict[int, tuple[int, int, int | None, str]],
    events: list[tuple[Any, ...]],
    needed: set[tuple[Any, str]],
) -> tuple[int, str | None]:
    """Check 5's local part of one record; queue what needs earlier records. Returns its type code and id.

    It mirrors the references check of one pass step by step (the same reads in the same order,
    so an incomplete record fails at the same point); ``sub`` orders the steps within a record.
    An artifact reference already queued since the chunk's last artifact is not queued again:
    the known artifacts do not change in between, so it would pass or fail the same way.
    """
    kind = record.get("type")
    ident = None
    sub = 0
    try:
        if kind == "decision":
            need = (hash_key(record["policy"]["hash"]), "policy")
            if need not in needed:
                needed.add(need)
                events.append(("need", pos, 0, seq, *need))
            sub = 1
            target, ident = record["assessment_seq"], record["assessment_id"]
            if isinstance(target, int) and isinstance(ident, str):
                events.append(("holds", pos, 1, seq, target, 2, _fingerprint(ident), ident))
            else:  # no earlier record can hold it
                _fail(failures, pos, 1, seq, f"expected assessment {ident} at seq {target}, found none there")
            sub = 2
            ident = record["result"]["id"]
        elif kind == "assessment":
            need = (hash_key(record["questionnaire"]["hash"]), "questionnaire")
            if need not in needed:
                needed.add(need)
                events.append(("need", pos, 0, seq, *need))
            sub = 1
            ident = record["result"]["id"]
        elif kind == "confirmation":
            target, ident = record["decision_seq"], record["decision_id"]
            if isinstance(target, int) and isinstance(ident, str):
                events.append(("holds", pos, 0, seq, target, 3, _fingerprint(ident), ident))
            else:
                _fail(failures, pos, 0, seq, f"expected decision {ident} at seq {target}, found none there")
            ident = None
        elif kind == "recheck":
            # each finding names the sale it re-checked and the assessment it was checked against
            for n, finding in enumerate(record["findings"]):
                for j, (ref, code) in enumerate((("decision", 3), ("assessment", 2))):
                    sub = 2 * n + j
                    target, ident = finding[f"{ref}_seq"], finding[f"{ref}_id"]
                    if isinstance(target, int) and isinstance(ident, str):
                        events.append(("holds", pos, sub, seq, target, code, _fingerprint(ident), ident))
                    else:
                        _fail(failures, pos, sub, seq, f"expected {ref} {ident} at seq {target}, found none there")
            sub = 2 * len(record["findings"])
            ident = record["result"]["id"]
        elif kind == "artifact":
            document = record["document"]
            if content_hash(document) != record["hash"]:
                _fail(
                    failures,
                    pos,
                    0,
                    seq,
                    f"expected the artifact's hash {record['hash']} to be its document's, "
                    f"found {content_hash(document)}",
                )
            artifact_kind = record["kind"]  # read first, as ``artifacts[hash] = kind`` did
            events.append(("def", pos, 0, hash_key(record["hash"]), artifact_kind))
            needed.clear()
        else:
            _fail(failures, pos, 0, seq, f"expected a record type among {list(RECORD_TYPES)}, found {kind!r}")
    except (KeyError, TypeError) as exc:
        _fail(failures, pos, sub, seq, f"expected a complete {kind} record, found it missing {exc}")
        ident = None
    code = TYPE_CODES.get(kind, 0) if isinstance(kind, str) else 0
    return code, ident if isinstance(ident, str) else None


def _fail(failures: dict[int, tuple[int, int, int | None, str]], pos: int, sub: int, seq: int, message: str) -> None:
    if 5 not in failures:
        failures[5] = (pos, sub, seq, message)


def hash_key(value: Any) -> Any:
    """``value``, once shown usable as a dictionary key (an unhashable one raises TypeError, as before)."""
    hash(value)
    return value


# --- worker processes -------------------------------------------------------------------------


def reopen_spec(store: LogStore) -> tuple[str, str] | None:
    """How a worker process opens its own connection to ``store``; None for a store it cannot reopen."""
    from .postgres import PostgresStore
    from .sqlite import SQLiteStore

    if type(store) is SQLiteStore:
        return ("sqlite", store.location)
    if type(store) is PostgresStore:
        return ("postgres", store._url)
    return None


_worker_store: LogStore | None = None


def _init_worker(spec: tuple[str, str]) -> None:
    global _worker_store
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's; it terminates the workers
    if spec[0] == "sqlite":
        from .sqlite import SQLiteStore

        _worker_store = SQLiteStore(spec[1], create=False)
    else:
        from .postgres import PostgresStore

        _worker_store = PostgresStore(spec[1])


Task = tuple[int, int | None, bool, int]  # first seq, end seq (None: to the end), deep, chunk size


def check_range(store: LogStore, task: Task) -> Chunk:
    """Check the records whose seq lies in ``[start, end)``: what one worker does with one task."""
    start, end, deep, chunk = task
    rows = store.scan(start, end)
    if end is not None:  # a store may read past ``end`` over a gap; those rows are the next range's
        rows = (row for row in rows if row[0] < end)
    return check_rows(rows, deep, chunk)


def range_tasks(size: int, deep: bool, chunk: int) -> Iterator[Task]:
    """Ranges of seqs ``[0, chunk)``, ``[chunk, 2 chunk)``…, the last open-ended (records past ``size`` too)."""
    for start in range(0, max(size, 1), chunk):
        yield (start, start + chunk if start + chunk < size else None, deep, chunk)


def _check_range(task: Task) -> Chunk:
    assert _worker_store is not None
    return check_range(_worker_store, task)


def parallel_chunks(
    store: LogStore, spec: tuple[str, str], size: int, deep: bool, jobs: int, chunk: int = CHUNK
) -> Generator[Chunk]:
    """The chunks of :func:`range_tasks`, checked by ``jobs`` worker processes, yielded in order.

    On Ctrl-C or any other exit the queued tasks are cancelled and the workers end (each after
    at most the chunk it is on). See :func:`in_order` for what is checked here instead.
    """
    executor = ProcessPoolExecutor(
        jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker, initargs=(spec,)
    )
    try:
        yield from in_order(store, size, deep, chunk, lambda task: executor.submit(_check_range, task), 2 * jobs)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


class _Done:
    """A task already checked, for :func:`in_order` without workers."""

    def __init__(self, chunk: Chunk) -> None:
        self.chunk = chunk

    def result(self) -> Chunk:
        return self.chunk


def in_process(store: LogStore) -> Callable[[Task], _Done]:
    """A ``submit`` for :func:`in_order` that checks each range here, as a worker would (for tests)."""
    return lambda task: _Done(check_range(store, task))


def in_order(
    store: LogStore, size: int, deep: bool, chunk: int, submit: Callable[[Task], Any], ahead: int
) -> Generator[Chunk]:
    """The chunks of :func:`range_tasks`, each checked by ``submit(task).result()``, yielded in order.

    At most ``ahead`` tasks are in flight, so memory stays flat. The rest of the log is checked
    here instead, in order, on ``store``, and the report is the same: when a range comes back empty
    (a gap of a whole chunk or more: ``size`` is the highest seq plus one, which a stray record far
    ahead makes huge, so ranges would no longer cover the records evenly), and when a worker
    fails (a program that starts workers must guard its main module, as ``spawn`` requires; a
    worker killed; the log unreadable, whose error is then raised here as one process raises it).
    """
    tasks = range_tasks(size, deep, chunk)
    pending: deque[tuple[Task, Any]] = deque((task, submit(task)) for task in itertools.islice(tasks, ahead))
    while pending:
        task, future = pending.popleft()
        try:
            checked: Chunk | None = future.result()
        except Exception:
            checked = None
        if checked is None or (not checked.count and task[1] is not None):
            yield from inline_chunks(store, deep, chunk, start=task[0])
            return
        following = next(tasks, None)
        if following is not None:
            pending.append((following, submit(following)))
        yield checked


def inline_chunks(store: LogStore, deep: bool, chunk: int = CHUNK, start: int = 0) -> Generator[Chunk]:
    """Chunks of ``chunk`` records from one scan of ``store`` (from seq ``start``), checked in this process."""
    rows = store.scan(start)
    while True:
        checked = check_rows(itertools.islice(rows, chunk), deep, chunk)
        if not checked.count:
            return
        yield checked
        if checked.count < chunk:
            return


def default_jobs() -> int:
    """Every core this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
