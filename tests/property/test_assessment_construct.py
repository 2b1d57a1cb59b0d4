"""Assessments are built without re-validation (issue 16): the result equals the validated model."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from suitability import Assessment, Client, assess
from suitability.scoring import assessment_id

from .strategies import AS_OF, QUESTIONNAIRE, answers, clients


def validated(a: Assessment) -> Assessment:
    """The same assessment built the validating way, field by field."""
    return Assessment(**{name: getattr(a, name) for name in Assessment.model_fields})


@settings(max_examples=300)
@given(given_answers=answers(), client=clients | st.none(), later=st.integers(0, 5000))
def test_constructed_assessments_equal_validated_ones(given_answers: dict, client: Client | None, later: int) -> None:  # type: ignore[type-arg]
    """Equal objects, equal JSON dumps, equal set fields, a JSON round trip gives it back, and the id
    is the one :func:`assessment_id` gives for the chosen answers (the id is computed in the loop)."""
    when = AS_OF + timedelta(days=later, seconds=later)
    a = assess(QUESTIONNAIRE, given_answers, client, when)
    checked = validated(a)
    assert a == checked
    assert a.model_dump(mode="json") == checked.model_dump(mode="json")
    assert a.model_dump_json() == checked.model_dump_json()
    assert a.model_fields_set == checked.model_fields_set
    assert Assessment.model_validate_json(a.model_dump_json()) == a
    chosen = {
        q.id: [v] if isinstance(v, str) else v
        for q in QUESTIONNAIRE.questions
        if (v := given_answers.get(q.id)) is not None
    }
    assert a.id == assessment_id(QUESTIONNAIRE.hash, chosen, client, when)
