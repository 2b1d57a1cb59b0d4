"""Auditing a decision log: verify, replay, prove, export.

:func:`verify` is a numbered checklist over the stored bytes, streamed once:

1. sequence: records are numbered 0, 1, 2… without a gap, and each names its own ``seq``;
2. canonical bytes: each record is exactly the RFC 8785 form of the JSON it holds;
3. leaf hashes: the stored leaf hash is ``SHA-256(0x00 ‖ bytes)``;
4. root: the RFC 6962 root of the first *n* records equals the root of every signed checkpoint
   of size *n* (a checkpoint larger than the log means the log was truncated);
5. references: every artifact's hash is its document's; every assessment names a questionnaire
   artifact, every decision a policy artifact and an earlier assessment, every confirmation an
   earlier decision.

:func:`replay` recomputes every assessment, decision and confirmation from the log alone and
compares the result field by field. :func:`prove` and :func:`verify_proof` make and check an
offline inclusion proof of one record against a signed checkpoint; :func:`export` writes a bundle
a regulator can check with nothing but Python's standard library.
"""

from __future__ import annotations

import base64
import hashlib
import json
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from ._passes import long_pass
from .checkpoint import Checkpoint, Verifier, open_note
from .codec import content_hash, is_canonical
from .errors import InputError, IntegrityError, LogError, Problem, SuitabilityError
from .matching import Decision, Evidence, check_client_facts, confirm, decide
from .merkle import RootBuilder, inclusion_proof, leaf_hash, verify_inclusion
from .models import Assessment, Client
from .policy import Policy, load_policy
from .product import Product
from .questionnaire import Questionnaire, load_questionnaire
from .scoring import assess
from .store import RECORD_TYPES, LogStore

Progress = Callable[[int], None]

CHECKS = ("sequence", "canonical bytes", "leaf hashes", "root", "references")


@dataclass
class Check:
    """The outcome of one numbered check: the first bad record, if any."""

    number: int
    name: str
    failure: Problem | None = None
    seq: int | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """Whether the check passed."""
        return self.failure is None

    def fail(self, seq: int | None, message: str) -> None:
        """Record the first failure of this check."""
        if self.failure is None:
            self.seq = seq
            where = f"/records/{seq}" if seq is not None else ""
            self.failure = Problem(message, where, code=f"CHECK_{self.number}")


@dataclass
class VerifyReport:
    """What :func:`verify` found."""

    size: int
    root: bytes
    checks: list[Check]
    checkpoints: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(c.ok for c in self.checks)

    def first_bad(self) -> int | None:
        """The lowest seq any check blames."""
        seqs = [c.seq for c in self.checks if c.seq is not None]
        return min(seqs) if seqs else None

    def raise_for_failure(self) -> None:
        """Raise :class:`IntegrityError` naming the first bad record, if any check failed."""
        if not self.ok:
            problems = [c.failure for c in self.checks if c.failure is not None]
            bad = self.first_bad()
            where = f"; first bad record: seq {bad}" if bad is not None else ""
            raise IntegrityError(f"the decision log failed verification{where}", problems, seq=bad)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@long_pass()
def verify(
    store: LogStore,
    checkpoints: Sequence[tuple[Checkpoint, str]] = (),
    *,
    deep: bool = True,
    progress: Progress | None = None,
) -> VerifyReport:
    """Run the numbered checks over ``store`` against already-opened ``checkpoints``.

    Args:
        store: the log.
        checkpoints: signed checkpoints (opened with :func:`~suitability.checkpoint.open_note`)
            and where each came from.
        deep: parse every record for checks 2 (canonical bytes) and 5 (references). When False
            (``audit verify --quick``), those two are skipped and each record's own seq is read
            from its bytes without parsing; tampering is still caught by checks 1, 3 and 4.
        progress: called with the number of records checked so far, now and then.
    """
    checks = [Check(i + 1, name) for i, name in enumerate(CHECKS)]
    sequence, canonical, leaves, roots, references = checks
    wanted: dict[int, list[tuple[Checkpoint, str]]] = {}
    for cp, source in checkpoints:
        wanted.setdefault(cp.size, []).append((cp, source))
    builder = RootBuilder()
    index = _Index()
    expected_seq = 0

    def check_roots(size: int) -> None:
        for cp, source in wanted.get(size, []):
            if builder.root() != cp.root:
                # The root cannot say which record changed: it names the range the checkpoint covers.
                roots.fail(
                    None,
                    f"expected the root of records 0-{size - 1} to be {_b64(cp.root)} as signed in {source}, "
                    f"found {_b64(builder.root())} "
                    "(a record in that range was rewritten, reordered or altered)",
                )

    check_roots(0)
    for seq, data, stored_leaf in store.scan():
        # (1) sequence
        if seq != expected_seq:
            sequence.fail(expected_seq, f"expected record {expected_seq} next, found {seq} (a gap)")
        expected_seq = seq + 1
        if not deep:
            own = _own_seq(data)
            if own != seq:
                sequence.fail(seq, f"expected the record to say seq {seq}, found {own!r}")
            leaf = leaf_hash(data)
            if leaf != stored_leaf:
                leaves.fail(
                    seq, f"expected leaf hash {leaf.hex()} of the stored bytes, found {bytes(stored_leaf).hex()}"
                )
            builder.push(leaf)
            if builder.size in wanted:
                check_roots(builder.size)
            if progress is not None and seq % 10_000 == 0:
                progress(seq)
            continue
        # (2) canonical bytes (the parse also serves checks 1 and 5)
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            canonical.fail(seq, f"expected a JSON record, found bytes that do not parse ({exc})")
            record = None
        if record is not None and not is_canonical(data, record):
            canonical.fail(seq, "expected RFC 8785 canonical bytes, found another serialization")
        # (3) leaf hashes
        leaf = leaf_hash(data)
        if leaf != stored_leaf:
            leaves.fail(seq, f"expected leaf hash {leaf.hex()} of the stored bytes, found {bytes(stored_leaf).hex()}")
        # (4) root, at every checkpointed size
        builder.push(leaf)
        if builder.size in wanted:
            check_roots(builder.size)
        if isinstance(record, dict):
            if record.get("seq") != seq:
                sequence.fail(seq, f"expected the record to say seq {seq}, found {record.get('seq')!r}")
            _check_references(record, seq, references, index)
        else:
            if record is not None:
                sequence.fail(seq, f"expected a JSON object, found {type(record).__name__}")
            index.add(None, None)
        if progress is not None and seq % 10_000 == 0:
            progress(seq)
    size = builder.size
    for cp_size, entries in wanted.items():
        if cp_size > size:
            for cp, source in entries:
                roots.fail(
                    size,
                    f"expected at least {cp.size} records as signed in {source}, found {size} (the log was truncated)",
                )
    if progress is not None:
        progress(size)
    if not deep:
        canonical.skipped = references.skipped = True
    return VerifyReport(size, builder.root(), checks, [(source, cp.size) for cp, source in checkpoints])


def _own_seq(data: bytes) -> int | None:
    """The top-level ``seq`` of a canonical record, read without parsing it.

    In valid JSON a raw ``"`` never occurs inside a string, so ``,"seq":`` is a key; in a record's
    canonical (sorted) form the top-level ``seq`` is the last such key, since only ``type`` and
    ``version`` (strings) sort after it.
    """
    at = data.rfind(b',"seq":')
    if at < 0:
        return None
    end = at + 7
    stop = end
    while stop < len(data) and data[stop] in b"0123456789":
        stop += 1
    return int(data[end:stop]) if stop > end else None


_TYPE_CODES = {"artifact": 1, "assessment": 2, "decision": 3, "confirmation": 4}


class _Index:
    """What the references check remembers of every record: its type and a fingerprint of its id.

    Nine bytes a record (a type code and eight bytes of the id's digest) in flat arrays, instead of
    a dictionary of ids: verifying a long log stays within a few bytes of memory per record.
    """

    def __init__(self) -> None:
        self.types = bytearray()
        self.ids = array("Q")
        self.artifacts: dict[str, str] = {}  # hash -> kind; a log holds few documents

    @staticmethod
    def fingerprint(ident: str) -> int:
        return int.from_bytes(hashlib.sha256(ident.encode()).digest()[:8], "big")

    def add(self, kind: str | None, ident: str | None) -> None:
        self.types.append(_TYPE_CODES.get(kind or "", 0))
        self.ids.append(self.fingerprint(ident) if ident else 0)

    def holds(self, seq: Any, kind: str, ident: Any, before: int) -> bool:
        """Whether record ``seq`` (earlier than ``before``) is a ``kind`` with id ``ident``."""
        return (
            isinstance(seq, int)
            and 0 <= seq < min(before, len(self.types))
            and self.types[seq] == _TYPE_CODES[kind]
            and isinstance(ident, str)
            and self.ids[seq] == self.fingerprint(ident)
        )


def _check_references(record: dict[str, Any], seq: int, check: Check, index: _Index) -> None:
    kind = record.get("type")
    ident = None
    try:
        if kind == "artifact":
            document = record["document"]
            if content_hash(document) != record["hash"]:
                check.fail(
                    seq,
                    f"expected the artifact's hash {record['hash']} to be its document's, "
                    f"found {content_hash(document)}",
                )
            index.artifacts[record["hash"]] = record["kind"]
        elif kind == "assessment":
            ref = record["questionnaire"]["hash"]
            if index.artifacts.get(ref) != "questionnaire":
                check.fail(seq, f"expected an earlier questionnaire artifact {ref}, found none")
            ident = record["result"]["id"]
        elif kind == "decision":
            if index.artifacts.get(record["policy"]["hash"]) != "policy":
                check.fail(seq, f"expected an earlier policy artifact {record['policy']['hash']}, found none")
            if not index.holds(record["assessment_seq"], "assessment", record["assessment_id"], seq):
                check.fail(
                    seq,
                    f"expected assessment {record['assessment_id']} at seq {record['assessment_seq']}, found none there",
                )
            ident = record["result"]["id"]
        elif kind == "confirmation":
            if not index.holds(record["decision_seq"], "decision", record["decision_id"], seq):
                check.fail(
                    seq, f"expected decision {record['decision_id']} at seq {record['decision_seq']}, found none there"
                )
        else:
            check.fail(seq, f"expected a record type among {list(RECORD_TYPES)}, found {kind!r}")
    except (KeyError, TypeError) as exc:
        check.fail(seq, f"expected a complete {kind} record, found it missing {exc}")
    index.add(kind if isinstance(kind, str) else None, ident if isinstance(ident, str) else None)


# --- replay -----------------------------------------------------------------------------------


@dataclass
class Difference:
    """A field whose recomputed value differs from the recorded one."""

    seq: int
    type: str
    field: str
    recorded: Any
    recomputed: Any


@dataclass
class ReplayReport:
    """What :func:`replay` recomputed."""

    counts: dict[str, int]
    differences: list[Difference]
    errors: list[Problem]

    @property
    def ok(self) -> bool:
        """Whether every result was reproduced."""
        return not self.differences and not self.errors

    def raise_for_failure(self) -> None:
        """Raise :class:`IntegrityError` naming the first record that did not replay."""
        if self.ok:
            return
        problems = [
            Problem(
                f"{d.type} field {d.field}: recorded {_short(d.recorded)}, recomputed {_short(d.recomputed)}",
                f"/records/{d.seq}",
            )
            for d in self.differences[:20]
        ]
        problems += self.errors[:20]
        seqs = [d.seq for d in self.differences]
        first = min(seqs) if seqs else None
        raise IntegrityError(
            f"replay did not reproduce the log ({len(self.differences)} difference(s))", problems, seq=first
        )


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Cache:
    """Recent results by id, falling back to the store by seq: replay's memory stays bounded."""

    def __init__(self, store: LogStore, load: Callable[[dict[str, Any]], Any], limit: int = 4_096) -> None:
        self.store, self.load, self.limit = store, load, limit
        self.items: OrderedDict[str, Any] = OrderedDict()

    def put(self, key: str, value: Any) -> None:
        self.items[key] = value
        if len(self.items) > self.limit:
            self.items.popitem(last=False)

    def get(self, key: str, seq: int) -> Any:
        value = self.items.get(key)
        if value is None:
            stored = self.store.get(seq)
            if stored is None:
                raise KeyError(key)
            value = self.load(orjson.loads(stored.data))
        return value


def _first_difference(recorded: Any, recomputed: Any, path: str) -> tuple[str, Any, Any]:
    """The JSON Pointer of the first leaf where the two values differ, and both values there."""
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        for key in sorted(set(recorded) | set(recomputed)):
            if recorded.get(key) != recomputed.get(key):
                return _first_difference(recorded.get(key), recomputed.get(key), f"{path}/{key}")
    if isinstance(recorded, list) and isinstance(recomputed, list) and len(recorded) == len(recomputed):
        for index, (a, b) in enumerate(zip(recorded, recomputed, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}/{index}")
    return path, recorded, recomputed


def _compare(seq: int, kind: str, recorded: dict[str, Any], recomputed: dict[str, Any], out: list[Difference]) -> None:
    if recorded == recomputed:
        return
    for name in sorted(set(recorded) | set(recomputed)):
        if recorded.get(name) != recomputed.get(name):
            where, was, now = _first_difference(recorded.get(name), recomputed.get(name), name)
            out.append(Difference(seq, kind, where, was, now))


@long_pass()
def replay(store: LogStore, *, progress: Progress | None = None) -> ReplayReport:
    """Recompute every result in ``store`` from the log alone and compare it with its record."""
    counts = dict.fromkeys(RECORD_TYPES, 0)
    differences: list[Difference] = []
    errors: list[Problem] = []
    documents: dict[str, Questionnaire | Policy] = {}
    # an assessment is kept with the client facts recorded beside it, which its decisions must use
    assessments = _Cache(
        store,
        lambda r: (
            Assessment.model_validate(r["result"]),
            None if r["client"] is None else Client.model_validate(r["client"]),
        ),
    )
    decisions = _Cache(store, lambda r: Decision.model_validate(r["result"]))
    # Products and clients repeat (a client's records sit together): each is validated once while
    # it recurs. Both caches are bounded, the oldest entry going first, so memory stays flat.
    products: dict[str, Product] = {}
    clients: dict[str, Client] = {}

    def parsed(cache: dict[str, Any], model: Any, value: Any) -> Any:
        key = orjson.dumps(value).decode()  # a compact copy: orjson's bytes keep a 4 KiB buffer each
        found = cache.get(key)
        if found is None:
            if len(cache) >= 4_096:
                del cache[next(iter(cache))]
            found = cache[key] = model.model_validate(value)
        return found

    for seq, data, _ in store.scan():
        try:
            record = orjson.loads(data)
            kind = record["type"]
            counts[kind] = counts.get(kind, 0) + 1
            if kind == "artifact":
                loader = load_questionnaire if record["kind"] == "questionnaire" else load_policy
                documents[record["hash"]] = loader(record["document"], f"record {seq}")
            elif kind == "assessment":
                q = documents[record["questionnaire"]["hash"]]
                assert isinstance(q, Questionnaire)
                client = parsed(clients, Client, record["client"]) if record["client"] is not None else None
                result = assess(q, record["answers"], client, _instant(record["as_of"]))
                _compare(seq, kind, record["result"], result.model_dump(mode="json"), differences)
                assessments.put(result.id, (result, client))
            elif kind == "decision":
                p = documents[record["policy"]["hash"]]
                assert isinstance(p, Policy)
                a, facts = assessments.get(record["assessment_id"], record["assessment_seq"])
                who, when = parsed(clients, Client, record["client"]), _instant(record["as_of"])
                # a decision on facts other than its assessment's lifted a limit the assessment set
                check_client_facts(facts, a.assessed_at, who, when)
                d = decide(
                    a,
                    parsed(products, Product, record["product"]),
                    who,
                    p,
                    record["initiated_by"],
                    when,
                    questionnaire_status=record["questionnaire_status"],
                )
                _compare(seq, kind, record["result"], d.model_dump(mode="json"), differences)
                decisions.put(d.id, d)
            elif kind == "confirmation":
                d = decisions.get(record["decision_id"], record["decision_seq"])
                evidence = Evidence.model_validate(record["evidence"]) if record["evidence"] else None
                c = confirm(
                    d,
                    record["acknowledgement"],
                    record["actor"],
                    record["channel"],
                    evidence,
                    language=record["language"],
                    confirmed_at=_instant(record["confirmed_at"]),
                )
                _compare(seq, kind, record["result"], c.model_dump(mode="json"), differences)
        except (KeyError, TypeError, ValueError, AssertionError, SuitabilityError) as exc:
            detail = exc.render() if isinstance(exc, SuitabilityError) else f"{type(exc).__name__}: {exc}"
            errors.append(Problem(f"cannot replay this record: {detail}", f"/records/{seq}"))
        if progress is not None and seq % 10_000 == 0:
            progress(seq)
    return ReplayReport(counts, differences, errors)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- proofs -----------------------------------------------------------------------------------

PROOF_FORMAT = "suitability-inclusion-proof/1"


def prove(
    store: LogStore, seq: int, note: str, verifier: Verifier | None = None, source: str = "<checkpoint>"
) -> dict[str, Any]:
    """Return an offline inclusion proof of record ``seq`` in the tree signed by ``note``.

    The log's first ``size`` records must reproduce the checkpoint's root (when ``verifier`` is
    given, the signature is checked too).

    Raises:
        InputError: ``seq`` is not covered by the checkpoint.
        IntegrityError: the log does not reproduce the checkpoint.
    """
    checkpoint = open_note(note, verifier, source) if verifier else _unverified(note, source)
    if not 0 <= seq < checkpoint.size:
        raise InputError(
            f"record {seq} is not covered by {source}",
            [Problem(f"expected a seq from 0 to {checkpoint.size - 1}, found {seq}")],
        )
    leaves: list[bytes] = []
    record = b""
    for index, data, _ in store.scan(0, checkpoint.size):
        leaves.append(leaf_hash(data))
        if index == seq:
            record = data
    from .merkle import root as merkle_root

    if len(leaves) != checkpoint.size or merkle_root(leaves) != checkpoint.root:
        raise IntegrityError(
            f"the log does not reproduce {source}",
            [
                Problem(
                    f"expected the first {checkpoint.size} records to have root {_b64(checkpoint.root)}, found another"
                )
            ],
        )
    return {
        "format": PROOF_FORMAT,
        "seq": seq,
        "tree_size": checkpoint.size,
        "record": _b64(record),
        "leaf_hash": _b64(leaves[seq]),
        "inclusion": [_b64(h) for h in inclusion_proof(leaves, seq)],
        "checkpoint": note,
    }


def _unverified(note: str, source: str) -> Checkpoint:
    lines = note.split("\n")
    try:
        return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True))
    except (IndexError, ValueError) as exc:
        raise InputError(
            f"{source} is not a checkpoint", [Problem(f"expected origin, size and root lines ({exc})", source=source)]
        ) from None


def verify_proof(proof: Any, verifier: Verifier, source: str = "<proof>") -> tuple[int, bytes, Checkpoint]:
    """Check an inclusion proof offline: the checkpoint's signature, the record's leaf, the path.

    Returns:
        The record's seq, its exact bytes, and the checkpoint it is proven against.

    Raises:
        InputError: the proof is malformed.
        IntegrityError: the signature, the leaf hash or the inclusion path does not verify.
    """
    try:
        if proof["format"] != PROOF_FORMAT:
            raise ValueError(f"format {proof['format']!r}")
        seq = int(proof["seq"])
        record = base64.b64decode(proof["record"], validate=True)
        path = [base64.b64decode(h, validate=True) for h in proof["inclusion"]]
        note = str(proof["checkpoint"])
        claimed_size = int(proof["tree_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{source} is not an inclusion proof",
            [Problem(f"expected a {PROOF_FORMAT} document ({exc})", source=source)],
        ) from None
    # (1) the checkpoint is signed by the key the verifier trusts
    checkpoint = open_note(note, verifier, f"{source} checkpoint")
    if checkpoint.size != claimed_size:
        raise IntegrityError(
            f"{source}: tree size mismatch",
            [Problem(f"expected tree size {checkpoint.size}, found {claimed_size}")],
            seq=seq,
        )
    # (2) the leaf is the hash of the record bytes carried in the proof
    leaf = leaf_hash(record)
    # (3) the path leads from that leaf to the signed root (RFC 9162 §2.1.3.2)
    if not verify_inclusion(leaf, seq, checkpoint.size, path, checkpoint.root):
        raise IntegrityError(
            f"{source}: record {seq} is not proven in the checkpointed tree",
            [Problem(f"expected the inclusion path to lead to root {_b64(checkpoint.root)}, found it does not")],
            seq=seq,
        )
    return seq, record, checkpoint


# --- export -----------------------------------------------------------------------------------


def export(
    store: LogStore,
    out: Path,
    *,
    note: str | None = None,
    public_key: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write a self-contained bundle to ``out``: the records, a checkpoint, the key and ``verify.py``.

    ``records.jsonl`` holds the exact stored bytes, one record a line (canonical JSON has no raw
    newline). ``verify.py`` needs only Python's standard library.

    Raises:
        LogError: there is no checkpoint to export (make one with ``audit checkpoint``).
    """
    note = note or store.latest_checkpoint()
    if note is None:
        raise LogError(
            f"no checkpoint kept with {store.location}",
            [Problem("expected a checkpoint: run `suitability audit checkpoint` first, or pass one")],
        )
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with (out / "records.jsonl").open("wb") as handle:
        for seq, data, _ in store.scan():
            handle.write(data + b"\n")
            count += 1
            if progress is not None and seq % 10_000 == 0:
                progress(seq)
    if progress is not None:
        progress(count)
    (out / "checkpoint.txt").write_text(note, encoding="utf-8")
    key = public_key or store.public_key()
    if key:
        (out / "public-key.txt").write_text(key + "\n", encoding="utf-8")
    script = resources.files("suitability").joinpath("_verify_export.py").read_text(encoding="utf-8")
    (out / "verify.py").write_text(script, encoding="utf-8")
    manifest = {
        "records": count,
        "checkpoint": "checkpoint.txt",
        "public_key": "public-key.txt" if key else None,
        "verifier": "verify.py",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def copy_log(source: LogStore, target: LogStore, *, progress: Progress | None = None) -> int:
    """Copy every record of ``source`` (exact bytes and leaf hashes) and its checkpoints to an empty ``target``.

    Returns the number of records copied; the target then has the source's root.

    Raises:
        LogError: the target is not empty.
    """
    from .records import key_of

    if target.size():
        raise LogError(f"{target.location} is not empty", [Problem("expected an empty log to copy into")])
    batch: list[tuple[int, str, str | None, bytes, bytes]] = []
    count = 0
    for seq, data, leaf in source.scan():
        record = orjson.loads(data)
        batch.append((seq, str(record.get("type")), key_of(record), data, leaf))
        count += 1
        if len(batch) >= 5_000:
            target.append_raw(batch)
            batch = []
            if progress is not None:
                progress(count)
    target.append_raw(batch)
    note, key = source.latest_checkpoint(), source.public_key()
    if note and key:
        target.add_checkpoint(_unverified(note, source.location).size, note, key)
    return count


__all__ = [
    "CHECKS",
    "Check",
    "Difference",
    "ReplayReport",
    "VerifyReport",
    "copy_log",
    "export",
    "prove",
    "replay",
    "verify",
    "verify_proof",
]
