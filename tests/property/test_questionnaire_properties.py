"""Properties of questionnaires and scoring (issue: versioned questionnaires scored into C1–C5)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability import ResponseError, assess, content_hash, load_questionnaire
from suitability.models import PROFILES

from .strategies import AS_OF, QUESTIONNAIRE, answers, json_values

DOC: dict[str, Any] = QUESTIONNAIRE.document


def _shuffled(value: Any, rnd: Any) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


@given(value=json_values, rnd=st.randoms(), indent=st.sampled_from([None, 0, 2, "\t"]))
def test_hash_ignores_key_order_and_whitespace(value: Any, rnd: Any, indent: Any) -> None:
    """ "the same for any key order or whitespace of the same document" (content hash, RFC 8785)."""
    from suitability import parse_json

    text = json.dumps(_shuffled(value, rnd), indent=indent, ensure_ascii=rnd.random() < 0.5)
    assert content_hash(parse_json(text.encode())) == content_hash(value)


@given(value=json_values, other=json_values)
def test_hash_changes_with_content(value: Any, other: Any) -> None:
    """ "different for any change of content"."""
    if value != other or type(value) is not type(other):
        same = json.dumps(value, sort_keys=True) == json.dumps(other, sort_keys=True)
        assert (content_hash(value) == content_hash(other)) == same


@settings(max_examples=50)
@given(data=st.data())
def test_document_edits_change_the_hash(data: st.DataObject) -> None:
    """Any change to a questionnaire document's content changes its hash."""
    doc = copy.deepcopy(DOC)
    q = data.draw(st.integers(0, len(doc["questions"]) - 1))
    o = data.draw(st.integers(0, len(doc["questions"][q]["options"]) - 1))
    doc["questions"][q]["options"][o]["score"] += data.draw(st.sampled_from([-1, 1]))
    assert content_hash(doc) != content_hash(DOC)


@given(given_answers=answers())
def test_bands_partition_every_reachable_score(given_answers: dict[str, Any]) -> None:
    """Bands are contiguous, non-overlapping and cover every score the questionnaire can produce."""
    a = assess(QUESTIONNAIRE, given_answers, None, AS_OF)
    holding = [b for b in QUESTIONNAIRE.model.bands if b.min <= a.score <= b.max]
    assert len(holding) == 1
    if not a.rules_fired:
        assert a.profile == holding[0].profile


@given(given_answers=answers(), data=st.data())
def test_raising_one_answer_never_lowers_the_profile(given_answers: dict[str, Any], data: st.DataObject) -> None:
    """Raising one answer's score never lowers the profile when no rule fires."""
    before = assess(QUESTIONNAIRE, given_answers, None, AS_OF)
    singles = [
        q
        for q in QUESTIONNAIRE.model.questions
        if q.type == "single" and q.id in given_answers and q.enable_when is None
    ]
    question = data.draw(st.sampled_from(singles))
    current = next(o.score for o in question.options if o.id == given_answers[question.id])
    higher = [o for o in question.options if o.score > current and not o.knockout]
    if not higher:
        return
    raised = {**given_answers, question.id: data.draw(st.sampled_from(higher)).id}
    try:
        after = assess(QUESTIONNAIRE, raised, None, AS_OF)
    except ResponseError:  # the raise enabled a question (none of the singles can): not this property
        pytest.fail("raising a single answer must not change which questions are enabled")
    assert after.score > before.score
    if not before.rules_fired and not after.rules_fired:
        assert PROFILES.index(after.profile) >= PROFILES.index(before.profile)


WITHOUT_CONDITIONAL = load_questionnaire({**DOC, "questions": [q for q in DOC["questions"] if "enable_when" not in q]})


@given(given_answers=answers())
def test_disabled_questions_never_change_the_result(given_answers: dict[str, Any]) -> None:
    """A question hidden by enable_when is not asked, not scored, and may not be answered."""
    if "derivatives_frequency" in given_answers:
        return
    a = assess(QUESTIONNAIRE, given_answers, None, AS_OF)
    b = assess(WITHOUT_CONDITIONAL, given_answers, None, AS_OF)
    assert (a.profile, a.score, a.dimension_scores, a.rules_fired, a.horizon, a.varieties) == (
        b.profile, b.score, b.dimension_scores, b.rules_fired, b.horizon, b.varieties,
    )  # fmt: skip
    for option in ("rarely", "weekly"):
        with pytest.raises(ResponseError, match="enable_when disables"):
            assess(QUESTIONNAIRE, {**given_answers, "derivatives_frequency": option}, None, AS_OF)


@given(given_answers=answers(), knockout=st.sampled_from(["civil_capacity", "accept_loss"]))
def test_a_knockout_always_gives_c1_and_the_lowest_category(given_answers: dict[str, Any], knockout: str) -> None:
    """A knockout option forces C1 with the lowest-category flag, whatever else was answered."""
    a = assess(QUESTIONNAIRE, {**given_answers, knockout: "no"}, None, AS_OF)
    assert a.profile == "C1"
    assert a.lowest_category
    assert f"knockout:{knockout}" in [r.id for r in a.rules_fired]
