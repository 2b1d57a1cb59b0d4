"""The review report places every scale's levels: a log of hk-bank-rpq assessments (RT0-RT5) decided
under eu-priips-sri (SRI1-SRI7), beside CN records (C1-C5, R1-R5), shows each profile and risk level
under its own label, in its scale's order, each cell's ``audit query`` listing exactly its records;
and the report of a CN-only log is what it was."""

from __future__ import annotations

import json
import random
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from suitability import Client, Engine, Registry
from suitability.cli import cli
from suitability.log.sqlite import SQLiteStore
from suitability.product import parse_product
from suitability.review import Review, review, review_json
from suitability.review.demo import _answers_for, generate

from .conftest import AS_OF, DATA

REGISTRY = Registry.default(environ={})
RPQ = REGISTRY.questionnaire("hk-bank-rpq@2026.1")
SRI = REGISTRY.policy("eu-priips-sri@2026.1")
CN = REGISTRY.questionnaire("cn-securities-individual")
SNAPSHOT = DATA / "snapshots" / "review-figures-cn-demo.json"


def rpq(loss: str, reaction: str, savings: str, share: str) -> dict[str, str]:
    """hk-bank-rpq answers (the lower of willingness and capacity wins, see test_bundled_format2)."""
    return {"set_aside": "up_to_50", "age": "under_65", "goal": "over_5y", "loss": loss, "reaction": reaction,
            "savings": savings, "share": share}  # fmt: skip


RT = {
    "RT0": rpq("none", "sell", "gt6m", "lt20"),
    "RT1": rpq("medium", "sell", "m3_6", "gt50"),
    "RT2": rpq("large", "sell", "m3_6", "p20_50"),
    "RT4": rpq("medium", "buy", "gt6m", "p20_50"),
    "RT5": rpq("large", "buy", "gt6m", "lt20"),
}


def fund(level: str, variety: str = "equity") -> Any:
    return parse_product({"id": f"F-{level}", "name": {"zh-CN": "基金", "en": "Fund"}, "risk_level": level,
                          "term": "short", "variety": variety})  # fmt: skip


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CN records first (C/R scale, so the default scale is not the only one by accident of order),
    then hk-bank-rpq assessments decided under eu-priips-sri, one client of them in the lowest category."""
    path = tmp_path_factory.mktemp("scales") / "log.sqlite3"
    store = SQLiteStore(path)
    engine = Engine(REGISTRY, store)
    rnd = random.Random(5)
    cn = Client(client_id="CN-1", birth_date="1980-05-01")
    for profile, product in (("C3", "R3"), ("C3", "R5"), ("C5", "R2")):
        answers = _answers_for(CN, rnd, profile, "a31_45")[0]
        a = engine.assess(CN, answers, cn, AS_OF, actor="staff-cn")
        assert a.profile == profile
        cn_product = parse_product({"id": f"P-{product}", "name": {"zh-CN": "产品", "en": "Product"},
                                    "risk_level": product, "term": "short", "variety": "fixed_income"})  # fmt: skip
        engine.decide(a, cn_product, cn, "cn-csrc", "client", AS_OF, actor="staff-cn")
    hk = Client(client_id="HK-1", birth_date="1980-05-01")
    plan = [("RT5", ["SRI7", "SRI6", "SRI1"]), ("RT4", ["SRI6", "SRI3"]), ("RT1", ["SRI2"]), ("RT0", []),
            ("RT2", ["SRI3"]), ("RT4", ["SRI5"])]  # fmt: skip
    for profile, levels in plan:
        a = engine.assess(RPQ, RT[profile], hk, AS_OF, actor="staff-hk")
        assert a.profile == profile
        for level in levels:
            engine.decide(a, fund(level), hk, SRI, "client", AS_OF, actor="staff-hk")
    minor = Client(client_id="HK-2", birth_date="1980-05-01", full_civil_capacity=False)
    low = engine.assess(RPQ, RT["RT4"], minor, AS_OF, actor="staff-hk")
    assert low.profile == "RT0" and low.lowest_category
    engine.decide(low, fund("SRI2"), minor, SRI, "client", AS_OF, actor="staff-hk")
    stopped = engine.assess(RPQ, {**RT["RT5"], "set_aside": "none"}, Client(client_id="HK-3"), AS_OF)
    assert stopped.profile is None and stopped.not_eligible is not None
    store.close()
    return path


@pytest.fixture(scope="module")
def mixed_review(mixed: Path) -> Review:
    return review(SQLiteStore(mixed))


@pytest.fixture(scope="module")
def facts(mixed: Path) -> dict[int, dict[str, Any]]:
    """Each assessment and decision as the test reads it from the records themselves."""
    records = {seq: orjson.loads(data) for seq, data, _ in SQLiteStore(mixed).scan()}
    found: dict[int, dict[str, Any]] = {}
    for seq, r in records.items():
        if r["type"] == "assessment":
            found[seq] = {"type": "assessment", "profile": r["result"]["profile"],
                          "lowest": r["result"]["lowest_category"]}  # fmt: skip
        elif r["type"] == "decision":
            assessed = records[r["assessment_seq"]]["result"]
            found[seq] = {"type": "decision", "profile": assessed["profile"], "risk": r["product"]["risk_level"],
                          "outcome": r["result"]["outcome"]}  # fmt: skip
    return found


def figure(result: Review, key: str) -> Any:
    return next(f for f in result.figures if f.key == key)


def test_every_profile_is_placed_under_its_own_label_in_its_scales_order(
    mixed_review: Review, facts: dict[int, dict[str, Any]]
) -> None:
    profiles = figure(mixed_review, "profiles")
    expected = Counter(
        "not eligible" if f["profile"] is None else f["profile"] + (" (lowest)" if f["lowest"] else "")
        for f in facts.values()
        if f["type"] == "assessment"
    )
    assert {c.label: c.count for c in profiles.cells} == dict(expected)
    assert sum(c.count for c in profiles.cells) == profiles.total == 11
    # the default scale first (its lowest category first, as before), then the RT scale in its order;
    # a stop outcome (no profile) last, which no audit query selects alone
    assert [c.label for c in profiles.cells] == [
        "C3", "C5", "RT0 (lowest)", "RT0", "RT1", "RT2", "RT4", "RT5", "not eligible"
    ]  # fmt: skip
    assert profiles.cells[-1].query == "" and profiles.cells[-1].count == 1
    months = figure(mixed_review, "profiles_by_month")
    assert Counter({c.series: c.count for c in months.cells}) == expected


def test_every_risk_level_and_pair_is_placed_and_the_scales_never_share_a_cell(
    mixed_review: Review, facts: dict[int, dict[str, Any]]
) -> None:
    decisions = [f for f in facts.values() if f["type"] == "decision"]
    by_risk = figure(mixed_review, "outcomes_by_risk")
    assert Counter({(c.label, c.series): c.count for c in by_risk.cells}) == Counter(
        (d["risk"], d["outcome"]) for d in decisions
    )
    assert by_risk.total == len(decisions) == 12
    # SRI levels in the policy's order, after the R scale
    assert list(dict.fromkeys(c.label for c in by_risk.cells)) == [
        "R2", "R3", "R5", "SRI1", "SRI2", "SRI3", "SRI5", "SRI6", "SRI7"
    ]  # fmt: skip
    heatmap = figure(mixed_review, "outcomes_by_profile_and_risk")
    assert Counter({(c.label, c.series): c.count for c in heatmap.cells}) == Counter(
        (f"{d['profile']} × {d['risk']}", d["outcome"]) for d in decisions
    )
    assert heatmap.total == 12
    labels = list(dict.fromkeys(c.label for c in heatmap.cells))
    assert labels[:3] == ["C3 × R3", "C3 × R5", "C5 × R2"] and "RT5 × SRI7" in labels
    assert all(c.label.startswith(("C", "RT")) for c in heatmap.cells)


def _listed(log: Path, arguments: str) -> list[int]:
    done = CliRunner().invoke(cli, ["audit", "query", str(log), *shlex.split(arguments), "--format", "jsonl"])
    assert done.exit_code == 0, done.output
    return [json.loads(line)["seq"] for line in done.stdout.splitlines()]


@pytest.mark.parametrize(
    "key", ["profiles", "profiles_by_month", "outcomes_by_risk", "outcomes_by_profile_and_risk"]
)  # fmt: skip
def test_each_cells_audit_query_lists_exactly_its_records(mixed_review: Review, mixed: Path, key: str) -> None:
    for cell in figure(mixed_review, key).cells:
        if "not eligible" in (cell.label, cell.series):
            continue  # no profile: no filter selects these alone (their query is "")
        assert cell.query, cell
        assert cell.count <= 12  # every seq shown: the query must list exactly these
        assert _listed(mixed, cell.query) == cell.seqs, cell


def test_a_cn_demo_logs_figures_are_unchanged(tmp_path: Path) -> None:
    """The figures of a CN demo log, as the report gave them before it placed other scales.

    The snapshot is the JSON figures of this very log (``review_json(review(store))["figures"]``);
    a change meant to alter the CN figures writes it anew and says so in its commit."""
    store = SQLiteStore(tmp_path / "demo.sqlite3")
    generate(store, CN, REGISTRY.policy("cn-csrc"), clients=120, seed=11)
    figures = json.loads(review_json(review(store)))["figures"]
    store.close()
    assert figures == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_a_planted_level_label_is_shown_as_text_and_breaks_nothing(mixed: Path, tmp_path: Path) -> None:
    """Labels now come from the records: an insider who rewrites a decision's risk level and profile
    into markup (or into the heatmap's own ' × ' separator) gets a report that fails verification and
    shows the text as text; nothing of it runs or is drawn as markup, and the report is still written."""
    import shutil
    import sqlite3

    from suitability.review.html import render

    path = tmp_path / "tampered.sqlite3"
    shutil.copy(mixed, path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER IF EXISTS records_no_update")
    (seq, data) = db.execute(
        "SELECT seq, data FROM records WHERE type = 'decision' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    record = orjson.loads(data)
    record["product"]["risk_level"] = "<script>alert(1)</script>"
    record["result"]["profile"] = "RT9 × <b>bold</b>"
    db.execute("UPDATE records SET data = ? WHERE seq = ?", (orjson.dumps(record, option=orjson.OPT_SORT_KEYS), seq))
    db.close()
    with SQLiteStore(path, create=False) as store:
        result = review(store)
    assert not result.verified
    page = render(result, "en")
    assert "<script>alert(1)</script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
