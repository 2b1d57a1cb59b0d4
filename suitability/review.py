"""Regulator review of a decision log: query rows, and the figures of the report.

:func:`rows` streams one flat row per record (who, what, when, the outcome and its reasons), with
the facts a reviewer filters on joined in from the records it refers to (a decision's profile from
its assessment, a confirmation's product from its decision) through a bounded cache, so a log of
any length is read in constant memory. :func:`query` filters them.

:func:`review` computes the report: it streams the rows once into a temporary SQLite file (on
disk, so memory stays flat) and answers each figure with SQL. Every figure keeps the ``seq`` of
the records behind each of its numbers (the first :data:`SEQS_SHOWN`, and how many in all), so a
reviewer can go from a bar to the evidence.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import sqlite3
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from ._passes import long_pass
from .checkpoint import Checkpoint
from .errors import InputError, IntegrityError, Problem
from .policy import REASON_CODES, REASON_DIMENSIONS
from .store import RECORD_TYPES, LogStore

SEQS_SHOWN = 12
ROW_FIELDS = (
    "seq",
    "type",
    "recorded_at",
    "as_of",
    "client",
    "actor",
    "product",
    "risk_level",
    "profile",
    "lowest_category",
    "outcome",
    "initiated_by",
    "reasons",
    "age",
    "refers_to",
)
AGE_BANDS = ((0, 39, "<40"), (40, 59, "40-59"), (60, 64, "60-64"), (65, 69, "65-69"), (70, 200, "70+"))

#: The values a row's ``outcome`` takes (decisions, confirmations, assessments).
OUTCOMES = ("suitable", "requires_confirmation", "blocked", "confirmed", "assessed", "inconsistent")
RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")
PROFILES = ("C1", "C2", "C3", "C4", "C5")
#: The times a query filters on: ``recorded`` (the store's clock, which a caller cannot set) or
#: ``as-of`` (the time the caller gave the engine, which it can).
TIMES = ("recorded", "as-of")
TIME_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD (from its first instant, UTC) or an instant with an offset (2026-03-01T09:30:00+08:00, …Z)"
_RULE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # a questionnaire rule id (the schema's pattern)
_YEAR, _MONTH, _DAY = (
    re.compile(r"[0-9]{4}"),
    re.compile(r"[0-9]{4}-[0-9]{2}"),
    re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
)
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_time(text: str) -> datetime:
    """Read a query bound as ISO 8601: a year, month or day (its first instant, UTC), or an instant with an offset.

    Raises:
        ValueError: anything else, ``2026-1`` or ``2026-13`` included (the message lists the forms accepted).
    """
    try:
        if _YEAR.fullmatch(text):
            return datetime(int(text), 1, 1, tzinfo=UTC)
        if _MONTH.fullmatch(text):
            return datetime(int(text[:4]), int(text[5:]), 1, tzinfo=UTC)
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        if _INSTANT.fullmatch(text):
            return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        pass
    raise ValueError(f"expected {TIME_FORMS}; found {text!r}")


def reason_values(rule_ids: Iterable[str] = ()) -> list[str]:
    """What ``--reason`` accepts: every reason code, and the rule ids given (of the known questionnaires)."""
    return [*REASON_CODES, *sorted(set(rule_ids))]


def _instant(text: Any, seq: int, name: str) -> datetime:
    """A record's time as an aware datetime (UTC if it names no offset)."""
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise IntegrityError(
            f"record {seq} has no readable {name}",
            [Problem(f"expected an ISO 8601 instant, found {text!r}", f"/{name}", code="MALFORMED_RECORD")],
            seq=seq,
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _client_age(client: Any, at: str) -> int | None:
    """The client's age at ``at`` from the recorded facts: ``age`` as given, or from ``birth_date``.

    The one place that knows how a record states a client's age.
    """
    if not client:
        return None
    if "age" in client:
        age = client["age"]
        if age is not None and type(age) is not int:
            raise TypeError("age")
        return age
    birth = client.get("birth_date")
    if not birth:
        return None
    born, when = date.fromisoformat(birth), datetime.fromisoformat(at).date()
    return when.year - born.year - ((when.month, when.day) < (born.month, born.day))


def rows(store: LogStore, *, progress: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """Yield one flat row per record, in order (see :data:`ROW_FIELDS`).

    Raises:
        IntegrityError: a record lacks a field a row needs, or has one of the wrong shape (its seq is named).
    """
    recent: OrderedDict[int, dict[str, Any]] = OrderedDict()

    def lookup(seq: int) -> dict[str, Any]:
        found = recent.get(seq)
        if found is None:
            stored = store.get(seq)
            found = _checked_row(seq, stored.data, lookup) if stored else {}
        return found

    with long_pass():  # until the last row is taken, or the rows are dropped
        for seq, data, _ in store.scan():
            row = _checked_row(seq, data, lookup)
            recent[seq] = row
            if len(recent) > 20_000:
                recent.popitem(last=False)
            if progress is not None and seq % 10_000 == 0:
                progress(seq)
            yield row


def _checked_row(seq: int, data: bytes, lookup: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise IntegrityError(
            f"record {seq} is not JSON", [Problem(str(exc), code="MALFORMED_RECORD")], seq=seq
        ) from None
    try:
        return _row(seq, record, lookup)
    except IntegrityError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise _malformed(seq, record, exc) from None


_TEXT = (
    "type",
    "recorded_at",
    "as_of",
    "client",
    "actor",
    "product",
    "risk_level",
    "profile",
    "outcome",
    "initiated_by",
)


def _row(seq: int, record: dict[str, Any], lookup: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    kind = record.get("type")
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    recorded = record["recorded_at"]
    row.update(seq=seq, type=kind, recorded_at=recorded, reasons=[])
    if kind == "artifact":
        row["product"] = f"{record['kind']} {record['id']}@{record['version']}"
    elif kind == "assessment":
        result = record["result"]
        row.update(
            as_of=record["as_of"],
            client=result["client_id"],
            actor=record.get("actor"),
            profile=result["profile"],
            lowest_category=result["lowest_category"],
            outcome="inconsistent" if result["consistency_violations"] else "assessed",
            reasons=[r["id"] for r in result["rules_fired"]],
            age=_client_age(record.get("client"), recorded),
        )
    elif kind == "decision":
        result = record["result"]
        assessed = lookup(_earlier(record, "assessment_seq", seq))
        row.update(
            as_of=record["as_of"],
            client=record["client"]["client_id"],
            actor=record.get("actor"),
            product=record["product"]["id"],
            risk_level=record["product"]["risk_level"],
            profile=assessed.get("profile"),
            lowest_category=bool(assessed.get("lowest_category")) or not record["client"]["full_civil_capacity"],
            outcome=result["outcome"],
            initiated_by=record["initiated_by"],
            reasons=[r["code"] for r in result["reasons"]],
            age=_client_age(record["client"], recorded),
            refers_to=record["assessment_seq"],
        )
    elif kind == "confirmation":
        decided = lookup(_earlier(record, "decision_seq", seq))
        row.update(
            as_of=record["confirmed_at"],
            client=decided.get("client"),
            actor=record["actor"],
            product=decided.get("product"),
            risk_level=decided.get("risk_level"),
            profile=decided.get("profile"),
            lowest_category=decided.get("lowest_category"),
            outcome="confirmed",
            initiated_by=decided.get("initiated_by"),
            reasons=record["result"]["warning_codes"],
            age=decided.get("age"),
            refers_to=record["decision_seq"],
        )
    else:
        raise ValueError("type")
    # Rows feed tables, CSV and SQL: a value of the wrong shape is refused here, not deep inside them.
    for name in _TEXT:
        if row[name] is not None and type(row[name]) is not str:
            raise TypeError(name)
    if not all(type(code) is str for code in row["reasons"]):
        raise TypeError("reasons")
    return row


def _earlier(record: dict[str, Any], name: str, seq: int) -> int:
    """The seq ``record`` refers to by ``name``, which must be an earlier record's."""
    ref = record[name]
    if type(ref) is not int or not 0 <= ref < seq:
        raise IntegrityError(
            f"record {seq} refers to no earlier record",
            [Problem(f"expected the seq of an earlier record, found {ref!r}", f"/{name}", code="MALFORMED_RECORD")],
            seq=seq,
        )
    return ref


# What a row reads from each type of record: a type, a tuple of types (None: null), or a nested
# shape; a key ending in "?" may be absent. Only consulted to explain a record that failed.
_OPT_TEXT = (str, None)
_SHAPES: dict[str, dict[str, Any]] = {
    "artifact": {"recorded_at": str, "kind": str, "id": str, "version": str},
    "assessment": {
        "recorded_at": str,
        "as_of": str,
        "actor?": _OPT_TEXT,
        "client?": (dict, None),
        "result": {
            "client_id": str,
            "profile": str,
            "lowest_category": bool,
            "consistency_violations": list,
            "rules_fired": [{"id": str}],
        },
    },
    "decision": {
        "recorded_at": str,
        "as_of": str,
        "actor?": _OPT_TEXT,
        "assessment_seq": int,
        "initiated_by": str,
        "client": {"client_id": str, "full_civil_capacity": bool, "birth_date?": _OPT_TEXT},
        "product": {"id": str, "risk_level": str},
        "result": {"outcome": str, "reasons": [{"code": str}]},
    },
    "confirmation": {
        "recorded_at": str,
        "confirmed_at": str,
        "actor": str,
        "decision_seq": int,
        "result": {"warning_codes": [str]},
    },
}


def _what(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _shape_problem(value: Any, shape: Any, where: str) -> Problem | None:
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return Problem(f"expected an object, found {_what(value)}", where, code="MALFORMED_RECORD")
        for key, sub in shape.items():
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                return Problem(f"expected a field {name!r}, found none", where, code="MALFORMED_RECORD")
            problem = _shape_problem(value[name], sub, f"{where}/{name}")
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return Problem(f"expected an array, found {_what(value)}", where, code="MALFORMED_RECORD")
        for i, item in enumerate(value):
            problem = _shape_problem(item, shape[0], f"{where}/{i}")
            if problem:
                return problem
        return None
    allowed = shape if isinstance(shape, tuple) else (shape,)
    if any(value is None if t is None else type(value) is t for t in allowed):
        return None
    wanted = " or ".join("null" if t is None else _what(t()) for t in allowed)
    return Problem(f"expected {wanted}, found {_what(value)}", where, code="MALFORMED_RECORD")


def _malformed(seq: int, record: Any, exc: Exception) -> IntegrityError:
    """The error for a record a row cannot be read from, naming the first field that is wrong."""
    kind = record.get("type") if isinstance(record, dict) else None
    if kind not in _SHAPES:
        problem = Problem(f"expected a type among {', '.join(RECORD_TYPES)}, found {kind!r}", "/type")
    else:
        problem = _shape_problem(record, _SHAPES[kind], "") or Problem(
            f"a field could not be read ({type(exc).__name__}: {exc})", code="MALFORMED_RECORD"
        )
    return IntegrityError(f"record {seq} is not a well-formed {kind or 'record'}", [problem], seq=seq)


@dataclass
class QueryFilter:
    """Which rows :func:`query` keeps; every field given must match (None matches anything).

    ``since`` (inclusive) and ``until`` (exclusive) are datetimes or ISO 8601 text (see
    :func:`parse_time`), compared with each row's ``recorded_at`` or, with ``time="as-of"``, its ``as_of``.

    Raises:
        InputError: a value no row can have (an unknown outcome, reason code, type, level or time).
    """

    client: str | None = None
    actor: str | None = None
    product: str | None = None
    risk_level: str | None = None
    profile: str | None = None
    outcome: str | None = None
    reason: str | None = None
    type: str | None = None
    since: str | datetime | None = None
    until: str | datetime | None = None
    time: str = "recorded"
    dated_beyond_hours: float | None = None
    _bounds: tuple[datetime | None, datetime | None] = field(default=(None, None), init=False, repr=False)

    def __post_init__(self) -> None:
        problems = []
        for name, allowed in (
            ("risk_level", RISK_LEVELS),
            ("profile", PROFILES),
            ("outcome", OUTCOMES),
            ("type", RECORD_TYPES),
            ("time", TIMES),
        ):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                problems.append(Problem(f"expected one of {', '.join(allowed)}, found {value!r}", f"/{name}"))
        if self.reason is not None and self.reason not in REASON_CODES and not _RULE_ID.fullmatch(self.reason):
            problems.append(
                Problem(
                    f"expected a reason code ({', '.join(REASON_CODES)}) or a rule id, found {self.reason!r}", "/reason"
                )
            )
        dated = self.dated_beyond_hours
        if dated is not None and not (type(dated) in (int, float) and math.isfinite(dated) and dated >= 0):
            problems.append(Problem(f"expected a number of hours of 0 or more, found {dated!r}", "/dated_beyond_hours"))
        bounds: list[datetime | None] = []
        for name in ("since", "until"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    value = parse_time(value)
                except ValueError as exc:
                    problems.append(Problem(str(exc), f"/{name}"))
                    value = None
            elif isinstance(value, datetime) and value.tzinfo is None:
                problems.append(Problem(f"expected an aware datetime, found {value!r}", f"/{name}"))
            bounds.append(value)
        if problems:
            raise InputError("invalid query filter", problems)
        self._bounds = (bounds[0], bounds[1])

    def matches(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` passes every filter given."""
        for name in ("client", "actor", "product", "risk_level", "profile", "outcome", "type"):
            wanted = getattr(self, name)
            if wanted is not None and row.get(name) != wanted:
                return False
        if self.reason is not None and self.reason not in row["reasons"]:
            return False
        if self.dated_beyond_hours is not None and not self._dated(row, self.dated_beyond_hours * 3600):
            return False
        since, until = self._bounds
        if since is None and until is None:
            return True
        name = "recorded_at" if self.time == "recorded" else "as_of"
        if row[name] is None:
            return False
        at = _instant(row[name], row["seq"], name)
        return (since is None or at >= since) and (until is None or at < until)

    @staticmethod
    def _dated(row: dict[str, Any], limit: float) -> bool:
        if row["as_of"] is None:
            return False
        recorded = _instant(row["recorded_at"], row["seq"], "recorded_at")
        return abs((_instant(row["as_of"], row["seq"], "as_of") - recorded).total_seconds()) > limit


def query(
    store: LogStore, flt: QueryFilter, *, progress: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the rows of ``store`` that pass ``flt``, streaming."""
    return (row for row in rows(store, progress=progress) if flt.matches(row))


# --- the report -----------------------------------------------------------------------------------


@dataclass
class ReviewConfig:
    """Thresholds of the report (a JSON object with any of these keys; see the README).

    Attributes:
        retake_window_days: two assessments of one client this close are a retake.
        actor_min_decisions: actors with fewer decisions are ranked but never flagged.
        actor_confirmation_rate: flag an actor whose confirmations per decision exceed this.
        actor_elderly_high_risk: flag an actor with more confirmed high-risk sales to the elderly.
        actor_retake_drift: flag an actor who administered this many upward-drifting retakes.
        elderly_age: the age from which special care applies.
        high_risk_from: the lowest risk level counted as high risk.
        dated_tolerance_hours: a record whose ``as_of`` lies further than this from its
            ``recorded_at`` (the store's clock) is back- or forward-dated.
        actor_dated: flag an actor with this many back- or forward-dated records.

    Raises:
        InputError: a value of the wrong type or out of its range (each problem names its key).
    """

    retake_window_days: int = 30
    actor_min_decisions: int = 10
    actor_confirmation_rate: float = 0.35
    actor_elderly_high_risk: int = 5
    actor_retake_drift: int = 2
    elderly_age: int = 65
    high_risk_from: str = "R4"
    dated_tolerance_hours: float = 24.0
    actor_dated: int = 1

    def __post_init__(self) -> None:
        problems = config_problems(vars(self))
        if problems:
            raise InputError("invalid review config", problems)


# The range of each threshold (inclusive), or its valid values: a bound a report cannot use (a
# negative count, a rate above 1, a window beyond ten years) is refused, not silently applied.
_LIMITS: dict[str, tuple[float, float] | tuple[str, ...]] = {
    "retake_window_days": (1, 3650),
    "actor_min_decisions": (0, 1_000_000_000),
    "actor_confirmation_rate": (0.0, 1.0),
    "actor_elderly_high_risk": (1, 1_000_000_000),
    "actor_retake_drift": (1, 1_000_000_000),
    "elderly_age": (0, 150),
    "high_risk_from": RISK_LEVELS,
    "dated_tolerance_hours": (0.0, 87_600.0),
    "actor_dated": (1, 1_000_000_000),
}


def config_problems(values: dict[str, Any], source: str | None = None) -> list[Problem]:
    """Every problem of a review config given as a mapping of its keys (unknown keys included)."""
    known = {f.name: f.type for f in fields(ReviewConfig)}
    problems = []
    for key, value in values.items():
        where = f"/{key}"
        if key not in known:
            problems.append(Problem(f"expected one of {sorted(known)}, found {key!r}", where, source=source))
            continue
        limit = _LIMITS[key]
        if isinstance(limit[0], str):
            if value not in limit:
                problems.append(
                    Problem(f"expected one of {', '.join(map(str, limit))}, found {value!r}", where, source=source)
                )
            continue
        lo, hi = limit
        numeric = type(value) is int or (known[key] == "float" and type(value) is float)
        if not numeric:
            problems.append(
                Problem(
                    f"expected {'a number' if known[key] == 'float' else 'an integer'}, found {value!r}",
                    where,
                    source=source,
                )
            )
        elif not ((type(value) is int or math.isfinite(value)) and lo <= value <= hi):
            problems.append(Problem(f"expected a value from {lo} to {hi}, found {value!r}", where, source=source))
    return problems


def load_config(path: str | Path | None) -> ReviewConfig:
    """Read a :class:`ReviewConfig` from a JSON file (None: the defaults).

    Raises:
        InputError: unknown keys, values of the wrong type or out of range (all of them, each by key).
    """
    if path is None:
        return ReviewConfig()
    from .codec import read_json

    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a review config", [Problem("expected a JSON object", source=str(path))])
    problems = config_problems(data, str(path))
    if problems:
        raise InputError(f"{path} is not a valid review config", problems)
    return ReviewConfig(**data)


@dataclass
class Cell:
    """One number of a figure and the records behind it."""

    label: str
    count: int
    seqs: list[int]
    series: str = ""


@dataclass
class Figure:
    """A chart or table of the report."""

    key: str
    title: dict[str, str]
    cells: list[Cell]
    note: dict[str, str] = field(default_factory=dict)
    query: str = ""


@dataclass
class Finding:
    """Something the report flags for a reviewer (a retaker, an actor, a flipped decision, dated records).

    ``seqs`` lists the records behind it (at most :data:`SEQS_SHOWN` when ``count`` says there are more).
    """

    kind: str
    subject: str
    detail: dict[str, str]
    seqs: list[int]
    count: int = 0
    query: str = ""  # the `audit query` arguments that list every record behind it

    def __post_init__(self) -> None:
        self.count = self.count or len(self.seqs)


@dataclass
class ActorRank:
    """One actor's line in the ranking."""

    actor: str
    decisions: int
    confirmations: int
    rate: float
    elderly_high_risk: int
    retake_drift: int
    dated: int
    flags: list[dict[str, str]]  # each in zh-CN and en
    seqs: list[int]


@dataclass
class Review:
    """Everything the report shows."""

    size: int
    root: bytes
    verified: bool
    integrity: list[tuple[int, str, str, str]]  # number, name, status, detail
    checkpoints: list[tuple[str, int]]
    figures: list[Figure]
    findings: list[Finding]
    actors: list[ActorRank]
    config: ReviewConfig


# ``at`` is the store's clock (recorded_at), which windows, months and drift checks use, since a
# caller chooses ``as_of``; ``skew`` is as_of - recorded_at in seconds. Times are UTC, fixed width.
_SCHEMA = """
CREATE TABLE r (seq INTEGER PRIMARY KEY, type TEXT, at TEXT, as_of TEXT, skew REAL, client TEXT, actor TEXT,
                product TEXT, risk INTEGER, profile INTEGER, lowest INTEGER, outcome TEXT, initiated_by TEXT,
                age INTEGER, refers_to INTEGER);
CREATE TABLE reasons (seq INTEGER, code TEXT);
"""
_UTC_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"
_LEVEL = {f"R{i}": i for i in range(1, 6)}
_PROFILE = {f"C{i}": i for i in range(1, 6)}
DIMENSIONS = REASON_DIMENSIONS


def _load(db: sqlite3.Connection, store: LogStore, progress: Callable[[int], None] | None) -> None:
    batch: list[tuple[Any, ...]] = []
    reasons: list[tuple[int, str]] = []
    for row in rows(store, progress=progress):
        recorded = _instant(row["recorded_at"], row["seq"], "recorded_at")
        as_of = None if row["as_of"] is None else _instant(row["as_of"], row["seq"], "as_of")
        batch.append(
            (
                row["seq"],
                row["type"],
                recorded.strftime(_UTC_TEXT),
                None if as_of is None else as_of.strftime(_UTC_TEXT),
                None if as_of is None else (as_of - recorded).total_seconds(),
                row["client"],
                row["actor"],
                row["product"],
                _LEVEL.get(row["risk_level"] or ""),
                _PROFILE.get(row["profile"] or ""),
                1 if row["lowest_category"] else 0,
                row["outcome"],
                row["initiated_by"],
                row["age"],
                row["refers_to"],
            )
        )
        if row["type"] == "decision":
            reasons += [(row["seq"], code) for code in row["reasons"]]
        if len(batch) >= 10_000:
            db.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
            db.executemany("INSERT INTO reasons VALUES (?,?)", reasons)
            batch, reasons = [], []
    db.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
    db.executemany("INSERT INTO reasons VALUES (?,?)", reasons)
    db.execute("CREATE INDEX r_type ON r(type, client, at)")
    db.execute("CREATE INDEX reasons_seq ON reasons(seq, code)")
    db.execute("CREATE INDEX r_actor ON r(actor, type)")


def _cells(db: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Cell]:
    """Run ``sql`` returning (label, seq) pairs [, series]; group into cells with counts and first seqs."""
    found: dict[tuple[str, str], Cell] = {}
    for row in db.execute(sql, params):
        label, seq = str(row[0]), int(row[1])
        series = str(row[2]) if len(row) > 2 else ""
        cell = found.get((series, label))
        if cell is None:
            cell = found[(series, label)] = Cell(label, 0, [], series)
        cell.count += 1
        if len(cell.seqs) < SEQS_SHOWN:
            cell.seqs.append(seq)
    return list(found.values())


def _t(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


def review(
    store: LogStore,
    config: ReviewConfig | None = None,
    checkpoints: Sequence[tuple[Checkpoint, str]] = (),
    *,
    progress: Callable[[int], None] | None = None,
) -> Review:
    """Verify ``store``, then compute every figure, finding and ranking of the report."""
    from .audit import verify

    config = config or ReviewConfig()
    report = verify(store, checkpoints)
    integrity = [
        (c.number, c.name, "ok" if c.ok else "FAIL", c.failure.message if c.failure else "") for c in report.checks
    ]
    with tempfile.TemporaryDirectory(prefix="suitability-review-") as folder:
        db = sqlite3.connect(Path(folder) / "facts.sqlite3")
        db.executescript(_SCHEMA)
        _load(db, store, progress)
        figures = _figures(db, config)
        findings, drift_by_actor = _findings(db, config)
        actors = _actors(db, config, drift_by_actor)
        db.close()
    flagged_actors = [a for a in actors if a.flags]
    findings += [
        Finding(
            "actor",
            a.actor,
            _t("；".join(f["zh-CN"] for f in a.flags), "; ".join(f["en"] for f in a.flags)),
            a.seqs,
            max(len(a.seqs), a.confirmations),
        )
        for a in flagged_actors
    ]
    return Review(
        size=report.size,
        root=report.root,
        verified=report.ok,
        integrity=integrity,
        checkpoints=report.checkpoints,
        figures=figures,
        findings=findings,
        actors=actors,
        config=config,
    )


def _figures(db: sqlite3.Connection, config: ReviewConfig) -> list[Figure]:
    high = _LEVEL[config.high_risk_from]
    bands = " ".join(f"WHEN age BETWEEN {lo} AND {hi} THEN '{name}'" for lo, hi, name in AGE_BANDS)
    band_sql = f"CASE {bands} ELSE 'unknown' END"
    profile_label = "CASE WHEN lowest = 1 THEN 'C1 (lowest)' ELSE 'C' || profile END"
    return [
        Figure(
            "profiles",
            _t("风险承受能力分布（C1–C5 与最低类别）", "Profile distribution (C1–C5 and lowest category)"),
            _cells(db, f"SELECT {profile_label}, seq FROM r WHERE type = 'assessment' ORDER BY 1, seq"),
            query="--type assessment --profile C<n>",
        ),
        Figure(
            "profiles_by_month",
            _t("风险承受能力分布的月度变化", "Profiles by month"),
            _cells(
                db, f"SELECT substr(at, 1, 7), seq, {profile_label} FROM r WHERE type = 'assessment' ORDER BY 1, 3, seq"
            ),
            query="--type assessment --since YYYY-MM --until YYYY-MM",
        ),
        Figure(
            "outcomes_by_risk",
            _t("按产品风险等级的判定结果", "Outcomes by product risk level"),
            _cells(db, "SELECT 'R' || risk, seq, outcome FROM r WHERE type = 'decision' ORDER BY 1, 3, seq"),
            query="--type decision --risk-level R<n> --outcome <outcome>",
        ),
        Figure(
            "mismatch_by_dimension",
            _t("不匹配原因（按维度）", "Mismatch reasons by dimension"),
            _cells(
                db,
                "SELECT code, seq, CASE code "
                + " ".join(f"WHEN '{code}' THEN '{dim}'" for code, dim in DIMENSIONS.items())
                + " END FROM reasons ORDER BY 3, 1, seq",
            ),
            query="--type decision --reason <CODE>",
        ),
        Figure(
            "confirmations_by_actor",
            _t("客户坚持购买的确认（按经办人）", "Confirmations (client-insisted purchases) by actor"),
            _cells(db, "SELECT COALESCE(actor, '-'), seq FROM r WHERE type = 'confirmation' ORDER BY 1, seq"),
            query="--type confirmation --actor <id>",
        ),
        Figure(
            "confirmations_by_risk",
            _t("客户坚持购买的确认（按产品风险等级）", "Confirmations by product risk level"),
            _cells(db, "SELECT 'R' || risk, seq FROM r WHERE type = 'confirmation' ORDER BY 1, seq"),
            query="--type confirmation --risk-level R<n>",
        ),
        Figure(
            "confirmations_by_age",
            _t("客户坚持购买的确认（按年龄段）", "Confirmations by age band"),
            _cells(db, f"SELECT {band_sql}, seq FROM r WHERE type = 'confirmation' ORDER BY 1, seq"),
            query="--type confirmation",
        ),
        Figure(
            "special_care",
            _t(
                f"{config.elderly_age} 岁及以上客户坚持购买 {config.high_risk_from} 及以上产品",
                f"Clients {config.elderly_age} or older insisting on {config.high_risk_from} or above",
            ),
            _cells(
                db,
                "SELECT COALESCE(actor, '-'), seq FROM r WHERE type = 'confirmation' AND age >= ? AND risk >= ? ORDER BY 1, seq",
                (config.elderly_age, high),
            ),
            note=_t("特别注意义务（NFRA 2025）", "Special duty of care (NFRA 2025)"),
            query="--type confirmation --reason SPECIAL_CARE_REQUIRED",
        ),
        Figure(
            "blocked",
            _t("被拦截的销售", "Blocked attempts"),
            _cells(
                db,
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM reasons x WHERE x.seq = r.seq AND x.code = 'LOWEST_CATEGORY') "
                "THEN 'LOWEST_CATEGORY' WHEN EXISTS (SELECT 1 FROM reasons x WHERE x.seq = r.seq AND x.code = 'FIRM_INITIATED_MISMATCH') "
                "THEN 'FIRM_INITIATED_MISMATCH' ELSE 'other' END, seq FROM r WHERE type = 'decision' AND outcome = 'blocked' ORDER BY 1, seq",
            ),
            note=_t(
                "最低类别客户与机构主动推介的不匹配产品最受关注",
                "Lowest-category clients and firm-initiated mismatches first",
            ),
            query="--type decision --outcome blocked --reason LOWEST_CATEGORY",
        ),
    ]


def _findings(db: sqlite3.Connection, config: ReviewConfig) -> tuple[list[Finding], dict[str, set[str]]]:
    """Clients whose profile drifted upward across retakes, and decisions such a drift flipped."""
    window = config.retake_window_days
    steps = db.execute(
        """
        SELECT client, actor, seq, profile, prev_seq, prev_profile FROM (
            SELECT client, actor, seq, profile, at,
                   LAG(seq) OVER w AS prev_seq, LAG(profile) OVER w AS prev_profile, LAG(at) OVER w AS prev_at
            FROM r WHERE type = 'assessment' AND lowest = 0 WINDOW w AS (PARTITION BY client ORDER BY at, seq))
        WHERE prev_seq IS NOT NULL AND profile > prev_profile
          AND julianday(at) - julianday(prev_at) <= ?
        ORDER BY client, seq
        """,
        (window,),
    ).fetchall()
    findings: list[Finding] = []
    drift_by_actor: dict[str, set[str]] = {}
    by_client: dict[str, list[tuple[Any, ...]]] = {}
    for step in steps:
        by_client.setdefault(step[0], []).append(step)
    for client, client_steps in by_client.items():
        seqs = sorted({s[4] for s in client_steps} | {s[2] for s in client_steps})
        first, last = client_steps[0][5], client_steps[-1][3]
        findings.append(
            Finding(
                "retake_drift",
                client,
                _t(
                    f"{window} 天内多次重新评估，风险等级由 C{first} 升至 C{last}（疑似刷分）",
                    f"retook the questionnaire within {window} days, profile rising C{first} → C{last} (score gaming?)",
                ),
                seqs,
            )
        )
        for s in client_steps:
            if s[1]:
                drift_by_actor.setdefault(s[1], set()).add(client)
    flipped = db.execute(
        """
        SELECT d.seq, d.client, a.seq, a.profile, p.seq, p.profile, d.risk FROM r d
        JOIN r a ON a.seq = d.refers_to
        JOIN r p ON p.type = 'assessment' AND p.client = d.client AND p.seq < a.seq AND p.lowest = 0
                 AND julianday(a.at) - julianday(p.at) <= ?
        WHERE d.type = 'decision' AND d.outcome IN ('suitable', 'requires_confirmation')
          AND p.profile < a.profile AND d.risk > p.profile AND d.risk <= a.profile
        ORDER BY d.seq, p.seq
        """,
        (window,),
    ).fetchall()
    seen: set[int] = set()
    for d_seq, client, a_seq, a_profile, p_seq, p_profile, risk in flipped:
        if d_seq in seen:
            continue
        seen.add(d_seq)
        findings.append(
            Finding(
                "flipped_decision",
                f"{client} / seq {d_seq}",
                _t(
                    f"R{risk} 产品在 C{p_profile} 时不适当，重新评估为 C{a_profile} 后适当",
                    f"an R{risk} product unsuitable at C{p_profile} became suitable after a retake to C{a_profile}",
                ),
                [p_seq, a_seq, d_seq],
            )
        )
    return findings + _dated(db, config), drift_by_actor


def _span(seconds: float) -> tuple[str, str]:
    hours = abs(seconds) / 3600
    if hours < 48:
        return f"{hours:.1f} 小时", f"{hours:.1f} h"
    return f"{hours / 24:.1f} 天", f"{hours / 24:.1f} days"


def _dated(db: sqlite3.Connection, config: ReviewConfig) -> list[Finding]:
    """Records whose ``as_of`` lies further from the store's clock than the tolerance, by actor.

    The review's windows run on ``recorded_at``, so dating a retake weeks ahead no longer hides it;
    the dating itself is what this flags.
    """
    limit = config.dated_tolerance_hours * 3600
    by_actor: dict[str, list[tuple[int, float]]] = {}
    for actor, seq, skew in db.execute(
        "SELECT COALESCE(actor, '-'), seq, skew FROM r WHERE ABS(skew) > ? ORDER BY 1, seq", (limit,)
    ):
        by_actor.setdefault(actor, []).append((seq, skew))
    findings = []
    for actor, dated in by_actor.items():
        zh, en = [], []
        back = [skew for _, skew in dated if skew < 0]
        ahead = [skew for _, skew in dated if skew > 0]
        if back:
            most = _span(min(back))
            zh.append(f"{len(back)} 条记录倒签（as_of 最多早于记录时间 {most[0]}）")
            en.append(f"{len(back)} back-dated (as_of up to {most[1]} before recorded_at)")
        if ahead:
            most = _span(max(ahead))
            zh.append(f"{len(ahead)} 条记录预签（as_of 最多晚于记录时间 {most[0]}）")
            en.append(f"{len(ahead)} forward-dated (as_of up to {most[1]} after recorded_at)")
        tolerance = f"{config.dated_tolerance_hours:g}"
        findings.append(
            Finding(
                "dated",
                actor,
                _t(
                    "；".join(zh) + f"（容差 {tolerance} 小时）",
                    "; ".join(en) + f" (tolerance {tolerance} h)",
                ),
                [seq for seq, _ in dated[:SEQS_SHOWN]],
                len(dated),
                f"--dated-beyond {tolerance}" + ("" if actor == "-" else f" --actor {shlex.quote(actor)}"),
            )
        )
    return findings


def _actors(db: sqlite3.Connection, config: ReviewConfig, drift_by_actor: dict[str, set[str]]) -> list[ActorRank]:
    high = _LEVEL[config.high_risk_from]
    stats = db.execute(
        """
        SELECT actor,
               SUM(type = 'decision'),
               SUM(type = 'confirmation'),
               COALESCE(SUM(type = 'confirmation' AND age >= ? AND risk >= ?), 0),
               COALESCE(SUM(ABS(skew) > ?), 0)
        FROM r WHERE actor IS NOT NULL AND type IN ('assessment', 'decision', 'confirmation') GROUP BY actor
        """,
        (config.elderly_age, high, config.dated_tolerance_hours * 3600),
    ).fetchall()
    ranks = []
    for actor, decisions, confirmations, elderly, dated in stats:
        rate = confirmations / decisions if decisions else 0.0
        drift = len(drift_by_actor.get(actor, ()))
        flags = []
        if decisions >= config.actor_min_decisions and rate > config.actor_confirmation_rate:
            limit = f"{config.actor_confirmation_rate:.0%}"
            flags.append(_t(f"客户坚持购买确认率 {rate:.0%} > {limit}", f"confirmation rate {rate:.0%} > {limit}"))
        if elderly >= config.actor_elderly_high_risk:
            flags.append(
                _t(
                    f"{elderly} 笔 {config.elderly_age} 岁及以上客户坚持购买高风险产品（≥ {config.actor_elderly_high_risk}）",
                    f"{elderly} high-risk sales confirmed by clients {config.elderly_age}+ (≥ {config.actor_elderly_high_risk})",
                )
            )
        if drift >= config.actor_retake_drift:
            flags.append(
                _t(
                    f"{drift} 名客户重新评估后风险等级上升（≥ {config.actor_retake_drift}）",
                    f"{drift} clients with upward retake drift (≥ {config.actor_retake_drift})",
                )
            )
        if dated >= config.actor_dated:
            flags.append(
                _t(
                    f"{dated} 条记录倒签或预签（≥ {config.actor_dated}）",
                    f"{dated} back- or forward-dated records (≥ {config.actor_dated})",
                )
            )
        seqs = [
            s
            for (s,) in db.execute(
                "SELECT seq FROM r WHERE actor = ? AND type = 'confirmation' ORDER BY seq LIMIT ?", (actor, SEQS_SHOWN)
            )
        ]
        ranks.append(ActorRank(actor, decisions, confirmations, rate, elderly, drift, dated, flags, seqs))
    ranks.sort(key=lambda a: (-len(a.flags), -a.rate, -a.retake_drift, a.actor))
    return ranks


def review_json(result: Review) -> str:
    """The review as JSON (for machines and tests)."""
    from dataclasses import asdict

    data = asdict(result)
    data["root"] = result.root.hex()
    return json.dumps(data, ensure_ascii=False, indent=2)
