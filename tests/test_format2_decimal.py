"""Format 2 decimal scores and dimension weights (issue 12 item 6), computed exactly.

The bundled ``mifid-weighted.json`` weighs risk willingness 0.3 and capacity for loss 0.7 (after ESMA's
MiFID II suitability guidelines, see its description); its answers score 2.5 points a step, its
income question 0.1 to 0.3 points an option (capped at 0.5), its bands and thresholds have two places.
"""

from __future__ import annotations

import copy
import json
import math
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suitability import Client
from suitability.engine import Engine
from suitability.errors import DocumentError
from suitability.log.sqlite import SQLiteStore
from suitability.models import Assessment
from suitability.questionnaire import load_questionnaire, points_text, step
from suitability.replay import replay as replay_log
from suitability.scoring import assess, next_question

from .conftest import AS_OF, load

F2 = Path(__file__).resolve().parent / "data" / "format2"
DOC = load(F2 / "mifid-weighted.json")
MIFID = load_questionnaire(DOC, "mifid-weighted.json")
CHART = load_questionnaire(load(F2 / "two-axis-chart.json"), "two-axis-chart.json")
ADULT = Client(client_id="EU-0001", birth_date="1980-05-01")

#: The recorded text of a decimal score (as models.DecimalText): no exponent, no trailing zero.
TEXT = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$")


def _answers(fall: str = "sell_all", goal: str = "preserve", portfolio: str = "a", share: str = "over_50",
             reserve: str = "none", income: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    return {"fall": fall, "goal": goal, "portfolio": portfolio, "share": share, "reserve": reserve,
            "income": income or ["no_income"]}  # fmt: skip


# Each case: answers, score, dimension scores, profile (None: not eligible), rules fired. W is
# willingness, K capacity, T = 0.3 W + 0.7 K; bands C1 0-3.59, C2 3.6-7.99, C3 8-10.99, C4 11-13.99,
# C5 14-17.6; K <= 5.3 caps at C2; K <= 0.3 stops.
CASES = [
    pytest.param(
        # W = 5 + 0 + 0 = 5; K = 2.5 + 0 + (0.3 + 0.2) = 3; T = 1.5 + 2.1 = 3.6: the first score of C2.
        # In floats 0.3 * 5 + 0.7 * 3.0 is 3.5999999999999996: C1.
        _answers(fall="hold", share="p25_50", income=["business", "salary"]),
        "3.6",
        {"willingness": "5", "capacity": "3"},
        "C2",
        ["capacity_limits"],
        id="band-edge-float-would-miss",
    ),
    pytest.param(
        # W = 7.5 * 3 = 22.5; K = 0 + 0 + (0.1 + 0.2) = 0.3 exactly (floats: 0.30000000000000004,
        # which is not <= 0.3): the stop holds. T = 6.75 + 0.21 = 6.96.
        _answers(fall="buy_more", goal="max_growth", portfolio="d", income=["pension", "salary"]),
        "6.96",
        {"willingness": "22.5", "capacity": "0.3"},
        None,
        [],
        id="stop-at-0.1-plus-0.2",
    ),
    pytest.param(
        # W = 22.5; K = 7.5 + 7.5 + min(0.1 + 0.2 + 0.2 + 0.3, 0.5) = 15.5; T = 6.75 + 10.85 = 17.6: C5.
        _answers(
            fall="buy_more",
            goal="max_growth",
            portfolio="d",
            share="under_10",
            reserve="m12",
            income=["pension", "salary", "rental", "business"],
        ),
        "17.6",
        {"willingness": "22.5", "capacity": "15.5"},
        "C5",
        [],
        id="decimal-cap-highest",
    ),
    pytest.param(
        # W = 22.5; K = 5 + 0 + 0.3 = 5.3, so K <= 5.3 caps; T = 6.75 + 3.71 = 10.46: C3 capped to C2.
        _answers(fall="buy_more", goal="max_growth", portfolio="d", share="p10_25", income=["pension", "salary"]),
        "10.46",
        {"willingness": "22.5", "capacity": "5.3"},
        "C2",
        ["capacity_limits"],
        id="decimal-threshold-cap",
    ),
    pytest.param(
        # W = 5; K = 5 + 0 + 0 = 5; T = 1.5 + 3.5 = 5: a whole score of a decimal document is text too.
        _answers(goal="growth", share="p10_25"),
        "5",
        {"willingness": "5", "capacity": "5"},
        "C2",
        ["capacity_limits"],
        id="whole-score-still-text",
    ),
    pytest.param(
        # W = 7.5 + 5 + 2.5 = 15; K = 7.5 + 5 + 0.2 = 12.7; T = 4.5 + 8.89 = 13.39: C4.
        _answers(fall="buy_more", goal="growth", portfolio="b", share="under_10", reserve="m6", income=["salary"]),
        "13.39",
        {"willingness": "15", "capacity": "12.7"},
        "C4",
        [],
        id="two-places",
    ),
]


@pytest.mark.parametrize(("answers", "score", "dimensions", "profile", "fired"), CASES)
def test_the_weighted_document_scores_hand_computed_answer_sets(
    answers: dict[str, Any], score: str, dimensions: dict[str, str], profile: str | None, fired: list[str]
) -> None:
    a = assess(MIFID, answers, ADULT, AS_OF)
    assert (a.score, a.dimension_scores, a.profile) == (score, dimensions, profile)
    assert [r.id for r in a.rules_fired] == fired
    assert (a.not_eligible is not None) == (profile is None)


def test_a_decimal_score_is_recorded_as_text_and_an_integer_document_keeps_integers() -> None:
    a = assess(MIFID, _answers(fall="hold", share="p25_50", income=["business", "salary"]), ADULT, AS_OF)
    recorded = json.loads(a.model_dump_json())
    assert recorded["score"] == "3.6" and recorded["dimension_scores"] == {"willingness": "5", "capacity": "3"}
    chart = assess(CHART, {"years": "gt7", "withdraw": "later", "swing": "high", "drop": "buy"}, ADULT, AS_OF)
    assert json.loads(chart.model_dump_json())["composition"]["parts"][0]["score"] == 7  # an int, as before


def test_a_recorded_score_is_never_a_float() -> None:
    data = json.loads(assess(MIFID, _answers(), ADULT, AS_OF).model_dump_json())
    data["score"] = 2.5
    with pytest.raises(ValueError, match="score"):
        Assessment.model_validate(data)
    data["score"] = "2.50"  # not the minimal text: two texts for one score would digest differently
    with pytest.raises(ValueError, match="score"):
        Assessment.model_validate(data)


def _with(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    changed.update(changes)
    return changed


def _small(scores: list[float], bands: list[tuple[float, float]]) -> dict[str, Any]:
    """A one-question document with options scoring ``scores`` and bands C1.. over ``bands``."""
    doc = _with(DOC, weights=None, stops=[], rules=[], dimensions=["d"])
    del doc["weights"]
    doc["questions"] = [
        {"id": "q", "dimension": "d", "type": "single", "text": {"zh-CN": "问", "en": "Q"},
         "options": [{"id": f"o{i}", "text": {"zh-CN": "项", "en": "O"}, "score": s} for i, s in enumerate(scores)]}
    ]  # fmt: skip
    doc["bands"] = [{"profile": f"C{i + 1}", "min": lo, "max": hi} for i, (lo, hi) in enumerate(bands)]
    return doc


def test_bands_are_contiguous_over_the_scores_the_document_can_give() -> None:
    # scores step by 0.5: nothing falls between 10 and 10.5
    q = load_questionnaire(_small([0, 10, 10.5, 20], [(0, 10), (10.5, 20)]))
    assert [q.levels[q.profile_for(u)] for u in (0, 100, 105, 200)] == ["C1", "C1", "C2", "C2"]
    # a score of 10.25 falls between them: a gap, with the next score named
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(_small([0, 10, 10.25, 20], [(0, 10), (10.5, 20)]))
    [problem] = caught.value.problems
    assert (problem.code, problem.pointer) == ("BAND_GAP", "/bands/1/min")
    assert "start at 10.25" in problem.message and "step by 0.25" in problem.message
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(_small([0, 10, 20], [(0, 10.5), (10.5, 20)]))
    assert [p.code for p in caught.value.problems] == ["BAND_OVERLAP"]
    # integers in steps of 1: format 1's rule and message, unchanged
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(_small([0, 1, 20], [(0, 10), (12, 20)]))
    assert [p.message for p in caught.value.problems] == ["expected this band to start at 11, found 12 (gap)"]


def test_more_than_six_places_is_a_load_error() -> None:
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(_small([0, 0.0000001, 20], [(0, 10), (10.0000001, 20)]))
    assert {(p.code, p.pointer) for p in caught.value.problems} >= {
        ("DECIMAL_PLACES", "/questions/0/options/1/score"),
        ("DECIMAL_PLACES", "/bands/1/min"),
    }


def test_weights_name_every_dimension_they_sum() -> None:
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(_with(DOC, weights={"willingness": 0.3, "risk": 0.7}))
    assert {p.pointer for p in caught.value.problems} >= {"/weights/risk", "/weights"}


def test_a_decimal_score_threshold_loads_in_format_2_only() -> None:
    from .conftest import QUESTIONNAIRE_FILE

    assert MIFID.model.rules[0].when == {"dimension": "capacity", "score_at_most": 5.3}
    v1 = load(QUESTIONNAIRE_FILE)
    v1["rules"][0]["when"] = {"total_at_most": 2.5}
    with pytest.raises(DocumentError, match=r"expected an integer, found 2\.5"):
        load_questionnaire(v1)


def _weighted_parts() -> dict[str, Any]:
    """The MiFID document composed: the lower of willingness alone and the 0.3/0.7 weighted sum."""
    doc = _with(DOC, stops=[], rules=[])
    del doc["bands"], doc["weights"]
    doc["composition"] = {
        "method": "min",
        "parts": [
            {"id": "willing", "dimensions": ["willingness"],
             "bands": [{"min": 0, "max": 7.5, "level": "C1"}, {"min": 10, "max": 22.5, "level": "C5"}]},
            {"id": "blended", "dimensions": ["willingness", "capacity"],
             "weights": {"willingness": 0.3, "capacity": 0.7},
             "bands": [{"min": 0, "max": 8.99, "level": "C2"}, {"min": 9, "max": 17.6, "level": "C4"}]},
        ],
    }  # fmt: skip
    return doc


def test_a_composition_part_carries_weights() -> None:
    q = load_questionnaire(_weighted_parts())
    # W = 22.5 (willing: C5); K = 5 + 0 + 0.3 = 5.3; blended 6.75 + 3.71 = 10.46 (C4); the lower: C4
    a = assess(q, _answers(fall="buy_more", goal="max_growth", portfolio="d", share="p10_25",
                           income=["pension", "salary"]), ADULT, AS_OF)  # fmt: skip
    assert a.composition is not None
    assert [(p.score, p.level) for p in a.composition.parts] == [("22.5", "C5"), ("10.46", "C4")]
    assert a.profile == "C4" and a.score == "27.8"  # no total weights: W + K


def test_a_weighted_part_missing_a_weight_is_a_load_error() -> None:
    doc = _weighted_parts()
    doc["composition"]["parts"][1]["weights"] = {"willingness": 0.3}
    with pytest.raises(DocumentError) as caught:
        load_questionnaire(doc)
    assert "/composition/parts/1/weights" in {p.pointer for p in caught.value.problems}


# --- properties -----------------------------------------------------------------------------------

_OPTIONS = {q["id"]: [o["id"] for o in q["options"]] for q in DOC["questions"]}
_SCORES = {q["id"]: {o["id"]: Fraction(repr(o["score"])) for o in q["options"]} for q in DOC["questions"]}
_INCOME = st.one_of(
    st.just(["no_income"]),
    st.lists(st.sampled_from([o for o in _OPTIONS["income"] if o != "no_income"]), min_size=1, unique=True),
)
ANSWERS = st.fixed_dictionaries(
    {qid: (st.sampled_from(ids) if qid != "income" else _INCOME) for qid, ids in _OPTIONS.items()}
)


def _exact(answers: dict[str, Any]) -> tuple[Fraction, Fraction, Fraction]:
    """W, K and T of ``answers`` by Fractions of the printed numbers, independently of the engine."""
    w = sum((_SCORES[q][answers[q]] for q in ("fall", "goal", "portfolio")), Fraction(0))
    income = min(sum((_SCORES["income"][o] for o in answers["income"]), Fraction(0)), Fraction("0.5"))
    k = _SCORES["share"][answers["share"]] + _SCORES["reserve"][answers["reserve"]] + income
    return w, k, Fraction("0.3") * w + Fraction("0.7") * k


@settings(max_examples=150, deadline=None)
@given(ANSWERS)
def test_scores_equal_the_exact_fraction_sums(answers: dict[str, Any]) -> None:
    a = assess(MIFID, answers, ADULT, AS_OF)
    w, k, t = _exact(answers)
    assert (
        Fraction(a.score),
        Fraction(a.dimension_scores["willingness"]),
        Fraction(a.dimension_scores["capacity"]),
    ) == (
        t,
        w,
        k,
    )
    assert all(TEXT.match(str(s)) for s in (a.score, *a.dimension_scores.values()))
    # every total is a whole multiple of the document's step (what band contiguity is checked over)
    assert (t / Fraction(step(MIFID.model, None, MIFID.model.weights))).denominator == 1


@settings(max_examples=100, deadline=None)
@given(ANSWERS)
def test_a_decimal_assessment_read_back_is_equal(answers: dict[str, Any]) -> None:
    a = assess(MIFID, answers, ADULT, AS_OF)
    back = Assessment.model_validate_json(a.model_dump_json())
    assert back == a and back.model_dump_json() == a.model_dump_json()


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=0, max_value=12))
def test_points_text_is_exact_and_minimal(units: int, places: int) -> None:
    text = points_text(units, places)
    assert TEXT.match(text) and Fraction(Decimal(text)) == Fraction(units, 10**places)


def test_a_log_of_decimal_assessments_replays_to_the_same_bytes(tmp_path: Path) -> None:
    from suitability import Registry

    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(Registry.default(environ={}), store)
    for case in CASES:
        engine.assess(MIFID, case.values[0], ADULT, AS_OF)
    engine.assess(load_questionnaire(_weighted_parts()), _answers(fall="hold", income=["pension", "salary"]), ADULT,
                  AS_OF)  # fmt: skip
    records = [json.loads(data) for _, data, _ in store.scan()]
    scores = [r["result"]["score"] for r in records if r["type"] == "assessment"]
    assert scores[:6] == ["3.6", "6.96", "17.6", "10.46", "5", "13.39"]
    report = replay_log(store)
    assert report.ok, report.differences or report.errors
    assert report.counts["assessment"] == 7


def test_review_stats_read_decimal_totals_and_band_edges(tmp_path: Path) -> None:
    from suitability import Registry
    from suitability.review.html import stats_section
    from suitability.review.stats import questionnaire_stats, stats_json

    store = SQLiteStore(tmp_path / "log.sqlite3")
    engine = Engine(Registry.default(environ={}), store)
    for case in CASES:
        engine.assess(MIFID, case.values[0], ADULT, AS_OF)
    (got,) = questionnaire_stats(store, "mifid-weighted@2026.1")
    # the weighted totals, as recorded
    assert got.scores == {"3.6": 1, "5": 1, "6.96": 1, "10.46": 1, "13.39": 1, "17.6": 1}
    # each edge as printed; the 3.6 total counts just above the C2 edge (5 steps of 0.01 from it up)
    assert [(e.profile, e.edge, e.below, e.above) for e in got.edges] == [
        ("C2", "3.6", 0, 1), ("C3", "8", 0, 0), ("C4", "11", 0, 0), ("C5", "14", 0, 0),
    ]  # fmt: skip
    assert json.loads(stats_json([got]))[0]["scores"]["3.6"] == 1
    assert 'title="6.96: 1"' in stats_section([got], "en")


@settings(max_examples=100, deadline=None)
@given(ANSWERS, st.sampled_from([None, ADULT]))
def test_format_2_assessments_built_without_validation_equal_validated_ones(
    answers: dict[str, Any], client: Client | None
) -> None:
    weighted_parts = load_questionnaire(_weighted_parts())
    for q in (MIFID, weighted_parts):
        a = assess(q, answers, client, AS_OF)
        checked = Assessment(**{name: getattr(a, name) for name in Assessment.model_fields})
        assert a == checked and a.model_dump_json() == checked.model_dump_json()
        assert a.model_fields_set == checked.model_fields_set


def test_cli_shows_decimal_scores_and_weights_as_printed_in_both_languages() -> None:
    from click.testing import CliRunner

    from suitability.cli import cli

    path = str(F2 / "mifid-weighted.json")
    en = CliRunner().invoke(cli, ["questionnaire", "show", path, "--lang", "en"])
    assert en.exit_code == 0, en.output
    assert "total: the weighted sum of the dimensions (willingness 0.3, capacity 0.7)" in en.output
    assert "- sell_some: Sell some (2.5)" in en.output and "[multiple choice, sum, cap 0.5]" in en.output
    assert "C2  3.6–7.99" in en.output
    zh = CliRunner().invoke(cli, ["questionnaire", "show", path, "--lang", "zh-CN"])
    assert "总分：各维度得分的加权和（willingness 0.3, capacity 0.7）" in zh.output


@settings(max_examples=150, deadline=None)
@given(data=st.data(), cents=st.sampled_from([5, 10, 25, 50, 250]))
def test_a_document_whose_bands_load_puts_every_reachable_score_in_exactly_one_band(
    data: st.DataObject, cents: int
) -> None:
    """Two questions of decimal scores (multiples of ``cents``), bands C1 [0, split] and C2 [split +
    gap, 50]: when the document loads, each total the answers can give lies in exactly one band, the
    one scoring gives. (Gaps up to twice the step: about half the documents load.)"""
    steps = st.integers(min_value=0, max_value=2000 // cents).map(lambda k: float(Decimal(k * cents) / 100))
    first = data.draw(st.lists(steps, min_size=1, max_size=4, unique=True))
    second = data.draw(st.lists(steps, min_size=1, max_size=4, unique=True))
    split = data.draw(st.integers(min_value=0, max_value=3900))
    gap = data.draw(st.integers(min_value=1, max_value=2 * cents))
    doc = _small(first, [(0, float(Decimal(split) / 100)), (float(Decimal(split + gap) / 100), 50)])
    doc["questions"].append(copy.deepcopy(doc["questions"][0]) | {"id": "r"})
    doc["questions"][1]["options"] = [
        {"id": f"o{i}", "text": {"zh-CN": "项", "en": "O"}, "score": s} for i, s in enumerate(second)
    ]
    try:
        q = load_questionnaire(doc)
    except DocumentError as e:
        codes = {p.code for p in e.problems}
    else:
        codes = set()
    assert codes <= {"BAND_GAP", "BAND_OVERLAP", "BAND_COVERAGE"}
    if codes:
        return
    bands = [(Fraction(repr(b["min"])), Fraction(repr(b["max"]))) for b in doc["bands"]]
    for a in first:
        for b in second:
            total = Fraction(repr(a)) + Fraction(repr(b))
            holding = [i for i, (low, high) in enumerate(bands) if low <= total <= high]
            assert len(holding) == 1
            scored = assess(q, {"q": f"o{first.index(a)}", "r": f"o{second.index(b)}"}, None, AS_OF)
            assert scored.profile == f"C{holding[0] + 1}" and Fraction(scored.score) == total


FORMAT_2_DOCUMENTS = [
    load_questionnaire(load(path), path.name)
    for path in [*sorted(F2.glob("*.json")), *sorted((F2.parents[2] / "questionnaires").glob("*/*.json"))]
    if load(path)["kind"] == "questionnaire" and load(path)["schema_version"] == 2
]


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    client=st.sampled_from(
        [
            None,
            ADULT,
            Client(client_id="EU-0002", birth_date="1950-01-01"),
            Client(client_id="EU-0003", birth_date="1990-01-01", full_civil_capacity=False),
        ]
    ),
)
def test_every_format_2_assessment_built_without_validation_equals_the_validated_one(
    data: st.DataObject, client: Client | None
) -> None:
    """Over every format-2 questionnaire (stops, charts, choices, lowered levels, decimals): any
    answers it accepts give the assessment the validating constructor gives."""
    from hypothesis import assume

    from suitability.errors import ResponseError

    q = data.draw(st.sampled_from(FORMAT_2_DOCUMENTS), label="questionnaire")
    answers: dict[str, Any] = {}
    skipped: set[str] = set()
    while (doc := next_question(q, answers, frozenset(skipped), client, AS_OF)) is not None:
        ids = list(q.levels) if doc.type == "level" else [o.id for o in doc.options]
        choice: Any
        if doc.type == "number":
            choice = st.integers(min_value=math.ceil(doc.min or 0), max_value=math.floor(doc.max or 0))
        elif doc.type == "multi":
            choice = st.lists(st.sampled_from(ids), min_size=1, unique=True)
        else:
            choice = st.sampled_from(ids)
        answer = data.draw(choice if doc.required else st.one_of(st.none(), choice), label=doc.id)
        if answer is None:
            skipped.add(doc.id)
        else:
            answers[doc.id] = answer
    try:
        a = assess(q, answers, client, AS_OF)
    except ResponseError:
        assume(False)
        return
    checked = Assessment(**{name: getattr(a, name) for name in Assessment.model_fields})
    assert a == checked and a.model_dump_json() == checked.model_dump_json()
    assert a.model_fields_set == checked.model_fields_set
    assert Assessment.model_validate_json(a.model_dump_json()) == a
