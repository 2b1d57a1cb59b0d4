"""The condition language: checking references, and evaluation without eval."""

from __future__ import annotations

from typing import Any

import pytest

from suitability.conditions import Facts, check, compile_condition, questions_named

OPTIONS = {"q1": frozenset({"a", "b", "c"}), "q2": frozenset({"x", "y"})}
DIMS = frozenset({"risk", "money"})
FACTS = Facts({"q1": ("a", "b"), "q2": ("x",)}, {"risk": 5, "money": 2}, 7)


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ({"question": "q1", "any_of": ["a"]}, True),
        ({"question": "q1", "any_of": ["c"]}, False),
        ({"question": "q1", "all_of": ["a", "b"]}, True),
        ({"question": "q1", "all_of": ["a", "c"]}, False),
        ({"question": "q2", "answered": True}, True),
        ({"question": "q3", "answered": False}, True),
        ({"dimension": "risk", "score_at_most": 5}, True),
        ({"dimension": "risk", "score_at_least": 6}, False),
        ({"total_at_most": 6}, False),
        ({"total_at_least": 7}, True),
        ({"all": [{"total_at_least": 7}, {"question": "q2", "any_of": ["y"]}]}, False),
        ({"any": [{"total_at_least": 8}, {"question": "q2", "any_of": ["x"]}]}, True),
        ({"not": {"question": "q2", "any_of": ["x"]}}, False),
    ],
)
def test_evaluation(cond: dict[str, Any], expected: bool) -> None:
    options = {**OPTIONS, "q3": frozenset({"z"})}
    assert check(cond, "/c", options, DIMS) == []
    assert compile_condition(cond)(FACTS) is expected


@pytest.mark.parametrize(
    ("cond", "pointer", "fragment"),
    [
        ({"question": "nope", "any_of": ["a"]}, "/c/question", "known question id"),
        ({"question": "q1", "any_of": ["zzz"]}, "/c/any_of/0", "option of question 'q1'"),
        ({"question": "q1", "any_of": []}, "/c/any_of", "non-empty list"),
        ({"question": "q1", "answered": "yes"}, "/c/answered", "true or false"),
        ({"question": "q1", "any_of": ["a"], "all_of": ["b"]}, "/c", "exactly one of"),
        ({"dimension": "mood", "score_at_most": 1}, "/c/dimension", "declared dimension"),
        ({"dimension": "risk", "score_at_most": "1"}, "/c/score_at_most", "integer"),
        ({"total_at_most": True}, "/c/total_at_most", "integer"),
        ({"all": []}, "/c", "non-empty list of conditions"),
        ({"any": [{"question": "q1", "any_of": ["a"]}, {"bogus": 1}]}, "/c/any/1", "found keys ['bogus']"),
        ({"not": {"question": "q9", "answered": True}}, "/c/not/question", "known question id"),
        ("q1 == 'a'", "/c", "condition object"),
    ],
)
def test_problems_name_their_pointer(cond: Any, pointer: str, fragment: str) -> None:
    (problem,) = check(cond, "/c", OPTIONS, DIMS)
    assert problem.pointer == pointer
    assert fragment in problem.message


def test_enable_when_may_only_name_earlier_questions_and_no_scores() -> None:
    (later,) = check({"question": "q2", "any_of": ["x"]}, "/e", OPTIONS, DIMS, visible=frozenset({"q1"}))
    assert later.code == "ENABLE_WHEN_ORDER"
    (scores,) = check({"total_at_least": 1}, "/e", OPTIONS, DIMS, visible=frozenset(), scores_allowed=False)
    assert "scores" in scores.message


def test_every_problem_is_reported() -> None:
    cond = {"all": [{"question": "q1", "any_of": ["zz", "yy"]}, {"dimension": "mood", "score_at_least": 1}]}
    assert len(check(cond, "", OPTIONS, DIMS)) == 3


def test_questions_named() -> None:
    cond = {"all": [{"question": "q1", "answered": True}, {"not": {"question": "q2", "any_of": ["x"]}}]}
    assert questions_named(cond) == {"q1", "q2"}
