"""Document format 2 (issue 12): format-1 documents unchanged, ``upgrade``, and what format 2 adds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from suitability import Client, Questionnaire
from suitability._schema import schema
from suitability.cli import cli
from suitability.conditions import Facts
from suitability.engine import Engine
from suitability.errors import DocumentError, ProductError, ResponseError
from suitability.log.sqlite import SQLiteStore
from suitability.matching import decide
from suitability.policy import check_pair, load_policy
from suitability.product import parse_product
from suitability.questionnaire import load_questionnaire, upgrade
from suitability.replay import replay as replay_log
from suitability.scoring import assess

from .conftest import AS_OF, QUESTIONNAIRE_FILE, load

V1 = load(QUESTIONNAIRE_FILE)
Q1 = load_questionnaire(V1)
Q2 = load_questionnaire(upgrade(V1))
CLIENT = Client(client_id="CN-000123", birth_date="1980-05-01")


@pytest.mark.parametrize("name", ["questionnaire-2", "policy-2"])
def test_format_2_schemas_ship_as_draft_2020_12(name: str) -> None:
    published = schema(name)
    assert published["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(published)
    assert published["properties"]["schema_version"] == {"const": 2}


def test_upgrade_declares_the_default_scale_and_changes_nothing_else() -> None:
    upgraded = upgrade(V1)
    assert upgraded["schema_version"] == 2 and V1["schema_version"] == 1  # the input is left as it was
    assert [level["id"] for level in upgraded["scale"]["levels"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert upgraded["scale"]["levels"][2]["name"] == V1["bands"][2]["name"]
    assert {k: v for k, v in upgraded.items() if k not in ("schema_version", "scale")} == {
        k: v for k, v in V1.items() if k != "schema_version"
    }
    assert Q2.levels == Q1.levels and Q2.format == 2 and Q1.format == 1


def test_upgrading_a_format_2_document_is_a_document_error() -> None:
    with pytest.raises(DocumentError) as caught:
        upgrade(upgrade(V1))
    assert caught.value.problems[0].pointer == "/schema_version"


def _answer_sets() -> st.SearchStrategy[dict[str, Any]]:
    """Any answers to the bundled questionnaire, each enabled question answered or not (so that
    invalid sets are drawn too: a missing required answer, a wrong shape)."""
    per_question = {}
    for q in Q1.model.questions:
        ids = [o.id for o in q.options]
        choice = st.lists(st.sampled_from(ids), min_size=1, unique=True) if q.type == "multi" else st.sampled_from(ids)
        per_question[q.id] = st.one_of(st.none(), choice, choice, choice)  # mostly answered
    return st.fixed_dictionaries(per_question).map(_enabled_only)


def _enabled_only(drawn: dict[str, Any]) -> dict[str, Any]:
    chosen: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for q in Q1.questions:
        if q.enable is not None and not q.enable(Facts(chosen, {}, 0)):
            continue
        if drawn[q.id] is not None:
            answers[q.id] = drawn[q.id]
            chosen[q.id] = [drawn[q.id]] if isinstance(drawn[q.id], str) else drawn[q.id]
    return answers


def _outcome(q: Questionnaire, answers: dict[str, Any], client: Client | None) -> Any:
    try:
        a = assess(q, answers, client, AS_OF)
    except ResponseError as exc:
        return [(p.pointer, p.code, p.message) for p in exc.problems]
    kept = a.model_dump(mode="json", exclude={"id", "questionnaire", "format"})
    return kept


@settings(max_examples=300, deadline=None)
@given(answers=_answer_sets(), anonymous=st.booleans(), capable=st.booleans())
def test_the_upgraded_questionnaire_scores_every_answer_set_alike(
    answers: dict[str, Any], anonymous: bool, capable: bool
) -> None:
    client = None if anonymous else CLIENT.model_copy(update={"full_civil_capacity": capable})
    assert _outcome(Q1, answers, client) == _outcome(Q2, answers, client)


def test_a_format_2_assessment_names_its_format_and_a_format_1_one_is_unchanged(answers: dict[str, Any]) -> None:
    one, two = assess(Q1, answers, CLIENT, AS_OF), assess(Q2, answers, CLIENT, AS_OF)
    assert "format" not in one.model_dump(mode="json")  # the bytes recorded before format 2 existed
    assert two.model_dump(mode="json")["format"] == 2
    assert set(two.model_dump(mode="json")) - set(one.model_dump(mode="json")) == {"format"}


def test_a_log_with_both_formats_replays(tmp_path: Path, answers: dict[str, Any]) -> None:
    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(_registry(), store)
    engine.assess(Q1, answers, CLIENT, AS_OF)
    engine.assess(Q2, answers, CLIENT, AS_OF)
    records = [json.loads(data) for _, data, _ in store.scan()]
    assert [r["result"].get("format") for r in records if r["type"] == "assessment"] == [None, 2]
    report = replay_log(store)
    assert report.ok, report.differences or report.errors
    assert report.counts["assessment"] == 2


def _registry() -> Any:
    from suitability import Registry

    return Registry.default(environ={})


def test_cli_upgrade_writes_format_2_and_refuses_a_format_2_file(tmp_path: Path) -> None:
    out = tmp_path / "q2.json"
    run = CliRunner().invoke(cli, ["questionnaire", "upgrade", str(QUESTIONNAIRE_FILE), "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert json.loads(out.read_text(encoding="utf-8")) == upgrade(V1)
    again = CliRunner().invoke(cli, ["questionnaire", "upgrade", str(out)])
    assert again.exit_code == 4 and "/schema_version" in again.output


def test_format_1_documents_still_refuse_format_2_fields() -> None:
    doc = copy.deepcopy(V1)
    doc["stops"] = []
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert any("stops" in p.message for p in caught.value.problems)


# --- item 1: scales other than five; items 2, 3, 5: compositions, stops, relative caps, choice ----

F2 = Path(__file__).resolve().parent / "data" / "format2"
SIX = load_questionnaire(load(F2 / "six-level-rpq.json"), "six-level-rpq.json")
CHART = load_questionnaire(load(F2 / "two-axis-chart.json"), "two-axis-chart.json")
SRI = load_policy(load(F2 / "policy-sri-seven.json"), "policy-sri-seven.json")
ADULT = Client(client_id="HK-1", birth_date="1970-01-01")


def _six(**answers: str) -> dict[str, Any]:
    base = {
        "age": "under_65",
        "goal": "over_5y",
        "loss": "medium",
        "reaction": "hold",
        "savings": "m3_6",
        "share": "gt50",
    }
    return {**base, **answers}


def test_a_questionnaire_declares_its_own_scale() -> None:
    assert SIX.levels == ("P1", "P2", "P3", "P4", "P5", "P6")
    assert CHART.levels == ("C1", "C2", "C3", "C4", "C5")  # no scale declared: the default


def test_a_band_or_cap_off_the_declared_scale_is_a_load_error() -> None:
    doc = load(F2 / "six-level-rpq.json")
    doc["composition"]["parts"][0]["bands"][0]["level"] = "C1"
    doc["rules"].append({"id": "cap_c2", "when": {"question": "age", "any_of": ["over_70"]}, "cap": "C2",
                         "reason": {"zh-CN": "上限", "en": "cap"}})  # fmt: skip
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    found = {(p.pointer, p.code) for p in caught.value.problems}
    assert ("/composition/parts/0/bands/0/level", "UNKNOWN_LEVEL") in found
    assert ("/rules/1/cap", "UNKNOWN_LEVEL") in found


@pytest.mark.parametrize(
    ("answers", "profile", "parts"),
    [
        # willingness 4+2=6 -> P4, capacity 2+0=2 -> P2: the lower, P2
        (_six(), "P2", [("willingness", 6, "P4"), ("capacity", 2, "P2")]),
        # willingness 6+4=10 -> P6, capacity 4+4=8 -> P6
        (_six(loss="large", reaction="buy", savings="gt6m", share="lt20"), "P6", [("willingness", 10, "P6"), ("capacity", 8, "P6")]),
        # willingness 0+0=0 -> P1, capacity 8 -> P6
        (_six(loss="none", reaction="sell", savings="gt6m", share="lt20"), "P1", [("willingness", 0, "P1"), ("capacity", 8, "P6")]),
    ],
)  # fmt: skip
def test_min_composition_scores_hand_computed_answer_sets(
    answers: dict[str, Any], profile: str, parts: list[tuple[str, int, str]]
) -> None:
    a = assess(SIX, answers, ADULT, AS_OF)
    assert a.profile == profile and a.format == 2
    assert a.composition is not None and a.composition.method == "min" and a.composition.level == profile
    assert [(p.id, p.score, p.level) for p in a.composition.parts] == parts


@pytest.mark.parametrize(
    ("answers", "cell", "profile"),
    [
        ({"years": "lt3", "withdraw": "soon", "swing": "low", "drop": "sell"}, ("H1", "T1"), "C1"),  # 1, 0
        ({"years": "y3_7", "withdraw": "later", "swing": "mid", "drop": "wait"}, ("H2", "T2"), "C3"),  # 5, 5
        ({"years": "gt7", "withdraw": "later", "swing": "high", "drop": "buy"}, ("H3", "T3"), "C5"),  # 7, 10
        ({"years": "gt7", "withdraw": "soon", "swing": "high", "drop": "wait"}, ("H2", "T3"), "C4"),  # 5, 8
        ({"years": "lt3", "withdraw": "later", "swing": "high", "drop": "buy"}, ("H1", "T3"), "C2"),  # 3, 10
    ],
)
def test_chart_composition_scores_hand_computed_answer_sets(
    answers: dict[str, Any], cell: tuple[str, str], profile: str
) -> None:
    a = assess(CHART, answers, ADULT, AS_OF)
    assert a.profile == profile
    assert a.composition is not None and a.composition.method == "chart"
    assert tuple(p.band for p in a.composition.parts) == cell
    assert all(p.level is None for p in a.composition.parts)


def test_a_chart_missing_a_reachable_cell_is_a_load_error_naming_the_pair() -> None:
    doc = load(F2 / "two-axis-chart.json")
    del doc["composition"]["chart"]["H2"]["T3"]
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    (problem,) = caught.value.problems
    assert problem.code == "CHART_COVERAGE" and "time=H2, risk=T3" in problem.message


def test_part_bands_must_cover_the_part_reachable_range() -> None:
    doc = load(F2 / "two-axis-chart.json")
    doc["composition"]["parts"][1]["bands"][-1]["max"] = 9  # tolerance reaches 10
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert [p.code for p in caught.value.problems] == ["BAND_COVERAGE"]


def test_bands_and_a_composition_together_are_a_load_error() -> None:
    doc = load(F2 / "two-axis-chart.json")
    doc["bands"] = [{"profile": "C1", "min": 0, "max": 17}]
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert [p.code for p in caught.value.problems] == ["PROFILE_SOURCE"]


def test_a_stop_outcome_gives_no_profile_and_blocks_every_decision_with_its_own_code() -> None:
    a = assess(SIX, _six(goal="within_2y"), ADULT, AS_OF)
    assert a.profile is None and not a.lowest_category
    assert a.not_eligible is not None and a.not_eligible.id == "short_goal"
    assert a.model_dump(mode="json")["not_eligible"]["reason"]["en"].startswith("Money needed within 2 years")
    product = parse_product(
        {"id": "F-1", "name": {"zh-CN": "货币基金", "en": "MMF"}, "risk_level": "SRI1", "term": "short",
         "variety": "fixed_income"}
    )  # fmt: skip
    for initiator in ("client", "firm"):
        d = decide(a, product, ADULT, SRI, initiator, AS_OF)  # type: ignore[arg-type]
        assert d.outcome == "blocked"
        codes = [r.code for r in d.reasons]
        assert "NOT_ELIGIBLE" in codes and "LOWEST_CATEGORY" not in codes and "RISK_ABOVE_PROFILE" not in codes
        text = next(r for r in d.reasons if r.code == "NOT_ELIGIBLE").text
        assert "Money needed within 2 years" in text["en"] and "资金需在2年内使用" in text["zh-CN"]


def test_a_relative_cap_lowers_by_one_level_whatever_the_band() -> None:
    top = _six(loss="large", reaction="buy", savings="gt6m", share="lt20")
    assert assess(SIX, {**top, "age": "over_70"}, ADULT, AS_OF).profile == "P5"
    low = assess(SIX, {**_six(loss="none", reaction="sell"), "age": "over_70"}, ADULT, AS_OF)
    assert low.profile == "P1" and [r.id for r in low.rules_fired] == ["over_70_one_lower"]  # never below the lowest
    mid = assess(SIX, {**_six(), "age": "over_70"}, ADULT, AS_OF)
    assert mid.profile == "P1"  # P2 one lower


def test_a_client_may_choose_a_more_prudent_level_recorded_beside_the_scored_one() -> None:
    a = assess(SIX, _six(prudent="P1"), ADULT, AS_OF)
    assert (a.profile, a.profile_scored) == ("P1", "P2")
    same = assess(SIX, _six(prudent="P2"), ADULT, AS_OF)
    assert (same.profile, same.profile_scored) == ("P2", "P2")
    assert "profile_scored" not in assess(SIX, _six(), ADULT, AS_OF).model_dump(mode="json")


def test_a_client_may_never_choose_a_higher_level() -> None:
    with pytest.raises(ResponseError) as caught:
        assess(SIX, _six(prudent="P3"), ADULT, AS_OF)
    (problem,) = caught.value.problems
    assert problem.code == "CHOICE_ABOVE_SCORED" and problem.pointer == "/answers/prudent"
    with pytest.raises(ResponseError):
        assess(SIX, _six(prudent="C1"), ADULT, AS_OF)  # not a level of this scale


def test_a_policy_on_seven_sri_levels_matches_a_six_level_profile() -> None:
    a = assess(SIX, _six(), ADULT, AS_OF)  # P2: may buy SRI1 and SRI2

    def product(level: str) -> Any:
        return parse_product({"id": f"F-{level}", "name": {"zh-CN": "基金", "en": "Fund"}, "risk_level": level,
                              "term": "short", "variety": "fixed_income"})  # fmt: skip

    assert "RISK_ABOVE_PROFILE" not in [r.code for r in decide(a, product("SRI2"), ADULT, SRI, "client", AS_OF).reasons]
    above = decide(a, product("SRI3"), ADULT, SRI, "client", AS_OF)
    assert "RISK_ABOVE_PROFILE" in [r.code for r in above.reasons]
    assert "SRI1/SRI2" in above.reasons[0].text["en"]


def test_a_policy_used_with_a_questionnaire_of_another_scale_is_an_error_naming_both(answers: dict[str, Any]) -> None:
    errors, _ = check_pair(SRI, Q1)
    assert [p.code for p in errors] == ["SCALE_MISMATCH"]
    assert "cn-securities-individual@2026.1" in errors[0].message and "sri-seven@2026.1" in errors[0].message
    assert check_pair(SRI, SIX)[0] == []
    a = assess(Q1, answers, CLIENT, AS_OF)
    product = parse_product({"id": "F-1", "name": {"zh-CN": "基金", "en": "Fund"}, "risk_level": "SRI1",
                             "term": "short", "variety": "fixed_income"})  # fmt: skip
    with pytest.raises(DocumentError) as caught:
        decide(a, product, CLIENT, SRI, "client", AS_OF)
    assert caught.value.problems[0].code == "SCALE_MISMATCH"


def test_a_format_1_pair_keeps_its_format_1_behaviour(csrc: Any) -> None:
    assert check_pair(csrc, Q1) == ([], [])


def test_policy_check_names_what_a_pair_cannot_do() -> None:
    run = CliRunner().invoke(cli, ["policy", "check", "cn-csrc", "--questionnaire", str(F2 / "two-axis-chart.json")])
    assert run.exit_code == 0, run.output
    assert "derives no horizon" in run.output and "derives no varieties" in run.output
    bad = CliRunner().invoke(
        cli, ["policy", "check", str(F2 / "policy-sri-seven.json"), "--questionnaire", "cn-securities-individual"]
    )
    assert bad.exit_code == 4 and "SCALE_MISMATCH" in bad.output


def test_level_ids_of_the_default_r_scale_stay_reserved() -> None:
    with pytest.raises(ProductError):
        parse_product({"id": "X", "name": {"zh-CN": "x", "en": "x"}, "risk_level": "R6", "term": "short",
                       "variety": "equity"})  # fmt: skip


def test_a_log_of_format_2_results_replays(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(_registry(), store)
    product = parse_product({"id": "F-1", "name": {"zh-CN": "基金", "en": "Fund"}, "risk_level": "SRI2",
                             "term": "short", "variety": "fixed_income"})  # fmt: skip
    for answers in (_six(), _six(goal="within_2y"), _six(prudent="P1"), {**_six(), "age": "over_70"}):
        a = engine.assess(SIX, answers, ADULT, AS_OF)
        engine.decide(a, product, ADULT, SRI, "client", AS_OF)
    engine.assess(CHART, {"years": "gt7", "withdraw": "later", "swing": "high", "drop": "buy"}, ADULT, AS_OF)
    report = replay_log(store)
    assert report.ok, report.differences or report.errors
