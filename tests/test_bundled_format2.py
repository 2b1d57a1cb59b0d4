"""Issue 12 item 10: the three format-2 documents bundled beside the CN default, each scored on answer
sets worked out by hand; and item 8 at load: a questionnaire and a policy used together are checked as
a pair, errors raised, warnings reported once (library: PairWarning; CLI: stderr, in --lang)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability import Client, PairWarning, Registry, SuitabilityWarning
from suitability.cli import cli
from suitability.engine import Engine
from suitability.errors import DocumentError
from suitability.log.sqlite import SQLiteStore
from suitability.matching import decide
from suitability.product import parse_product
from suitability.scoring import assess

from .conftest import AS_OF

ROOT = Path(__file__).resolve().parent.parent
F2 = Path(__file__).resolve().parent / "data" / "format2"
REGISTRY = Registry.default(environ={})
RPQ = REGISTRY.questionnaire("hk-bank-rpq@2026.1")
CHART = REGISTRY.questionnaire("horizon-risk-chart@2026.1")
SRI = REGISTRY.policy("eu-priips-sri@2026.1")
CLIENT = Client(client_id="HK-1", birth_date="1980-05-01")  # 46 on AS_OF: no special care


# --- hk-bank-rpq: willingness = loss + reaction, capacity = savings + share; the lower level wins ---------
# willingness bands 0-1 RT0, 2-3 RT1, 4-5 RT2, 6-7 RT3, 8-9 RT4, 10 RT5;
# capacity bands    0-1 RT0, 2-3 RT1, 4-5 RT2, 6-7 RT4, 8 RT5 (only even sums are reachable).
def rpq(loss: str, reaction: str, savings: str, share: str, **more: str) -> dict[str, str]:
    return {
        "set_aside": "up_to_50",
        "age": "under_65",
        "goal": "over_5y",
        "loss": loss,
        "reaction": reaction,
        "savings": savings,
        "share": share,
        **more,
    }


@pytest.mark.parametrize(
    ("answers", "willingness", "capacity", "profile"),
    [
        # none 0 + sell 0 = 0 -> RT0; gt6m 4 + lt20 4 = 8 -> RT5; min RT0 (willingness bounds it)
        (rpq("none", "sell", "gt6m", "lt20"), (0, "RT0"), (8, "RT5"), "RT0"),
        # large 6 + buy 4 = 10 -> RT5 (the top band); capacity 8 -> RT5: the top corner, RT5
        (rpq("large", "buy", "gt6m", "lt20"), (10, "RT5"), (8, "RT5"), "RT5"),
        # large 6 + sell 0 = 6 -> RT3 (lower edge of 6-7); m3_6 2 + p20_50 2 = 4 -> RT2; min RT2 (capacity caps)
        (rpq("large", "sell", "m3_6", "p20_50"), (6, "RT3"), (4, "RT2"), "RT2"),
        # medium 4 + buy 4 = 8 -> RT4 (lower edge of 8-9); gt6m 4 + p20_50 2 = 6 -> RT4 (lower edge of 6-7); RT4
        (rpq("medium", "buy", "gt6m", "p20_50"), (8, "RT4"), (6, "RT4"), "RT4"),
        # small 2 + sell 0 = 2 -> RT1 (lower edge of 2-3); lt3m 0 + gt50 0 = 0 -> RT0; min RT0
        (rpq("small", "sell", "lt3m", "gt50"), (2, "RT1"), (0, "RT0"), "RT0"),
        # medium 4 + sell 0 = 4 -> RT2; m3_6 2 + gt50 0 = 2 -> RT1; min RT1
        (rpq("medium", "sell", "m3_6", "gt50"), (4, "RT2"), (2, "RT1"), "RT1"),
    ],
)
def test_the_rpq_takes_the_lower_of_willingness_and_capacity(
    answers: dict[str, str], willingness: tuple[int, str], capacity: tuple[int, str], profile: str
) -> None:
    a = assess(RPQ, answers, CLIENT, AS_OF)
    assert a.composition is not None and a.composition.method == "min"
    assert [(p.id, p.score, p.level) for p in a.composition.parts] == [
        ("willingness", *willingness),
        ("capacity", *capacity),
    ]
    assert a.profile == profile and a.not_eligible is None
    assert a.horizon == "long"  # goal over_5y


def test_the_rpq_lowers_clients_over_70_by_one_level_and_lets_a_client_choose_a_more_prudent_one() -> None:
    top = rpq("large", "buy", "gt6m", "lt20")  # RT5, as above
    older = assess(RPQ, {**top, "age": "over_70"}, CLIENT, AS_OF)
    assert older.profile == "RT4" and "over_70_one_lower" in [r.id for r in older.rules_fired]
    chosen = assess(RPQ, {**top, "prudent": "RT3"}, CLIENT, AS_OF)
    assert (chosen.profile, chosen.profile_scored) == ("RT3", "RT5")


def test_the_rpq_gives_no_profile_to_a_client_setting_nothing_aside_and_assumes_every_variety() -> None:
    stopped = assess(RPQ, {**rpq("large", "buy", "gt6m", "lt20"), "set_aside": "none"}, CLIENT, AS_OF)
    assert stopped.profile is None and stopped.not_eligible is not None
    assert stopped.not_eligible.id == "nothing_to_invest"
    short = assess(RPQ, {**rpq("small", "hold", "m3_6", "p20_50"), "goal": "within_2y"}, CLIENT, AS_OF)
    assert short.horizon == "short" and short.profile is not None  # a short goal is a horizon, not a stop
    assert short.varieties == ["fixed_income", "equity", "derivatives_financing", "complex", "other"]
    assert short.assumed is not None and [x.field for x in short.assumed] == ["varieties"]


def test_the_rpq_scale_is_hsbcs_six_levels_named_as_published() -> None:
    assert RPQ.levels == ("RT0", "RT1", "RT2", "RT3", "RT4", "RT5")
    names = [level["name"]["en"] for level in RPQ.document["scale"]["levels"]]
    assert names == ["Secure", "Risk averse", "Conservative", "Balanced", "Dynamic", "Very dynamic"]
    assert RPQ.document["validity_days"] == 730  # HSBC: an RPQ is valid for 2 years


def _band(score: int, bands: list[tuple[int, int, int]]) -> int:
    return next(level for low, high, level in bands if low <= score <= high)


@settings(max_examples=60, deadline=None)
@given(
    loss=st.sampled_from([("none", 0), ("small", 2), ("medium", 4), ("large", 6)]),
    reaction=st.sampled_from([("sell", 0), ("hold", 2), ("buy", 4)]),
    savings=st.sampled_from([("lt3m", 0), ("m3_6", 2), ("gt6m", 4)]),
    share=st.sampled_from([("gt50", 0), ("p20_50", 2), ("lt20", 4)]),
)
def test_every_rpq_profile_is_the_lower_of_its_two_bands(
    loss: tuple[str, int], reaction: tuple[str, int], savings: tuple[str, int], share: tuple[str, int]
) -> None:
    will = _band(loss[1] + reaction[1], [(0, 1, 0), (2, 3, 1), (4, 5, 2), (6, 7, 3), (8, 9, 4), (10, 10, 5)])
    cap = _band(savings[1] + share[1], [(0, 1, 0), (2, 3, 1), (4, 5, 2), (6, 7, 4), (8, 8, 5)])
    a = assess(RPQ, rpq(loss[0], reaction[0], savings[0], share[0]), CLIENT, AS_OF)
    assert a.profile == f"RT{min(will, cap)}"


# --- horizon-risk-chart: time = begin + spend, tolerance = swing + drop, the chart cell is the level ---------
# time bands H1 0-4, H2 5-8, H3 9-12; tolerance bands T1 0-3, T2 4-7, T3 8-10;
# chart H1: C1 C1 C2 / H2: C1 C3 C4 / H3: C2 C4 C5.
def chart(begin: str, spend: str, swing: str, drop: str) -> dict[str, str]:
    return {"begin": begin, "spend": spend, "swing": swing, "drop": drop}


@pytest.mark.parametrize(
    ("answers", "time", "tolerance", "profile"),
    [
        # corners: y2_5 1 + under_2y 0 = 1 (H1); low 0 + sell 0 = 0 (T1) -> C1
        (chart("y2_5", "under_2y", "low", "sell"), (1, "H1"), (0, "T1"), "C1"),
        # 1 (H1); high 6 + buy 4 = 10 (T3) -> C2: a short horizon holds a bold client back
        (chart("y2_5", "under_2y", "high", "buy"), (1, "H1"), (10, "T3"), "C2"),
        # over_10y 7 + over_10y 5 = 12 (H3); 0 (T1) -> C2
        (chart("over_10y", "over_10y", "low", "sell"), (12, "H3"), (0, "T1"), "C2"),
        # 12 (H3); 10 (T3) -> C5
        (chart("over_10y", "over_10y", "high", "buy"), (12, "H3"), (10, "T3"), "C5"),
        # edges: y2_5 1 + y6_10 3 = 4 (top of H1); mid 3 + sell 0 = 3 (top of T1) -> C1
        (chart("y2_5", "y6_10", "mid", "sell"), (4, "H1"), (3, "T1"), "C1"),
        # y6_10 4 + y2_5 1 = 5 (bottom of H2); low 0 + buy 4 = 4 (bottom of T2) -> C3
        (chart("y6_10", "y2_5", "low", "buy"), (5, "H2"), (4, "T2"), "C3"),
        # over_10y 7 + y2_5 1 = 8 (top of H2); mid 3 + buy 4 = 7 (top of T2) -> C3
        (chart("over_10y", "y2_5", "mid", "buy"), (8, "H2"), (7, "T2"), "C3"),
        # y6_10 4 + over_10y 5 = 9 (bottom of H3); high 6 + wait 2 = 8 (bottom of T3) -> C5
        (chart("y6_10", "over_10y", "high", "wait"), (9, "H3"), (8, "T3"), "C5"),
    ],
)
def test_the_chart_reads_the_cell_where_time_and_tolerance_meet(
    answers: dict[str, str], time: tuple[int, str], tolerance: tuple[int, str], profile: str
) -> None:
    a = assess(CHART, answers, CLIENT, AS_OF)
    assert a.composition is not None and a.composition.method == "chart"
    assert [(p.id, p.score, p.band) for p in a.composition.parts] == [("time", *time), ("risk", *tolerance)]
    assert a.profile == profile


def test_the_chart_is_not_for_money_needed_within_two_years_and_derives_its_horizon() -> None:
    stopped = assess(CHART, chart("within_2y", "over_10y", "high", "buy"), CLIENT, AS_OF)
    assert stopped.profile is None and stopped.not_eligible is not None
    assert stopped.not_eligible.id == "money_within_2y"
    a = assess(CHART, chart("y6_10", "y2_5", "low", "buy"), CLIENT, AS_OF)
    assert a.horizon == "long" and a.varieties == ["fixed_income", "equity"]
    assert a.assumed is not None and [(x.field, x.value) for x in a.assumed] == [
        ("varieties", ["fixed_income", "equity"])
    ]


# --- eu-priips-sri with hk-bank-rpq: RT0 SRI1, RT1 1-2, RT2 1-3, RT3 1-4, RT4 1-5, RT5 1-7 -----------------
def product(level: str) -> Any:
    return parse_product(
        {
            "id": f"F-{level}",
            "name": {"zh-CN": "基金", "en": "Fund"},
            "risk_level": level,
            "term": "short",
            "variety": "equity",
        }
    )


@pytest.mark.parametrize(
    ("answers", "profile", "highest"),
    [
        (rpq("none", "sell", "gt6m", "lt20"), "RT0", "SRI1"),
        (rpq("medium", "sell", "m3_6", "gt50"), "RT1", "SRI2"),
        (rpq("large", "sell", "m3_6", "p20_50"), "RT2", "SRI3"),
        (rpq("medium", "buy", "gt6m", "p20_50"), "RT4", "SRI5"),
        (rpq("large", "buy", "gt6m", "lt20"), "RT5", "SRI7"),
    ],
)
def test_the_sri_policy_sells_up_to_each_profiles_edge_and_not_one_level_above(
    answers: dict[str, str], profile: str, highest: str
) -> None:
    a = assess(RPQ, answers, CLIENT, AS_OF)
    assert a.profile == profile
    at_edge = decide(a, product(highest), CLIENT, SRI, "client", AS_OF)
    assert at_edge.outcome == "suitable", at_edge.reasons
    above = f"SRI{int(highest[3:]) + 1}"
    if above != "SRI8":
        by_client = decide(a, product(above), CLIENT, SRI, "client", AS_OF)
        assert by_client.outcome == "requires_confirmation"
        assert [r.code for r in by_client.reasons] == ["RISK_ABOVE_PROFILE"]
        assert decide(a, product(above), CLIENT, SRI, "firm", AS_OF).outcome == "blocked"


def test_the_sri_policy_blocks_a_client_the_rpq_gave_no_profile() -> None:
    a = assess(RPQ, {**rpq("large", "buy", "gt6m", "lt20"), "set_aside": "none"}, CLIENT, AS_OF)
    d = decide(a, product("SRI1"), CLIENT, SRI, "client", AS_OF)
    assert d.outcome == "blocked" and "NOT_ELIGIBLE" in [r.code for r in d.reasons]


def test_the_bundled_documents_sit_at_id_and_version_and_cite_their_sources() -> None:
    for entry in REGISTRY.entries():
        assert Path(entry.source).relative_to(ROOT).parts[1:] == (entry.id, f"{entry.version}.json")
        assert entry.status == "active"
    assert SRI.model.sources and any("2017/653" in s for s in SRI.model.sources)
    for q in (RPQ, CHART):
        assert "after" in q.document["description"]["en"]


def test_every_bundled_pair_on_one_scale_checks_clean_and_other_scales_are_errors() -> None:
    registry = Registry.default(environ={}, on_warning=lambda w: pytest.fail(str(w)))
    for q in ("cn-securities-individual", "horizon-risk-chart"):
        for p in ("cn-csrc", "cn-bank-wm"):
            assert registry.check_pair(registry.questionnaire(q), registry.policy(p)) == []
    assert registry.check_pair(RPQ, SRI) == []
    for q in ("cn-securities-individual", "horizon-risk-chart"):
        with pytest.raises(DocumentError, match=f"eu-priips-sri@2026.1 cannot be used with questionnaire {q}@"):
            registry.check_pair(registry.questionnaire(q), SRI)
    assert registry.pair_warnings == []


# --- item 8 at load: a pair's warnings, once -------------------------------------------------------------------
def _chart_fixture(registry: Registry) -> Any:
    """The test copy of the chart questionnaire derives neither horizon nor varieties: cn-csrc warns twice."""
    return registry.load_file("questionnaire", F2 / "two-axis-chart.json")


def test_a_pair_that_cannot_do_everything_is_reported_once_to_on_warning() -> None:
    seen: list[PairWarning] = []
    registry = Registry.default(environ={}, on_warning=seen.append)
    q, p = _chart_fixture(registry), registry.policy("cn-csrc")
    for _ in range(3):
        problems = registry.check_pair(q, p)
        assert [x.code for x in problems] == ["NOTHING_DERIVED", "NOTHING_DERIVED"]
    assert len(seen) == 1 and registry.pair_warnings == seen
    assert (seen[0].questionnaire, seen[0].policy) == ("two-axis-chart@2026.1", "cn-csrc@2026.1")
    assert "derives no horizon" in str(seen[0]) and "derives no varieties" in str(seen[0])
    registry.check_pair(q, registry.policy("cn-bank-wm"))  # another pair: reported on its own
    assert [w.policy for w in seen] == ["cn-csrc@2026.1", "cn-bank-wm@2026.1"]


def test_without_on_warning_a_pair_warning_is_a_python_warning_once() -> None:
    registry = Registry.default(environ={})
    q, p = _chart_fixture(registry), registry.policy("cn-csrc")
    with pytest.warns(PairWarning, match="cannot do everything") as caught:
        registry.check_pair(q, p)
    assert issubclass(caught[0].category, SuitabilityWarning) and issubclass(caught[0].category, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.check_pair(q, p)  # the second time: silent


def test_a_pair_error_is_raised_every_time_and_not_reported_as_a_warning() -> None:
    seen: list[PairWarning] = []
    registry = Registry.default(environ={}, on_warning=seen.append)
    for _ in range(2):
        with pytest.raises(DocumentError) as caught:
            registry.check_pair(registry.questionnaire("cn-securities-individual"), SRI)
        assert [x.code for x in caught.value.problems] == ["SCALE_MISMATCH"]
    with pytest.raises(DocumentError, match=r"hk-bank-rpq@2026\.1"):
        registry.pair("hk-bank-rpq", "cn-csrc")
    q, p = registry.pair("hk-bank-rpq", "eu-priips-sri")
    assert (q.hash, p.hash) == (RPQ.hash, SRI.hash)
    assert seen == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["cn-csrc", "cn-bank-wm", "eu-priips-sri"]), max_size=12))
def test_each_pair_is_reported_at_most_once_whatever_the_order(policies: list[str]) -> None:
    seen: list[PairWarning] = []
    registry = Registry.default(environ={}, on_warning=seen.append)
    q = _chart_fixture(registry)
    for ref in policies:
        try:
            registry.check_pair(q, registry.policy(ref))
        except DocumentError:
            assert ref == "eu-priips-sri"
    warned = [ref for ref in dict.fromkeys(policies) if ref != "eu-priips-sri"]
    assert [w.policy for w in seen] == [f"{ref}@2026.1" for ref in warned]


def test_the_engine_checks_the_pair_before_deciding(tmp_path: Path) -> None:
    seen: list[PairWarning] = []
    registry = Registry.default(environ={}, on_warning=seen.append)
    q = _chart_fixture(registry)
    engine = Engine(registry, SQLiteStore(tmp_path / "log.sqlite3"))
    a = engine.assess(q, {"years": "gt7", "withdraw": "later", "swing": "mid", "drop": "wait"}, CLIENT, AS_OF)
    fund = parse_product(
        {
            "id": "F-R1",
            "name": {"zh-CN": "基金", "en": "Fund"},
            "risk_level": "R1",
            "term": "short",
            "variety": "fixed_income",
        }
    )
    for _ in range(2):
        engine.decide(a, fund, CLIENT, "cn-csrc", "client", AS_OF)
    engine.recommend(a, [fund], CLIENT, "cn-csrc", AS_OF)
    assert [w.policy for w in seen] == ["cn-csrc@2026.1"]
    rpq_a = engine.assess(RPQ, rpq("large", "buy", "gt6m", "lt20"), CLIENT, AS_OF)
    with pytest.raises(DocumentError) as caught:
        engine.decide(rpq_a, fund, CLIENT, "cn-csrc", "client", AS_OF)
    assert caught.value.problems[0].code == "SCALE_MISMATCH"


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "policy cn-csrc@2026.1 used with questionnaire two-axis-chart@2026.1 cannot do everything"),
        ("zh-CN", "策略 cn-csrc@2026.1 与问卷 two-axis-chart@2026.1 搭配使用时有做不到的事"),
    ],
)
def test_the_cli_prints_a_pairs_warning_on_stderr_in_its_lang_without_changing_the_exit_code(
    tmp_path: Path, lang: str, said: str
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(F2 / "two-axis-chart.json", folder / "two-axis-chart.json")
    answers, client, out = tmp_path / "answers.json", tmp_path / "client.json", tmp_path / "a.json"
    answers.write_text(json.dumps({"answers": {"years": "gt7", "withdraw": "later", "swing": "mid", "drop": "wait"}}))
    client.write_text(json.dumps({"client_id": "HK-1", "birth_date": "1980-05-01"}))
    product = tmp_path / "product.json"
    product.write_text(
        json.dumps(
            {
                "id": "F-R1",
                "name": {"zh-CN": "基金", "en": "Fund"},
                "risk_level": "R1",
                "term": "short",
                "variety": "fixed_income",
            }
        )
    )
    log = str(tmp_path / "log.sqlite3")
    base = ["--documents", str(folder)]
    run = CliRunner().invoke(
        cli,
        [
            *base,
            "assess",
            "--questionnaire",
            "two-axis-chart",
            "--answers",
            str(answers),
            "--client",
            str(client),
            "--as-of",
            "2026-11-28",
            "--log",
            log,
            "--json",
        ],
    )
    assert run.exit_code == 0, run.output
    out.write_text(run.stdout)
    run = CliRunner().invoke(
        cli,
        [
            *base,
            "decide",
            "--assessment",
            str(out),
            "--product",
            str(product),
            "--client",
            str(client),
            "--initiated-by",
            "client",
            "--as-of",
            "2026-11-28",
            "--log",
            log,
            "--lang",
            lang,
        ],
    )
    assert run.exit_code == 0, run.output
    assert said in run.stderr and run.stderr.count("warning:") == 1
    assert "NOTHING_DERIVED" in run.stderr and "derives no varieties" in run.stderr  # the details, in English
    assert said not in run.stdout
