"""Replay: every assessment, decision and confirmation recomputed from the log alone.

The one part of auditing that needs the rules. :func:`replay` streams the log once, rebuilds each
document from its artifact record and recomputes each result from its recorded inputs and
``as_of``, then compares it field by field with the recorded result. A decision made on client
facts other than its assessment's is named too. Memory stays bounded: results are cached by id up
to a limit and found again by seq (docs/adr/0003-fast-passes.md).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from .__about__ import __version__
from ._passes import long_pass
from .codec import canonical_bytes
from .errors import IntegrityError, Problem, SuitabilityError
from .ids import digest_id
from .log.store import RECORD_TYPES, LogStore
from .matching import Decision, Evidence, check_client_facts, confirm, decide, still_suitable
from .models import Assessment, Client
from .policy import Policy, load_policy
from .product import Product
from .questionnaire import Questionnaire, load_questionnaire
from .records import RecheckRecord, Record, read_record
from .scoring import assess

Progress = Callable[[int], None]

#: How results are derived, by the first engine version that derived them so: replay recomputes
#: each record with the derivation of the engine version that wrote it (its ``engine_version``).
#: Every version so far derives as 0.1.0 did (format 2 added fields that only format-2 documents
#: set, and every earlier record replays to its bytes: tests/test_golden.py). A change to how an
#: existing document's results are derived adds an entry here and keeps the old path beside it.
DERIVATIONS: tuple[tuple[tuple[int, ...], str], ...] = (((0, 1, 0), "1"),)
_VERSION_PART = re.compile(r"(0|[1-9][0-9]{0,8})")
_THIS_ENGINE = tuple(int(part) for part in __version__.split("."))


@lru_cache(maxsize=64)  # a log holds a handful of versions; each is parsed once
def derivation(engine_version: object) -> str:
    """The derivation that recomputes a record written by ``engine_version`` (see :data:`DERIVATIONS`).

    Raises:
        ValueError: not a version (``MAJOR.MINOR.PATCH``), older than the first engine, or newer
            than this one: its results may be derived in a way this engine does not know, so
            recomputing them here would prove nothing either way.
    """
    parts = engine_version.split(".") if isinstance(engine_version, str) else []
    if len(parts) != 3 or not all(_VERSION_PART.fullmatch(part) for part in parts):
        raise ValueError(f"expected an engine_version MAJOR.MINOR.PATCH, found {engine_version!r}")
    version = tuple(int(part) for part in parts)
    if version > _THIS_ENGINE:
        raise ValueError(
            f"written by engine {engine_version}, newer than this one ({__version__}): replay it with "
            f"{engine_version} or later"
        )
    for first, name in reversed(DERIVATIONS):
        if version >= first:
            return name
    raise ValueError(
        f"expected an engine_version from {'.'.join(map(str, DERIVATIONS[0][0]))} on, found {engine_version!r}"
    )


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

    def __init__(self, store: LogStore, load: Callable[[Record], Any], limit: int = 4_096) -> None:
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
            value = self.load(read_record(stored.data))
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


def _assessment_of(record: Record) -> tuple[Assessment, Client | None]:
    """An assessment found again by seq, with the client facts recorded beside it."""
    if record["type"] != "assessment":
        raise ValueError(f"expected an assessment at seq {record['seq']}, found a {record['type']}")
    facts = record["client"]
    return Assessment.model_validate(record["result"]), None if facts is None else Client.model_validate(facts)


def _decision_of(record: Record) -> Decision:
    """A decision found again by seq."""
    if record["type"] != "decision":
        raise ValueError(f"expected a decision at seq {record['seq']}, found a {record['type']}")
    return Decision.model_validate(record["result"])


@long_pass()
def replay(store: LogStore, *, progress: Progress | None = None) -> ReplayReport:
    """Recompute every result in ``store`` from the log alone and compare it with its record."""
    counts = dict.fromkeys(RECORD_TYPES, 0)
    differences: list[Difference] = []
    errors: list[Problem] = []
    documents: dict[str, Questionnaire | Policy] = {}
    # an assessment is kept with the client facts recorded beside it, which its decisions must use
    assessments = _Cache(store, _assessment_of)
    decisions = _Cache(store, _decision_of)
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
            record = read_record(data)
            kind = record["type"]
            counts[kind] += 1
            derivation(record["engine_version"])  # one derivation so far: the check is all it dispatches
            if record["type"] == "artifact":
                loader = load_questionnaire if record["kind"] == "questionnaire" else load_policy
                documents[record["hash"]] = loader(record["document"], f"record {seq}")
            elif record["type"] == "assessment":
                q = documents[record["questionnaire"]["hash"]]
                assert isinstance(q, Questionnaire)
                client = parsed(clients, Client, record["client"]) if record["client"] is not None else None
                result = assess(q, record["answers"], client, _instant(record["as_of"]))
                _compare(seq, kind, record["result"], result.model_dump(mode="json"), differences)
                assessments.put(result.id, (result, client))
            elif record["type"] == "decision":
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
            elif record["type"] == "recheck":
                _replay_recheck(store, record, documents, assessments, differences)
            else:
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


def _replay_recheck(
    store: LogStore,
    record: RecheckRecord,
    documents: dict[str, Questionnaire | Policy],
    assessments: _Cache,
    differences: list[Difference],
) -> None:
    """Recompute each finding of a re-check from the sale, the assessment and the re-rated product it names.

    The client facts are the decision's when it is checked against its own assessment, else those
    recorded with the newer assessment (as :mod:`suitability.review.recheck` takes them).
    """
    seq = record["seq"]
    body = {k: v for k, v in record.items() if k not in ("seq", "type", "recorded_at", "engine_version", "result")}
    ident = digest_id("rck_", canonical_bytes(body))
    if ident != record["result"]["id"]:
        differences.append(Difference(seq, "recheck", "result/id", record["result"]["id"], ident))
    products = {p["id"]: Product.model_validate(p) for p in record["products"]}
    for n, finding in enumerate(record["findings"]):
        stored = store.get(finding["decision_seq"])
        sale = read_record(stored.data) if stored is not None else None
        if sale is None or sale["type"] != "decision":
            raise ValueError(f"expected a decision at seq {finding['decision_seq']} (finding {n})")
        assessment, facts = assessments.get(finding["assessment_id"], finding["assessment_seq"])
        own = finding["assessment_seq"] == sale["assessment_seq"]
        client = Client.model_validate(sale["client"]) if own or facts is None else facts
        policy = documents[sale["policy"]["hash"]]
        assert isinstance(policy, Policy)
        product = products.get(finding["product_id"]) or Product.model_validate(sale["product"])
        reasons = still_suitable(
            Decision.model_validate(sale["result"]),
            assessment,
            client,
            product,
            policy,
            confirmed=finding["sale"] == "confirmed",
        )
        codes = [r.code for r in reasons]
        if codes != finding["codes"]:
            differences.append(Difference(seq, "recheck", f"findings/{n}/codes", finding["codes"], codes))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)
