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

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from .conditions import Facts
from .errors import Problem, ResponseError, pointer
from .models import (
    PROFILES,
    AnswerValue,
    Assessment,
    Client,
    ConsistencyViolation,
    Response,
    RuleFired,
    as_instant,
)
from .questionnaire import QuestionDoc, Questionnaire

_NO_CAPACITY = RuleFired(
    id="client:no_full_civil_capacity",
    reason={
        "zh-CN": "客户不具有完全民事行为能力，属于风险承受能力最低类别",
        "en": "The client lacks full civil capacity and is in the lowest risk-tolerance category",
    },
)


def _knockout_reason(qid: str, option_text: Mapping[str, str]) -> RuleFired:
    return RuleFired(
        id=f"knockout:{qid}",
        reason={
            "zh-CN": f"选择了最低类别选项「{option_text.get('zh-CN', '')}」",
            "en": f"Chose the lowest-category option \u201c{option_text.get('en', '')}\u201d",
        },
    )


def _chosen(q_multi: bool, raw: Any, scores: Mapping[str, int], where: str) -> tuple[list[str], Problem | None]:
    if q_multi:
        if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
            return [], Problem(
                f"expected a non-empty list of option ids for a multi-select question, found {raw!r}",
                where,
                code="ANSWER_SHAPE",
            )
        if len(set(raw)) != len(raw):
            return [], Problem(f"expected each option once, found {raw!r}", where, code="ANSWER_SHAPE")
        picked = raw
    else:
        if isinstance(raw, list):
            return [], Problem(
                f"expected one option id for a single-choice question, found a list of {len(raw)}",
                where,
                code="ANSWER_SHAPE",
            )
        if not isinstance(raw, str):
            return [], Problem(
                f"expected an option id (a string), found {type(raw).__name__} {raw!r}",
                where,
                code="ANSWER_SHAPE",
            )
        picked = [raw]
    unknown = [o for o in picked if o not in scores]
    if unknown:
        return [], Problem(
            f"expected one of {sorted(scores)}, found unknown option(s) {unknown}",
            where,
            code="UNKNOWN_OPTION",
        )
    return picked, None


def assessment_id(questionnaire_hash: str, answers: Mapping[str, Any], client: Client | None, as_of: datetime) -> str:
    """Return the id of an assessment: a digest of everything it was computed from.

    Equal inputs give equal ids, so a replayed assessment has the id of the original.
    """
    material = json.dumps(
        [
            questionnaire_hash,
            answers,
            client.model_dump(mode="json") if client else None,
            as_of.isoformat(),
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "asm_" + hashlib.sha256(material.encode()).hexdigest()[:32]


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
            disabled questions, missing required answers), each with its JSON Pointer.
    """
    given: Mapping[str, Any] = answers.answers if isinstance(answers, Response) else answers
    when = as_instant(as_of)
    problems: list[Problem] = [
        Problem(
            f"expected a question of {questionnaire.id}@{questionnaire.version}, found unknown question {qid!r}",
            pointer("answers", qid),
            source=source,
            code="UNKNOWN_QUESTION",
        )
        for qid in given
        if qid not in questionnaire.question_ids
    ]
    chosen: dict[str, frozenset[str]] = {}
    facts = Facts(chosen, {}, 0)
    dimension_scores = dict.fromkeys(questionnaire.model.dimensions, 0)
    total = 0
    knocked: list[RuleFired] = []
    for q in questionnaire.questions:
        raw = given.get(q.id)
        if q.enable is not None and not q.enable(facts):
            if raw is not None:
                problems.append(
                    Problem(
                        "expected no answer to a question its enable_when disables, found one",
                        pointer("answers", q.id),
                        source=source,
                        code="ANSWER_TO_DISABLED",
                    )
                )
            continue
        if raw is None:
            if q.required:
                problems.append(
                    Problem(
                        "expected an answer to this required question, found none",
                        pointer("answers", q.id),
                        source=source,
                        code="MISSING_ANSWER",
                    )
                )
            continue
        picked, problem = _chosen(q.multi, raw, q.scores, pointer("answers", q.id))
        if problem is not None:
            problems.append(Problem(problem.message, problem.pointer, source=source, code=problem.code))
            continue
        chosen[q.id] = frozenset(picked)
        if q.multi:
            values = [q.scores[o] for o in picked]
            score = max(values) if q.use_max else sum(values)
            if q.cap is not None and score > q.cap:
                score = q.cap
        else:
            score = q.scores[picked[0]]
        total += score
        dimension_scores[q.dimension] += score
        if q.knockouts:
            for option in picked:
                if option in q.knockouts:
                    knocked.append(_knockout_reason(q.id, questionnaire.option_text[q.id][option]))
    if problems:
        raise ResponseError(
            f"the answers do not fit {questionnaire.id}@{questionnaire.version}: {len(problems)} problem(s)",
            problems,
        )

    full = Facts(chosen, dimension_scores, total)
    level = questionnaire.profile_for(total)
    fired: list[RuleFired] = list(knocked)
    if client is not None and not client.full_civil_capacity:
        fired.append(_NO_CAPACITY)
    for rule in questionnaire.rules:
        if rule.when(full):
            fired.append(RuleFired(id=rule.id, reason=rule.text))
            level = min(level, rule.cap)
    lowest = bool(knocked) or (client is not None and not client.full_civil_capacity)
    if lowest:
        level = 0
    violations = [ConsistencyViolation(id=c.id, message=c.text) for c in questionnaire.consistency if c.when(full)]

    derive = questionnaire.model.derive
    horizon: str | None = None
    if derive.horizon is not None and derive.horizon.question in chosen:
        horizon = derive.horizon.map[next(iter(chosen[derive.horizon.question]))]
    varieties: list[str] = []
    if derive.varieties is not None and derive.varieties.question in chosen:
        picked_varieties = chosen[derive.varieties.question]
        for option_id, category in derive.varieties.map.items():
            if option_id in picked_varieties and category not in varieties:
                varieties.append(category)

    validity = questionnaire.model.validity_days
    return Assessment(
        id=assessment_id(questionnaire.hash, given, client, when),
        client_id=client.client_id if client else None,
        profile=PROFILES[level],
        score=total,
        dimension_scores=dimension_scores,
        lowest_category=lowest,
        rules_fired=fired,
        consistency_violations=violations,
        horizon=horizon,
        varieties=varieties,
        assessed_at=when,
        valid_until=when + timedelta(days=validity) if validity else None,
        questionnaire=questionnaire.ref,
    )


def next_question(
    questionnaire: Questionnaire,
    answers: Mapping[str, AnswerValue],
    skipped: frozenset[str] = frozenset(),
) -> QuestionDoc | None:
    """Return the first enabled question not yet answered or skipped, for asking one at a time.

    ``answers`` must hold only answers that :func:`check_answer` accepted.
    """
    chosen: dict[str, frozenset[str]] = {}
    facts = Facts(chosen, {}, 0)
    for q, doc in zip(questionnaire.questions, questionnaire.model.questions, strict=True):
        if q.enable is not None and not q.enable(facts):
            continue
        raw = answers.get(q.id)
        if raw is not None:
            chosen[q.id] = frozenset([raw] if isinstance(raw, str) else raw)
        elif q.id not in skipped:
            return doc
    return None


def check_answer(questionnaire: Questionnaire, question_id: str, raw: Any) -> str | None:
    """Return what is wrong with ``raw`` as an answer to ``question_id``, or None if it fits."""
    for q in questionnaire.questions:
        if q.id == question_id:
            problem = _chosen(q.multi, raw, q.scores, "")[1]
            return problem.message if problem else None
    return f"expected a question of {questionnaire.id}, found {question_id!r}"
