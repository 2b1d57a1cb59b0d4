"""Issue 12 item 8: a format-2 questionnaire lacking a horizon or varieties question declares a fixed
value or a default with its source, recorded in the assessment."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from suitability import Client
from suitability.errors import DocumentError
from suitability.policy import check_pair, load_policy
from suitability.questionnaire import load_questionnaire
from suitability.scoring import assess

from .conftest import AS_OF, load

F2 = Path(__file__).resolve().parent / "data" / "format2"
SOURCE = {"zh-CN": "本行仅提供长期产品", "en": "The bank offers long-term products only"}
CLIENT = Client(client_id="HK-1", birth_date="1970-01-01")
ANSWERS = {
    "age": "under_65",
    "goal": "over_5y",
    "loss": "medium",
    "reaction": "hold",
    "savings": "m3_6",
    "share": "gt50",
}


def _doc(**derive: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load(F2 / "six-level-rpq.json"))
    doc["derive"] = {**doc["derive"], **derive}
    return doc


def test_a_fixed_variety_is_recorded_with_its_source() -> None:
    q = load_questionnaire(_doc(varieties={"value": ["fixed_income", "equity"], "source": SOURCE}))
    a = assess(q, ANSWERS, CLIENT, AS_OF)
    assert a.horizon == "long" and a.varieties == ["fixed_income", "equity"]
    assert a.assumed is not None and [(x.field, x.value, x.source) for x in a.assumed] == [
        ("varieties", ["fixed_income", "equity"], SOURCE)
    ]
    assert a.model_dump(mode="json")["assumed"][0]["field"] == "varieties"
    policy = load_policy(load(F2 / "policy-sri-seven.json"))
    assert not [w for w in check_pair(policy, q)[1] if w.code == "NOTHING_DERIVED" and "varieties" in w.pointer]


def test_a_default_horizon_applies_only_when_its_question_is_unanswered() -> None:
    doc = _doc(horizon={**load(F2 / "six-level-rpq.json")["derive"]["horizon"], "default": "medium", "source": SOURCE})
    doc["questions"][1]["required"] = False
    q = load_questionnaire(doc)
    answered = assess(q, ANSWERS, CLIENT, AS_OF)
    assert answered.horizon == "long" and "assumed" not in answered.model_dump(mode="json")
    skipped = assess(q, {k: v for k, v in ANSWERS.items() if k != "goal"}, CLIENT, AS_OF)
    assert skipped.horizon == "medium" and skipped.assumed is not None and skipped.assumed[0].field == "horizon"


@pytest.mark.parametrize(
    ("derive", "where"),
    [
        ({"horizon": {"value": "long"}}, "/derive/horizon"),  # no source
        ({"horizon": {"value": ["long"], "source": SOURCE}}, "/derive/horizon/value"),  # a horizon is one category
        ({"varieties": {"value": "equity", "source": SOURCE}}, "/derive/varieties/value"),
    ],
)
def test_a_declared_value_needs_its_source_and_shape(derive: dict[str, Any], where: str) -> None:
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(_doc(**derive))
    assert any(p.pointer.startswith(where) for p in caught.value.problems)
