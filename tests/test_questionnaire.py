"""Questionnaire documents: the bundled one is valid; every problem is reported with its pointer."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from suitability import DocumentError, Questionnaire, load_questionnaire
from suitability import questionnaire as qn
from suitability._schema import Check, item_by_item, run_checks, schema
from suitability.errors import Problem
from suitability.questionnaire import QuestionnaireDoc, score_range

from .conftest import DATA, QUESTIONNAIRE_FILE, load


@pytest.fixture
def doc() -> dict[str, Any]:
    loaded: dict[str, Any] = load(QUESTIONNAIRE_FILE)
    return loaded


def problems_of(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(DocumentError) as exc:
        load_questionnaire(document, "q.json")
    return [(p.pointer, p.message) for p in exc.value.problems]


def test_bundled_questionnaire_meets_the_brief(questionnaire: Questionnaire) -> None:
    m = questionnaire.model
    assert len(m.questions) >= 15
    assert {"financial_situation", "knowledge_experience", "objectives", "risk_tolerance", "loss_capacity"} <= set(
        m.dimensions
    )
    knockouts = [q.id for q in m.questions if any(o.knockout for o in q.options)]
    assert knockouts == ["civil_capacity", "accept_loss"]
    assert [q.id for q in m.questions[-2:]] == knockouts  # the two knock-out questions end it
    assert any(q.type == "multi" for q in m.questions)
    assert any(q.enable_when for q in m.questions)
    assert len(m.rules) >= 1
    assert len(m.consistency) >= 2
    assert m.derive.horizon is not None
    assert m.derive.varieties is not None
    assert any(q.id == "age" for q in m.questions)
    for q in m.questions:
        assert q.text["zh-CN"]
        assert q.text["en"]


def test_bands_cover_the_reachable_range(questionnaire: Questionnaire) -> None:
    low = sum(score_range(q)[0] for q in questionnaire.model.questions)
    high = sum(score_range(q)[1] for q in questionnaire.model.questions)
    assert (low, high) == (5, 100)
    assert [questionnaire.profile_for(s) for s in (0, 19, 20, 36, 37, 53, 54, 82, 83, 100)] == [
        0, 0, 1, 1, 2, 2, 3, 3, 4, 4,
    ]  # fmt: skip


def test_score_range_of_question_kinds(questionnaire: Questionnaire) -> None:
    by_id = {q.id: q for q in questionnaire.model.questions}
    assert score_range(by_id["experienced_products"]) == (0, 6)  # multi max, cap 6
    assert score_range(by_id["derivatives_frequency"]) == (0, 4)  # conditional: may contribute 0
    assert score_range(by_id["age"]) == (0, 5)


def test_multi_sum_range_with_cap_and_negative_scores(doc: dict[str, Any]) -> None:
    q = (
        load_questionnaire(doc)
        .model.questions[9]
        .model_copy(
            update={"aggregate": "sum", "cap": 10, "options": load_questionnaire(doc).model.questions[9].options}
        )
    )
    assert score_range(q) == (0, 10)


def test_hash_is_over_the_canonical_document(questionnaire: Questionnaire, doc: dict[str, Any]) -> None:
    reordered = dict(reversed(list(doc.items())))
    assert load_questionnaire(reordered).hash == questionnaire.hash
    doc["title"]["en"] += "!"
    assert load_questionnaire(doc).hash != questionnaire.hash


def test_schema_is_draft_2020_12() -> None:
    assert schema("questionnaire")["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_problems_are_all_reported_with_pointers() -> None:
    found = problems_of(load(DATA / "questionnaire-schema-problems.json"))
    pointers = [p for p, _ in found]
    assert "/questions/0/text" in pointers  # en missing
    assert "/questions/3/options/0/score" in pointers
    assert "/bands/0/profile" in pointers
    assert len(found) == 3


def test_semantic_problems_are_all_reported_with_pointers() -> None:
    found = dict(problems_of(load(DATA / "questionnaire-many-problems.json")))
    assert "unique question ids" in found["/questions/1/id"]
    assert "declared dimensions" in found["/questions/2/dimension"]
    assert "asked earlier" in found["/questions/11/enable_when/question"]
    assert "gap" in found["/bands/2/min"]
    assert "option of question 'age'" in found["/rules/0/when/any_of/0"]
    assert "declared dimension" in found["/consistency/0/when/dimension"]
    assert "mapping for option 'over_5y'" in found["/derive/horizon/map"]
    assert len(found) == 7


def test_self_reference_in_enable_when_is_a_cycle(doc: dict[str, Any]) -> None:
    doc["questions"][11]["enable_when"] = {"question": "derivatives_frequency", "any_of": ["weekly"]}
    ((pointer, message),) = problems_of(doc)
    assert pointer == "/questions/11/enable_when/question"
    assert "cycle" in message


def test_band_overlap_and_order_and_coverage(doc: dict[str, Any]) -> None:
    doc["bands"][1]["min"] = 15
    found = dict(problems_of(doc))
    assert "overlap" in found["/bands/1/min"]
    doc = load(QUESTIONNAIRE_FILE)
    doc["bands"][4]["max"] = 90
    found = dict(problems_of(doc))
    assert "highest reachable score 100" in found["/bands/4/max"]
    doc = load(QUESTIONNAIRE_FILE)
    doc["bands"][0]["min"] = 6
    assert "lowest reachable score 5" in dict(problems_of(doc))["/bands/0/min"]
    doc = load(QUESTIONNAIRE_FILE)
    doc["bands"][3]["profile"] = "C2"
    assert "C order" in dict(problems_of(doc))["/bands/3/profile"]


def test_knockout_must_not_be_skippable(doc: dict[str, Any]) -> None:
    doc["questions"][-1]["required"] = False
    ((pointer, message),) = problems_of(doc)
    assert pointer == f"/questions/{len(doc['questions']) - 1}"
    assert "lowest category" in message


def test_duplicate_options_rule_ids_and_dimensions(doc: dict[str, Any]) -> None:
    doc["questions"][0]["options"][1]["id"] = "a18_30"
    doc["consistency"][0]["id"] = doc["rules"][0]["id"]
    doc["dimensions"].append("personal")
    found = dict(problems_of(doc))
    assert "unique option ids" in found["/questions/0/options/1/id"]
    assert "unique rule ids" in found["/consistency/0/id"]
    assert "unique dimensions" in found["/dimensions/6"]


def test_derive_problems(doc: dict[str, Any]) -> None:
    doc["derive"]["horizon"]["question"] = "varieties"
    doc["derive"]["varieties"]["map"]["lottery"] = "other"
    found = problems_of(doc)
    messages = " ".join(m for _, m in found)
    assert "single-choice question for the horizon" in messages
    assert "found 'lottery'" in messages


def test_multi_fields_on_a_single_question_are_refused(doc: dict[str, Any]) -> None:
    doc["questions"][0]["aggregate"] = "sum"
    assert problems_of(doc)


def test_not_an_object() -> None:
    ((pointer, message),) = problems_of(["not", "a", "questionnaire"])
    assert pointer == ""
    assert "object" in message


def test_documents_are_not_mutated_by_loading(doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    load_questionnaire(doc)
    assert doc == before


# --- issue 10: odd shapes are problems, not crashes ---------------------------------------------


def test_enable_when_any_of_holding_a_list_is_a_problem() -> None:
    found = problems_of(load(DATA / "questionnaire-any-of-list.json"))
    assert found == [
        (
            "/questions/11/enable_when/any_of/0",
            "expected an option of question 'experienced_products', found ['derivatives']",
        )
    ]


def test_a_dimension_that_is_not_a_string_is_a_problem(doc: dict[str, Any]) -> None:
    doc["consistency"][0]["when"] = {"dimension": ["risk_tolerance"], "score_at_most": 3}
    ((pointer, message),) = problems_of(doc)
    assert pointer == "/consistency/0/when/dimension"
    assert "declared dimension" in message


def test_schema_problems_under_a_key_like_a_digit_are_reported() -> None:
    """ "²".isdigit() holds but int("²") fails: the sort of problems by pointer crashed on it."""
    found = problems_of(load(DATA / "questionnaire-superscript-key.json"))
    assert [p for p, _ in found] == ["/derive/horizon/map/²"]


# --- issue 11 item 9: the checkers report exactly what the one long validator reported ----------

_DELETE = object()


def edited(document: dict[str, Any], *edits: tuple[str, Any]) -> dict[str, Any]:
    """Return a copy of ``document`` with each ``(pointer, value)`` set (``_DELETE`` removes it;
    a last token ``-`` appends to a list)."""
    out = copy.deepcopy(document)
    for where, value in edits:
        *path, last = where.split("/")[1:]
        parent: Any = out
        for token in path:
            parent = parent[int(token)] if isinstance(parent, list) else parent[token]
        if isinstance(parent, list):
            if last == "-":
                parent.append(value)
            elif value is _DELETE:
                del parent[int(last)]
            else:
                parent[int(last)] = value
        elif value is _DELETE:
            del parent[last]
        else:
            parent[last] = value
    return out


#: Bad variants of the bundled questionnaire, one or several problems each; the last one has a
#: problem in nearly every section, interleaved across items, so the order of the report is pinned.
QUESTIONNAIRE_EDITS: dict[str, tuple[tuple[str, Any], ...]] = {
    "duplicate-dimension": (("/dimensions/-", "personal"),),
    "duplicate-question-id": (("/questions/3/id", "age"),),
    "unknown-dimension": (("/questions/4/dimension", "luck"),),
    "duplicate-option-id": (("/questions/0/options/1/id", "a18_30"),),
    "enable-when-later-question": (("/questions/11/enable_when", {"question": "horizon", "any_of": ["over_5y"]}),),
    "enable-when-self": (("/questions/11/enable_when", {"question": "derivatives_frequency", "any_of": ["weekly"]}),),
    "enable-when-score": (("/questions/11/enable_when", {"total_score_at_least": 3}),),
    "knockout-optional": (("/questions/19/required", False),),
    "knockout-conditional": (("/questions/18/enable_when", {"question": "age", "any_of": ["a18_30"]}),),
    "band-min-above-max": (("/bands/2/min", 60),),
    "band-order": (("/bands/3/profile", "C2"),),
    "band-overlap": (("/bands/1/min", 15),),
    "band-gap": (("/bands/1/min", 25),),
    "band-low-coverage": (("/bands/0/min", 6),),
    "band-high-coverage": (("/bands/4/max", 90),),
    "duplicate-rule-id": (("/consistency/0/id", "over_70_cap"),),
    "rule-unknown-option": (("/rules/0/when", {"question": "age", "any_of": ["over_90"]}),),
    "rule-unknown-question": (("/rules/1/when", {"question": "zodiac", "any_of": ["rat"]}),),
    "consistency-unknown-dimension": (("/consistency/1/when", {"dimension": "luck", "score_at_most": 3}),),
    "derive-unknown-question": (("/derive/varieties/question", "zodiac"),),
    "derive-horizon-multi": (("/derive/horizon/question", "varieties"),),
    "derive-map-unknown-option": (("/derive/varieties/map/lottery", "other"),),
    "derive-map-incomplete": (("/derive/horizon/map/over_5y", _DELETE),),
    "derive-duplicate-question-id": (("/questions/15/id", "horizon"),),
    "everything-at-once": (
        ("/dimensions/-", "objectives"),
        ("/questions/1/id", "age"),
        ("/questions/1/dimension", "luck"),
        ("/questions/1/options/2/id", "salary"),
        ("/questions/2/enable_when", {"question": "horizon", "any_of": ["over_5y"]}),
        ("/questions/2/dimension", "fate"),
        ("/questions/3/required", False),
        ("/questions/3/options/0/knockout", "lowest_category"),
        ("/questions/3/id", "annual_income"),
        ("/questions/11/enable_when", {"question": "derivatives_frequency", "any_of": ["weekly"]}),
        ("/questions/19/required", False),
        ("/bands/0/min", 6),
        ("/bands/1/min", 40),
        ("/bands/2/profile", "C1"),
        ("/bands/3/min", 50),
        ("/bands/4/max", 90),
        ("/rules/0/id", "loss_capacity_cap"),
        ("/rules/0/when", {"question": "age", "any_of": ["over_90", "a18_30"]}),
        ("/consistency/0/id", "over_70_cap"),
        ("/consistency/0/when", {"dimension": "luck", "score_at_most": 3}),
        ("/consistency/1/id", "loss_capacity_cap"),
        ("/derive/horizon/question", "varieties"),
        ("/derive/horizon/map/lottery", "long"),
        ("/derive/varieties/question", "zodiac"),
    ),
}

SNAPSHOT = DATA / "snapshots" / "questionnaire-problems.json"


def report_of(document: Any) -> dict[str, Any]:
    """Every problem ``load_questionnaire`` reports for ``document``, as plain JSON."""
    try:
        load_questionnaire(document, "q.json")
    except DocumentError as exc:
        return {"error": str(exc), "problems": [[p.code, p.pointer, p.message] for p in exc.problems]}
    return {"error": None, "problems": []}


def questionnaire_reports() -> dict[str, Any]:
    reports = {path.name: report_of(load(path)) for path in sorted(DATA.glob("questionnaire-*.json"))}
    bundled = load(QUESTIONNAIRE_FILE)
    reports |= {name: report_of(edited(bundled, *edits)) for name, edits in QUESTIONNAIRE_EDITS.items()}
    return reports


def test_problems_are_reported_exactly_as_before() -> None:
    """The snapshot was written by the one long validator, before it became a list of checkers."""
    assert questionnaire_reports() == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


# --- each checker alone, on a small document with exactly one problem of its kind ---------------

_T = {"zh-CN": "题", "en": "Q"}

#: A small valid questionnaire: q1 scores 0..1, q2 0..1 with a knock-out; scores 0..2 in two bands.
SMALL: dict[str, Any] = {
    "kind": "questionnaire",
    "schema_version": 1,
    "id": "small",
    "version": "1",
    "status": "active",
    "effective_from": "2026-01-01",
    "title": _T,
    "dimensions": ["d"],
    "questions": [
        {
            "id": "q1",
            "dimension": "d",
            "type": "single",
            "text": _T,
            "options": [{"id": "a", "text": _T, "score": 0}, {"id": "b", "text": _T, "score": 1}],
        },
        {
            "id": "q2",
            "dimension": "d",
            "type": "single",
            "text": _T,
            "options": [
                {"id": "yes", "text": _T, "score": 1},
                {"id": "no", "text": _T, "score": 0, "knockout": "lowest_category"},
            ],
        },
    ],
    "bands": [{"profile": "C1", "min": 0, "max": 0}, {"profile": "C2", "min": 1, "max": 2}],
    "rules": [{"id": "r", "when": {"question": "q1", "any_of": ["a"]}, "cap": "C1", "reason": _T}],
    "consistency": [{"id": "c", "when": {"question": "q2", "any_of": ["no"]}, "message": _T}],
    "derive": {"horizon": {"question": "q1", "map": {"a": "short", "b": "long"}}},
}

_DUPLICATE_Q2 = {
    "id": "q2",
    "dimension": "d",
    "type": "single",
    "text": _T,
    "options": [{"id": "x", "text": _T, "score": 0}],
}


def test_the_small_questionnaire_is_valid() -> None:
    load_questionnaire(SMALL)
    assert run_checks(qn.CHECKS, QuestionnaireDoc.model_validate(SMALL)) == []


@pytest.mark.parametrize(
    ("check", "edits", "where", "code"),
    [
        (qn.unique_dimensions, [("/dimensions/-", "d")], "/dimensions/1", "INVALID"),
        (qn.unique_question_ids, [("/questions/-", _DUPLICATE_Q2)], "/questions/2/id", "INVALID"),
        (qn.declared_dimensions, [("/questions/0/dimension", "e")], "/questions/0/dimension", "INVALID"),
        (qn.unique_option_ids, [("/questions/1/options/0/id", "no")], "/questions/1/options/1/id", "INVALID"),
        (
            qn.enable_when_on_earlier_questions,
            [("/questions/0/enable_when", {"question": "q2", "any_of": ["yes"]})],
            "/questions/0/enable_when/question",
            "ENABLE_WHEN_ORDER",
        ),
        (qn.knockouts_not_skippable, [("/questions/1/required", False)], "/questions/1", "KNOCKOUT_SKIPPABLE"),
        (qn.band_bounds, [("/bands/0/min", 1), ("/bands/0/max", 0)], "/bands/0", "INVALID"),
        (qn.bands_in_c_order, [("/bands/1/profile", "C1")], "/bands/1/profile", "INVALID"),
        (qn.bands_contiguous, [("/bands/1/min", 2)], "/bands/1/min", "BAND_GAP"),
        (qn.bands_cover_reachable_range, [("/bands/1/max", 1)], "/bands/1/max", "BAND_COVERAGE"),
        (qn.unique_rule_ids, [("/consistency/0/id", "r")], "/consistency/0/id", "INVALID"),
        (
            qn.rule_conditions_resolve,
            [("/rules/0/when", {"question": "q1", "any_of": ["z"]})],
            "/rules/0/when/any_of/0",
            "INVALID",
        ),
        (qn.derivations_resolve, [("/derive/horizon/map/b", _DELETE)], "/derive/horizon/map", "INVALID"),
    ],
)
def test_each_checker_finds_its_one_problem(
    check: Check[QuestionnaireDoc], edits: list[tuple[str, Any]], where: str, code: str
) -> None:
    doc = QuestionnaireDoc.model_validate(edited(SMALL, *edits))
    (problem,) = check(doc)
    assert (problem.pointer, problem.code) == (where, code)
    assert problem in run_checks(qn.CHECKS, doc)  # and the full list reports it


def test_checks_over_items_report_item_by_item() -> None:
    """Problems of several checks come question by question, and within one question in the
    order of the checks, as the single loop over questions reported them."""
    doc = QuestionnaireDoc.model_validate(
        edited(
            SMALL,
            ("/questions/-", {**_DUPLICATE_Q2, "dimension": "e"}),
            ("/questions/0/dimension", "e"),
        )
    )
    check = item_by_item(qn.unique_question_ids, qn.declared_dimensions, sections=("questions",))
    assert [p.pointer for p in check(doc)] == ["/questions/0/dimension", "/questions/2/id", "/questions/2/dimension"]
    assert [p.pointer for p in qn.unique_question_ids(doc)] == ["/questions/2/id"]


def test_a_new_checker_is_one_more_entry() -> None:
    """A format that adds a rule adds a checker: the report gains its problems, at its place."""

    def no_question_named_q3(doc: QuestionnaireDoc) -> list[Problem]:
        return [Problem("expected no q3", "/questions") for x in doc.questions if x.id == "q3"]

    doc = QuestionnaireDoc.model_validate(edited(SMALL, ("/questions/-", {**_DUPLICATE_Q2, "id": "q3"})))
    assert run_checks(qn.CHECKS, doc) == []
    assert run_checks((*qn.CHECKS, no_question_named_q3), doc) == [Problem("expected no q3", "/questions")]
