"""Questionnaire documents: model, complete validation, and compilation for fast scoring.

A questionnaire arrives as parsed JSON. :func:`load_questionnaire` checks it against the published
schema, then runs the checks a schema cannot express (design §2): unique ids, references,
``enable_when`` order, band coverage of every reachable score, knockout placement, rule and
derivation references. Each of these is one checker in :data:`CHECKS`; every problem is
collected and raised at once as a :class:`~suitability.errors.DocumentError`, each with its JSON
Pointer.

A valid document is compiled once into tuples and closures (:class:`Questionnaire`), so scoring
never re-reads or re-validates the document.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from . import conditions
from ._schema import Check, item_by_item, validated
from .codec import content_hash
from .conditions import exact_decimal, places
from .errors import DocumentError, Problem, pointer
from .models import PROFILES, Assumed, ConsistencyViolation, DocumentRef, LevelId, LocalizedText, RuleFired

Status = Literal["draft", "active", "retired"]


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OptionDoc(_Doc):
    """One answer option and its score (format 2: ``exclusive`` in a multi-select, such as "none of
    the above", and ``enable_when``, the option offered only when it holds)."""

    id: str
    text: LocalizedText
    score: int | float  # format 2: a decimal such as 2.5, read exactly as printed
    knockout: Literal["lowest_category"] | None = None
    exclusive: bool = False
    enable_when: dict[str, Any] | None = None


class RangeDoc(_Doc):
    """Format 2: a numeric answer of at least ``at_least`` (up to the next range's) scores ``score``."""

    at_least: int | float
    score: int | float


class QuestionDoc(_Doc):
    """One question as written in the document."""

    id: str
    dimension: str
    # level: format 2's client choice of a more prudent level; number: format 2's typed number
    type: Literal["single", "multi", "level", "number"]
    required: bool = True
    text: LocalizedText
    help: LocalizedText | None = None
    options: list[OptionDoc] = []
    aggregate: Literal["sum", "max"] | None = None
    cap: int | float | None = None
    enable_when: dict[str, Any] | None = None
    unit: LocalizedText | None = None
    min: int | float | None = None
    max: int | float | None = None
    ranges: list[RangeDoc] = []


class BandDoc(_Doc):
    """The scores ``min``..``max`` (inclusive) that give ``profile``."""

    profile: LevelId
    min: int | float
    max: int | float
    name: LocalizedText | None = None


class RuleDoc(_Doc):
    """A cap: when ``when`` holds, the profile is at most ``cap`` (format 2: or ``lower_by`` levels lower)."""

    id: str
    when: dict[str, Any]
    cap: LevelId | None = None
    lower_by: int | None = None
    reason: LocalizedText


class StopDoc(_Doc):
    """Format 2: when ``when`` holds, the questionnaire gives no profile but ``not_eligible``."""

    id: str
    when: dict[str, Any]
    reason: LocalizedText


class LevelDoc(_Doc):
    """One level of a profile scale."""

    id: LevelId
    name: LocalizedText


class ScaleDoc(_Doc):
    """Format 2: the profile scale, lowest level first."""

    levels: list[LevelDoc]


class PartBandDoc(_Doc):
    """The part scores ``min``..``max`` (inclusive): band ``id``, giving ``level`` under min/max."""

    id: str | None = None
    min: int | float
    max: int | float
    level: LevelId | None = None


class PartDoc(_Doc):
    """A sub-profile: the sum of the scores of ``dimensions`` (format 2: weighted by ``weights``, each
    dimension's score times its weight), placed in ``bands``."""

    id: str
    dimensions: list[str]
    bands: list[PartBandDoc]
    weights: dict[str, int | float] | None = None


class CompositionDoc(_Doc):
    """Format 2: the profile composed from sub-profiles, by ``min``, ``max`` or a ``chart``
    (first part's band id -> second part's band id -> level)."""

    method: Literal["min", "max", "chart"]
    parts: list[PartDoc]
    chart: dict[str, dict[str, LevelId]] | None = None


class ConsistencyDoc(_Doc):
    """A contradiction between answers: when ``when`` holds, the assessment is inconsistent."""

    id: str
    when: dict[str, Any]
    message: LocalizedText


class DerivationDoc(_Doc):
    """Maps the options of one question to horizon or variety categories.

    Format 2: a questionnaire that asks no such question declares a fixed ``value`` (and no
    question) or, beside its question, a ``default`` for when it is not answered; either with its
    ``source``, recorded in the assessment. A horizon is one category, varieties a list.
    """

    question: str | None = None
    map: dict[str, str] = {}
    value: str | list[str] | None = None
    default: str | list[str] | None = None
    source: LocalizedText | None = None


class DeriveDoc(_Doc):
    """Which questions give the client's horizon and varieties."""

    horizon: DerivationDoc | None = None
    varieties: DerivationDoc | None = None


class FactDoc(_Doc):
    """Format 2: a client fact the document's conditions may name, besides the built-in ones
    (:data:`~suitability.conditions.BUILTIN_FACTS`); its value comes from the client's ``facts``."""

    id: str
    type: Literal["integer", "string", "boolean", "set"]
    values: list[str] | None = None  # the allowed values of a string or set fact
    name: LocalizedText | None = None


class QuestionnaireDoc(_Doc):
    """The questionnaire document, schema_version 1 (design §2) or 2.

    Format 2 adds ``scale``, ``composition``, ``stops``, relative caps (``lower_by``) and level
    questions; the format-1 schema forbids them, so a format-1 document never sets them.
    """

    kind: Literal["questionnaire"]
    schema_version: Literal[1, 2]
    id: str
    version: str
    status: Status
    effective_from: date
    validity_days: int | None = None
    title: LocalizedText
    description: LocalizedText | None = None
    dimensions: list[str]
    weights: dict[str, int | float] | None = None  # format 2: the total is the weighted sum
    questions: list[QuestionDoc]
    bands: list[BandDoc] = []
    rules: list[RuleDoc] = []
    consistency: list[ConsistencyDoc] = []
    derive: DeriveDoc = DeriveDoc()
    scale: ScaleDoc | None = None
    composition: CompositionDoc | None = None
    stops: list[StopDoc] = []
    facts: list[FactDoc] = []


@dataclass(frozen=True, slots=True)
class CompiledExtras:
    """What format 2 adds to a question: a typed number (bounds, range starts and their scores),
    exclusive options, and options enabled by a condition."""

    low: Decimal | None
    high: Decimal | None
    starts: tuple[Decimal, ...]
    range_scores: tuple[int, ...]
    exclusive: frozenset[str]
    option_enable: tuple[tuple[str, conditions.Predicate], ...]

    @property
    def number(self) -> bool:
        """Whether the question is answered with a number."""
        return self.low is not None

    def checks(self, raw: Any) -> bool:
        """Whether answer ``raw`` needs format 2's own checks: a number, an option offered by a
        condition, or several options of which one may be exclusive. Any other answer is a plain
        option pick, checked as format 1's are."""
        if self.low is not None or self.option_enable:
            return True
        if not self.exclusive or type(raw) is not list or len(raw) < 2:
            return False
        for option in raw:  # noqa: SIM110 - a plain loop on the scoring path, as conditions' all_of
            # an exclusive option beside another, or no option id at all (a shape error)
            if type(option) is not str or option in self.exclusive:
                return True
        return False

    def score_of(self, value: Decimal) -> int:
        """The score of the range holding ``value`` (within the bounds: checked before)."""
        score = self.range_scores[0]
        for start, points in zip(self.starts, self.range_scores, strict=True):
            if value >= start:
                score = points
        return score


def _extras(q: QuestionDoc, unit: int = 1) -> CompiledExtras | None:
    enables = tuple((o.id, conditions.compile_condition(o.enable_when)) for o in q.options if o.enable_when is not None)
    exclusive = frozenset(o.id for o in q.options if o.exclusive)
    if q.type != "number" and not enables and not exclusive:
        return None
    return CompiledExtras(
        low=_decimal(q.min) if q.type == "number" else None,
        high=_decimal(q.max) if q.type == "number" else None,
        starts=tuple(_decimal(r.at_least) for r in q.ranges),
        range_scores=tuple(in_units(r.score, unit) for r in q.ranges),
        exclusive=exclusive,
        option_enable=enables,
    )


def _decimal(value: float | None) -> Decimal:
    """A JSON number exactly as it was printed (a float through its shortest repr), as a Decimal."""
    return Decimal(str(value if value is not None else 0))


def in_units(value: int | float | Decimal, unit: int) -> int:
    """``value`` points as an integer of 1/``unit`` points, exactly (format 2 with decimals keeps
    every score in such units: see :attr:`Questionnaire.places`)."""
    if unit == 1 and type(value) is int:
        return value
    scaled = exact_decimal(value) * unit
    integral = scaled.to_integral_value()
    if scaled != integral:  # pragma: no cover - places are checked at load
        raise ValueError(f"{value} is not a whole number of 1/{unit} points")
    return int(integral)


@functools.lru_cache(maxsize=4096)  # a document's scores take few values: each text is made once
def points_text(units: int, places: int) -> str:
    """The exact decimal text of ``units`` at ``places`` decimal places, without trailing zeros
    (``points_text(25, 1)`` is ``"2.5"``, ``points_text(750, 2)`` is ``"7.5"``, ``points_text(70, 1)`` is ``"7"``)."""
    if places == 0:
        return str(units)
    whole, fraction = divmod(abs(units), 10**places)
    sign = "-" if units < 0 else ""
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}." + str(fraction).rjust(places, "0").rstrip("0")


def document_places(doc: QuestionnaireDoc) -> int:
    """The most decimal places of any score, cap, band bound, weight or score threshold of ``doc``
    (0 for a document of integers, and for every format-1 document); a number with more than
    :data:`~suitability.conditions.MAX_PLACES` places counts as 0 (the load check refuses it)."""
    return max((places(value) or 0 for _, value in _points(doc)), default=0)


def _points(doc: QuestionnaireDoc) -> Iterator[tuple[str, int | float]]:
    """Every score, cap, band bound, weight and score threshold of ``doc``, with its JSON Pointer."""
    for i, q in enumerate(doc.questions):
        for j, o in enumerate(q.options):
            yield pointer("questions", i, "options", j, "score"), o.score
        for j, r in enumerate(q.ranges):
            yield pointer("questions", i, "ranges", j, "score"), r.score
        if q.cap is not None:
            yield pointer("questions", i, "cap"), q.cap
        if q.enable_when is not None:
            yield from _thresholds(q.enable_when, pointer("questions", i, "enable_when"))
    for i, band in enumerate(doc.bands):
        yield pointer("bands", i, "min"), band.min
        yield pointer("bands", i, "max"), band.max
    for dim, weight in (doc.weights or {}).items():
        yield pointer("weights", dim), weight
    if doc.composition is not None:
        for i, part in enumerate(doc.composition.parts):
            for j, pb in enumerate(part.bands):
                yield pointer("composition", "parts", i, "bands", j, "min"), pb.min
                yield pointer("composition", "parts", i, "bands", j, "max"), pb.max
            for dim, weight in (part.weights or {}).items():
                yield pointer("composition", "parts", i, "weights", dim), weight
    for section, i, rule in _rules(doc):
        yield from _thresholds(rule.when, pointer(section, i, "when"))


def _thresholds(cond: Any, where: str) -> Iterator[tuple[str, int | float]]:
    """The score thresholds of a condition (its numbers compared with scores), with their pointers."""
    if not isinstance(cond, dict):
        return
    for key in ("all", "any"):
        if isinstance(cond.get(key), list):
            for i, item in enumerate(cond[key]):
                yield from _thresholds(item, where + pointer(key, i))
    if "not" in cond:
        yield from _thresholds(cond["not"], where + "/not")
    for key in ("score_at_most", "score_at_least", "total_at_most", "total_at_least"):
        value = cond.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield where + "/" + key, value


@dataclass(frozen=True, slots=True)
class CompiledQuestion:
    """A question ready for scoring: scores by option id, and its enable predicate."""

    id: str
    dimension: str
    multi: bool
    required: bool
    scores: dict[str, int]
    knockouts: dict[str, RuleFired]
    use_max: bool
    cap: int | None
    enable: conditions.Predicate | None
    extras: CompiledExtras | None = None  # format 2: None for every format-1 question


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule or consistency check ready for evaluation, with the result it adds when it holds."""

    id: str
    when: conditions.Predicate
    cap: int  # index into PROFILES; unused for consistency rules
    fired: RuleFired
    violation: ConsistencyViolation


def score_range(q: QuestionDoc) -> tuple[Decimal, Decimal]:
    """Return the lowest and highest score question ``q`` can contribute (0 when skipped), exactly
    (a format-2 decimal such as 0.1 is its printed value, never its binary float)."""
    scores = [exact_decimal(o.score) for o in q.options]
    if q.type == "number":
        scores = [exact_decimal(r.score) for r in _reachable_ranges(q)]
    if not scores:  # a format-2 level choice: no options, no score
        return Decimal(0), Decimal(0)
    if q.type == "multi" and q.aggregate == "sum":
        negatives = [s for s in scores if s < 0]
        positives = [s for s in scores if s > 0]
        low = sum(negatives, Decimal(0)) if negatives else min(scores)
        high = sum(positives, Decimal(0)) if positives else max(scores)
    else:
        low, high = min(scores), max(scores)
    if q.cap is not None:
        cap = exact_decimal(q.cap)
        low, high = min(low, cap), min(high, cap)
    if not q.required or q.enable_when is not None:
        low, high = min(low, Decimal(0)), max(high, Decimal(0))
    return low, high


def span(
    doc: QuestionnaireDoc, dimensions: Sequence[str] | None, weights: dict[str, int | float] | None
) -> tuple[Decimal, Decimal]:
    """The lowest and highest score of the (weighted) sum of ``dimensions``, exactly (an
    over-estimate: each question scored independently). ``dimensions`` None: every question's
    (the total's, an undeclared dimension included)."""
    low = high = Decimal(0)
    for q in doc.questions:
        if dimensions is None or q.dimension in dimensions:
            weight = exact_decimal(weights.get(q.dimension, 1)) if weights else Decimal(1)
            q_low, q_high = score_range(q)
            low += weight * q_low  # a weight is positive (the schema says so)
            high += weight * q_high
    return low, high


def step(doc: QuestionnaireDoc, dimensions: Sequence[str] | None, weights: dict[str, int | float] | None) -> Decimal:
    """The step of the (weighted) sum of ``dimensions``: every score it can take is a whole multiple
    of it (the greatest common divisor of every option score, range score and cap that can count,
    each times its dimension's weight); 0 when every such number is 0.

    Two bands are contiguous when no multiple of the step lies strictly between one band's ``max``
    and the next band's ``min``: with scores in steps of 0.5, bands 0-10 and 10.5-20 leave no gap.
    """
    scale = 10 ** (2 * conditions.MAX_PLACES)
    found = 0
    for q in doc.questions:
        if dimensions is not None and q.dimension not in dimensions:
            continue
        weight = exact_decimal(weights.get(q.dimension, 1)) if weights else Decimal(1)
        values = [o.score for o in q.options] + [r.score for r in q.ranges]
        if q.cap is not None:
            values.append(q.cap)
        for value in values:
            found = math.gcd(found, int(exact_decimal(value) * weight * scale))
    return Decimal(found) / Decimal(scale)


def _contiguity(last_max: Any, band_min: Any, step_of: Decimal) -> tuple[str, Decimal] | None:
    """A gap or overlap between a band ending at ``last_max`` and the next starting at ``band_min``
    with its expected start, or None (see :func:`step`). An integer step of 1 is format 1's rule."""
    last, start = exact_decimal(last_max), exact_decimal(band_min)
    if start <= last:
        expected = last + step_of if step_of else last
        return "overlap", expected
    if not step_of:
        return None
    expected = step_of * (math.floor(Fraction(last) / Fraction(step_of)) + 1)  # the next multiple above
    return ("gap", expected) if expected < start else None


def _reachable_ranges(q: QuestionDoc) -> list[RangeDoc]:
    """The ranges of a number question some value within its bounds falls in."""
    low, high = _decimal(q.min), _decimal(q.max)
    found = []
    for i, r in enumerate(q.ranges):
        ends = _decimal(q.ranges[i + 1].at_least) if i + 1 < len(q.ranges) else None
        if _decimal(r.at_least) <= high and (ends is None or ends > low):
            found.append(r)
    return found


# --- semantic checks (design §2): one checker per rule, each ``(doc) -> Iterable[Problem]`` -------


def unique_dimensions(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each dimension is declared once."""
    for i, name in enumerate(doc.dimensions):
        if doc.dimensions.index(name) != i:
            yield Problem(f"expected unique dimensions, found {name!r} again", pointer("dimensions", i))


def unique_question_ids(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each question id is used once (the first question of an id is the one conditions name)."""
    seen: set[str] = set()
    for i, q in enumerate(doc.questions):
        if q.id in seen:
            yield Problem(f"expected unique question ids, found {q.id!r} again", pointer("questions", i, "id"))
        seen.add(q.id)


def declared_dimensions(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each question scores into a declared dimension."""
    dims = frozenset(doc.dimensions)
    for i, q in enumerate(doc.questions):
        if q.dimension not in dims:
            yield Problem(
                f"expected one of the declared dimensions {sorted(dims)}, found {q.dimension!r}",
                pointer("questions", i, "dimension"),
            )


def unique_option_ids(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Within a question, each option id is used once."""
    for i, q in enumerate(doc.questions):
        ids = [o.id for o in q.options]
        for j, oid in enumerate(ids):
            if ids.index(oid) != j:
                yield Problem(
                    f"expected unique option ids, found {oid!r} again", pointer("questions", i, "options", j, "id")
                )


def enable_when_on_earlier_questions(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """An ``enable_when`` is a valid condition naming only questions asked earlier (so no cycle) and
    no scores (they are not known while the questionnaire is being answered)."""
    options, dims, facts = _options_by_question(doc), frozenset(doc.dimensions), fact_types(doc)
    for i, q in enumerate(doc.questions):
        if q.enable_when is not None:
            earlier = frozenset(p.id for p in doc.questions[:i])
            # format 2: a dimension whose every question comes earlier has its final score here
            later = {p.dimension for p in doc.questions[i:]}
            settled = frozenset(dims - later) if facts is not None else frozenset()
            where = pointer("questions", i, "enable_when")
            yield from conditions.check(
                q.enable_when,
                where,
                options,
                dims,
                visible=earlier,
                scores_allowed=False,
                facts=facts,
                settled=settled,
                numbers=_number_questions(doc),
            )


def knockouts_not_skippable(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """A question with a knock-out option is required and always enabled."""
    for i, q in enumerate(doc.questions):
        if any(o.knockout for o in q.options) and (not q.required or q.enable_when is not None):
            yield Problem(
                "expected a knockout question to be required and always enabled, found one "
                "that can be skipped (the lowest category must not be avoidable)",
                pointer("questions", i),
                code="KNOCKOUT_SKIPPABLE",
            )


def band_bounds(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each band's ``min`` is at most its ``max``."""
    for i, band in enumerate(doc.bands):
        if band.min > band.max:
            yield Problem(f"expected min <= max, found {band.min} > {band.max}", pointer("bands", i))


def bands_in_c_order(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Bands go up the profiles, C1 first (format 2: up the declared scale, its first level first)."""
    levels = level_ids(doc)
    order = "C order" if levels == PROFILES else "scale order"
    for i, (last, band) in enumerate(itertools.pairwise(doc.bands), start=1):
        if (
            band.profile in levels
            and last.profile in levels
            and levels.index(band.profile) <= levels.index(last.profile)
        ):
            yield Problem(
                f"expected bands in {order}, found {band.profile} after {last.profile}", pointer("bands", i, "profile")
            )


def bands_contiguous(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each band starts right after the one before: no gap, no overlap."""
    for i, (last, band) in enumerate(itertools.pairwise(doc.bands), start=1):
        if band.min != last.max + 1:
            kind = "overlap" if band.min <= last.max else "gap"
            yield Problem(
                f"expected this band to start at {last.max + 1}, found {band.min} ({kind})",
                pointer("bands", i, "min"),
                code="BAND_" + kind.upper(),
            )


def bands_cover_reachable_range(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """The first band starts at or below the lowest reachable score; the last ends at or above the
    highest (see :func:`score_range`)."""
    if not doc.questions or not doc.bands:
        return
    low, high = span(doc, None, doc.weights)
    yield from _coverage(doc.bands, low, high, "/bands", "bands")


def _show(value: Any) -> str:
    """A number as printed, without an exponent or trailing zeros (``7.50`` as ``7.5``, ``100`` as ``100``)."""
    return format(exact_decimal(value).normalize(), "f")


def _coverage(bands: Sequence[Any], low: Decimal, high: Decimal, where: str, what: str) -> Iterator[Problem]:
    first, last = bands[0], bands[-1]
    if exact_decimal(first.min) > low:
        yield Problem(
            f"expected the {what} to cover the lowest reachable score {_show(low)}, found the first band starting at "
            f"{_show(first.min)}",
            where + "/0/min",
            code="BAND_COVERAGE",
        )
    if exact_decimal(last.max) < high:
        yield Problem(
            f"expected the {what} to cover the highest reachable score {_show(high)}, found the last band ending at "
            f"{_show(last.max)}",
            where + pointer(len(bands) - 1, "max"),
            code="BAND_COVERAGE",
        )


def bands_contiguous_2(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Format 2: no score the total can take falls between two bands, and no two bands overlap
    (see :func:`step`: with integer scores in steps of 1, format 1's rule)."""
    step_of = step(doc, None, doc.weights)
    for i, (last, band) in enumerate(itertools.pairwise(doc.bands), start=1):
        yield from _band_joint(last, band, step_of, pointer("bands", i, "min"))


def _band_joint(last: Any, band: Any, step_of: Decimal, where: str) -> Iterator[Problem]:
    found = _contiguity(last.max, band.min, step_of)
    if found is not None:
        kind, expected = found
        after = f", the next score after {_show(last.max)} (scores step by {_show(step_of)})" if step_of != 1 else ""
        yield Problem(
            f"expected this band to start at {_show(expected)}{after}, found {_show(band.min)} ({kind})",
            where,
            code="BAND_" + kind.upper(),
        )


def numbers_exact(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Format 2: every score, cap, band bound, weight and score threshold has at most
    :data:`~suitability.conditions.MAX_PLACES` decimal places (so it is read exactly as printed)."""
    for where, value in _points(doc):
        if places(value) is None:
            yield Problem(
                f"expected a number of at most {conditions.MAX_PLACES} decimal places, found {value!r}",
                where,
                code="DECIMAL_PLACES",
            )


def weights_well_formed(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Format 2: the total's ``weights`` name every declared dimension, a part's ``weights`` every
    dimension of the part, and nothing else."""
    weighed: list[tuple[str, list[str], dict[str, int | float] | None]] = [("/weights", doc.dimensions, doc.weights)]
    if doc.composition is not None:
        weighed += [
            (pointer("composition", "parts", i, "weights"), part.dimensions, part.weights)
            for i, part in enumerate(doc.composition.parts)
        ]
    for where, dims, weights in weighed:
        if weights is None:
            continue
        for dim in weights:
            if dim not in dims:
                yield Problem(f"expected a weight for one of {sorted(dims)}, found {dim!r}", where + pointer(dim))
        missing = [d for d in dims if d not in weights]
        if missing:
            yield Problem(f"expected a weight for every dimension it sums, found none for {missing}", where)


def unique_rule_ids(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Rule and consistency ids are unique together."""
    seen: set[str] = set()
    for section, i, rule in _rules(doc):
        if rule.id in seen:
            yield Problem(f"expected unique rule ids, found {rule.id!r} again", pointer(section, i, "id"))
        seen.add(rule.id)


def rule_conditions_resolve(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """The ``when`` of each rule and consistency check is a valid condition on known questions,
    options and dimensions."""
    options, dims, facts = _options_by_question(doc), frozenset(doc.dimensions), fact_types(doc)
    for section, i, rule in _rules(doc):
        yield from conditions.check(
            rule.when, pointer(section, i, "when"), options, dims, facts=facts, numbers=_number_questions(doc)
        )


def derivations_resolve(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each derivation names a known question (a single-choice one for the horizon) and maps
    exactly that question's options."""
    for field in ("horizon", "varieties"):
        derivation: DerivationDoc | None = getattr(doc.derive, field)
        if derivation is not None:
            yield from _derivation_problems(doc, field, derivation)


# --- format 2 (schema_version 2): the checks added to those of format 1 ----------------------------


def facts_declared_once(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each declared fact has an id of its own, not a built-in fact's; a string or set fact lists
    its allowed values, an integer or boolean one none."""
    seen: set[str] = set()
    for i, fact in enumerate(doc.facts):
        if fact.id in conditions.BUILTIN_FACTS or fact.id in seen:
            what = "a built-in fact" if fact.id in conditions.BUILTIN_FACTS else "declared again"
            yield Problem(f"expected a new fact id, found {fact.id!r} ({what})", pointer("facts", i, "id"))
        seen.add(fact.id)
        if (fact.values is not None) != (fact.type in ("string", "set")):
            yield Problem(
                f"expected allowed values for a string or set fact and none for another, found a {fact.type} fact "
                f"{'with' if fact.values is not None else 'without'} values",
                pointer("facts", i),
            )


def scale_levels_unique(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each level of the declared scale is declared once."""
    if doc.scale is not None:
        ids = [level.id for level in doc.scale.levels]
        for i, level in enumerate(ids):
            if ids.index(level) != i:
                yield Problem(f"expected unique level ids, found {level!r} again", pointer("scale", "levels", i, "id"))


def bands_on_the_scale(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each band gives a level of the questionnaire's scale."""
    levels = level_ids(doc)
    for i, band in enumerate(doc.bands):
        if band.profile not in levels:
            yield Problem(
                f"expected a level of the scale {list(levels)}, found {band.profile!r}",
                pointer("bands", i, "profile"),
                code="UNKNOWN_LEVEL",
            )


def bands_or_composition(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """The profile comes from total-score ``bands`` or from a ``composition``, exactly one."""
    if bool(doc.bands) == (doc.composition is not None):
        found = "both" if doc.bands else "neither"
        yield Problem(f"expected either bands or a composition, found {found}", "", code="PROFILE_SOURCE")


def composition_well_formed(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """A composition's parts score declared dimensions; each part's bands run contiguously over its
    reachable range; min/max bands give scale levels; a chart has two parts, band ids, and a scale
    level for every pair of reachable bands."""
    comp = doc.composition
    if comp is None:
        return
    levels, dims = level_ids(doc), frozenset(doc.dimensions)
    part_ids = [part.id for part in comp.parts]
    reachable: list[list[str]] = []
    for i, part in enumerate(comp.parts):
        where = pointer("composition", "parts", i)
        if part_ids.index(part.id) != i:
            yield Problem(f"expected unique part ids, found {part.id!r} again", where + "/id")
        for j, dim in enumerate(part.dimensions):
            if dim not in dims:
                yield Problem(
                    f"expected a declared dimension {sorted(dims)}, found {dim!r}", where + pointer("dimensions", j)
                )
        low, high = span(doc, part.dimensions, part.weights)
        step_of = step(doc, part.dimensions, part.weights)
        for j, band in enumerate(part.bands):
            if exact_decimal(band.min) > exact_decimal(band.max):
                yield Problem(
                    f"expected min <= max, found {_show(band.min)} > {_show(band.max)}", where + pointer("bands", j)
                )
            if comp.method == "chart" and band.id is None:
                yield Problem("expected a band id (a chart names bands), found none", where + pointer("bands", j))
            if comp.method != "chart" and band.level not in levels:
                yield Problem(
                    f"expected a level of the scale {list(levels)}, found {band.level!r}",
                    where + pointer("bands", j, "level"),
                    code="UNKNOWN_LEVEL",
                )
        for j, (last, band) in enumerate(itertools.pairwise(part.bands), start=1):
            yield from _band_joint(last, band, step_of, where + pointer("bands", j, "min"))
        yield from _coverage(part.bands, low, high, where + "/bands", f"bands of part {part.id!r}")
        reachable.append(
            [b.id or "" for b in part.bands if exact_decimal(b.max) >= low and exact_decimal(b.min) <= high]
        )
    if comp.method != "chart":
        if comp.chart is not None:
            yield Problem(f"expected no chart for method {comp.method!r}, found one", "/composition/chart")
        return
    if len(comp.parts) != 2 or comp.chart is None:
        yield Problem(
            f"expected a chart with exactly two parts, found {len(comp.parts)} part(s)"
            + ("" if comp.chart is not None else " and no chart"),
            "/composition",
            code="CHART_SHAPE",
        )
        return
    for row in reachable[0]:
        for column in reachable[1]:
            level = comp.chart.get(row, {}).get(column)
            if level is None:
                yield Problem(
                    f"expected a level for the reachable pair {comp.parts[0].id}={row}, {comp.parts[1].id}={column}, "
                    "found none",
                    pointer("composition", "chart", row),
                    code="CHART_COVERAGE",
                )
            elif level not in levels:
                yield Problem(
                    f"expected a level of the scale {list(levels)}, found {level!r}",
                    pointer("composition", "chart", row, column),
                    code="UNKNOWN_LEVEL",
                )


def rules_cap_or_lower(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """A rule has a ``cap`` (a scale level) or a relative ``lower_by``, exactly one."""
    levels = level_ids(doc)
    for i, rule in enumerate(doc.rules):
        if (rule.cap is None) == (rule.lower_by is None):
            yield Problem("expected cap or lower_by, exactly one", pointer("rules", i), code="RULE_SHAPE")
        elif rule.cap is not None and rule.cap not in levels:
            yield Problem(
                f"expected a level of the scale {list(levels)}, found {rule.cap!r}",
                pointer("rules", i, "cap"),
                code="UNKNOWN_LEVEL",
            )


def one_level_question(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """At most one question lets the client choose a level; it has no options (its answers are the
    scale's levels). Other questions have options."""
    seen = False
    for i, q in enumerate(doc.questions):
        if q.type == "level":
            if seen:
                yield Problem("expected at most one level question, found another", pointer("questions", i, "type"))
            seen = True
            if q.options:
                yield Problem(
                    "expected no options on a level question (its answers are the scale's levels), found some",
                    pointer("questions", i, "options"),
                )
        elif q.type == "number":
            yield from _number_problems(q, pointer("questions", i))
        elif not q.options:
            yield Problem("expected at least one option, found none", pointer("questions", i, "options"))
        else:
            yield from _option_problems(doc, i, q)


def _number_problems(q: QuestionDoc, where: str) -> Iterator[Problem]:
    if q.options:
        yield Problem(
            "expected no options on a number question (it is scored by ranges), found some", where + "/options"
        )
    if q.min is None or q.max is None or not q.ranges:
        yield Problem("expected min, max and ranges on a number question, found one missing", where)
        return
    if _decimal(q.min) > _decimal(q.max):
        yield Problem(f"expected min <= max, found {q.min} > {q.max}", where + "/min")
    starts = [_decimal(r.at_least) for r in q.ranges]
    if starts[0] > _decimal(q.min):
        yield Problem(
            f"expected the first range to start at or below min {q.min}, found {q.ranges[0].at_least} "
            "(a value between them would have no score)",
            where + "/ranges/0/at_least",
            code="BAND_COVERAGE",
        )
    for j, (last, start) in enumerate(itertools.pairwise(starts), start=1):
        if start <= last:
            yield Problem(
                f"expected ranges in increasing order, found {q.ranges[j].at_least} after {q.ranges[j - 1].at_least}",
                where + pointer("ranges", j, "at_least"),
            )


def _option_problems(doc: QuestionnaireDoc, i: int, q: QuestionDoc) -> Iterator[Problem]:
    """An exclusive option belongs to a multi-select; an option's enable_when names earlier questions."""
    options, dims, facts = _options_by_question(doc), frozenset(doc.dimensions), fact_types(doc)
    earlier = frozenset(p.id for p in doc.questions[:i])
    for j, o in enumerate(q.options):
        where = pointer("questions", i, "options", j)
        if o.exclusive and q.type != "multi":
            yield Problem("expected an exclusive option in a multi-select only, found one here", where + "/exclusive")
        if o.enable_when is not None:
            yield from conditions.check(
                o.enable_when,
                where + "/enable_when",
                options,
                dims,
                visible=earlier,
                scores_allowed=False,
                facts=facts,
                numbers=_number_questions(doc),
            )


#: The semantic rules of a schema_version 1 questionnaire, run in this order into one report.
#: Checks over questions, bands and rules are merged item by item (see ``item_by_item``).
CHECKS: tuple[Check[QuestionnaireDoc], ...] = (
    unique_dimensions,
    item_by_item(
        unique_question_ids,
        declared_dimensions,
        unique_option_ids,
        enable_when_on_earlier_questions,
        knockouts_not_skippable,
        sections=("questions",),
    ),
    item_by_item(band_bounds, bands_in_c_order, bands_contiguous, sections=("bands",)),
    bands_cover_reachable_range,
    item_by_item(unique_rule_ids, rule_conditions_resolve, sections=("rules", "consistency")),
    derivations_resolve,
)

#: The semantic rules of a schema_version 2 questionnaire: format 1's, each over the declared scale,
#: and the checks of what format 2 adds.
CHECKS_2: tuple[Check[QuestionnaireDoc], ...] = (
    unique_dimensions,
    scale_levels_unique,
    facts_declared_once,
    item_by_item(
        unique_question_ids,
        declared_dimensions,
        unique_option_ids,
        enable_when_on_earlier_questions,
        knockouts_not_skippable,
        one_level_question,
        sections=("questions",),
    ),
    bands_or_composition,
    numbers_exact,
    weights_well_formed,
    item_by_item(band_bounds, bands_on_the_scale, bands_in_c_order, bands_contiguous_2, sections=("bands",)),
    bands_cover_reachable_range,
    composition_well_formed,
    item_by_item(
        unique_rule_ids, rule_conditions_resolve, rules_cap_or_lower, sections=("rules", "consistency", "stops")
    ),
    derivations_resolve,
)


def level_ids(doc: QuestionnaireDoc) -> tuple[str, ...]:
    """The ids of the document's profile scale, lowest first: C1..C5 unless a format-2 document
    declares its own."""
    scale = getattr(doc, "scale", None)
    return PROFILES if scale is None else tuple(level.id for level in scale.levels)


def fact_types(doc: QuestionnaireDoc) -> dict[str, tuple[conditions.FactType, frozenset[str] | None]] | None:
    """The client facts a format-2 document's conditions may name, with their types; None for
    format 1, whose conditions name no fact."""
    if doc.schema_version == 1:
        return None
    types = dict(conditions.BUILTIN_FACTS)
    for fact in doc.facts:
        types.setdefault(fact.id, (fact.type, frozenset(fact.values) if fact.values is not None else None))
    return types


def _number_questions(doc: QuestionnaireDoc) -> frozenset[str]:
    return frozenset(q.id for q in doc.questions if q.type == "number")


def _options_by_question(doc: QuestionnaireDoc) -> dict[str, frozenset[str]]:
    options: dict[str, frozenset[str]] = {}
    for q in doc.questions:  # the first question of an id wins; a duplicate is a problem of its own
        # a format-2 level choice is answered with a level id of the scale
        ids = level_ids(doc) if q.type == "level" else (o.id for o in q.options)
        options.setdefault(q.id, frozenset(ids))
    return options


def _rules(doc: QuestionnaireDoc) -> Iterator[tuple[str, int, RuleDoc | ConsistencyDoc | StopDoc]]:
    sections: tuple[tuple[str, Sequence[RuleDoc | ConsistencyDoc | StopDoc]], ...] = (
        ("rules", doc.rules),
        ("consistency", doc.consistency),
        ("stops", doc.stops),
    )
    for section, rules in sections:
        for i, rule in enumerate(rules):
            yield section, i, rule


def _derivation_problems(doc: QuestionnaireDoc, field: str, derivation: DerivationDoc) -> Iterator[Problem]:
    where = pointer("derive", field)
    for name in ("value", "default"):
        given = getattr(derivation, name)
        if given is not None and isinstance(given, list) != (field == "varieties"):
            expected = "a list of variety categories" if field == "varieties" else "one horizon category"
            yield Problem(f"expected {expected}, found {given!r}", where + "/" + name)
    if derivation.question is None:  # format 2: a fixed value, no question (the schema holds them apart)
        return
    # Of questions sharing an id (itself a problem), the map's keys are checked against the first
    # one's options and the last one is the target: as the single validator did, kept unchanged.
    target = {q.id: q for q in doc.questions}.get(derivation.question)
    if target is None:
        yield Problem(f"expected a known question id, found {derivation.question!r}", where + "/question")
        return
    if field == "horizon" and target.type != "single":
        yield Problem("expected a single-choice question for the horizon, found a multi-select", where + "/question")
    known = _options_by_question(doc)[target.id]
    for key in derivation.map:
        if key not in known:
            yield Problem(f"expected an option of question {target.id!r}, found {key!r}", where + pointer("map", key))
    for option in target.options:
        if option.id not in derivation.map:
            yield Problem(f"expected a mapping for option {option.id!r}, found none", where + "/map")


@dataclass(frozen=True, slots=True)
class CompiledPart:
    """A sub-profile ready for scoring: its dimensions, and the band (id, level index) of each
    score from ``low`` on; or, with decimals (``starts`` set), the band starting at each of
    ``starts``, in units (see :attr:`Questionnaire.places`)."""

    id: str
    dimensions: tuple[str, ...]
    low: int
    bands: tuple[tuple[str, int], ...]  # level index -1 in a chart
    weights: tuple[int, ...] | None = None  # in units, as ``dimensions``: the part score is the weighted sum
    places: int = 0  # the decimal places of the part score's units
    starts: tuple[int, ...] | None = None

    def band_of(self, score: int) -> tuple[str, int]:
        """Return the band id and level index of ``score``."""
        index = bisect.bisect_right(self.starts, score) - 1 if self.starts is not None else score - self.low
        if not 0 <= index < len(self.bands):  # unreachable for a validated document
            raise ValueError(f"part {self.id}: score {score} is outside every band")
        return self.bands[index]


@dataclass(frozen=True, slots=True)
class CompiledComposition:
    """A composition ready for scoring: its method, parts and chart (band ids -> level index)."""

    method: Literal["min", "max", "chart"]
    parts: tuple[CompiledPart, ...]
    chart: dict[tuple[str, str], int]


def _compiled_composition(
    model: QuestionnaireDoc, levels: tuple[str, ...], exponent: int
) -> CompiledComposition | None:
    comp = model.composition
    if comp is None:
        return None
    parts = []
    unit = 10**exponent
    for part in comp.parts:
        table: list[tuple[str, int]] = []
        entries = [
            (band.id or str(i), levels.index(band.level) if band.level is not None else -1)
            for i, band in enumerate(part.bands)
        ]
        weights = tuple(in_units(part.weights[d], unit) for d in part.dimensions) if part.weights else None
        score_places = exponent * 2 if weights is not None else exponent
        if exponent:  # decimals: the band starting at or below the score, by bisection
            starts = tuple(in_units(band.min, 10**score_places) for band in part.bands)
            parts.append(
                CompiledPart(part.id, tuple(part.dimensions), 0, tuple(entries), weights, score_places, starts)
            )
            continue
        for entry, band in zip(entries, part.bands, strict=True):
            table += [entry] * (int(band.max) - int(band.min) + 1)
        parts.append(CompiledPart(part.id, tuple(part.dimensions), int(part.bands[0].min), tuple(table), weights))
    chart = {
        (row, column): levels.index(level)
        for row, columns in (comp.chart or {}).items()
        for column, level in columns.items()
    }
    return CompiledComposition(comp.method, tuple(parts), chart)


def _reachable_levels(model: QuestionnaireDoc, levels: tuple[str, ...]) -> frozenset[str]:
    """The levels some answer set can give (an over-estimate: each question scored independently)."""

    def banded(
        bands: Sequence[Any], dims: Sequence[str] | None, weights: dict[str, int | float] | None, attr: str
    ) -> list[Any]:
        low, high = span(model, dims, weights)
        return [getattr(b, attr) for b in bands if exact_decimal(b.max) >= low and exact_decimal(b.min) <= high]

    found = {0}  # a client without full civil capacity is always in the lowest level
    comp = model.composition
    if comp is None:
        found |= {levels.index(level) for level in banded(model.bands, None, model.weights, "profile")}
    else:
        per_part = [
            banded(part.bands, part.dimensions, part.weights, "id" if comp.method == "chart" else "level")
            for part in comp.parts
        ]
        for combo in itertools.product(*per_part):
            if comp.method == "chart":
                found.add(levels.index((comp.chart or {}).get(combo[0], {}).get(combo[1], levels[0])))
            else:
                indexes = [levels.index(level) for level in combo]
                found.add(min(indexes) if comp.method == "min" else max(indexes))
    found |= {levels.index(r.cap) for r in model.rules if r.cap is not None and levels.index(r.cap) <= max(found)}
    if any(r.lower_by for r in model.rules) or any(q.type == "level" for q in model.questions):
        found = set(range(max(found) + 1))  # lowered or chosen: every level below one reached
    return frozenset(levels[i] for i in found)


class Questionnaire:
    """A validated, compiled questionnaire version.

    Attributes:
        document: the parsed JSON exactly as loaded (what is hashed and logged).
        model: the typed view of the document.
        hash: ``sha256:<hex>`` of the document's RFC 8785 canonical bytes.
        source: where it was loaded from (a path, or ``<bundled>``), for messages only.
    """

    def __init__(self, document: dict[str, Any], model: QuestionnaireDoc, digest: str, source: str | None):
        self.document = document
        self.model = model
        self.hash = digest
        self.source = source
        #: format 2: the most decimal places of any number of the document (0: integers only). Every
        #: score is then computed exactly as an integer of 10**-places points (a weighted sum in
        #: 10**-(2 * places) points), and recorded as decimal text (``"2.5"``).
        self.places = document_places(model) if model.schema_version != 1 else 0
        unit = self.unit = 10**self.places
        #: the total's weights (format 2), in units, by dimension in declared order; None: a plain sum
        self.weights = (
            tuple(in_units(model.weights[d], unit) for d in model.dimensions) if model.weights is not None else None
        )
        #: the decimal places of the total's units
        self.total_places = self.places * 2 if self.weights is not None else self.places
        units = (unit, 10**self.total_places)
        self.questions = tuple(
            CompiledQuestion(
                id=q.id,
                dimension=q.dimension,
                multi=q.type == "multi",
                required=q.required,
                scores={o.id: in_units(o.score, unit) for o in q.options}
                if q.type != "level"
                else dict.fromkeys(level_ids(model), 0),
                knockouts={
                    o.id: RuleFired(
                        id=f"knockout:{q.id}",
                        reason={
                            "zh-CN": f"选择了最低类别选项「{o.text['zh-CN']}」",
                            "en": f"Chose the lowest-category option \u201c{o.text['en']}\u201d",
                        },
                    )
                    for o in q.options
                    if o.knockout
                },
                use_max=q.aggregate == "max",
                cap=in_units(q.cap, unit) if q.cap is not None else None,
                enable=conditions.compile_condition(q.enable_when, units) if q.enable_when else None,
                extras=_extras(q, unit),
            )
            for q in model.questions
        )
        self.question_ids = frozenset(q.id for q in model.questions)
        self.validity = timedelta(days=model.validity_days) if model.validity_days else None
        self.format = model.schema_version
        #: the profile scale, lowest level first
        self.levels = level_ids(model)
        self.rules = tuple(
            CompiledRule(
                r.id,
                conditions.compile_condition(r.when, units),
                self.levels.index(r.cap),
                RuleFired(id=r.id, reason=r.reason),
                ConsistencyViolation(id=r.id, message=r.reason),
            )
            for r in model.rules
            if r.cap is not None
        )
        #: format 2's relative caps: (rule, levels to lower by)
        self.lowerings = tuple(
            (CompiledRule(r.id, conditions.compile_condition(r.when, units), 0, RuleFired(id=r.id, reason=r.reason),
                          ConsistencyViolation(id=r.id, message=r.reason)), r.lower_by)
            for r in model.rules
            if r.lower_by is not None
        )  # fmt: skip
        self.stops = tuple(
            CompiledRule(
                s.id,
                conditions.compile_condition(s.when, units),
                0,
                RuleFired(id=s.id, reason=s.reason),
                ConsistencyViolation(id=s.id, message=s.reason),
            )
            for s in model.stops
        )
        #: format 2: whether any condition names a client fact or the document declares one (if
        #: not, scoring computes no client facts: nothing would read them)
        self.uses_facts = bool(model.facts) or any(
            conditions.names_a_fact(cond)
            for cond in (
                *(q.enable_when for q in model.questions),
                *(o.enable_when for q in model.questions for o in q.options),
                *(rule.when for _, _, rule in _rules(model)),
            )
        )
        self.level_question = next((q.id for q in model.questions if q.type == "level"), None)
        self.composition = _compiled_composition(model, self.levels, self.places)
        #: the levels some answer set (and client) can be given, for the pair check
        self.reachable_levels = _reachable_levels(model, self.levels)
        self.consistency = tuple(
            CompiledRule(
                c.id,
                conditions.compile_condition(c.when, units),
                0,
                RuleFired(id=c.id, reason=c.message),
                ConsistencyViolation(id=c.id, message=c.message),
            )
            for c in model.consistency
        )
        bands: list[int] = []
        #: with decimals, the start of each band in units of the total (found by bisection)
        self.band_starts: tuple[int, ...] | None = None
        if self.places:
            self.score_low = 0
            self.band_starts = tuple(in_units(band.min, 10**self.total_places) for band in model.bands)
            bands = [self.levels.index(band.profile) for band in model.bands]
        else:
            self.score_low = int(model.bands[0].min) if model.bands else 0
            for band in model.bands:
                bands += [self.levels.index(band.profile)] * (int(band.max) - int(band.min) + 1)
        self.band_index = tuple(bands)
        self.ref = DocumentRef(id=model.id, version=model.version, hash=digest)
        #: format 2: the horizon and varieties the document declares, each with the question whose
        #: answer replaces it (None: a fixed value, always assumed)
        self.assumed: tuple[tuple[str | None, Assumed], ...] = tuple(
            (derivation.question if derivation.value is None else None,
             Assumed(field=field, value=given, source=derivation.source))
            for field, derivation in (("horizon", model.derive.horizon), ("varieties", model.derive.varieties))
            if derivation is not None and derivation.source is not None
            and (given := derivation.value if derivation.value is not None else derivation.default) is not None
        )  # fmt: skip
        self.variety_order: tuple[tuple[str, str], ...] = ()
        if model.derive.varieties is not None and model.derive.varieties.question is not None:
            mapping = model.derive.varieties.map
            question = next(q for q in model.questions if q.id == model.derive.varieties.question)
            self.variety_order = tuple((o.id, mapping[o.id]) for o in question.options if o.id in mapping)

    @property
    def id(self) -> str:
        """The document id."""
        return self.model.id

    @property
    def version(self) -> str:
        """The document version."""
        return self.model.version

    @property
    def status(self) -> Status:
        """``draft``, ``active`` or ``retired``."""
        return self.model.status

    def profile_for(self, score: int) -> int:
        """Return the index into PROFILES of the band holding ``score``."""
        if self.band_starts is not None:
            index = bisect.bisect_right(self.band_starts, score) - 1
        else:
            index = score - self.score_low
        if not 0 <= index < len(self.band_index):  # unreachable for a validated document
            raise ValueError(f"score {score} is outside every band")
        return self.band_index[index]

    def __repr__(self) -> str:
        return f"<Questionnaire {self.id}@{self.version} {self.hash[:15]}>"


def load_questionnaire(document: Any, source: str | None = None) -> Questionnaire:
    """Validate ``document`` completely and compile it.

    Args:
        document: the parsed JSON (see :func:`suitability.codec.parse_json`).
        source: where it came from, for messages.

    Raises:
        DocumentError: with every schema problem, or else every semantic problem, found.
    """
    if isinstance(document, dict) and document.get("schema_version") == 2:
        model = validated(document, "questionnaire-2", QuestionnaireDoc, CHECKS_2, source)
    else:
        model = validated(document, "questionnaire", QuestionnaireDoc, CHECKS, source)
    return Questionnaire(document, model, content_hash(document), source)


def upgrade(document: Any, source: str | None = None) -> dict[str, Any]:
    """Return the format-1 questionnaire ``document`` written in format 2: the same questions,
    bands, rules and derivations, with its scale (C1..C5, named by the bands' names) declared.

    Raises:
        DocumentError: ``document`` is not a valid format-1 questionnaire (one already in format 2
            included).
    """
    if isinstance(document, dict) and document.get("schema_version") == 2:
        raise DocumentError(
            f"{source or 'questionnaire'}: already in format 2",
            [Problem("expected a format-1 questionnaire (schema_version 1), found schema_version 2",
                     "/schema_version", source=source, code="ALREADY_FORMAT_2")],
        )  # fmt: skip
    model = validated(document, "questionnaire", QuestionnaireDoc, CHECKS, source)
    names = {band.profile: band.name for band in model.bands if band.name is not None}
    upgraded = dict(document)
    upgraded["schema_version"] = 2
    upgraded["scale"] = {
        "levels": [{"id": level, "name": names.get(level) or DEFAULT_LEVEL_NAMES[level]} for level in PROFILES]
    }
    return upgraded


#: The names of the default scale's levels, for a document that names none.
DEFAULT_LEVEL_NAMES: dict[str, LocalizedText] = {
    "C1": {"zh-CN": "保守型", "en": "Conservative"},
    "C2": {"zh-CN": "谨慎型", "en": "Cautious"},
    "C3": {"zh-CN": "稳健型", "en": "Balanced"},
    "C4": {"zh-CN": "积极型", "en": "Growth"},
    "C5": {"zh-CN": "激进型", "en": "Aggressive"},
}
