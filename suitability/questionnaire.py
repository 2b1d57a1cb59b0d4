"""Questionnaire documents: model, complete validation, and compilation for fast scoring.

A questionnaire arrives as parsed JSON. :func:`load_questionnaire` checks it against the published
schema, then runs the checks a schema cannot express (design §2): unique ids, references,
``enable_when`` order, band coverage of every reachable score, knockout placement, rule and
derivation references. Every problem is collected and raised at once as a
:class:`~suitability.errors.DocumentError`, each with its JSON Pointer.

A valid document is compiled once into tuples and closures (:class:`Questionnaire`), so scoring
never re-reads or re-validates the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from . import conditions
from ._schema import validated
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


def _semantic_problems(doc: QuestionnaireDoc) -> list[Problem]:
    problems: list[Problem] = []
    dims = frozenset(doc.dimensions)
    for i, name in enumerate(doc.dimensions):
        if doc.dimensions.index(name) != i:
            problems.append(Problem(f"expected unique dimensions, found {name!r} again", pointer("dimensions", i)))

    options: dict[str, frozenset[str]] = {}
    for q in doc.questions:  # the first question of an id wins; a duplicate is reported below
        options.setdefault(q.id, frozenset(o.id for o in q.options))
    seen: list[str] = []
    for i, q in enumerate(doc.questions):
        where = pointer("questions", i)
        if q.id in seen:
            problems.append(Problem(f"expected unique question ids, found {q.id!r} again", where + "/id"))
        if q.dimension not in dims:
            problems.append(
                Problem(
                    f"expected one of the declared dimensions {sorted(dims)}, found {q.dimension!r}",
                    where + "/dimension",
                )
            )
        ids = [o.id for o in q.options]
        for j, oid in enumerate(ids):
            if ids.index(oid) != j:
                problems.append(
                    Problem(
                        f"expected unique option ids, found {oid!r} again",
                        where + pointer("options", j, "id"),
                    )
                )
        if q.enable_when is not None:
            problems += conditions.check(
                q.enable_when,
                where + "/enable_when",
                options,
                dims,
                visible=frozenset(seen),
                scores_allowed=False,
            )
        if any(o.knockout for o in q.options) and (not q.required or q.enable_when is not None):
            problems.append(
                Problem(
                    "expected a knockout question to be required and always enabled, found one "
                    "that can be skipped (the lowest category must not be avoidable)",
                    where,
                    code="KNOCKOUT_SKIPPABLE",
                )
            )
        seen.append(q.id)

    # Bands: C order, contiguous, non-overlapping, covering every reachable score.
    last: BandDoc | None = None
    for i, band in enumerate(doc.bands):
        where = pointer("bands", i)
        if band.min > band.max:
            problems.append(Problem(f"expected min <= max, found {band.min} > {band.max}", where))
        if last is not None:
            if PROFILES.index(band.profile) <= PROFILES.index(last.profile):
                problems.append(
                    Problem(
                        f"expected bands in C order, found {band.profile} after {last.profile}",
                        where + "/profile",
                    )
                )
            if band.min != last.max + 1:
                kind = "overlap" if band.min <= last.max else "gap"
                problems.append(
                    Problem(
                        f"expected this band to start at {last.max + 1}, found {band.min} ({kind})",
                        where + "/min",
                        code="BAND_" + kind.upper(),
                    )
                )
        last = band
    if doc.questions and doc.bands:
        low = sum(score_range(q)[0] for q in doc.questions)
        high = sum(score_range(q)[1] for q in doc.questions)
        if doc.bands[0].min > low:
            problems.append(
                Problem(
                    f"expected the bands to cover the lowest reachable score {low}, "
                    f"found the first band starting at {doc.bands[0].min}",
                    "/bands/0/min",
                    code="BAND_COVERAGE",
                )
            )
        if doc.bands[-1].max < high:
            problems.append(
                Problem(
                    f"expected the bands to cover the highest reachable score {high}, "
                    f"found the last band ending at {doc.bands[-1].max}",
                    pointer("bands", len(doc.bands) - 1, "max"),
                    code="BAND_COVERAGE",
                )
            )

    rule_ids: set[str] = set()
    sections: tuple[tuple[str, Sequence[RuleDoc | ConsistencyDoc]], ...] = (
        ("rules", doc.rules),
        ("consistency", doc.consistency),
    )
    for section, rules in sections:
        for i, rule in enumerate(rules):
            where = pointer(section, i)
            if rule.id in rule_ids:
                problems.append(Problem(f"expected unique rule ids, found {rule.id!r} again", where + "/id"))
            rule_ids.add(rule.id)
            problems += conditions.check(rule.when, where + "/when", options, dims)

    by_id = {q.id: q for q in doc.questions}
    for field in ("horizon", "varieties"):
        derivation: DerivationDoc | None = getattr(doc.derive, field)
        if derivation is None:
            continue
        where = pointer("derive", field)
        target = by_id.get(derivation.question)
        if target is None:
            problems.append(
                Problem(
                    f"expected a known question id, found {derivation.question!r}",
                    where + "/question",
                )
            )
            continue
        if field == "horizon" and target.type != "single":
            problems.append(
                Problem(
                    "expected a single-choice question for the horizon, found a multi-select",
                    where + "/question",
                )
            )
        for key in derivation.map:
            if key not in options[target.id]:
                problems.append(
                    Problem(
                        f"expected an option of question {target.id!r}, found {key!r}",
                        where + pointer("map", key),
                    )
                )
        for option in target.options:
            if option.id not in derivation.map:
                problems.append(Problem(f"expected a mapping for option {option.id!r}, found none", where + "/map"))
    return problems


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
    model = validated(document, "questionnaire", QuestionnaireDoc, _semantic_problems, source)
    return Questionnaire(document, model, content_hash(document), source)
