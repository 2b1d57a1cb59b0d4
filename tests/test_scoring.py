"""Scoring answers into an Assessment: totals, bands, caps, knockouts, consistency, derivation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from suitability import Client, InputError, Policy, Questionnaire, Response, ResponseError, assess, decide, load_catalog
from suitability.models import identifier_problem, parse_model
from suitability.scoring import check_answer, next_question

from .conftest import AS_OF, DATA, EXAMPLES, load


def codes(exc: pytest.ExceptionInfo[ResponseError]) -> dict[str, str]:
    return {p.pointer: p.code for p in exc.value.problems}


def test_example_scores_by_hand(questionnaire: Questionnaire, answers: dict[str, Any], client: Client) -> None:
    a = assess(questionnaire, answers, client, AS_OF)
    # 5+3+3+3 | 3+3+3+3 | 2+4+3 | 2+2+2 | 2+5+5+0 | 0  (worked out from the document by hand)
    assert a.score == 53
    assert a.dimension_scores == {
        "financial_situation": 9,
        "knowledge_experience": 9,
        "objectives": 6,
        "risk_tolerance": 12,
        "loss_capacity": 12,
        "personal": 5,
    }
    assert a.profile == "C3"
    assert not a.lowest_category
    assert a.rules_fired == []
    assert a.consistency_violations == []
    assert a.horizon == "medium"
    assert a.varieties == ["fixed_income", "equity"]
    assert a.assessed_at == AS_OF
    assert a.valid_until == AS_OF + timedelta(days=730)
    assert a.client_id == "CN-000123"
    assert a.questionnaire.id == "cn-securities-individual"
    assert a.questionnaire.hash == questionnaire.hash
    assert a.id.startswith("asm_")


def test_response_model_and_mapping_agree(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    assert assess(questionnaire, Response(answers=answers), None, AS_OF) == assess(questionnaire, answers, None, AS_OF)


def test_id_is_a_digest_of_the_inputs(questionnaire: Questionnaire, answers: dict[str, Any], client: Client) -> None:
    a = assess(questionnaire, answers, client, AS_OF)
    reordered = dict(reversed(list(answers.items())))
    assert assess(questionnaire, reordered, client, AS_OF).id == a.id
    assert assess(questionnaire, answers, client, AS_OF + timedelta(seconds=1)).id != a.id
    other = client.model_copy(update={"client_id": "CN-999"})
    assert assess(questionnaire, answers, other, AS_OF).id != a.id


def test_a_date_means_midnight_utc_and_naive_datetimes_are_refused(
    questionnaire: Questionnaire, answers: dict[str, Any]
) -> None:
    a = assess(questionnaire, answers, None, date(2026, 11, 28))
    assert a.assessed_at == datetime(2026, 11, 28, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        assess(questionnaire, answers, None, datetime(2026, 11, 28))


@pytest.mark.parametrize("question", ["civil_capacity", "accept_loss"])
def test_knockout_forces_c1_lowest(questionnaire: Questionnaire, answers: dict[str, Any], question: str) -> None:
    answers.update({"knowledge": "professional", "max_drawdown": "over_50", "reaction_to_loss": "buy_more"})
    assert assess(questionnaire, answers, None, AS_OF).profile == "C4"
    answers[question] = "no"
    a = assess(questionnaire, answers, None, AS_OF)
    assert a.profile == "C1"
    assert a.lowest_category
    assert [r.id for r in a.rules_fired] == [f"knockout:{question}"]
    assert a.score == 65  # 53 + 4 + 5 + 3: the score is still reported; the profile is forced


def test_client_without_full_civil_capacity_is_lowest_whatever_the_answers(
    questionnaire: Questionnaire, answers: dict[str, Any], client: Client
) -> None:
    incapable = client.model_copy(update={"full_civil_capacity": False})
    a = assess(questionnaire, answers, incapable, AS_OF)
    assert a.profile == "C1"
    assert a.lowest_category
    assert [r.id for r in a.rules_fired] == ["client:no_full_civil_capacity"]


def test_cap_rules_lower_the_profile_and_are_listed(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    answers.update({"knowledge": "professional", "max_drawdown": "over_50", "reaction_to_loss": "buy_more"})
    answers.update({"purpose": "speculation", "expected_return": "over_10", "years_experience": "over_5y"})
    answers.update({"annual_income": "over_1m", "financial_assets": "over_5m"})
    assert assess(questionnaire, answers, None, AS_OF).profile == "C5"
    answers["age"] = "over_70"
    a = assess(questionnaire, answers, None, AS_OF)
    assert a.profile == "C2"
    assert [r.id for r in a.rules_fired] == ["over_70_cap"]
    assert a.rules_fired[0].reason["en"].startswith("Aged over 70")


def test_loss_capacity_caps_willingness(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    answers.update({"knowledge": "professional", "max_drawdown": "over_50", "reaction_to_loss": "buy_more"})
    answers.update({"debt_ratio": "over_60", "emergency_reserve": "below_3m", "investment_share": "over_50"})
    answers["liquidity_need"] = "maybe"
    a = assess(questionnaire, answers, None, AS_OF)
    assert a.dimension_scores["loss_capacity"] == 2
    assert "loss_capacity_cap" in [r.id for r in a.rules_fired]
    assert a.profile == "C3"


def test_consistency_rules_catch_contradictions(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    answers.update({"liquidity_need": "yes", "horizon": "over_5y"})
    a = assess(questionnaire, answers, None, AS_OF)
    assert [v.id for v in a.consistency_violations] == ["needs_money_soon_but_long_horizon"]
    assert not a.consistent
    answers.update({"years_experience": "none", "experienced_products": ["complex"]})
    a = assess(questionnaire, answers, None, AS_OF)
    assert {v.id for v in a.consistency_violations} == {
        "needs_money_soon_but_long_horizon",
        "no_experience_but_trades_derivatives",
    }


def test_conditional_question_is_asked_only_when_enabled(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    answers["experienced_products"] = ["stocks", "derivatives"]
    with pytest.raises(ResponseError) as exc:
        assess(questionnaire, answers, None, AS_OF)
    assert codes(exc) == {"/answers/derivatives_frequency": "MISSING_ANSWER"}
    answers["derivatives_frequency"] = "weekly"
    a = assess(questionnaire, answers, None, AS_OF)
    assert a.dimension_scores["knowledge_experience"] == 2 + 6 + 3 + 4  # max of multi = 6
    answers["experienced_products"] = ["stocks"]
    with pytest.raises(ResponseError) as exc:
        assess(questionnaire, answers, None, AS_OF)
    assert codes(exc) == {"/answers/derivatives_frequency": "ANSWER_TO_DISABLED"}


def test_every_answer_problem_is_reported_at_once(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    answers.update({"colour": "blue", "age": 31, "purpose": "lottery", "horizon": ["within_1y", "over_5y"]})
    answers.update({"varieties": "equity", "experienced_products": ["stocks", "stocks"]})
    del answers["accept_loss"]
    with pytest.raises(ResponseError) as exc:
        assess(questionnaire, answers, None, AS_OF, source="a.json")
    assert codes(exc) == {
        "/answers/colour": "UNKNOWN_QUESTION",
        "/answers/age": "ANSWER_SHAPE",
        "/answers/purpose": "UNKNOWN_OPTION",
        "/answers/horizon": "ANSWER_SHAPE",
        "/answers/varieties": "ANSWER_SHAPE",
        "/answers/experienced_products": "ANSWER_SHAPE",
        "/answers/accept_loss": "MISSING_ANSWER",
    }
    assert all(p.source == "a.json" for p in exc.value.problems)
    rendered = exc.value.render()
    assert "found a list of 2" in rendered
    assert "found int 31" in rendered


def test_multi_select_sum_and_cap(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    answers["varieties"] = ["fixed_income", "equity", "derivatives_financing", "complex", "other"]
    a = assess(questionnaire, answers, None, AS_OF)
    assert a.dimension_scores["objectives"] == 2 + 2 + 5  # max aggregate: 5
    assert a.varieties == ["fixed_income", "equity", "derivatives_financing", "complex", "other"]


def test_validity_is_optional(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    from suitability import load_questionnaire

    doc = dict(questionnaire.document)
    del doc["validity_days"]
    assert assess(load_questionnaire(doc), answers, None, AS_OF).valid_until is None


def test_next_question_walks_enabled_questions(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    asked: list[str] = []
    given: dict[str, Any] = {}
    while (q := next_question(questionnaire, given)) is not None:
        asked.append(q.id)
        given[q.id] = answers[q.id]
    assert "derivatives_frequency" not in asked
    assert asked == list(answers)
    given["experienced_products"] = ["derivatives"]
    nxt = next_question(questionnaire, given)
    assert nxt is not None
    assert nxt.id == "derivatives_frequency"
    assert next_question(questionnaire, given, frozenset({"derivatives_frequency"})) is None


def test_check_answer(questionnaire: Questionnaire) -> None:
    assert check_answer(questionnaire, "age", "a31_45") is None
    assert "unknown option" in (check_answer(questionnaire, "age", "a99") or "")
    assert "list of 2" in (check_answer(questionnaire, "age", ["a18_30", "a31_45"]) or "")
    assert check_answer(questionnaire, "varieties", ["equity"]) is None
    assert "question" in (check_answer(questionnaire, "nope", "x") or "")


# --- issue 10: answers and client facts that do not fit are refused cleanly ---------------------


def test_a_multi_select_answer_holding_an_object_is_a_response_error(questionnaire: Questionnaire) -> None:
    given = load(DATA / "answers-multi-object.json")["answers"]
    with pytest.raises(ResponseError) as exc:
        assess(questionnaire, given, None, AS_OF)
    assert codes(exc) == {"/answers/experienced_products": "ANSWER_SHAPE"}
    assert "found [{}]" in exc.value.render()


def test_an_as_of_whose_validity_overflows_is_an_input_error(
    questionnaire: Questionnaire, answers: dict[str, Any]
) -> None:
    with pytest.raises(InputError, match="before the year 10000"):
        assess(questionnaire, answers, None, date(9999, 12, 31))


def test_a_birth_date_after_as_of_is_refused(questionnaire: Questionnaire, answers: dict[str, Any]) -> None:
    """Rules never read the clock: "in the future" means after the assessment's as_of."""
    born = parse_model(Client, load(DATA / "client-birth-future.json"), "client.json", ResponseError)
    with pytest.raises(ResponseError) as exc:
        assess(questionnaire, answers, born, AS_OF)
    assert codes(exc) == {"/birth_date": "BIRTH_DATE_IN_FUTURE"}
    assert "on or before the as_of date 2026-11-28, found 2030-01-01" in exc.value.render()
    assert assess(questionnaire, answers, born, date(2030, 1, 1)).client_id == "CN-000123"  # born that day


@pytest.mark.parametrize(
    ("name", "pointer", "message"),
    [
        ("client-birth-1899.json", "/birth_date", "on or after 1900-01-01, found 1899-12-31"),
        ("client-birth-zero.json", "/birth_date", "expected a date YYYY-MM-DD, found int 0"),
        ("client-id-bidi.json", "/client_id", "found U+202E RIGHT-TO-LEFT OVERRIDE at position 3"),
        ("client-id-control.json", "/client_id", "found U+0000"),
        ("client-id-blank.json", "/client_id", "found only white space"),
    ],
)
def test_client_facts_a_person_would_misread_are_refused(name: str, pointer: str, message: str) -> None:
    with pytest.raises(ResponseError) as exc:
        parse_model(Client, load(DATA / name), name, ResponseError)
    (problem,) = exc.value.problems
    assert problem.pointer == pointer
    assert message in problem.message


@pytest.mark.parametrize(
    "value", ["staff-07", "客户 甲", "C-1.a_b"], ids=["ascii", "chinese-with-space", "punctuation"]
)
def test_readable_identifiers_are_accepted(value: str) -> None:
    assert identifier_problem(value) is None
    assert Client(client_id=value).client_id == value


@pytest.mark.parametrize(
    "value",
    ["", "   ", " a", "a ", "a\tb", "a\nb", "a\u200bb", "a\u2066b", "a\u00adb", "a\udcffb", "a\u2028b", "\u3000"],
)
def test_identifiers_with_invisible_characters_are_refused(value: str) -> None:
    assert identifier_problem(value) is not None
    with pytest.raises(ValidationError):
        Client(client_id=value)


def test_decide_refuses_a_birth_date_after_its_as_of(
    questionnaire: Questionnaire, answers: dict[str, Any], csrc: Policy
) -> None:
    """The pure decide() checks it too (the Engine also holds a decision to the assessment's facts)."""
    born = Client(client_id="CN-000123", birth_date=date(2026, 12, 1))
    assessment = assess(questionnaire, answers, born, date(2026, 12, 1))
    product = load_catalog(EXAMPLES / "catalog.csv")[0]
    assert decide(assessment, product, born, csrc, "client", date(2026, 12, 2)).outcome
    with pytest.raises(ResponseError) as exc:
        decide(assessment, product, born.model_copy(update={"birth_date": date(2027, 1, 1)}), csrc, "client",
               date(2026, 12, 2))  # fmt: skip
    assert codes(exc) == {"/birth_date": "BIRTH_DATE_IN_FUTURE"}
