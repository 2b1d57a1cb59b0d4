"""Evidence that a questionnaire measures something: item statistics per questionnaire version, from the log.

:func:`questionnaire_stats` streams the log once and keeps only sums (exact integers), so a log of
any length is read in flat memory. For each version it reports, from the recorded answers:

- per question, the distribution of answers and the options nobody chose;
- per scored question, the **item-rest correlation**: Pearson's r between the item's score and the
  total score without the item (the "corrected item-total correlation"); below
  :data:`DISCRIMINATION_MIN` the question does not discriminate between clients (flagged);
- per dimension, **Cronbach's α** = k/(k−1) · (1 − Σ s²ᵢ / s²_X), with sample variances over
  the k scored items of the dimension and their sum X;
- the distribution of total scores, with **bunching** just above a band edge flagged: more totals
  in the :data:`EDGE_WIDTH` scores from the edge up than in those just below it, beyond what chance
  allows (an exact one-sided binomial test at p < :data:`BUNCHING_P`, and at least
  :data:`BUNCHING_RATIO` times as many) — a sign that answers were coached over the edge;
- **retake agreement**: of the clients assessed again within the window (on ``recorded_at``), how
  often the category stayed the same.

A question not asked (its ``enable_when`` did not hold) scores 0, as it does in the total; a
question whose options all score the same (a knock-out question) is not scored and has no
correlation. Formulas are the textbook's (e.g. Streiner & Norman, *Health Measurement Scales*).
"""

from __future__ import annotations

import json
import math
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .._passes import long_pass
from ..errors import DocumentError, IntegrityError, Problem, RegistryError
from ..i18n import Message
from ..log.store import LogStore
from ..questionnaire import CompiledQuestion, Questionnaire, in_units, load_questionnaire, points_text, step
from ..records import read_record
from .figures import SEQS_SHOWN
from .impact import category

#: An item-rest correlation below this flags a question that does not discriminate.
DISCRIMINATION_MIN = 0.2
#: How many scores on each side of a band edge are compared for bunching.
EDGE_WIDTH = 2
#: The one-sided binomial p-value below which bunching above an edge is flagged.
BUNCHING_P = 0.001
#: ... and how many times the count just below the count just above must be.
BUNCHING_RATIO = 1.5
#: The fewest totals around an edge for the bunching test to be run.
BUNCHING_MIN = 20


@dataclass
class QuestionStats:
    """One question: its answers, the options nobody chose, and how well it discriminates."""

    id: str
    dimension: str
    scored: bool
    answers: dict[str, int]
    not_asked: int
    unused: list[str]
    item_rest: float | None
    flags: list[str] = field(default_factory=list)


@dataclass
class DimensionStats:
    """Cronbach's α of a dimension's scored items (None with fewer than two, or no variance)."""

    dimension: str
    items: int
    alpha: float | None


@dataclass
class EdgeStats:
    """Totals just below and just above a band edge (the lowest score of ``profile``)."""

    profile: str
    edge: int | str  # a decimal document's edge as decimal text ("3.6")
    below: int
    above: int
    p_value: float | None
    flagged: bool


@dataclass
class QuestionnaireStats:
    """The statistics of one questionnaire version over the assessments recorded with it."""

    questionnaire: str
    assessments: int
    questions: list[QuestionStats]
    dimensions: list[DimensionStats]
    scores: dict[int, int] | dict[str, int]  # a decimal document's totals as decimal text
    edges: list[EdgeStats]
    window_days: int
    retakes: int
    retakes_changed: int
    retake_seqs: list[int]

    @property
    def retake_agreement(self) -> float | None:
        """The share of retakes whose category stayed the same (None without retakes)."""
        return None if not self.retakes else 1 - self.retakes_changed / self.retakes

    @property
    def flags(self) -> list[str]:
        """Every flag raised, one line each (English)."""
        return [m["en"] for m in self.flag_messages()]

    def flag_messages(self) -> list[Message]:
        """Every flag raised, one message each (to be shown in any language)."""
        out = [
            Message("question {id}: {flag}", id=q.id, flag=f)
            for q in self.questions
            for f in question_flags(q, self.assessments)
        ]
        out += [
            Message("bunching just above the {profile} edge ({edge}): {below} → {above}", profile=e.profile,
                    edge=e.edge, below=e.below, above=e.above)
            for e in self.edges
            if e.flagged
        ]  # fmt: skip
        return out

    def as_dict(self) -> dict[str, Any]:
        """The statistics as plain data (for JSON)."""
        data = asdict(self)
        data["retake_agreement"], data["flags"] = self.retake_agreement, self.flags
        return data


def question_flags(q: QuestionStats, assessments: int) -> list[Message]:
    """The flags of question ``q`` over ``assessments`` assessments: it does not discriminate, options nobody chose."""
    flags = []
    if q.item_rest is not None and q.item_rest < DISCRIMINATION_MIN:
        flags.append(
            Message(
                "does not discriminate (item-rest r = {r:.2f} < {minimum})", r=q.item_rest, minimum=DISCRIMINATION_MIN
            )
        )
    if q.unused and assessments:
        flags.append(Message("options nobody chose: {options}", options=", ".join(q.unused)))
    return flags


def stats_json(results: list[QuestionnaireStats]) -> str:
    """The statistics as JSON."""
    return json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=2)


def item_score(q: CompiledQuestion, raw: Any) -> int:
    """The score an answer contributes, as scoring computes it (0 for a question not asked)."""
    if raw is None:
        return 0
    if not q.multi:
        return q.scores[raw]
    values = [q.scores[o] for o in raw]
    score = max(values) if q.use_max else sum(values)
    return min(score, q.cap) if q.cap is not None else score


def binomial_tail(k: int, n: int) -> float:
    """P(X ≥ k) for X ~ Binomial(n, 1/2), exactly (integer sums of binomial coefficients)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    term = total = math.comb(n, k)
    for i in range(k, n):
        term = term * (n - i) // (i + 1)
        total += term
    tail: float = total / 2**n
    return tail


class _Sums:
    """The running sums of one questionnaire version: exact integers."""

    def __init__(self, q: Questionnaire) -> None:
        self.q = q
        self.n = 0
        self.scored = [len(set(c.scores.values())) > 1 for c in q.questions]
        k = len(q.questions)
        self.sx, self.sxx, self.sxt = [0] * k, [0] * k, [0] * k
        self.st = self.stt = 0
        dims = q.model.dimensions
        self.sd = dict.fromkeys(dims, 0)
        self.sdd = dict.fromkeys(dims, 0)
        self.options: list[Counter[str]] = [Counter() for _ in q.questions]
        self.not_asked = [0] * k
        self.scores: Counter[int] = Counter()

    def add(self, answers: dict[str, Any]) -> None:
        xs = []
        for i, c in enumerate(self.q.questions):
            raw = answers.get(c.id)
            if raw is None:
                self.not_asked[i] += 1
            else:
                self.options[i].update([raw] if isinstance(raw, str) else raw)
            xs.append(item_score(c, raw))
        total = sum(xs)
        self.n += 1
        self.st += total
        self.stt += total * total
        self.scores[self._scored_total(xs) if self.q.weights is not None else total] += 1
        dim_totals = dict.fromkeys(self.sd, 0)
        for i, (c, x) in enumerate(zip(self.q.questions, xs, strict=True)):
            self.sx[i] += x
            self.sxx[i] += x * x
            self.sxt[i] += x * total
            if self.scored[i]:
                dim_totals[c.dimension] += x
        for d, x in dim_totals.items():
            self.sd[d] += x
            self.sdd[d] += x * x

    def _scored_total(self, xs: list[int]) -> int:
        """The total the bands read (format 2: the weighted sum), in units of the total."""
        by_dimension = dict.fromkeys(self.q.model.dimensions, 0)
        for c, x in zip(self.q.questions, xs, strict=True):
            by_dimension[c.dimension] += x
        assert self.q.weights is not None
        return sum(w * v for w, v in zip(self.q.weights, by_dimension.values(), strict=True))

    def _edges(self) -> list[EdgeStats]:
        """Bunching at each band edge: the totals in the EDGE_WIDTH score steps (1 point for
        integer scores; the document's step with decimals) below the edge and from it up."""
        q = self.q
        total_unit = 10**q.total_places
        width = EDGE_WIDTH
        if q.places:
            width *= max(1, in_units(step(q.model, None, q.model.weights), total_unit))
        edges = []
        for band in q.model.bands[1:]:
            e = in_units(band.min, total_unit)
            below = sum(k for s, k in self.scores.items() if e - width <= s < e)
            above = sum(k for s, k in self.scores.items() if e <= s < e + width)
            p = binomial_tail(above, above + below) if above + below >= BUNCHING_MIN else None
            flagged = p is not None and p < BUNCHING_P and above >= BUNCHING_RATIO * below
            shown: int | str = points_text(e, q.total_places) if q.places else e
            edges.append(EdgeStats(band.profile, shown, below, above, p, flagged))
        return edges

    def result(self, window_days: int, retakes: int, changed: int, seqs: list[int]) -> QuestionnaireStats:
        n = self.n
        # n·(n−1)·s² as exact integers: the (n−1) and n factors cancel in every ratio below
        var_t = n * self.stt - self.st**2
        questions = []
        for i, c in enumerate(self.q.questions):
            doc = self.q.model.questions[i]
            var_x = n * self.sxx[i] - self.sx[i] ** 2
            cov_xt = n * self.sxt[i] - self.sx[i] * self.st
            cov_xr = cov_xt - var_x  # cov(x, T − x)
            var_r = var_t - 2 * cov_xt + var_x  # var(T − x)
            r = cov_xr / math.sqrt(var_x * var_r) if self.scored[i] and var_x > 0 and var_r > 0 else None
            counts = {o.id: self.options[i][o.id] for o in doc.options}
            unused = [o for o, k in counts.items() if k == 0]
            question = QuestionStats(c.id, c.dimension, self.scored[i], counts, self.not_asked[i], unused, r)
            question.flags = [f["en"] for f in question_flags(question, n)]
            questions.append(question)
        dimensions = []
        for d in self.q.model.dimensions:
            items = [i for i, c in enumerate(self.q.questions) if c.dimension == d and self.scored[i]]
            var_d = n * self.sdd[d] - self.sd[d] ** 2
            alpha = None
            if len(items) >= 2 and var_d > 0:
                k = len(items)
                item_vars = sum(n * self.sxx[i] - self.sx[i] ** 2 for i in items)
                alpha = k / (k - 1) * (1 - item_vars / var_d)
            dimensions.append(DimensionStats(d, len(items), alpha))
        edges = self._edges()
        return QuestionnaireStats(
            f"{self.q.id}@{self.q.version}",
            n,
            questions,
            dimensions,
            {points_text(s, self.q.total_places): k for s, k in sorted(self.scores.items())}
            if self.q.places
            else dict(sorted(self.scores.items())),
            edges,
            window_days,
            retakes,
            changed,
            seqs,
        )


class StatsPass:
    """The questionnaire statistics, fed one parsed record at a time in seq order.

    :func:`questionnaire_stats` feeds it from its own scan of the log; the report feeds it from the
    scan that loads its facts, so each record is read and parsed once for both.
    """

    def __init__(self, ref: str | None = None, *, window_days: int = 30) -> None:
        self.ref = ref
        self.window_days = window_days
        self._window = window_days * 86_400.0
        self._sums: dict[str, _Sums] = {}  # by questionnaire hash
        # per (version, client): the last assessment's time and category; entries older than the
        # window leave from the front (the log is in time order), so memory follows the window.
        self._last: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._retakes: Counter[str] = Counter()
        self._changed: Counter[str] = Counter()
        self._seqs: dict[str, list[int]] = {}

    def feed(self, seq: int, record: Any) -> None:
        """Take record ``seq`` (parsed).

        Raises:
            IntegrityError: it lacks a field the statistics need, or has one of the wrong shape.
        """
        try:
            self._feed(seq, record)
        except DocumentError as exc:  # a recorded questionnaire its own schema refuses: the log is damaged
            raise IntegrityError(
                f"record {seq} holds a questionnaire that cannot be read",
                [
                    Problem(p.message, f"/records/{seq}/document{p.pointer}", code="MALFORMED_RECORD")
                    for p in exc.problems
                ],
                seq=seq,
            ) from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise IntegrityError(
                f"record {seq} cannot be read for the questionnaire statistics",
                [Problem(f"expected a well-formed record, found {type(exc).__name__}: {exc}", f"/records/{seq}")],
                seq=seq,
            ) from None

    def _feed(self, seq: int, record: Any) -> None:
        if record["type"] == "artifact":
            ref = self.ref
            if record["kind"] == "questionnaire" and (ref is None or ref == f"{record['id']}@{record['version']}"):
                self._sums[record["hash"]] = _Sums(load_questionnaire(record["document"], f"record {seq}"))
            return
        if record["type"] != "assessment":
            return
        s = self._sums.get(record["questionnaire"]["hash"])
        if s is None:
            return
        s.add(record["answers"])
        client = record["result"]["client_id"]
        if client is None:
            return
        at = datetime.fromisoformat(record["recorded_at"]).timestamp()
        last = self._last
        while last and next(iter(last.values()))[0] < at - self._window:
            last.popitem(last=False)
        key = (record["questionnaire"]["hash"], client)
        now = category(record["result"])
        before = last.pop(key, None)
        if before is not None:
            self._retakes[key[0]] += 1
            if before[1] != now:
                self._changed[key[0]] += 1
                found = self._seqs.setdefault(key[0], [])
                if len(found) < SEQS_SHOWN:
                    found.append(seq)
        last[key] = (at, now)

    def results(self, location: str) -> list[QuestionnaireStats]:
        """The statistics of every version fed (of ``ref`` alone, when given).

        Raises:
            RegistryError: ``ref`` names no questionnaire version fed (the log at ``location`` has none).
        """
        if self.ref is not None and not self._sums:
            raise RegistryError(
                f"questionnaire {self.ref} is not recorded in {location}",
                [Problem(f"expected a questionnaire artifact {self.ref} in the log, found none", "/questionnaire")],
            )
        return [
            s.result(self.window_days, self._retakes[h], self._changed[h], self._seqs.get(h, []))
            for h, s in self._sums.items()
        ]


@long_pass()
def questionnaire_stats(
    store: LogStore,
    ref: str | None = None,
    *,
    window_days: int = 30,
    progress: Callable[[int], None] | None = None,
) -> list[QuestionnaireStats]:
    """The statistics of questionnaire ``ref`` (``id@version``), or of every version in the log.

    Raises:
        RegistryError: ``ref`` names no questionnaire version recorded in the log.
        IntegrityError: a record cannot be read (its seq is named).
    """
    stats = StatsPass(ref, window_days=window_days)
    for seq, data, _ in store.scan():
        if progress is not None and seq % 10_000 == 0:
            progress(seq)
        try:
            record = read_record(data)
        except ValueError as exc:  # not JSON, or not a record of a known type
            raise IntegrityError(
                f"record {seq} cannot be read for the questionnaire statistics",
                [Problem(f"expected a well-formed record, found {type(exc).__name__}: {exc}", f"/records/{seq}")],
                seq=seq,
            ) from None
        stats.feed(seq, record)
    return stats.results(store.location)
