"""Scoring: one response to one questionnaire version becomes an :class:`Assessment`.

``assess`` is a pure function of its arguments: it never reads the clock (``as_of`` is given) and
never touches storage, so the log can replay it. Order of work (design §2):

1. walk the questions in document order, enabling each by its ``enable_when`` over earlier
   answers; an answer to a disabled question, an unknown id or a wrong shape is an error;
2. score each answered question (multi-select by ``sum`` or ``max``, then ``cap``), total and
   per-dimension sub-scores;
3. the band containing the total gives the profile; every rule whose condition holds caps it;
4. a knockout option, or a client without full civil capacity, forces C1 with the
   lowest-category flag;
5. consistency rules that fire are listed; they make the assessment unusable for decisions;
6. horizon and varieties are derived from their questions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from .conditions import _NO_FACTS, Facts
from .errors import InputError, Problem, ResponseError, pointer
from .ids import client_key, digest_id
from .models import (
    PROFILES,
    AnswerValue,
    Assessment,
    Assumed,
    Client,
    Composition,
    Points,
    Response,
    RuleFired,
    SubProfile,
    as_instant,
)
from .questionnaire import CompiledQuestion, QuestionDoc, Questionnaire, points_text

_NO_CAPACITY = RuleFired(
    id="client:no_full_civil_capacity",
    reason={
        "zh-CN": "客户不具有完全民事行为能力，属于风险承受能力最低类别",
        "en": "The client lacks full civil capacity and is in the lowest risk-tolerance category",
    },
)


_MESSAGES = {
    "ANSWER_TO_DISABLED": "expected no answer to a question its enable_when disables, found one",
    "MISSING_ANSWER": "expected an answer to this required question, found none",
}


def _problem(qid: str, source: str | None, code: str) -> Problem:
    return Problem(_MESSAGES[code], pointer("answers", qid), source=source, code=code)


def _chosen(multi: bool, raw: Any, scores: Mapping[str, int]) -> tuple[list[str], tuple[str, str] | None]:
    """Return the options picked by ``raw``, or the (code, message) of what is wrong with it."""
    if multi:
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            return [], (
                "ANSWER_SHAPE",
                f"expected a non-empty list of option ids for a multi-select question, found {raw!r}",
            )
        if len(set(raw)) != len(raw):
            return [], ("ANSWER_SHAPE", f"expected each option once, found {raw!r}")
        picked = raw
    elif isinstance(raw, list):
        return [], ("ANSWER_SHAPE", f"expected one option id for a single-choice question, found a list of {len(raw)}")
    elif not isinstance(raw, str):
        return [], ("ANSWER_SHAPE", f"expected an option id (a string), found {type(raw).__name__} {raw!r}")
    else:
        picked = [raw]
    unknown = [o for o in picked if o not in scores]
    if unknown:
        return [], ("UNKNOWN_OPTION", f"expected one of {sorted(scores)}, found unknown option(s) {unknown}")
    return picked, None


def _number_text(raw: int | float) -> str:
    """The exact decimal text of a number answer, as printed (``45``, ``2.5``): what conditions compare
    and what the assessment id digests."""
    value = Decimal(str(raw))
    return str(value)


def _extras_problem(q: CompiledQuestion, raw: Any, facts: Facts | None) -> tuple[str, str] | None:
    """What is wrong with ``raw`` given what format 2 adds to question ``q`` (``facts`` None: the
    options' conditions are not checked), or None."""
    extras = q.extras
    assert extras is not None
    if extras.number:
        if (
            isinstance(raw, bool)
            or not isinstance(raw, int | float)
            or raw != raw
            or raw in (float("inf"), -float("inf"))
        ):
            return "ANSWER_SHAPE", f"expected a number for a number question, found {type(raw).__name__} {raw!r}"
        value = Decimal(str(raw))
        if extras.low is not None and extras.high is not None and not extras.low <= value <= extras.high:
            return "ANSWER_OUT_OF_RANGE", f"expected a number from {extras.low} to {extras.high}, found {raw!r}"
        return None
    wrong = _chosen(q.multi, raw, q.scores)[1]
    if wrong is not None:
        return wrong
    picked = raw if isinstance(raw, list) else [raw]
    if len(picked) > 1 and not extras.exclusive.isdisjoint(picked):
        only = sorted(extras.exclusive.intersection(picked))
        return "EXCLUSIVE_OPTION", f"expected option {only[0]!r} alone (it excludes every other), found {raw!r}"
    if facts is not None:
        for option, enabled in extras.option_enable:
            if option in picked and not enabled(facts):
                return (
                    "OPTION_DISABLED",
                    f"expected an option offered after the earlier answers, found {option!r}, which they disable",
                )
    return None


def _shape_problem(q: CompiledQuestion, raw: Any, source: str | None) -> Problem:
    wrong = _chosen(q.multi, raw, q.scores)[1] or ("ANSWER_SHAPE", f"expected a valid answer, found {raw!r}")
    return Problem(wrong[1], pointer("answers", q.id), source=source, code=wrong[0])


def assessment_id(
    questionnaire_hash: str, chosen: Mapping[str, Sequence[str]], client: Client | None, as_of: datetime
) -> str:
    """Return the id of an assessment: a digest of everything it was computed from.

    ``chosen`` is the validated answers in questionnaire order, so equal inputs give equal ids
    whatever the key order of the answers file, and a replayed assessment keeps its id.
    """
    return _assessment_id(questionnaire_hash, "|".join(chosen), map(",".join, chosen.values()), client, as_of)


def _assessment_id(
    questionnaire_hash: str, ids: str, picks: Iterable[str], client: Client | None, as_of: datetime
) -> str:
    """:func:`assessment_id` from the answered question ids joined by ``|`` and each answer's options joined by ``,``."""
    answers = ids + "\x1e" + "\x1f".join(picks)
    material = f"{questionnaire_hash}\x1e{answers}\x1e{client_key(client, 'assessment')}\x1e{as_of.isoformat()}"
    return digest_id("asm_", material.encode())


def assess(
    questionnaire: Questionnaire,
    answers: Response | Mapping[str, AnswerValue],
    client: Client | None,
    as_of: date | datetime,
    *,
    source: str | None = None,
) -> Assessment:
    """Score ``answers`` to ``questionnaire`` into an :class:`Assessment`.

    Args:
        questionnaire: a loaded questionnaire version.
        answers: a :class:`Response`, or its ``answers`` mapping.
        client: the client's KYC facts; None for an anonymous trial.
        as_of: the instant of the assessment (a date means midnight UTC).
        source: the file the answers came from, named in error messages.

    Raises:
        ResponseError: every problem with the answers (unknown ids, wrong shapes, answers to
            disabled questions, missing required answers), each with its JSON Pointer; or a
            client born after ``as_of`` (``/birth_date``).
        InputError: ``as_of`` so late that the end of the assessment's validity is no date.
    """
    given: Mapping[str, Any] = answers.answers if isinstance(answers, Response) else answers
    when = as_instant(as_of)
    if client is not None and client.birth_date is not None:
        client.check_at(when)
    validity = questionnaire.validity
    try:
        valid_until = when + validity if validity is not None else None
    except OverflowError:
        raise InputError(
            f"as_of {when.date().isoformat()} is too late",
            [
                Problem(
                    f"expected an as_of whose validity end (+{validity.days if validity else 0} days) is a date "
                    f"before the year 10000, found {when.isoformat()}",
                    "/as_of",
                    code="AS_OF_OUT_OF_RANGE",
                )
            ],
        ) from None
    problems: list[Problem] = []
    if not questionnaire.question_ids.issuperset(given):
        problems += [
            Problem(
                f"expected a question of {questionnaire.id}@{questionnaire.version}, found unknown question {qid!r}",
                pointer("answers", qid),
                source=source,
                code="UNKNOWN_QUESTION",
            )
            for qid in given
            if qid not in questionnaire.question_ids
        ]
    chosen: dict[str, Sequence[str]] = {}
    dimension_scores = dict.fromkeys(questionnaire.model.dimensions, 0)
    known = client_facts(questionnaire, client, when, source) if questionnaire.uses_facts else _NO_FACTS
    # the scores so far: format 2's enable_when names only dimensions complete by then
    facts = Facts(chosen, dimension_scores, 0, known)
    total = 0
    knocked: list[RuleFired] = []
    get = given.get
    picks: list[str] = []  # each answer's options joined, in question order, for the id
    pick = picks.append
    for q in questionnaire.questions:
        qid, scores, enable = q.id, q.scores, q.enable
        raw = get(qid)
        if enable is not None and not enable(facts):
            if raw is not None:
                problems.append(_problem(qid, source, "ANSWER_TO_DISABLED"))
            continue
        if raw is None:
            if q.required:
                problems.append(_problem(qid, source, "MISSING_ANSWER"))
            continue
        picked: Sequence[str]
        if q.extras is not None:  # format 2: a number, exclusive or conditionally offered options
            # an option condition, or a multi-select answer of several options (exclusive ones
            # stand alone), is checked here; any other answer is checked below as format 1's are
            wrong = _extras_problem(q, raw, facts) if q.extras.checks(raw) else None
            if wrong is not None:
                problems.append(Problem(wrong[1], pointer("answers", qid), source=source, code=wrong[0]))
                continue
            if q.extras.number:
                value = _number_text(raw)
                score = q.extras.score_of(Decimal(value))
                chosen[qid] = (value,)
                pick(value)
                total += score
                dimension_scores[q.dimension] += score
                continue
        # The common shapes are checked cheaply here; anything else goes through _chosen,
        # which either accepts it or says what is wrong.
        if not q.multi:
            single = scores.get(raw) if type(raw) is str else None
            if single is None:
                problems.append(_shape_problem(q, raw, source))
                continue
            picked, score = (raw,), single
            pick(raw)
        else:
            # an option that is not a string (``[{}]``) is no option: never a dict key looked up
            values = [scores.get(o) if type(o) is str else None for o in raw] if type(raw) is list and raw else [None]
            if None in values or len(set(raw)) != len(raw):
                problems.append(_shape_problem(q, raw, source))
                continue
            picked = raw
            pick(",".join(raw))
            ints = cast(list[int], values)  # no None among them, checked above
            score = max(ints) if q.use_max else sum(ints)
            if q.cap is not None and score > q.cap:
                score = q.cap
        chosen[qid] = picked
        total += score
        dimension_scores[q.dimension] += score
        if q.knockouts:
            for option in picked:
                if option in q.knockouts:
                    knocked.append(q.knockouts[option])
    if problems:
        raise ResponseError(
            f"the answers do not fit {questionnaire.id}@{questionnaire.version}: {len(problems)} problem(s)",
            problems,
        )

    if questionnaire.format != 1:
        weights = questionnaire.weights
        if weights is not None:  # the weighted sum, in units of the total
            total = 0
            for weight, score in zip(weights, dimension_scores.values(), strict=True):
                total += weight * score
        full = Facts(chosen, dimension_scores, total, known)
        return _assess_2(questionnaire, chosen, full, knocked, client, when, valid_until, source)
    full = Facts(chosen, dimension_scores, total, known)
    level = questionnaire.profile_for(total)
    fired: list[RuleFired] = list(knocked)
    if client is not None and not client.full_civil_capacity:
        fired.append(_NO_CAPACITY)
    for rule in questionnaire.rules:
        if rule.when(full):
            fired.append(rule.fired)
            level = min(level, rule.cap)
    lowest = bool(knocked) or (client is not None and not client.full_civil_capacity)
    if lowest:
        level = 0
    violations = [c.violation for c in questionnaire.consistency if c.when(full)]

    horizon, varieties = _derived(questionnaire, chosen)

    # Every value is built here from the compiled questionnaire and validated inputs, each of its
    # field's type (new lists and dicts, the questionnaire's own validated models), so the model is
    # not validated again (issue 16): tests/property/test_assessment_construct.py holds it equal to
    # the validated one.
    return _built(
        {
            "id": _assessment_id(questionnaire.hash, "|".join(chosen), picks, client, when),
            "client_id": client.client_id if client else None,
            "profile": PROFILES[level],
            "score": total,
            "dimension_scores": dimension_scores,
            "lowest_category": lowest,
            "rules_fired": fired,
            "consistency_violations": violations,
            "horizon": horizon,
            "varieties": varieties,
            "assessed_at": when,
            "valid_until": valid_until,
            "questionnaire": questionnaire.ref,
            "format": None,
            "profile_scored": None,
            "composition": None,
            "not_eligible": None,
            "assumed": None,
        }
    )


_ASSESSMENT_FIELDS = frozenset(Assessment.model_fields)
_new_assessment = Assessment.__new__
_set = object.__setattr__


def _built(values: dict[str, Any]) -> Assessment:
    """An Assessment of ``values`` (every field, in order) without validation: what pydantic's
    ``model_construct`` ends with, without its per-field loop (as matching._built for decisions)."""
    assessment = _new_assessment(Assessment)
    _set(assessment, "__dict__", values)
    _set(assessment, "__pydantic_fields_set__", set(_ASSESSMENT_FIELDS))
    _set(assessment, "__pydantic_extra__", None)
    _set(assessment, "__pydantic_private__", None)
    return assessment


def _assumed(questionnaire: Questionnaire, chosen: Mapping[str, Sequence[str]]) -> list[Assumed]:
    """Format 2: the horizon and varieties a questionnaire declares (a fixed value, or the default of
    an unanswered question), each with its source."""
    # compiled once (questionnaire.assumed): a fixed value always, a default when its question is unanswered
    return [assumed for question, assumed in questionnaire.assumed if question is None or question not in chosen]


def _derived(questionnaire: Questionnaire, chosen: Mapping[str, Sequence[str]]) -> tuple[str | None, list[str]]:
    """The client's horizon and varieties, from the questions the document derives them from."""
    derive = questionnaire.model.derive
    horizon: str | None = None
    asked = derive.horizon.question if derive.horizon is not None else None
    if derive.horizon is not None and asked is not None and asked in chosen:
        horizon = derive.horizon.map[chosen[asked][0]]
    varieties: list[str] = []
    asked = derive.varieties.question if derive.varieties is not None else None
    if asked is not None and asked in chosen:
        picked_varieties = chosen[asked]
        # In the order of the question's options: a JSON object's key order carries no meaning
        # (and canonical JSON sorts it), so it must not order a result.
        for option_id, category in questionnaire.variety_order:
            if option_id in picked_varieties and category not in varieties:
                varieties.append(category)
    return horizon, varieties


def client_facts(
    questionnaire: Questionnaire, client: Client | None, when: datetime, source: str | None = None
) -> dict[str, Any]:
    """The client facts a format-2 questionnaire's conditions see at ``when``: the built-in ones
    (age at ``when``, investor type, civil capacity, experience) and the facts it declares, each
    only when known.

    Raises:
        ResponseError: a declared fact's value is not of its declared type or allowed values.
    """
    if client is None:
        return {}
    known: dict[str, Any] = {
        "investor_type": client.investor_type,
        "full_civil_capacity": client.full_civil_capacity,
    }
    age = client.age_at(when.date())
    if age is not None:
        known["age"] = age
    if client.experience_years is not None:
        known["experience_years"] = client.experience_years
    if client.classes_traded is not None:
        known["classes_traded"] = frozenset(client.classes_traded)
    given = client.facts or {}
    problems: list[Problem] = []
    for fact in questionnaire.model.facts:
        if fact.id not in given:
            continue
        value = given[fact.id]
        wrong = _fact_problem(fact.type, fact.values, value)
        if wrong is not None:
            problems.append(
                Problem(
                    f"expected {wrong} for fact {fact.id!r} of {questionnaire.id}, found {value!r}",
                    pointer("facts", fact.id),
                    source=source,
                    code="FACT_INVALID",
                )
            )
            continue
        known[fact.id] = frozenset(value) if isinstance(value, list) else value
    if problems:
        raise ResponseError(f"client {client.client_id}: facts do not fit {questionnaire.id}", problems)
    return known


def _fact_problem(kind: str, allowed: Sequence[str] | None, value: Any) -> str | None:
    if kind == "boolean":
        return None if isinstance(value, bool) else "true or false"
    if kind == "integer":
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if kind == "string":
        if not isinstance(value, str):
            return "a string"
        values = [value]
    elif not isinstance(value, list):
        return "a list of values"
    else:
        values = value
    if allowed is not None and any(v not in allowed for v in values):
        return f"values among {sorted(allowed)}"
    return None


def _composed(questionnaire: Questionnaire, scores: Mapping[str, int], total: int) -> tuple[int, Composition | None]:
    """The level index the scores give: by total-score bands, or by the document's composition."""
    comp = questionnaire.composition
    if comp is None:
        return questionnaire.profile_for(total), None
    parts: list[SubProfile] = []
    found: list[tuple[str, int]] = []
    decimal = questionnaire.places != 0
    for part in comp.parts:
        score = 0
        if part.weights is None:
            for dim in part.dimensions:
                score += scores[dim]
        else:
            for dim, weight in zip(part.dimensions, part.weights, strict=True):
                score += weight * scores[dim]
        band, level = part.band_of(score)
        found.append((band, level))
        parts.append(
            SubProfile(
                id=part.id,
                score=points_text(score, part.places) if decimal else score,
                band=band,
                level=questionnaire.levels[level] if level >= 0 else None,
            )
        )
    if comp.method == "chart":
        level = comp.chart[(found[0][0], found[1][0])]
    elif comp.method == "min":
        level = min(index for _, index in found)
    else:
        level = max(index for _, index in found)
    return level, Composition(method=comp.method, parts=parts, level=questionnaire.levels[level])


def _assess_2(
    questionnaire: Questionnaire,
    chosen: dict[str, Sequence[str]],
    full: Facts,
    knocked: list[RuleFired],
    client: Client | None,
    when: datetime,
    valid_until: datetime | None,
    source: str | None,
) -> Assessment:
    """Steps 3 to 6 for a format-2 questionnaire: a composed profile, stop outcomes, relative caps
    and the client's choice of a more prudent level.

    Order: a stop that holds gives ``not_eligible`` and no profile; otherwise the bands (or the
    composition) give a level, each relative cap that holds lowers it (cumulatively, never below
    the lowest level), each cap that holds caps it, a knockout or a client without full civil
    capacity forces the lowest level; then a level the client chose, at or below that level,
    becomes the profile, the scored level recorded beside it.
    """
    levels = questionnaire.levels
    fired: list[RuleFired] = list(knocked)
    if client is not None and not client.full_civil_capacity:
        fired.append(_NO_CAPACITY)
    lowest = bool(knocked) or (client is not None and not client.full_civil_capacity)
    stop = next((s for s in questionnaire.stops if s.when(full)), None)
    profile: str | None = None
    scored: str | None = None
    composition: Composition | None = None
    if stop is None:
        level, composition = _composed(questionnaire, full.dimension_scores, full.total)
        for rule, steps in questionnaire.lowerings:
            if rule.when(full):
                fired.append(rule.fired)
                level = max(level - steps, 0)
        for rule in questionnaire.rules:
            if rule.when(full):
                fired.append(rule.fired)
                level = min(level, rule.cap)
        if lowest:
            level = 0
        profile = levels[level]
        choice = questionnaire.level_question
        if choice is not None and choice in chosen:
            wanted = chosen[choice][0]
            if levels.index(wanted) > level:
                raise ResponseError(
                    f"the answers do not fit {questionnaire.id}@{questionnaire.version}: 1 problem(s)",
                    [
                        Problem(
                            f"expected a level at or below the scored level {profile} (a client may choose a more "
                            f"prudent level, never a higher one), found {wanted}",
                            pointer("answers", choice),
                            source=source,
                            code="CHOICE_ABOVE_SCORED",
                        )
                    ],
                )
            profile, scored = wanted, profile
    violations = [c.violation for c in questionnaire.consistency if c.when(full)]
    horizon, varieties = _derived(questionnaire, chosen)
    assumed = _assumed(questionnaire, chosen)
    for fact in assumed:
        if fact.field == "horizon":
            horizon = cast(str, fact.value)
        else:
            varieties = list(fact.value)
    score: Points = full.total
    dimension_scores: dict[str, Points] = dict(full.dimension_scores)
    if questionnaire.places:  # decimals: exact text, as printed ("2.5"), never a float
        score = points_text(full.total, questionnaire.total_places)
        dimension_scores = {d: points_text(v, questionnaire.places) for d, v in full.dimension_scores.items()}
    # built without validation, as format 1's (every value is of its field's type, from the compiled
    # questionnaire and validated answers; a profile or a stop, exactly one, by the branches above):
    # tests/test_format2_decimal.py holds it equal to the validated model over every format-2 document.
    return _built(
        {
            "id": assessment_id(questionnaire.hash, chosen, client, when),
            "client_id": client.client_id if client else None,
            "profile": profile,
            "score": score,
            "dimension_scores": dimension_scores,
            "lowest_category": lowest,
            "rules_fired": fired,
            "consistency_violations": violations,
            "horizon": horizon,
            "varieties": varieties,
            "assessed_at": when,
            "valid_until": valid_until,
            "questionnaire": questionnaire.ref,
            "format": 2,
            "profile_scored": scored,
            "composition": composition,
            "not_eligible": stop.fired if stop is not None else None,
            "assumed": assumed or None,
        }
    )


def next_question(
    questionnaire: Questionnaire,
    answers: Mapping[str, AnswerValue],
    skipped: frozenset[str] = frozenset(),
    client: Client | None = None,
    as_of: date | datetime | None = None,
) -> QuestionDoc | None:
    """Return the first enabled question not yet answered or skipped, for asking one at a time.

    ``answers`` must hold only answers that :func:`check_answer` accepted. ``client`` and ``as_of``
    give the client facts a format-2 ``enable_when`` may name (without them, none is known).
    """
    chosen: dict[str, Sequence[str]] = {}
    scores = dict.fromkeys(questionnaire.model.dimensions, 0)
    known: Mapping[str, Any] = _NO_FACTS
    if questionnaire.format != 1 and client is not None and as_of is not None:
        known = client_facts(questionnaire, client, as_instant(as_of))
    facts = Facts(chosen, scores, 0, known)
    for q, doc in zip(questionnaire.questions, questionnaire.model.questions, strict=True):
        if q.enable is not None and not q.enable(facts):
            continue
        raw = answers.get(q.id)
        if raw is not None:
            if q.extras is not None and q.extras.number:
                value = _number_text(raw)  # type: ignore[arg-type]
                chosen[q.id] = (value,)
                scores[q.dimension] += q.extras.score_of(Decimal(value))
                continue
            picked = [raw] if isinstance(raw, str) else raw
            chosen[q.id] = picked
            points = [q.scores[o] for o in picked]
            score = (max(points) if q.use_max else sum(points)) if points else 0
            scores[q.dimension] += min(score, q.cap) if q.cap is not None else score
        elif q.id not in skipped:
            return doc
    return None


def check_answer(questionnaire: Questionnaire, question_id: str, raw: Any) -> str | None:
    """Return what is wrong with ``raw`` as an answer to ``question_id``, or None if it fits."""
    for q in questionnaire.questions:
        if q.id == question_id:
            wrong = _chosen(q.multi, raw, q.scores)[1] if q.extras is None else _extras_problem(q, raw, None)
            return wrong[1] if wrong else None
    return f"expected a question of {questionnaire.id}, found {question_id!r}"
