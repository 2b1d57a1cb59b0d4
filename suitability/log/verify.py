"""Verifying a decision log: the numbered checks, inclusion and consistency proofs, signing checkpoints.

:func:`verify` is a numbered checklist over the stored bytes, streamed once:

1. sequence: records are numbered 0, 1, 2… without a gap, and each names its own ``seq``;
2. canonical bytes: each record is exactly the RFC 8785 form of the JSON it holds;
3. leaf hashes: the stored leaf hash is ``SHA-256(0x00 ‖ bytes)``;
4. root: the RFC 6962 root of the first *n* records equals the root of every signed checkpoint
   of size *n* (a checkpoint larger than the log means the log was truncated);
5. references: every artifact's hash is its document's; every assessment names a questionnaire
   artifact, every decision a policy artifact and an earlier assessment, every confirmation an
   earlier decision, every finding of a re-check an earlier decision and assessment.

:func:`prove` and :func:`verify_proof` make and check an
offline inclusion proof of one record against a signed checkpoint; :func:`prove_consistency` and
:func:`verify_consistency_proof` make and check an RFC 9162 consistency proof between two
checkpoints (the log only grew); :func:`sign_checkpoint` signs a new checkpoint only once the log is
verified and proven consistent with every earlier checkpoint. Replaying results needs the rules and
lives above this wing, in :mod:`suitability.replay`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._output import write_atomic
from .._passes import long_pass
from ..errors import InputError, IntegrityError, Problem
from . import _parallel
from ._parallel import TYPE_CODES, Chunk, default_jobs, inline_chunks, parallel_chunks, reopen_spec
from .checkpoint import Checkpoint, Signer, Verifier, check_origin, open_note, split_note, unverified
from .merkle import (
    EMPTY_ROOT,
    RootBuilder,
    consistency_ranges,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hashes,
    verify_consistency,
    verify_inclusion,
)
from .store import LogStore

Progress = Callable[[int], None]

CHECKS = ("sequence", "canonical bytes", "leaf hashes", "root", "references")
#: What verify says when no signed checkpoint was checked.
NO_CHECKPOINT = "no checkpoint: internal consistency only"


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

    @property
    def anchored(self) -> bool:
        """Whether the log was checked against at least one signed checkpoint.

        Without one, verification shows only that the log is consistent with itself: an insider
        who rewrote it and recomputed every hash would pass.
        """
        return bool(self.checkpoints)

    def first_bad(self) -> int | None:
        """The lowest seq any check blames."""
        seqs = [c.seq for c in self.checks if c.seq is not None]
        return min(seqs) if seqs else None

    def raise_for_failure(self, *, require_checkpoint: bool = False) -> None:
        """Raise :class:`IntegrityError` naming the first bad record, if any check failed.

        Args:
            require_checkpoint: also fail when no signed checkpoint was checked (``NO_CHECKPOINT``):
                what ``audit verify`` does unless given ``--allow-no-checkpoint``.
        """
        if not self.ok:
            problems = [c.failure for c in self.checks if c.failure is not None]
            bad = self.first_bad()
            where = f"; first bad record: seq {bad}" if bad is not None else ""
            raise IntegrityError(f"the decision log failed verification{where}", problems, seq=bad)
        if require_checkpoint and not self.anchored:
            raise IntegrityError(
                f"{NO_CHECKPOINT}: the log was not checked against a signed checkpoint",
                [
                    Problem(
                        "expected a signed checkpoint (--checkpoint FILE --public-key KEY, or --public-key KEY "
                        "for those kept with the log), found none; --allow-no-checkpoint accepts internal "
                        "consistency alone",
                        code="NO_CHECKPOINT",
                    )
                ],
            )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@long_pass()
def verify(
    store: LogStore,
    checkpoints: Sequence[tuple[Checkpoint, str]] = (),
    *,
    deep: bool = True,
    progress: Progress | None = None,
    jobs: int = 1,
) -> VerifyReport:
    """Run the numbered checks over ``store`` against already-opened ``checkpoints``.

    Args:
        store: the log.
        checkpoints: signed checkpoints (opened with :func:`~suitability.checkpoint.open_note`)
            and where each came from.
        deep: run checks 2 (canonical bytes) and 5 (references). When False (``audit verify
            --quick``), those two are skipped; each record's own seq is still read by a JSON
            parser (never found by searching its bytes), and tampering is caught by checks 1, 3, 4.
        progress: called with the number of records checked so far, now and then.
        jobs: processes that check ranges of seqs side by side (a SQLite or PostgreSQL log of
            more than two chunks); this one folds their results in order, so the report is the
            same for any number (see :mod:`suitability.log._parallel`). Workers are spawned, so a
            program that asks for more than one must guard its main module (``if __name__ ==
            "__main__":``); where they cannot start, the pass runs in this process.
    """
    spec = reopen_spec(store) if jobs > 1 else None
    chunk = _parallel.CHUNK
    size = store.size() if spec is not None else 0
    if spec is not None and size > 2 * chunk:
        chunks = parallel_chunks(store, spec, size, deep, jobs, chunk)
    else:
        chunks = inline_chunks(store, deep, chunk)
    return _report(chunks, checkpoints, deep, progress)


def _report(
    chunks: Generator[Chunk], checkpoints: Sequence[tuple[Checkpoint, str]], deep: bool, progress: Progress | None
) -> VerifyReport:
    """Fold checked ``chunks``, in order, into the report (closing them however it ends)."""
    checks = [Check(i + 1, name) for i, name in enumerate(CHECKS)]
    wanted: dict[int, list[tuple[Checkpoint, str]]] = {}
    for cp, source in checkpoints:
        wanted.setdefault(cp.size, []).append((cp, source))
    fold = _Fold(checks, wanted, deep)
    fold.check_roots(0)
    with closing(chunks):
        for chunk in chunks:
            fold.add(chunk)
            if progress is not None:
                progress(fold.tree.size)
    size = fold.tree.size
    roots = checks[3]
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
        checks[1].skipped = checks[4].skipped = True
    return VerifyReport(size, fold.tree.root(), checks, [(source, cp.size) for cp, source in checkpoints])


class _Tree(RootBuilder):
    """A :class:`RootBuilder` that also takes a complete subtree at once (a full, aligned chunk)."""

    def push_subtree(self, count: int, node: bytes) -> None:
        """Append the root of ``count`` leaves (a power of two dividing the current size)."""
        stack, size = self._stack, count
        while stack and stack[-1][0] == size:
            node = node_hash(stack.pop()[1], node)
            size *= 2
        stack.append((size, node))
        self.size += count


class _Fold:
    """Folds checked chunks, in order, into the report: the seams of check 1, check 4's tree, check 5's index.

    What check 5 remembers of every record: its type and a fingerprint of its id, nine bytes a record
    (a type code and eight bytes of the id's SHA-256) in flat arrays, instead of a dictionary of ids:
    verifying a long log stays within a few bytes of memory per record. Records are indexed by their
    position in the scan, as before.
    """

    def __init__(self, checks: list[Check], wanted: dict[int, list[tuple[Checkpoint, str]]], deep: bool) -> None:
        self.checks, self.wanted, self.deep = checks, wanted, deep
        self.tree = _Tree()
        self.expected_seq = 0
        self.types = bytearray()
        self.ids = bytearray()
        self.artifacts: dict[Any, Any] = {}  # hash -> kind; a log holds few documents

    def check_roots(self, size: int) -> None:
        for cp, source in self.wanted.get(size, []):
            if self.tree.root() != cp.root:
                # The root cannot say which record changed: it names the range the checkpoint covers.
                self.checks[3].fail(
                    None,
                    f"expected the root of records 0-{size - 1} to be {_b64(cp.root)} as signed in {source}, "
                    f"found {_b64(self.tree.root())} "
                    "(a record in that range was rewritten, reordered or altered)",
                )

    def add(self, chunk: Chunk) -> None:
        sequence, canonical, leaves, _, references = self.checks
        if not chunk.count:
            return
        # (1) the seam with the chunk before, then the chunk's own first failure
        if chunk.first != self.expected_seq:
            sequence.fail(self.expected_seq, f"expected record {self.expected_seq} next, found {chunk.first} (a gap)")
        assert chunk.last is not None
        self.expected_seq = chunk.last + 1
        for number, check in ((1, sequence), (2, canonical), (3, leaves)):
            if number in chunk.failures:
                _, _, seq, message = chunk.failures[number]
                check.fail(seq, message)
        # (4) the tree, with its root at every checkpointed size
        tree, base = self.tree, self.tree.size
        if (
            chunk.subtree is not None
            and chunk.count & (chunk.count - 1) == 0
            and base % chunk.count == 0
            and not any(base < size < base + chunk.count for size in self.wanted)
        ):
            tree.push_subtree(chunk.count, chunk.subtree)
            if tree.size in self.wanted:
                self.check_roots(tree.size)
        else:
            data = chunk.leaves
            for i in range(0, len(data), 32):
                tree.push(data[i : i + 32])
                if tree.size in self.wanted:
                    self.check_roots(tree.size)
        # (5) references to earlier records, resolved in order
        if self.deep and references.ok:
            self.types += chunk.types
            self.ids += chunk.ids
            found = self._references(chunk, base)
            local = chunk.failures.get(5)
            if found is not None and (local is None or found[:2] < local[:2]):
                local = found
            if local is not None:
                references.fail(local[2], local[3])

    def _references(self, chunk: Chunk, base: int) -> tuple[int, int, int | None, str] | None:
        """The first failure among the chunk's references to earlier records, if any, before its first local one."""
        artifacts, types, ids = self.artifacts, self.types, self.ids
        local = chunk.failures.get(5)
        stop = local[:2] if local is not None else None
        for event in chunk.events:
            if stop is not None and event[1:3] > stop:  # past the chunk's first local failure
                return None
            if event[0] == "def":
                _, _, _, key, kind = event
                artifacts[key] = kind
            elif event[0] == "need":
                _, pos, sub, seq, key, kind = event
                if artifacts.get(key) != kind:
                    return pos, sub, seq, f"expected an earlier {kind} artifact {key}, found none"
            else:
                _, pos, sub, seq, target, code, fingerprint, ident = event
                if not (
                    0 <= target < min(seq, base + pos)
                    and types[target] == code
                    and ids[8 * target : 8 * target + 8] == fingerprint
                ):
                    kind = _KINDS[code]
                    return pos, sub, seq, f"expected {kind} {ident} at seq {target}, found none there"
        return None


_KINDS = {code: kind for kind, code in TYPE_CODES.items()}


def kept_checkpoints(store: LogStore, verifier: Verifier, log: str) -> list[tuple[Checkpoint, str]]:
    """Open every checkpoint kept with the log that names ``verifier``'s key, oldest first.

    Kept checkpoints are append-only, so each still binds the records it covered when it was
    made; all of them are checked, each named by its number in the log. One naming another key
    is left aside (it cannot vouch for anything under this key).

    Raises:
        IntegrityError: a kept checkpoint naming this key does not carry its valid signature.
    """
    key = verifier.text()
    return [
        (open_note(kept.note, verifier, source), source)
        for kept in store.checkpoints()
        if kept.public_key.strip() == key
        for source in [f"{log} (checkpoint #{kept.number} kept with the log)"]
    ]


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
    checkpoint = open_note(note, verifier, source) if verifier else unverified(note, source)
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


def verify_proof(proof: Any, verifier: Verifier, source: str = "<proof>") -> tuple[int, bytes, Checkpoint]:
    """Check an inclusion proof offline: the checkpoint's signature, the record's leaf, the path.

    Returns:
        The record's seq, its exact bytes, and the checkpoint it is proven against.

    Raises:
        InputError: the proof is malformed.
        IntegrityError: the signature, the leaf hash or the inclusion path does not verify.
    """
    fields = _Fields(proof, source, PROOF_FORMAT)
    seq = fields.get("seq", int)
    claimed_size = fields.get("tree_size", int)
    record = fields.base64("record")
    claimed_leaf = fields.base64("leaf_hash") if "leaf_hash" in fields.doc else None
    path = fields.hashes("inclusion")
    note = fields.get("checkpoint", str)
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
    if claimed_leaf is not None and claimed_leaf != leaf:
        raise IntegrityError(
            f"{source}: record {seq} is not proven (the leaf hash given is not the record's)",
            [Problem(f"expected leaf hash {_b64(leaf)} of the record bytes, found {_b64(claimed_leaf)}", "/leaf_hash")],
            seq=seq,
        )
    # (3) the path leads from that leaf to the signed root (RFC 9162 §2.1.3.2)
    if not verify_inclusion(leaf, seq, checkpoint.size, path, checkpoint.root):
        raise IntegrityError(
            f"{source}: record {seq} is not proven in the checkpointed tree",
            [Problem(f"expected the inclusion path to lead to root {_b64(checkpoint.root)}, found it does not")],
            seq=seq,
        )
    return seq, record, checkpoint


class _Fields:
    """Reads the fields of a proof document with their exact JSON types.

    A proof is checked offline by someone who does not trust its maker, so nothing is coerced:
    ``"3"`` or ``3.9`` is not the seq 3. A wrong type is a malformed document (InputError, exit
    3), named by its JSON Pointer; a well-formed proof that does not verify is an IntegrityError.
    """

    def __init__(self, doc: Any, source: str, fmt: str) -> None:
        self.source, self.fmt = source, fmt
        if not isinstance(doc, dict):
            raise self.error("", f"expected a JSON object, found {type(doc).__name__}")
        self.doc: dict[str, Any] = doc
        if doc.get("format") != fmt:
            raise self.error("/format", f"expected {fmt!r}, found {doc.get('format')!r}")

    def error(self, where: str, message: str) -> InputError:
        problem = Problem(message, where, source=self.source, code="PROOF_MALFORMED")
        kind = "an inclusion proof" if self.fmt == PROOF_FORMAT else "a consistency proof"
        return InputError(f"{self.source} is not {kind} ({self.fmt})", [problem])

    def get(self, name: str, kind: type[Any]) -> Any:
        if name not in self.doc:
            raise self.error(f"/{name}", "expected this field, found it missing")
        value = self.doc[name]
        # bool is an int in Python, not in JSON
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(f"/{name}", f"expected a JSON {_JSON_TYPES[kind]}, found {_json_type(value)} {value!r}")
        if kind is int and value < 0:
            raise self.error(f"/{name}", f"expected a non-negative integer, found {value}")
        return value

    def base64(self, name: str, where: str | None = None, value: Any = None) -> bytes:
        text = self.get(name, str) if where is None else value
        pointer_ = where or f"/{name}"
        if not isinstance(text, str):
            raise self.error(pointer_, f"expected a base64 string, found {_json_type(text)} {text!r}")
        try:
            return base64.b64decode(text, validate=True)
        except ValueError:
            raise self.error(pointer_, f"expected base64, found {text[:60]!r}") from None

    def hashes(self, name: str) -> list[bytes]:
        values = self.get(name, list)
        out = [self.base64(name, f"/{name}/{i}", v) for i, v in enumerate(values)]
        for i, h in enumerate(out):
            if len(h) != 32:
                raise self.error(f"/{name}/{i}", f"expected a 32-byte SHA-256 hash, found {len(h)} bytes")
        return out


_JSON_TYPES: dict[type[Any], str] = {int: "integer", str: "string", list: "array"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type[Any], str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


# --- consistency ------------------------------------------------------------------------------

CONSISTENCY_FORMAT = "suitability-consistency-proof/1"


def _open_trusted(note: str, verifiers: Sequence[Verifier], source: str) -> Checkpoint:
    """Open ``note`` with whichever trusted keys signed it; every signature by a trusted key must verify."""
    _, signatures = split_note(note, source)
    present = {(name, key_id) for name, key_id, _ in signatures}
    opened = [open_note(note, v, source) for v in verifiers if (v.name, v.key_id) in present]
    if not opened:
        keys = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers)
        raise IntegrityError(
            f"{source}: no valid signature by a trusted key",
            [
                Problem(
                    f"expected a signature by one of {keys}, found none (pass the key that signed it)", source=source
                )
            ],
        )
    return opened[0]


def _consistency(
    store: LogStore, old: Checkpoint, old_source: str, new_size: int, new_root: bytes, new_what: str
) -> list[bytes]:
    """The RFC 9162 consistency proof from ``old`` to the log's first ``new_size`` records, checked.

    The proof's subtree hashes are computed in one pass over the stored bytes (the tree is never
    held in memory) and verified against the old checkpoint's root and ``new_root``.

    Raises:
        IntegrityError: the log has fewer records than ``old`` signs, or its first ``old.size``
            records no longer have the signed root (a record was rewritten, removed or reordered).
    """
    if old.size > new_size:
        raise IntegrityError(
            f"{new_what} has fewer records than {old_source} signs (the log was truncated)",
            [Problem(f"expected at least {old.size} records, found {new_size}", source=old_source)],
            seq=new_size,
        )
    if old.size == 0:
        proof: list[bytes] = []
        ok = old.root == EMPTY_ROOT
    else:
        leaves = (leaf_hash(data) for _, data, _ in store.scan(0, new_size))
        try:
            proof = range_hashes(leaves, consistency_ranges(old.size, new_size)) if old.size < new_size else []
        except ValueError:
            raise IntegrityError(
                f"{store.location} holds fewer records than {new_what} signs",
                [Problem(f"expected {new_size} records, found fewer")],
            ) from None
        ok = verify_consistency(old.size, new_size, old.root, new_root, proof)
    if not ok:
        raise IntegrityError(
            f"{new_what} is not consistent with {old_source}: the log did not only grow",
            [
                Problem(
                    f"expected an RFC 9162 consistency proof from size {old.size} (root {_b64(old.root)}) to size "
                    f"{new_size} (root {_b64(new_root)}), found that the first {old.size} records no longer "
                    "reproduce the signed root (a record was rewritten, removed or reordered)",
                    source=old_source,
                )
            ],
        )
    return proof


def prove_consistency(
    store: LogStore,
    old_note: str,
    new_note: str,
    verifier: Verifier,
    sources: tuple[str, str] = ("<old checkpoint>", "<new checkpoint>"),
) -> dict[str, Any]:
    """Return a checked, offline consistency proof between two signed checkpoints of ``store``.

    Both checkpoints must be signed by ``verifier`` and name the same origin; the log's first
    ``new.size`` records must reproduce the newer one, and the proof (RFC 9162 §2.1.4) must
    carry the older root to the newer.

    Raises:
        InputError: a checkpoint is malformed.
        IntegrityError: a signature fails, the origins differ, the log does not reproduce the
            newer checkpoint, or the older one is not a prefix of it.
    """
    old_source, new_source = sources
    old = open_note(old_note, verifier, old_source)
    new = open_note(new_note, verifier, new_source)
    _same_origin(old, old_source, new, new_source)
    builder = RootBuilder()
    for _, data, _ in store.scan(0, new.size):
        builder.push(leaf_hash(data))
    if builder.size != new.size or builder.root() != new.root:
        raise IntegrityError(
            f"{store.location} does not reproduce {new_source}",
            [
                Problem(
                    f"expected {new.size} records with root {_b64(new.root)}, "
                    f"found {builder.size} records with root {_b64(builder.root())}",
                    source=new_source,
                )
            ],
        )
    proof = _consistency(store, old, old_source, new.size, new.root, new_source)
    return {
        "format": CONSISTENCY_FORMAT,
        "old_size": old.size,
        "new_size": new.size,
        "consistency": [_b64(h) for h in proof],
        "old_checkpoint": old_note,
        "new_checkpoint": new_note,
    }


def _same_origin(old: Checkpoint, old_source: str, new: Checkpoint, new_source: str) -> None:
    if old.origin != new.origin:
        raise IntegrityError(
            f"{old_source} and {new_source} are checkpoints of different logs",
            [Problem(f"expected the origin {new.origin!r}, found {old.origin!r}", source=old_source)],
        )


def verify_consistency_proof(
    proof: Any,
    verifier: Verifier,
    source: str = "<proof>",
    held: tuple[tuple[str, str] | None, tuple[str, str] | None] = (None, None),
) -> tuple[Checkpoint, Checkpoint]:
    """Check a consistency proof offline, with the two checkpoints and the public key alone.

    Args:
        proof: the parsed proof document.
        verifier: the key the checkpoints must be signed by.
        source: where the proof came from.
        held: the (note, source) of checkpoints the caller holds itself, old and new; each must
            sign the same origin, size and root as the one carried in the proof.

    Returns:
        The old and the new checkpoint.

    Raises:
        InputError: the proof is malformed (a wrong type is never coerced).
        IntegrityError: a signature fails, a held checkpoint differs, or the proof does not carry
            the old root to the new one.
    """
    fields = _Fields(proof, source, CONSISTENCY_FORMAT)
    old_size, new_size = fields.get("old_size", int), fields.get("new_size", int)
    path = fields.hashes("consistency")
    notes = fields.get("old_checkpoint", str), fields.get("new_checkpoint", str)
    # (1) both checkpoints are signed by the trusted key and name one log
    old = open_note(notes[0], verifier, f"{source} /old_checkpoint")
    new = open_note(notes[1], verifier, f"{source} /new_checkpoint")
    _same_origin(old, f"{source} /old_checkpoint", new, f"{source} /new_checkpoint")
    # (2) they are the checkpoints the caller holds, when it holds them
    for carried, mine, where in ((old, held[0], "/old_checkpoint"), (new, held[1], "/new_checkpoint")):
        if mine is not None and open_note(mine[0], verifier, mine[1]) != carried:
            raise IntegrityError(
                f"{source}: {where} is not {mine[1]}",
                [Problem(f"expected the checkpoint held in {mine[1]}, found another", where, source=source)],
            )
    # (3) the sizes claimed are the signed ones
    if (old.size, new.size) != (old_size, new_size):
        raise IntegrityError(
            f"{source}: sizes differ from the checkpoints",
            [Problem(f"expected sizes {old.size} and {new.size}, found {old_size} and {new_size}", source=source)],
        )
    # (4) the proof carries the old root to the new (RFC 9162 §2.1.4.2)
    ok = (
        old.root == EMPTY_ROOT and not path
        if old.size == 0
        else verify_consistency(old.size, new.size, old.root, new.root, path)
    )
    if not ok:
        raise IntegrityError(
            f"{source}: the log did not only grow from size {old.size} to {new.size}",
            [
                Problem(
                    f"expected the consistency proof to lead from root {_b64(old.root)} to {_b64(new.root)}, "
                    "found it does not",
                    "/consistency",
                    source=source,
                )
            ],
        )
    return old, new


# --- signing checkpoints ----------------------------------------------------------------------


@dataclass
class SignedCheckpoint:
    """What :func:`sign_checkpoint` made and what it checked first."""

    note: str
    report: VerifyReport
    consistent_with: list[tuple[str, int]]


def sign_checkpoint(
    store: LogStore,
    signer: Signer,
    origin: str,
    *,
    out: str | Path | None = None,
    replace: bool = False,
    held: Sequence[tuple[str, str]] = (),
    trusted: Sequence[Verifier] = (),
    progress: Progress | None = None,
) -> SignedCheckpoint:
    """Verify ``store``, prove it consistent with every earlier checkpoint, sign its size and root, keep it.

    The earlier checkpoints are the latest one kept with the log and every one in ``held`` (note,
    source), for instance a checkpoint an outside party kept: the check then does not rest only on
    what the firm stores. Each must be signed by the signer's own key or one of ``trusted`` (a
    rotated key), name ``origin``, and be a prefix of the log by an RFC 9162 consistency proof;
    the full numbered checks of :func:`verify` run over every record, those added since included.
    The new note is then written whole to ``out`` (when given) and kept with the log, where the
    next checkpoint and ``audit verify`` find it. An existing ``out`` (an earlier checkpoint, say)
    is never overwritten unless ``replace``: that is refused before anything is verified.

    Raises:
        InputError: the origin is not one line of printable text, a checkpoint is malformed,
            ``out`` exists (without ``replace``) or cannot be written whole (then nothing is kept).
        IntegrityError: the log fails verification, an earlier checkpoint is not signed by a
            trusted key, names another origin, or the log is not consistent with it; nothing is
            signed.
    """
    # (1) the origin is one printable line; the file to write does not hold something already
    check_origin(origin)
    if out is not None and not replace and os.path.lexists(out):
        raise InputError(
            f"{out} exists",
            [
                Problem(
                    "expected a path where no file is yet: an existing file is replaced only when asked (--force)",
                    source=str(out),
                )
            ],
        )
    verifiers = [signer.verifier(), *trusted]
    earlier = list(held)
    kept = store.latest_checkpoint()
    if kept is not None:
        earlier.insert(0, (kept, f"{store.location} (latest checkpoint kept with the log)"))
    unique: dict[str, str] = {}
    for note, source in earlier:
        unique.setdefault(note, source)  # the same note given twice (kept and held) is checked once
    opened = [(_open_trusted(note, verifiers, source), source) for note, source in unique.items()]
    # (2) every record passes the numbered checks, against every checkpoint kept with the log under a
    # trusted key: the latest alone could be a copy of an old note appended to hide a later rewrite
    every_kept = [cp for v in verifiers for cp in kept_checkpoints(store, v, store.location)]
    report = verify(store, every_kept, progress=progress)
    if any(not c.ok for c in report.checks if c.name != "root"):
        report.raise_for_failure()
    # (3) the log only grew since each earlier checkpoint
    checked: list[tuple[str, int]] = []
    for cp, source in opened:
        if cp.origin != origin:
            raise IntegrityError(
                f"{source} is a checkpoint of another log",
                [Problem(f"expected the origin {origin!r}, found {cp.origin!r}", source=source)],
            )
        _consistency(store, cp, source, report.size, report.root, f"{store.location} (now {report.size} records)")
        checked.append((source, cp.size))
    report.raise_for_failure()  # an earlier kept checkpoint the log no longer reproduces
    # (4) sign
    note = Checkpoint(origin, report.size, report.root).sign(signer)
    # (5) write it for the caller to hand out, then keep it with the log
    if out is not None:
        write_atomic(out, note, exclusive=not replace)
    store.add_checkpoint(report.size, note, signer.verifier().text())
    return SignedCheckpoint(note, report, checked)


__all__ = [
    "CHECKS",
    "CONSISTENCY_FORMAT",
    "NO_CHECKPOINT",
    "PROOF_FORMAT",
    "Check",
    "SignedCheckpoint",
    "VerifyReport",
    "default_jobs",
    "kept_checkpoints",
    "prove",
    "prove_consistency",
    "sign_checkpoint",
    "verify",
    "verify_consistency_proof",
    "verify_proof",
]
