"""The review report's figures: what a regulator reads about a decision log, with its evidence.

:func:`review` computes the report: it streams the rows (:func:`suitability.review.query.rows`)
once into a temporary SQLite file (on disk, so memory stays flat) and answers each figure with
SQL. Every figure keeps the ``seq`` of the records behind each of its numbers (the first
:data:`SEQS_SHOWN`, and how many in all), so a reviewer can go from a bar to the evidence.
"""

from __future__ import annotations

import json
import math
import shlex
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError, Problem
from ..log.checkpoint import Checkpoint
from ..log.store import LogStore
from ..policy import REASON_DIMENSIONS
from .query import RISK_LEVELS, row_instant, rows

if TYPE_CHECKING:
    from .stats import QuestionnaireStats

SEQS_SHOWN = 12
AGE_BANDS = ((0, 39, "<40"), (40, 59, "40-59"), (60, 64, "60-64"), (65, 69, "65-69"), (70, 200, "70+"))


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
    questionnaires: list[QuestionnaireStats] = field(default_factory=list)  # evidence per version (stats.py)


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
        recorded = row_instant(row["recorded_at"], row["seq"], "recorded_at")
        as_of = None if row["as_of"] is None else row_instant(row["as_of"], row["seq"], "as_of")
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
    from ..log.verify import verify

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
    from .stats import questionnaire_stats

    questionnaires = questionnaire_stats(store, window_days=config.retake_window_days)
    flagged_actors = [a for a in actors if a.flags]
    findings += [
        Finding(
            "actor",
            a.actor,
            _t("；".join(f["zh-CN"] for f in a.flags), "; ".join(f["en"] for f in a.flags)),
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
        questionnaires=questionnaires,
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
                _t(
                    f"R{risk} 产品在 C{p_profile} 时不适当，重新评估为 C{a_profile} 后适当",
                    f"an R{risk} product unsuitable at C{p_profile} became suitable after a retake to C{a_profile}",
                ),
                [p_seq, a_seq, d_seq],
                query=f"--client {shlex.quote(client)}",
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
