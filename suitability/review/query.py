"""Query rows of a decision log: one flat row per record, and the filters a reviewer uses.

:func:`rows` streams one flat row per record (who, what, when, the outcome and its reasons), with
the facts a reviewer filters on joined in from the records it refers to (a decision's profile from
its assessment, a confirmation's product from its decision) through a bounded cache, so a log of
any length is read in constant memory. :func:`query` filters them. A record the rows cannot be
read from is an :class:`~suitability.errors.IntegrityError` naming its seq.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from .._passes import long_pass
from ..errors import InputError, IntegrityError, Problem
from ..log.store import RECORD_TYPES, LogStore
from ..models import age_on
from ..policy import FORMAT_2_REASONS, REASON_CODES
from ..records import Record, UnknownRecord, read_record

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


#: The values a row's ``outcome`` takes (decisions, confirmations, assessments).
OUTCOMES = ("suitable", "requires_confirmation", "blocked", "confirmed", "assessed", "inconsistent", "rechecked")


RISK_LEVELS = ("R1", "R2", "R3", "R4", "R5")


PROFILES = ("C1", "C2", "C3", "C4", "C5")


#: A level id of any scale (a profile or a risk level of a format-2 document: RT3, SRI6…), the
#: schemas' pattern: what ``--profile`` and ``--risk-level`` accept beside the default scale's.
LEVEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}")


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
    except (ValueError, OverflowError):  # an offset that carries the instant past year 1 or 9999
        pass
    raise ValueError(f"expected {TIME_FORMS}; found {text!r}")


#: Every reason code a decision may carry: format 1's, and those format-2 policies add.
ALL_REASON_CODES = (*REASON_CODES, *FORMAT_2_REASONS)


def reason_values(rule_ids: Iterable[str] = ()) -> list[str]:
    """What ``--reason`` accepts: every reason code, and the rule ids given (of the known questionnaires)."""
    return [*ALL_REASON_CODES, *sorted(set(rule_ids))]


def row_instant(text: Any, seq: int, name: str) -> datetime:
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
    return age_on(date.fromisoformat(birth), datetime.fromisoformat(at).date())


def rows(
    store: LogStore,
    *,
    progress: Callable[[int], None] | None = None,
    each: Callable[[int, Record], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield one flat row per record, in order (see :data:`ROW_FIELDS`).

    ``each(seq, record)``, when given, also gets every record as parsed, before its row is yielded:
    another pass over the log (the report's questionnaire statistics) rides on this one.

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
            record = _read(seq, data)
            row = _checked(seq, record, lookup)
            if each is not None:
                each(seq, record)
            recent[seq] = row
            if len(recent) > 20_000:
                recent.popitem(last=False)
            if progress is not None and seq % 10_000 == 0:
                progress(seq)
            yield row


def _checked_row(seq: int, data: bytes, lookup: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    return _checked(seq, _read(seq, data), lookup)


def _read(seq: int, data: bytes) -> Record:
    try:
        return read_record(data)
    except orjson.JSONDecodeError as exc:
        raise IntegrityError(
            f"record {seq} is not JSON", [Problem(str(exc), code="MALFORMED_RECORD")], seq=seq
        ) from None
    except UnknownRecord as exc:
        raise _malformed(seq, exc.value, exc) from None


def _checked(seq: int, record: Record, lookup: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
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


def _row(seq: int, record: Record, lookup: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    recorded = record["recorded_at"]
    row.update(seq=seq, type=record["type"], recorded_at=recorded, reasons=[])
    if record["type"] == "artifact":
        row["product"] = f"{record['kind']} {record['id']}@{record['version']}"
    elif record["type"] == "assessment":
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
    elif record["type"] == "decision":
        result = record["result"]
        assessed = lookup(_earlier(record["assessment_seq"], "assessment_seq", seq))
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
    elif record["type"] == "recheck":
        # what the firm looked at and found: the reason codes of every finding, once each
        codes = [code for finding in record["findings"] for code in finding["codes"]]
        row.update(
            as_of=record["as_of"],
            actor=record.get("actor"),
            outcome="rechecked",
            reasons=list(dict.fromkeys(codes)),
        )
    else:
        decided = lookup(_earlier(record["decision_seq"], "decision_seq", seq))
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
    # Rows feed tables, CSV and SQL: a value of the wrong shape is refused here, not deep inside them.
    for name in _TEXT:
        if row[name] is not None and type(row[name]) is not str:
            raise TypeError(name)
    if not all(type(code) is str for code in row["reasons"]):
        raise TypeError("reasons")
    return row


def _earlier(ref: Any, name: str, seq: int) -> int:
    """The seq a record refers to by ``name`` (``ref``), which must be an earlier record's."""
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

    ``lowest_category`` keeps rows of clients in (True) or out of (False) the lowest category.
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
    lowest_category: bool | None = None
    _bounds: tuple[datetime | None, datetime | None] = field(default=(None, None), init=False, repr=False)

    def __post_init__(self) -> None:
        problems = []
        for name, levels in (("risk_level", RISK_LEVELS), ("profile", PROFILES)):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and LEVEL_ID.fullmatch(value)):
                problems.append(
                    Problem(
                        f"expected one of {', '.join(levels)} or a level id of another scale (RT3, SRI6…), "
                        f"found {value!r}",
                        f"/{name}",
                    )
                )
        for name, allowed in (
            ("outcome", OUTCOMES),
            ("type", RECORD_TYPES),
            ("time", TIMES),
        ):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                problems.append(Problem(f"expected one of {', '.join(allowed)}, found {value!r}", f"/{name}"))
        if self.reason is not None and self.reason not in ALL_REASON_CODES and not _RULE_ID.fullmatch(self.reason):
            problems.append(
                Problem(
                    f"expected a reason code ({', '.join(ALL_REASON_CODES)}) or a rule id, found {self.reason!r}",
                    "/reason",
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
        if self.lowest_category is not None and bool(row["lowest_category"]) != self.lowest_category:
            return False
        if self.dated_beyond_hours is not None and not self._dated(row, self.dated_beyond_hours * 3600):
            return False
        since, until = self._bounds
        if since is None and until is None:
            return True
        name = "recorded_at" if self.time == "recorded" else "as_of"
        if row[name] is None:
            return False
        at = row_instant(row[name], row["seq"], name)
        return (since is None or at >= since) and (until is None or at < until)

    @staticmethod
    def _dated(row: dict[str, Any], limit: float) -> bool:
        if row["as_of"] is None:
            return False
        recorded = row_instant(row["recorded_at"], row["seq"], "recorded_at")
        return abs((row_instant(row["as_of"], row["seq"], "as_of") - recorded).total_seconds()) > limit


def query(
    store: LogStore, flt: QueryFilter, *, progress: Callable[[int], None] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the rows of ``store`` that pass ``flt``, streaming."""
    return (row for row in rows(store, progress=progress) if flt.matches(row))


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
    "recheck": {
        "recorded_at": str,
        "as_of": str,
        "actor?": _OPT_TEXT,
        "findings": [{"codes": [str]}],
    },
    "confirmation": {
        "recorded_at": str,
        "confirmed_at": str,
        "actor": str,
        "decision_seq": int,
        "result": {"warning_codes": [str]},
    },
}
