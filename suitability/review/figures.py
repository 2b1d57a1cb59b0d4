"""The review report's figures: what a regulator reads about a decision log, with its evidence.

:func:`review` computes the report: it streams the rows (:func:`suitability.review.query.rows`)
once into a temporary SQLite file (on disk, so memory stays flat) and answers each figure with
SQL. Every figure keeps the ``seq`` of the records behind each of its numbers (the first
:data:`SEQS_SHOWN`, and how many in all), so a reviewer can go from a bar to the evidence.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..__about__ import __version__
from ..errors import InputError, Problem
from ..i18n import Message
from ..log.checkpoint import Checkpoint
from ..log.store import LogStore
from ..policy import FORMAT_2_REASONS, REASON_DIMENSIONS
from .query import ALL_REASON_CODES, LEVEL_ID, OUTCOMES, PROFILES, RISK_LEVELS, row_instant, rows

if TYPE_CHECKING:
    from .stats import QuestionnaireStats

SEQS_SHOWN = 12
AGE_BANDS = ((0, 39, "<40"), (40, 59, "40-59"), (60, 64, "60-64"), (65, 69, "65-69"), (70, 200, "70+"))
#: The time zones the report offers for its months (any IANA name is accepted).
TIME_ZONES = ("UTC", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei")


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
    from ..codec import read_json

    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a review config", [Problem("expected a JSON object", source=str(path))])
    problems = config_problems(data, str(path))
    if problems:
        raise InputError(f"{path} is not a valid review config", problems)
    return ReviewConfig(**data)


@dataclass
class Cell:
    """One number of a figure and the records behind it.

    ``query`` is the ``audit query`` arguments that list exactly these ``count`` records ("" when
    no filter selects them alone).
    """

    label: str
    count: int
    seqs: list[int]
    series: str = ""
    query: str = ""


@dataclass
class Figure:
    """A chart or table of the report.

    ``kind`` says how it is drawn: ``bars`` (one bar a cell), ``stacked`` (one bar a label, its
    series stacked, with a legend), ``months`` (stacked bars by month) or ``heatmap`` (label ×
    series grid). ``series_kind`` names what the series are (``profile``, ``outcome``…), which
    fixes their colours across every chart. ``total`` counts the distinct records behind the
    figure: what ``query`` lists.
    """

    key: str
    title: Message
    cells: list[Cell]
    note: Message | None = None
    query: str = ""
    kind: str = "bars"
    series_kind: str = ""
    label_kind: str = ""
    total: int = 0


@dataclass
class Finding:
    """Something the report flags for a reviewer (a retaker, an actor, a flipped decision, dated records).

    ``seqs`` lists the records behind it (at most :data:`SEQS_SHOWN` when ``count`` says there are more).
    ``query`` lists exactly those ``count`` records when ``exact``; otherwise it lists the records of
    the client or actor concerned, a superset.
    """

    kind: str
    subject: str
    detail: Message
    seqs: list[int]
    count: int = 0
    query: str = ""  # the `audit query` arguments that list every record behind it
    exact: bool = False

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
    flags: list[Message]
    seqs: list[int]


@dataclass
class Review:
    """Everything the report shows, and what it covers.

    ``first_bad_seq`` is the first record a failed check names (as ``audit verify`` does);
    ``period`` the first and last ``recorded_at``; ``documents`` the questionnaire and policy
    versions recorded in the log (``kind id@version``); ``tz`` the time zone of its months.
    """

    size: int
    root: bytes
    verified: bool
    integrity: list[tuple[int, str, str, str]]  # number, name, status, detail
    checkpoints: list[tuple[str, int]]
    figures: list[Figure]
    findings: list[Finding]
    actors: list[ActorRank]
    config: ReviewConfig
    first_bad_seq: int | None = None
    period: tuple[str, str] | None = None
    generated_at: str = ""
    version: str = __version__
    documents: list[str] = field(default_factory=list)
    tz: str = "UTC"
    questionnaires: list[QuestionnaireStats] = field(default_factory=list)  # evidence per version (stats.py)


# ``at`` is the store's clock (recorded_at), which windows, months and drift checks use, since a
# caller chooses ``as_of``; ``skew`` is as_of - recorded_at in seconds. Times are UTC, fixed width;
# ``month`` is the month of ``at`` in the report's time zone. ``plabel`` and ``rlabel`` are the
# profile and risk level as recorded (C3, RT3, SRI6…), which the figures show and count by;
# ``profile`` and ``risk`` are their numbers 1-5 on the default C/R scale only (None on any other),
# which the drift, flip and high-risk checks compare. ``plevels``/``rlevels`` order the labels
# (:class:`_Scales`).
_SCHEMA = """
CREATE TABLE r (seq INTEGER PRIMARY KEY, type TEXT, at TEXT, as_of TEXT, skew REAL, client TEXT, actor TEXT,
                product TEXT, risk INTEGER, profile INTEGER, lowest INTEGER, outcome TEXT, initiated_by TEXT,
                age INTEGER, refers_to INTEGER, month TEXT, plabel TEXT, rlabel TEXT);
CREATE TABLE reasons (seq INTEGER, code TEXT);
CREATE TABLE plevels (label TEXT PRIMARY KEY, scale INTEGER, ord INTEGER);
CREATE TABLE rlevels (label TEXT PRIMARY KEY, scale INTEGER, ord INTEGER);
"""
_UTC_TEXT = "%Y-%m-%dT%H:%M:%S.%fZ"
_LEVEL = {level: i for i, level in enumerate(RISK_LEVELS, start=1)}
_PROFILE = {profile: i for i, profile in enumerate(PROFILES, start=1)}
_DIGITS = re.compile(r"([0-9]+)")


def _natural(label: str) -> tuple[tuple[int, int, str], ...]:
    """``label``'s natural sort key (SRI2 before SRI10)."""
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part) for part in _DIGITS.split(label) if part)


class _Scales:
    """The order of the profiles and of the risk levels a log records, from the documents it records.

    A label's place is its position in the first recorded document that lists it (a policy's
    ``profiles`` and ``risk_levels``, a format-2 questionnaire's ``scale.levels``), each document's
    levels one scale; the default C1-C5/R1-R5 scale comes first; a label no recorded document lists
    comes last, in natural order (SRI2 before SRI10). Scales keep apart: a figure groups its labels
    by scale, each scale in its own order.
    """

    def __init__(self) -> None:
        self.profiles: dict[str, tuple[int, int]] = {label: (0, i) for i, label in enumerate(_PROFILE)}
        self.levels: dict[str, tuple[int, int]] = {label: (0, i) for i, label in enumerate(_LEVEL)}
        self.scales = 1

    def note(self, record: Any) -> None:
        """Take the levels of an artifact record's document (anything else is ignored)."""
        document = record.get("document") if record.get("type") == "artifact" else None
        if not isinstance(document, dict):
            return
        if record.get("kind") == "policy":
            self._add(self.profiles, document.get("profiles"))
            self._add(self.levels, document.get("risk_levels"))
        elif record.get("kind") == "questionnaire":
            scale = document.get("scale")
            levels = scale.get("levels") if isinstance(scale, dict) else None
            if isinstance(levels, list):
                self._add(self.profiles, [level.get("id") if isinstance(level, dict) else None for level in levels])

    def _add(self, known: dict[str, tuple[int, int]], labels: Any) -> None:
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            return
        new = [label for label in labels if label not in known]
        if not new:
            return
        for label in new:
            known[label] = (self.scales, labels.index(label))
        self.scales += 1

    def store(self, db: sqlite3.Connection) -> None:
        """Write the place of every label the rows hold into ``plevels`` and ``rlevels``."""
        for table, column, known in (("plevels", "plabel", self.profiles), ("rlevels", "rlabel", self.levels)):
            found = [label for (label,) in db.execute(f"SELECT DISTINCT {column} FROM r WHERE {column} IS NOT NULL")]
            unknown = sorted((label for label in found if label not in known), key=_natural)
            places = [(label, *known[label]) for label in found if label in known]
            places += [(label, self.scales, i) for i, label in enumerate(unknown)]
            db.executemany(f"INSERT INTO {table} VALUES (?,?,?)", places)


DIMENSIONS = {**REASON_DIMENSIONS, **{code: dim for code, (dim, _) in FORMAT_2_REASONS.items()}}
OUTCOME_ORDER = ("suitable", "requires_confirmation", "blocked")


def zone(name: str) -> ZoneInfo:
    """The time zone ``name`` (IANA, e.g. ``Asia/Shanghai``).

    Raises:
        InputError: no such time zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {name!r}",
            [Problem(f"expected an IANA time zone such as {', '.join(TIME_ZONES)}, found {name!r}", "--tz")],
        ) from None


def _load(
    db: sqlite3.Connection,
    store: LogStore,
    progress: Callable[[int], None] | None,
    tz: ZoneInfo,
    each: Callable[[int, Any], None] | None = None,
) -> list[str]:
    """Load the rows (``each`` gets every record as parsed, see :func:`rows`); return the
    questionnaire and policy versions recorded (``kind id@version``)."""
    batch: list[tuple[Any, ...]] = []
    reasons: list[tuple[int, str]] = []
    documents: list[str] = []
    scales = _Scales()

    def feed(seq: int, record: Any) -> None:
        if record["type"] == "artifact":
            scales.note(record)
        if each is not None:
            each(seq, record)

    for row in rows(store, progress=progress, each=feed):
        recorded = row_instant(row["recorded_at"], row["seq"], "recorded_at")
        as_of = None if row["as_of"] is None else row_instant(row["as_of"], row["seq"], "as_of")
        if row["type"] == "artifact" and str(row["product"]).split(" ")[0] in ("questionnaire", "policy"):
            documents.append(row["product"])
        batch.append(
            (
                row["seq"],
                row["type"],
                recorded.astimezone(UTC).strftime(_UTC_TEXT),
                None if as_of is None else as_of.astimezone(UTC).strftime(_UTC_TEXT),
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
                recorded.astimezone(tz).strftime("%Y-%m"),
                row["profile"],
                row["risk_level"],
            )
        )
        reasons += [(row["seq"], code) for code in row["reasons"]]
        if len(batch) >= 10_000:
            db.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
            db.executemany("INSERT INTO reasons VALUES (?,?)", reasons)
            batch, reasons = [], []
    db.executemany("INSERT INTO r VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
    db.executemany("INSERT INTO reasons VALUES (?,?)", reasons)
    db.execute("CREATE INDEX r_type ON r(type, client, at)")
    db.execute("CREATE INDEX reasons_seq ON reasons(seq, code)")
    db.execute("CREATE INDEX r_actor ON r(actor, type)")
    scales.store(db)
    return sorted(set(documents))


def _cells(
    db: sqlite3.Connection, sql: str, params: Sequence[Any] = (), query: Callable[..., str] | None = None
) -> list[Cell]:
    """Run ``sql`` returning (label, seq[, series[, key…]]); group into cells with counts and first seqs.

    ``query(label, series, *keys)`` gives each cell the ``audit query`` arguments that list it.
    """
    # A cell is one (series, label) *and* one set of keys: labels are recorded text, and two rows whose
    # keys differ (a tampered profile "C1 (lowest)" beside a lowest C1) are never counted under one
    # query that lists only the first's.
    found: dict[tuple[Any, ...], Cell] = {}
    for row in db.execute(sql, params):
        label, seq = str(row[0]), int(row[1])
        series = str(row[2]) if len(row) > 2 else ""
        key = (series, label, *row[3:])
        cell = found.get(key)
        if cell is None:
            cell = found[key] = Cell(label, 0, [], series)
            if query is not None:
                cell.query = query(label, series, *row[3:])
        cell.count += 1
        if len(cell.seqs) < SEQS_SHOWN:
            cell.seqs.append(seq)
    return list(found.values())


def _total(db: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    return int(db.execute(f"SELECT COUNT(DISTINCT seq) FROM ({sql})", params).fetchone()[0])


def review(
    store: LogStore,
    config: ReviewConfig | None = None,
    checkpoints: Sequence[tuple[Checkpoint, str]] = (),
    *,
    progress: Callable[[int], None] | None = None,
    tz: str = "UTC",
    now: datetime | None = None,
    jobs: int = 1,
) -> Review:
    """Verify ``store``, then compute every figure, finding and ranking of the report.

    Months are counted in the time zone ``tz`` (an IANA name; UTC by default). ``jobs`` processes
    verify ranges of the log side by side (see :func:`suitability.log.verify.verify`): the report is
    the same for any number.

    Raises:
        InputError: an unknown time zone.
    """
    from ..log.verify import verify

    config = config or ReviewConfig()
    where = zone(tz)
    report = verify(store, checkpoints, jobs=jobs)
    integrity = [
        (
            c.number,
            c.name,
            "skip" if c.skipped else "ok" if c.ok else "FAIL",
            f"seq {c.seq}: {c.failure.message}"
            if c.failure and c.seq is not None
            else c.failure.message
            if c.failure
            else "",
        )
        for c in report.checks
    ]
    first_bad = min((c.seq for c in report.checks if c.failure and c.seq is not None), default=None)
    with tempfile.TemporaryDirectory(prefix="suitability-review-") as folder:
        db = sqlite3.connect(Path(folder) / "facts.sqlite3")
        db.executescript(_SCHEMA)
        from .stats import StatsPass

        stats = StatsPass(window_days=config.retake_window_days)  # fed by the same pass: each record read once
        documents = _load(db, store, progress, where, stats.feed)
        first, last = db.execute("SELECT MIN(at), MAX(at) FROM r").fetchone()
        figures = _figures(db, config, where)
        findings, drift_by_actor = _findings(db, config)
        actors = _actors(db, config, drift_by_actor)
        db.close()
    questionnaires = stats.results(store.location)
    flagged_actors = [a for a in actors if a.flags]
    findings += [
        Finding(
            "actor",
            a.actor,
            Message("{flags}", flags=a.flags),
            a.seqs,
            max(len(a.seqs), a.confirmations),
            query=f"--actor {shlex.quote(a.actor)}",
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
        first_bad_seq=first_bad,
        period=(first, last) if first else None,
        generated_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        documents=documents,
        tz=tz,
        questionnaires=questionnaires,
    )


def _month_bounds(month: str, tz: ZoneInfo) -> str:
    """``--since``/``--until`` for the month ``YYYY-MM`` in ``tz`` (instants with its offset)."""
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=tz)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)
    if tz.key == "UTC":
        return f"--since {month} --until {end:%Y-%m}"
    return f"--since {start.isoformat(timespec='minutes')} --until {end.isoformat(timespec='minutes')}"


#: What each filter of ``audit query`` takes (:func:`_filters`).
_FILTERABLE: dict[str, Callable[[Any], bool]] = {
    "type": lambda value: True,  # the report's own constants
    "profile": lambda value: isinstance(value, str) and LEVEL_ID.fullmatch(value) is not None,
    "risk-level": lambda value: isinstance(value, str) and LEVEL_ID.fullmatch(value) is not None,
    "outcome": lambda value: value in OUTCOMES,
    "reason": lambda value: value in ALL_REASON_CODES,
}


def _filters(*given: tuple[str, Any]) -> str:
    """The ``audit query`` arguments ``--flag value`` of ``given``, each value quoted for a shell; ""
    when a value is one its filter does not take (recorded text of a tampered log, such as an outcome
    ``suitable;rm -rf ~``): no filter selects those records, and the text never reaches a shell."""
    if not all(_FILTERABLE[flag](value) for flag, value in given):
        return ""
    return " ".join(f"--{flag} {shlex.quote(value)}" for flag, value in given)


def _profile_query(profile: str | None, lowest: Any) -> str:
    """The ``audit query`` arguments of the assessments of ``profile`` in (or out of) the lowest
    category, or "" for those of no profile (not eligible), which no filter selects alone."""
    if profile is None:
        return ""
    query = _filters(("type", "assessment"), ("profile", profile))
    return query and query + (" --lowest-category" if lowest else " --not-lowest-category")


#: The label of an assessment's profile: as recorded, "(lowest)" for the lowest category, and
#: ``not eligible`` for a format-2 stop outcome (no profile).
NOT_ELIGIBLE = "not eligible"
_PROFILE_LABEL = (
    f"CASE WHEN plabel IS NULL THEN '{NOT_ELIGIBLE}' WHEN lowest = 1 THEN plabel || ' (lowest)' ELSE plabel END"
)
# Joins giving each row its profile's (p) and risk level's (v) place; the figures order by them.
_PLACES = "LEFT JOIN plevels p ON p.label = r.plabel LEFT JOIN rlevels v ON v.label = r.rlabel"


def _figures(db: sqlite3.Connection, config: ReviewConfig, tz: ZoneInfo) -> list[Figure]:
    bands = " ".join(f"WHEN age BETWEEN {lo} AND {hi} THEN '{name}'" for lo, hi, name in AGE_BANDS)
    band_sql = f"CASE {bands} ELSE 'unknown' END"
    band_order = f"CASE {' '.join(f'WHEN age BETWEEN {lo} AND {hi} THEN {i}' for i, (lo, hi, _) in enumerate(AGE_BANDS))} ELSE 99 END"
    profile_label = _PROFILE_LABEL
    profile_order = "plabel IS NULL, p.scale, lowest DESC, p.ord"
    outcome_order = "CASE outcome WHEN 'suitable' THEN 0 WHEN 'requires_confirmation' THEN 1 ELSE 2 END"
    decisions_reasons = "FROM reasons x JOIN r ON r.seq = x.seq"
    figures: list[tuple[Figure, str, Sequence[Any]]] = []

    def add(figure: Figure, sql: str, params: Sequence[Any] = (), query: Callable[..., str] | None = None) -> None:
        figure.cells = _cells(db, sql, params, query)
        figures.append((figure, sql, params))

    add(
        Figure(
            "profiles",
            Message("Profile distribution (C1–C5 and lowest category)"),
            [],
            query="--type assessment",
            series_kind="profile",
            label_kind="profile",
        ),
        f"SELECT {profile_label}, seq, {profile_label}, plabel, lowest FROM r {_PLACES} "
        f"WHERE type = 'assessment' ORDER BY {profile_order}, seq",
        query=lambda label, series, profile, lowest: _profile_query(profile, lowest),
    )
    add(
        Figure(
            "profiles_by_month",
            Message("Profiles by month ({tz})", tz=tz.key),
            [],
            query="--type assessment",
            kind="months",
            series_kind="profile",
        ),
        f"SELECT month, seq, {profile_label}, plabel, lowest FROM r {_PLACES} "
        f"WHERE type = 'assessment' ORDER BY month, {profile_order}, seq",
        query=lambda month, series, profile, lowest: (
            f"{query} {_month_bounds(month, tz)}" if (query := _profile_query(profile, lowest)) else ""
        ),
    )
    add(
        Figure(
            "outcomes_by_risk",
            Message("Outcomes by product risk level"),
            [],
            query="--type decision",
            kind="stacked",
            series_kind="outcome",
        ),
        f"SELECT rlabel, seq, outcome FROM r {_PLACES} WHERE type = 'decision' "
        f"ORDER BY v.scale, v.ord, {outcome_order}, seq",
        query=lambda label, outcome: _filters(("type", "decision"), ("risk-level", label), ("outcome", outcome)),
    )
    add(
        Figure(
            "outcomes_by_profile_and_risk",
            Message("Outcomes by client profile × product risk level"),
            [],
            query="--type decision",
            kind="heatmap",
            series_kind="outcome",
        ),
        f"SELECT plabel || ' × ' || rlabel, seq, outcome, plabel, rlabel FROM r {_PLACES} "
        f"WHERE type = 'decision' AND plabel IS NOT NULL AND rlabel IS NOT NULL "
        f"ORDER BY p.scale, p.ord, v.scale, v.ord, {outcome_order}, seq",
        query=lambda label, outcome, profile, risk: _filters(
            ("type", "decision"), ("profile", profile), ("risk-level", risk), ("outcome", outcome)
        ),
    )
    add(
        Figure(
            "mismatch_by_dimension",
            Message("Mismatch reasons by dimension"),
            [],
            query="",
            series_kind="dimension",
            label_kind="reason",
        ),
        "SELECT code, x.seq, CASE code "
        + " ".join(f"WHEN '{code}' THEN '{dim}'" for code, dim in DIMENSIONS.items())
        + f" END {decisions_reasons} WHERE r.type = 'decision' ORDER BY 3, 1, x.seq",
        query=lambda code, dimension: _filters(("type", "decision"), ("reason", code)),
    )
    add(
        Figure(
            "confirmations_by_actor",
            Message("Confirmations (client-insisted purchases) by actor"),
            [],
            query="--type confirmation",
        ),
        "SELECT COALESCE(actor, '-'), seq FROM r WHERE type = 'confirmation' ORDER BY 1, seq",
        query=lambda actor, series: "" if actor == "-" else f"--type confirmation --actor {shlex.quote(actor)}",
    )
    add(
        Figure(
            "confirmations_by_risk",
            Message("Confirmations by product risk level"),
            [],
            query="--type confirmation",
            series_kind="risk",
            label_kind="risk",
        ),
        f"SELECT rlabel, seq, rlabel FROM r {_PLACES} WHERE type = 'confirmation' AND rlabel IS NOT NULL "
        "ORDER BY v.scale, v.ord, seq",
        query=lambda label, series: _filters(("type", "confirmation"), ("risk-level", label)),
    )
    add(
        Figure(
            "confirmations_by_age",
            Message("Confirmations by age band"),
            [],
            query="--type confirmation",
            label_kind="age_band",
        ),
        f"SELECT {band_sql}, seq FROM r WHERE type = 'confirmation' ORDER BY {band_order}, seq",
    )
    add(
        Figure(
            "special_care",
            Message("Clients insisting after a special-care warning (SPECIAL_CARE_REQUIRED), by actor"),
            [],
            note=Message(
                "Special duty of care (NFRA 2025): the policy's age and risk level at the time of the sale; "
                "the actor ranking below counts clients {age} or older buying {risk} or above.",
                age=config.elderly_age,
                risk=config.high_risk_from,
            ),
            query="--type confirmation --reason SPECIAL_CARE_REQUIRED",
        ),
        "SELECT COALESCE(r.actor, '-'), r.seq FROM r JOIN reasons x ON x.seq = r.seq "
        "WHERE r.type = 'confirmation' AND x.code = 'SPECIAL_CARE_REQUIRED' ORDER BY 1, r.seq",
        query=lambda actor, series: (
            "" if actor == "-" else f"--type confirmation --reason SPECIAL_CARE_REQUIRED --actor {shlex.quote(actor)}"
        ),
    )
    add(
        Figure(
            "blocked",
            Message("Blocked attempts, by reason"),
            [],
            note=Message(
                "Lowest-category clients and firm-initiated mismatches first; a decision blocked for several "
                "reasons counts under each."
            ),
            query="--type decision --outcome blocked",
            series_kind="dimension",
            label_kind="reason",
        ),
        "SELECT code, x.seq, CASE code "
        + " ".join(f"WHEN '{code}' THEN '{dim}'" for code, dim in DIMENSIONS.items())
        + f" END {decisions_reasons} WHERE r.type = 'decision' AND r.outcome = 'blocked' "
        "ORDER BY code <> 'LOWEST_CATEGORY', code <> 'FIRM_INITIATED_MISMATCH', code, x.seq",
        query=lambda code, dimension: _filters(("type", "decision"), ("outcome", "blocked"), ("reason", code)),
    )
    for figure, sql, params in figures:
        figure.total = _total(db, sql, params)
    return [figure for figure, _, _ in figures]


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
                Message(
                    "retook the questionnaire within {days} days, profile rising C{first} → C{last} (score gaming?)",
                    days=window,
                    first=first,
                    last=last,
                ),
                seqs,
                query=f"--client {shlex.quote(client)} --type assessment",
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
                Message(
                    "an R{risk} product unsuitable at C{before} became suitable after a retake to C{after}",
                    risk=risk,
                    before=p_profile,
                    after=a_profile,
                ),
                [p_seq, a_seq, d_seq],
                query=f"--client {shlex.quote(client)}",
            )
        )
    return findings + _dated(db, config), drift_by_actor


def _span(seconds: float) -> Message:
    hours = abs(seconds) / 3600
    if hours < 48:
        return Message("{n:.1f} h", n=hours)
    return Message("{n:.1f} days", n=hours / 24)


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
        parts = []
        back = [skew for _, skew in dated if skew < 0]
        ahead = [skew for _, skew in dated if skew > 0]
        if back:
            parts.append(
                Message("{n} back-dated (as_of up to {span} before recorded_at)", n=len(back), span=_span(min(back)))
            )
        if ahead:
            parts.append(
                Message(
                    "{n} forward-dated (as_of up to {span} after recorded_at)", n=len(ahead), span=_span(max(ahead))
                )
            )
        tolerance = f"{config.dated_tolerance_hours:g}"
        findings.append(
            Finding(
                "dated",
                actor,
                Message("{parts} (tolerance {hours} h)", parts=parts, hours=tolerance),
                [seq for seq, _ in dated[:SEQS_SHOWN]],
                len(dated),
                f"--dated-beyond {tolerance}" + ("" if actor == "-" else f" --actor {shlex.quote(actor)}"),
                exact=actor != "-",
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
            flags.append(Message("confirmation rate {rate:.0%} > {limit}", rate=rate, limit=limit))
        if elderly >= config.actor_elderly_high_risk:
            flags.append(
                Message(
                    "{n} high-risk sales confirmed by clients {age}+ (≥ {limit})",
                    n=elderly,
                    age=config.elderly_age,
                    limit=config.actor_elderly_high_risk,
                )
            )
        if drift >= config.actor_retake_drift:
            flags.append(
                Message("{n} clients with upward retake drift (≥ {limit})", n=drift, limit=config.actor_retake_drift)
            )
        if dated >= config.actor_dated:
            flags.append(Message("{n} back- or forward-dated records (≥ {limit})", n=dated, limit=config.actor_dated))
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
    return json.dumps(
        data, ensure_ascii=False, indent=2, default=lambda m: m.all() if isinstance(m, Message) else str(m)
    )
