"""Issue 12 item 4: format-2 conditions on client facts and on scores, in enable_when, caps and
consistency."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from suitability import Client
from suitability.errors import DocumentError, ResponseError
from suitability.ids import client_key
from suitability.questionnaire import load_questionnaire, upgrade
from suitability.scoring import assess, next_question

from .conftest import AS_OF, QUESTIONNAIRE_FILE, load

F2 = Path(__file__).resolve().parent / "data" / "format2"
BASE = load(F2 / "six-level-rpq.json")
TEXT = {"zh-CN": "说明", "en": "text"}


def _doc() -> dict[str, Any]:
    """The six-level RPQ with fact and score conditions in every place a condition goes."""
    doc = copy.deepcopy(BASE)
    doc["facts"] = [{"id": "residency", "type": "string", "values": ["hk", "non_hk"]}]
    doc["dimensions"] = [*doc["dimensions"], "followup"]
    doc["questions"] += [
        {  # asked only of clients scored conservative on willingness (complete by now)
            "id": "sure_cautious",
            "dimension": "followup",
            "type": "single",
            "text": TEXT,
            "options": [{"id": "yes", "text": TEXT, "score": 0}, {"id": "no", "text": TEXT, "score": 0}],
            "enable_when": {"dimension": "willingness", "score_at_most": 1},
        },
        {  # asked only of professional investors who have traded derivatives
            "id": "derivatives_detail",
            "dimension": "followup",
            "type": "single",
            "text": TEXT,
            "options": [{"id": "hedging", "text": TEXT, "score": 0}, {"id": "speculation", "text": TEXT, "score": 0}],
            "enable_when": {
                "all": [
                    {"fact": "investor_type", "any_of": ["professional"]},
                    {"fact": "classes_traded", "any_of": ["derivatives"]},
                ]
            },
        },
    ]
    doc["rules"] = [
        {
            "id": "aged_70_one_lower",
            "when": {"fact": "age", "at_least": 70},
            "lower_by": 1,
            "reason": {"zh-CN": "70岁及以上客户下调一级", "en": "One level lower at 70 and over"},
        },
        {
            "id": "no_experience_cap_p3",
            "when": {"not": {"fact": "experience_years", "at_least": 2}},
            "cap": "P3",
            "reason": {"zh-CN": "投资经验不足两年", "en": "Less than two years of investment experience"},
        },
    ]
    doc["stops"] = [
        *doc["stops"],
        {
            "id": "non_resident",
            "when": {"fact": "residency", "any_of": ["non_hk"]},
            "reason": {"zh-CN": "非香港居民不适用", "en": "Not for non-residents"},
        },
    ]
    doc["consistency"] = [
        {  # the stated age range contradicts the age computed from the birth date
            "id": "stated_age_contradicts_birth_date",
            "when": {
                "any": [
                    {"all": [{"question": "age", "any_of": ["under_65"]}, {"fact": "age", "at_least": 65}]},
                    {
                        "all": [
                            {"question": "age", "any_of": ["from_65_to_70"]},
                            {"any": [{"fact": "age", "at_most": 64}, {"fact": "age", "at_least": 71}]},
                        ]
                    },
                    {"all": [{"question": "age", "any_of": ["over_70"]}, {"fact": "age", "at_most": 70}]},
                ]
            },
            "message": {"zh-CN": "所填年龄与出生日期不符", "en": "The stated age contradicts the birth date"},
        }
    ]
    return doc


Q = load_questionnaire(_doc(), "facts.json")
#: 2026-11-28: aged 56, experienced
YOUNG = Client(client_id="HK-1", birth_date="1970-01-01", experience_years=5)
#: aged 75 on AS_OF
OLD = Client(client_id="HK-2", birth_date="1951-06-01", experience_years=5)


def _answers(**answers: str) -> dict[str, Any]:
    base = {
        "age": "under_65",
        "goal": "over_5y",
        "loss": "large",
        "reaction": "buy",
        "savings": "gt6m",
        "share": "lt20",
    }
    return {**base, **answers}


def test_age_from_birth_date_at_as_of_lowers_by_one_level() -> None:
    # willingness 10 -> P6, capacity 8 -> P6; experienced, so no cap
    assert assess(Q, _answers(), YOUNG, AS_OF).profile == "P6"
    old = assess(Q, _answers(age="over_70"), OLD, AS_OF)
    assert old.profile == "P5" and [r.id for r in old.rules_fired] == ["aged_70_one_lower"]
    # the same client a year before turning 70 is not lowered: age is computed at as_of
    turning = Client(client_id="HK-3", birth_date="1956-11-29", experience_years=5)  # 69 on AS_OF, 70 the day after
    assert assess(Q, _answers(age="from_65_to_70"), turning, AS_OF).profile == "P6"
    later = AS_OF.replace(day=29)
    assert assess(Q, _answers(age="from_65_to_70"), turning, later).profile == "P5"


def test_experience_caps_and_an_unknown_fact_makes_a_comparison_false() -> None:
    novice = YOUNG.model_copy(update={"experience_years": 1})
    assert assess(Q, _answers(), novice, AS_OF).profile == "P3"
    unknown = Client(client_id="HK-4", birth_date="1970-01-01")  # experience not known: "at_least 2" is false
    assert assess(Q, _answers(), unknown, AS_OF).profile == "P3"
    assert assess(Q, _answers(), None, AS_OF).profile == "P3"  # an anonymous trial knows no fact


def test_a_declared_fact_stops_and_a_wrong_value_is_a_response_error() -> None:
    resident = YOUNG.model_copy(update={"facts": {"residency": "hk"}})
    assert assess(Q, _answers(), resident, AS_OF).profile == "P6"
    abroad = YOUNG.model_copy(update={"facts": {"residency": "non_hk"}})
    a = assess(Q, _answers(), abroad, AS_OF)
    assert a.profile is None and a.not_eligible is not None and a.not_eligible.id == "non_resident"
    with pytest.raises(ResponseError) as caught:
        assess(Q, _answers(), YOUNG.model_copy(update={"facts": {"residency": "mars"}}), AS_OF)
    (problem,) = caught.value.problems
    assert problem.code == "FACT_INVALID" and problem.pointer == "/facts/residency" and "'mars'" in problem.message


def test_a_stated_age_contradicting_the_birth_date_is_an_inconsistency() -> None:
    assert assess(Q, _answers(age="over_70"), OLD, AS_OF).consistent
    lied = assess(Q, _answers(age="under_65"), OLD, AS_OF)
    assert [v.id for v in lied.consistency_violations] == ["stated_age_contradicts_birth_date"]
    assert not assess(Q, _answers(age="over_70"), YOUNG, AS_OF).consistent


def test_extra_questions_only_for_clients_scored_conservative() -> None:
    cautious = _answers(loss="none", reaction="sell")  # willingness 0
    with pytest.raises(ResponseError) as caught:
        assess(Q, cautious, YOUNG, AS_OF)
    assert [(p.pointer, p.code) for p in caught.value.problems] == [("/answers/sure_cautious", "MISSING_ANSWER")]
    assert assess(Q, {**cautious, "sure_cautious": "yes"}, YOUNG, AS_OF).profile == "P1"
    with pytest.raises(ResponseError) as caught:
        assess(Q, {**_answers(), "sure_cautious": "yes"}, YOUNG, AS_OF)  # willingness 10: not asked
    assert caught.value.problems[0].code == "ANSWER_TO_DISABLED"
    skip = frozenset({"prudent"})  # the optional choice of a more prudent level
    asked = next_question(Q, cautious, skip)
    assert asked is not None and asked.id == "sure_cautious"
    assert next_question(Q, _answers(), skip) is None


def test_questions_enabled_by_investor_type_and_classes_traded() -> None:
    pro = YOUNG.model_copy(update={"investor_type": "professional", "classes_traded": ("equities", "derivatives")})
    with pytest.raises(ResponseError) as caught:
        assess(Q, _answers(), pro, AS_OF)
    assert caught.value.problems[0].pointer == "/answers/derivatives_detail"
    assert assess(Q, {**_answers(), "derivatives_detail": "hedging"}, pro, AS_OF).profile == "P6"
    ordinary = pro.model_copy(update={"investor_type": "ordinary"})
    assert assess(Q, _answers(), ordinary, AS_OF).profile == "P6"
    asked = next_question(Q, _answers(), frozenset({"prudent"}), client=pro, as_of=AS_OF)
    assert asked is not None and asked.id == "derivatives_detail"
    assert next_question(Q, _answers(), frozenset({"prudent"}), client=ordinary, as_of=AS_OF) is None


def test_enable_when_may_name_a_score_only_once_its_dimension_is_complete() -> None:
    doc = _doc()
    late = doc["questions"].pop(3)  # "reaction" (willingness) moved after the conservative follow-up
    assert late["id"] == "reaction"
    doc["questions"].append(late)
    at = [q["id"] for q in doc["questions"]].index("sure_cautious")
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert [p.pointer for p in caught.value.problems] == [f"/questions/{at}/enable_when"]
    doc = _doc()
    at = [q["id"] for q in doc["questions"]].index("sure_cautious")
    doc["questions"][at]["enable_when"] = {"total_at_most": 3}  # the total is never complete before the end
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert caught.value.problems[0].pointer == f"/questions/{at}/enable_when"


@pytest.mark.parametrize(
    ("cond", "where", "code"),
    [
        ({"fact": "height", "at_least": 2}, "/rules/0/when/fact", "UNKNOWN_FACT"),
        ({"fact": "age", "any_of": ["old"]}, "/rules/0/when", "INVALID"),  # an integer fact has no any_of
        ({"fact": "age", "at_least": "70"}, "/rules/0/when/at_least", "INVALID"),
        ({"fact": "investor_type", "any_of": ["retail"]}, "/rules/0/when/any_of/0", "INVALID"),
        ({"fact": "residency", "any_of": ["mars"]}, "/rules/0/when/any_of/0", "INVALID"),
        ({"fact": "full_civil_capacity", "is": "no"}, "/rules/0/when/is", "INVALID"),
    ],
)
def test_a_malformed_fact_condition_is_a_load_error_with_its_pointer(cond: Any, where: str, code: str) -> None:
    doc = _doc()
    doc["rules"][0]["when"] = cond
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert [(p.pointer, p.code) for p in caught.value.problems] == [(where, code)]


def test_a_declared_fact_may_not_shadow_a_built_in_one_and_lists_its_values() -> None:
    doc = _doc()
    doc["facts"] += [{"id": "age", "type": "integer"}, {"id": "segment", "type": "set"}]
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert [p.pointer for p in caught.value.problems] == ["/facts/1/id", "/facts/2"]


def test_format_1_conditions_name_no_fact() -> None:
    v1 = load(QUESTIONNAIRE_FILE)
    v1["rules"][0]["when"] = {"fact": "age", "at_least": 70}
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(v1)
    assert "or 'not', found keys ['at_least', 'fact']" in caught.value.problems[-1].message  # format 1's language
    v2 = upgrade(load(QUESTIONNAIRE_FILE))
    v2["rules"][0]["when"] = {"fact": "age", "at_least": 70}
    load_questionnaire(v2)  # the same condition in format 2 loads


def test_new_client_facts_change_the_id_and_leave_old_facts_as_they_were() -> None:
    plain = Client(client_id="HK-1", birth_date="1970-01-01")
    assert set(plain.model_dump(mode="json")) == {"client_id", "investor_type", "birth_date", "full_civil_capacity"}
    assert client_key(plain) == '["HK-1","ordinary","1970-01-01",true]'
    assert client_key(plain) != client_key(YOUNG) != client_key(YOUNG.model_copy(update={"experience_years": 6}))
    with_facts = YOUNG.model_copy(update={"facts": {"residency": "hk", "segments": ["a"]}})
    assert hash(with_facts) == hash(with_facts.model_copy())  # usable as a cache key
    assert Client.model_validate(with_facts.model_dump(mode="json")) == with_facts
