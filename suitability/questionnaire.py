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

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from . import conditions
from ._schema import Check, item_by_item, validated
from .codec import content_hash
from .errors import Problem, pointer
from .models import PROFILES, ConsistencyViolation, DocumentRef, LocalizedText, Profile, RuleFired

Status = Literal["draft", "active", "retired"]


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OptionDoc(_Doc):
    """One answer option and its score."""

    id: str
    text: LocalizedText
    score: int
    knockout: Literal["lowest_category"] | None = None


class QuestionDoc(_Doc):
    """One question as written in the document."""

    id: str
    dimension: str
    type: Literal["single", "multi"]
    required: bool = True
    text: LocalizedText
    help: LocalizedText | None = None
    options: list[OptionDoc]
    aggregate: Literal["sum", "max"] | None = None
    cap: int | None = None
    enable_when: dict[str, Any] | None = None


class BandDoc(_Doc):
    """The scores ``min``..``max`` (inclusive) that give ``profile``."""

    profile: Profile
    min: int
    max: int
    name: LocalizedText | None = None


class RuleDoc(_Doc):
    """A cap: when ``when`` holds, the profile is at most ``cap``."""

    id: str
    when: dict[str, Any]
    cap: Profile
    reason: LocalizedText


class ConsistencyDoc(_Doc):
    """A contradiction between answers: when ``when`` holds, the assessment is inconsistent."""

    id: str
    when: dict[str, Any]
    message: LocalizedText


class DerivationDoc(_Doc):
    """Maps the options of one question to horizon or variety categories."""

    question: str
    map: dict[str, str]


class DeriveDoc(_Doc):
    """Which questions give the client's horizon and varieties."""

    horizon: DerivationDoc | None = None
    varieties: DerivationDoc | None = None


class QuestionnaireDoc(_Doc):
    """The questionnaire document, schema_version 1 (design §2)."""

    kind: Literal["questionnaire"]
    schema_version: Literal[1]
    id: str
    version: str
    status: Status
    effective_from: date
    validity_days: int | None = None
    title: LocalizedText
    description: LocalizedText | None = None
    dimensions: list[str]
    questions: list[QuestionDoc]
    bands: list[BandDoc]
    rules: list[RuleDoc] = []
    consistency: list[ConsistencyDoc] = []
    derive: DeriveDoc = DeriveDoc()


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


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule or consistency check ready for evaluation, with the result it adds when it holds."""

    id: str
    when: conditions.Predicate
    cap: int  # index into PROFILES; unused for consistency rules
    fired: RuleFired
    violation: ConsistencyViolation


def score_range(q: QuestionDoc) -> tuple[int, int]:
    """Return the lowest and highest score question ``q`` can contribute (0 when skipped)."""
    scores = [o.score for o in q.options]
    if q.type == "multi" and q.aggregate == "sum":
        negatives = [s for s in scores if s < 0]
        positives = [s for s in scores if s > 0]
        low = sum(negatives) if negatives else min(scores)
        high = sum(positives) if positives else max(scores)
    else:
        low, high = min(scores), max(scores)
    if q.cap is not None:
        low, high = min(low, q.cap), min(high, q.cap)
    if not q.required or q.enable_when is not None:
        low, high = min(low, 0), max(high, 0)
    return low, high


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
    options, dims = _options_by_question(doc), frozenset(doc.dimensions)
    for i, q in enumerate(doc.questions):
        if q.enable_when is not None:
            earlier = frozenset(p.id for p in doc.questions[:i])
            where = pointer("questions", i, "enable_when")
            yield from conditions.check(q.enable_when, where, options, dims, visible=earlier, scores_allowed=False)


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
    """Bands go up the profiles, C1 first."""
    for i, (last, band) in enumerate(itertools.pairwise(doc.bands), start=1):
        if PROFILES.index(band.profile) <= PROFILES.index(last.profile):
            yield Problem(
                f"expected bands in C order, found {band.profile} after {last.profile}", pointer("bands", i, "profile")
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
    low = sum(score_range(q)[0] for q in doc.questions)
    high = sum(score_range(q)[1] for q in doc.questions)
    first, last = doc.bands[0], doc.bands[-1]
    if first.min > low:
        yield Problem(
            f"expected the bands to cover the lowest reachable score {low}, found the first band starting at {first.min}",
            "/bands/0/min",
            code="BAND_COVERAGE",
        )
    if last.max < high:
        yield Problem(
            f"expected the bands to cover the highest reachable score {high}, found the last band ending at {last.max}",
            pointer("bands", len(doc.bands) - 1, "max"),
            code="BAND_COVERAGE",
        )


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
    options, dims = _options_by_question(doc), frozenset(doc.dimensions)
    for section, i, rule in _rules(doc):
        yield from conditions.check(rule.when, pointer(section, i, "when"), options, dims)


def derivations_resolve(doc: QuestionnaireDoc) -> Iterator[Problem]:
    """Each derivation names a known question (a single-choice one for the horizon) and maps
    exactly that question's options."""
    for field in ("horizon", "varieties"):
        derivation: DerivationDoc | None = getattr(doc.derive, field)
        if derivation is not None:
            yield from _derivation_problems(doc, field, derivation)


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


def _options_by_question(doc: QuestionnaireDoc) -> dict[str, frozenset[str]]:
    options: dict[str, frozenset[str]] = {}
    for q in doc.questions:  # the first question of an id wins; a duplicate is a problem of its own
        options.setdefault(q.id, frozenset(o.id for o in q.options))
    return options


def _rules(doc: QuestionnaireDoc) -> Iterator[tuple[str, int, RuleDoc | ConsistencyDoc]]:
    sections: tuple[tuple[str, Sequence[RuleDoc | ConsistencyDoc]], ...] = (
        ("rules", doc.rules),
        ("consistency", doc.consistency),
    )
    for section, rules in sections:
        for i, rule in enumerate(rules):
            yield section, i, rule


def _derivation_problems(doc: QuestionnaireDoc, field: str, derivation: DerivationDoc) -> Iterator[Problem]:
    where = pointer("derive", field)
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
        self.questions = tuple(
            CompiledQuestion(
                id=q.id,
                dimension=q.dimension,
                multi=q.type == "multi",
                required=q.required,
                scores={o.id: o.score for o in q.options},
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
                cap=q.cap,
                enable=conditions.compile_condition(q.enable_when) if q.enable_when else None,
            )
            for q in model.questions
        )
        self.question_ids = frozenset(q.id for q in model.questions)
        self.validity = timedelta(days=model.validity_days) if model.validity_days else None
        self.rules = tuple(
            CompiledRule(
                r.id,
                conditions.compile_condition(r.when),
                PROFILES.index(r.cap),
                RuleFired(id=r.id, reason=r.reason),
                ConsistencyViolation(id=r.id, message=r.reason),
            )
            for r in model.rules
        )
        self.consistency = tuple(
            CompiledRule(
                c.id,
                conditions.compile_condition(c.when),
                0,
                RuleFired(id=c.id, reason=c.message),
                ConsistencyViolation(id=c.id, message=c.message),
            )
            for c in model.consistency
        )
        self.score_low = model.bands[0].min
        bands: list[int] = []
        for band in model.bands:
            bands += [PROFILES.index(band.profile)] * (band.max - band.min + 1)
        self.band_index = tuple(bands)
        self.ref = DocumentRef(id=model.id, version=model.version, hash=digest)
        self.variety_order: tuple[tuple[str, str], ...] = ()
        if model.derive.varieties is not None:
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
    model = validated(document, "questionnaire", QuestionnaireDoc, CHECKS, source)
    return Questionnaire(document, model, content_hash(document), source)
