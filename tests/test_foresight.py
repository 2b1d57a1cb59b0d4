"""Foresight for compliance (issue 15): the impact of a draft, re-checks after a change, and the
evidence that a questionnaire measures something. Every number is checked against an independent
count over the parsed records."""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from suitability import Registry, ResponseError, assess, decide, load_questionnaire
from suitability.cli import cli
from suitability.log.sqlite import SQLiteStore
from suitability.matching import Decision
from suitability.models import Assessment, Client
from suitability.product import Product
from suitability.review.demo import generate
from suitability.review.html import render_impact
from suitability.review.impact import REASSESS, REJECTED, category, impact

from .conftest import QUESTIONNAIRE_FILE

REGISTRY = Registry.default(environ={})


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("foresight") / "demo.sqlite3"
    store = SQLiteStore(path)
    generate(store, REGISTRY.questionnaire("cn-securities-individual"), REGISTRY.policy("cn-csrc"), clients=250, seed=7)
    store.close()
    return path


@pytest.fixture(scope="module")
def records(demo_log: Path) -> list[dict[str, Any]]:
    return [orjson.loads(d) for _, d, _ in SQLiteStore(demo_log).scan()]


def draft_document() -> dict[str, Any]:
    """A draft: the C3/C4 edge moved down, an option dropped, a new knock-out."""
    d: dict[str, Any] = json.loads(QUESTIONNAIRE_FILE.read_text(encoding="utf-8"))
    d["version"], d["status"] = "2027.1", "draft"
    for band in d["bands"]:
        if band["profile"] == "C3":
            band["max"] = 49
        if band["profile"] == "C4":
            band["min"] = 50
    for q in d["questions"]:
        if q["id"] == "income_source":
            q["options"] = [o for o in q["options"] if o["id"] != "none"]
        if q["id"] == "reaction_to_loss":
            for o in q["options"]:
                if o["id"] == "sell_all":
                    o["knockout"] = "lowest_category"
    return d


def label(result: dict[str, Any]) -> str:
    return "lowest" if result["lowest_category"] else result["profile"]


def test_impact_transitions_and_flips_equal_an_independent_replay(
    demo_log: Path, records: list[dict[str, Any]]
) -> None:
    """Every assessment scored again under the draft, and every decision on it decided again, by plain loops."""
    draft = load_questionnaire(draft_document(), "draft")
    policy = REGISTRY.policy("cn-csrc")
    transitions: Counter[tuple[str, str]] = Counter()
    rejected: Counter[tuple[str, str]] = Counter()
    new: dict[int, Assessment | None] = {}
    for r in records:
        if r["type"] != "assessment":
            continue
        client = Client.model_validate(r["client"])
        try:
            a = assess(draft, r["answers"], client, datetime.fromisoformat(r["as_of"]))
        except ResponseError as exc:
            new[r["seq"]] = None
            transitions[(label(r["result"]), REJECTED)] += 1
            rejected.update((p.pointer.split("/")[-1], str(p.code)) for p in exc.problems)
            continue
        new[r["seq"]] = a
        transitions[(label(r["result"]), label(a.model_dump(mode="json")))] += 1
    flips: Counter[tuple[str, str, str]] = Counter()
    for r in records:
        if r["type"] != "decision":
            continue
        a = new[r["assessment_seq"]]
        level, was = r["product"]["risk_level"], r["result"]["outcome"]
        if a is None:
            flips[(level, was, REASSESS)] += 1
            continue
        d = decide(a, Product.model_validate(r["product"]), Client.model_validate(r["client"]), policy,
                   r["initiated_by"], datetime.fromisoformat(r["as_of"]))  # fmt: skip
        if d.outcome != was:
            flips[(level, was, d.outcome)] += 1
    result = impact(SQLiteStore(demo_log), draft, cache=50)  # a small cache: earlier assessments are read again
    assert {tuple(r.key): r.count for r in result.transitions} == dict(transitions)
    got_flips: Counter[tuple[str, str, str]] = Counter()
    for row in result.flips:
        got_flips[(row.key[0], row.key[1], row.key[2])] += row.count
    assert got_flips == flips
    assert {tuple(r.key): r.count for r in result.rejected} == dict(rejected)
    assert ("income_source", "UNKNOWN_OPTION") in {tuple(r.key) for r in result.rejected}
    assert set(result.actions) == {"UNKNOWN_OPTION"}
    assert result.lowest_count == sum(n for (old, now), n in transitions.items() if now == "lowest" and old != now) > 0
    for row in result.transitions:
        assert len(row.seqs) == min(row.count, 12)
        assert all(records[s]["type"] == "assessment" for s in row.seqs)


def test_a_new_outcome_is_a_new_row_not_new_code() -> None:
    """A format-2 result naming an outcome (not_eligible) is its own category."""
    assert category({"profile": "C1", "lowest_category": False, "outcome": "not_eligible"}) == "not_eligible"
    assert category({"profile": "C1", "lowest_category": True}) == "lowest"
    not_eligible = {"id": "stop", "reason": {"zh-CN": "不适格", "en": "not eligible"}}
    assert category({"profile": None, "lowest_category": False, "not_eligible": not_eligible}) == "not_eligible"
    assert category({"profile": "C3", "lowest_category": False, "outcome": "assessed"}) == "C3"


def test_impact_writes_nothing_to_the_log(demo_log: Path, tmp_path: Path) -> None:
    """The log's bytes are the same after the impact is computed through the CLI."""
    copy_path = tmp_path / "log.sqlite3"
    copy_path.write_bytes(demo_log.read_bytes())
    before = hashlib.sha256(copy_path.read_bytes()).hexdigest()
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps(draft_document(), ensure_ascii=False), encoding="utf-8")
    html = tmp_path / "impact.html"
    done = CliRunner().invoke(
        cli, ["audit", "impact", str(copy_path), "--questionnaire", str(draft), "--json", "--out", str(html)]
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.output)
    assert data["questionnaire"] == "cn-securities-individual@2027.1"
    assert data["moved"] > 0 and data["flipped"] > 0
    assert hashlib.sha256(copy_path.read_bytes()).hexdigest() == before
    assert SQLiteStore(copy_path).size() == len(list(SQLiteStore(demo_log).scan()))
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_policy_draft_alone_flips_decisions(demo_log: Path, records: list[dict[str, Any]]) -> None:
    """A stricter matrix (C3 may buy R1–R2 only) flips exactly the decisions an independent decide flips."""
    document = copy.deepcopy(REGISTRY.policy("cn-csrc").document)
    document["version"], document["status"] = "2027.1", "draft"
    document["matrix"]["C3"] = ["R1", "R2"]
    from suitability import load_policy

    draft = load_policy(document, "draft")
    expected = 0
    for r in records:
        if r["type"] != "decision":
            continue
        a = Assessment.model_validate(records[r["assessment_seq"]]["result"])
        d: Decision = decide(a, Product.model_validate(r["product"]), Client.model_validate(r["client"]), draft,
                             r["initiated_by"], datetime.fromisoformat(r["as_of"]))  # fmt: skip
        expected += d.outcome != r["result"]["outcome"]
    result = impact(SQLiteStore(demo_log), None, draft)
    assert result.flipped == expected > 0
    assert all(r.key[0] == r.key[1] for r in result.transitions)
    assert "C3" in render_impact(result, "en")


def test_impact_needs_a_draft(demo_log: Path) -> None:
    done = CliRunner().invoke(cli, ["audit", "impact", str(demo_log)])
    assert done.exit_code == 2
    assert "--questionnaire" in done.output


# --- questionnaire statistics ---------------------------------------------------------------------


def item_matrix(records: list[dict[str, Any]], q: Any) -> tuple[Any, list[str], list[str]]:
    """The item scores of every assessment, computed from the document's option scores by plain loops."""
    import numpy as np

    doc = q.document
    ids = [x["id"] for x in doc["questions"]]
    dims = [x["dimension"] for x in doc["questions"]]
    rows = []
    for r in records:
        if r["type"] != "assessment":
            continue
        row = []
        for x in doc["questions"]:
            scores = {o["id"]: o["score"] for o in x["options"]}
            raw = r["answers"].get(x["id"])
            if raw is None:
                row.append(0)
            elif isinstance(raw, str):
                row.append(scores[raw])
            else:
                picked = [scores[o] for o in raw]
                value = max(picked) if x.get("aggregate") == "max" else sum(picked)
                row.append(min(value, x["cap"]) if x.get("cap") is not None else value)
        assert sum(row) == r["result"]["score"]
        rows.append(row)
    return np.array(rows, dtype=float), ids, dims


def test_item_rest_and_alpha_equal_numpy(demo_log: Path, records: list[dict[str, Any]]) -> None:
    """Item-rest r is numpy's corrcoef of item and total-minus-item; α = k/(k-1)(1 - Σvar_i/var_X), ddof=1."""
    import numpy as np

    from suitability.review.demo import NOISE_QUESTION
    from suitability.review.stats import questionnaire_stats

    q = REGISTRY.questionnaire("cn-securities-individual")
    (got,) = questionnaire_stats(SQLiteStore(demo_log), "cn-securities-individual@2026.1")
    x, ids, dims = item_matrix(records, q)
    assert got.assessments == len(x)
    total = x.sum(axis=1)
    scored = [bool(np.var(x[:, i]) > 0) or len({o["score"] for o in q.document["questions"][i]["options"]}) > 1
              for i in range(len(ids))]  # fmt: skip
    for i, question in enumerate(got.questions):
        assert question.id == ids[i]
        if question.item_rest is None:
            assert not scored[i] or np.var(x[:, i]) == 0
            continue
        expected = np.corrcoef(x[:, i], total - x[:, i])[0, 1]
        assert question.item_rest == pytest.approx(expected, abs=1e-12)
    for dim in got.dimensions:
        cols = [
            i
            for i in range(len(ids))
            if dims[i] == dim.dimension and len({o["score"] for o in q.document["questions"][i]["options"]}) > 1
        ]
        if len(cols) < 2:
            assert dim.alpha is None
            continue
        k = len(cols)
        sub = x[:, cols]
        expected = k / (k - 1) * (1 - sub.var(axis=0, ddof=1).sum() / sub.sum(axis=1).var(ddof=1))
        assert dim.alpha == pytest.approx(expected, abs=1e-12)
    # answers and the score distribution, counted again
    counts = Counter()
    for r in records:
        if r["type"] == "assessment":
            for qid, raw in r["answers"].items():
                counts.update((qid, o) for o in ([raw] if isinstance(raw, str) else raw))
    for question in got.questions:
        assert question.answers == {o: counts[(question.id, o)] for o in question.answers}
        assert question.unused == [o for o, n in question.answers.items() if n == 0]
    assert got.scores == dict(sorted(Counter(int(t) for t in total).items()))
    # the planted question, and only it, does not discriminate; knock-outs are answered by some
    assert [question.id for question in got.questions if question.flags] == [NOISE_QUESTION]
    assert got.flags == [f"question {NOISE_QUESTION}: " + got.questions[ids.index(NOISE_QUESTION)].flags[0]]


def test_alpha_of_a_published_worked_example() -> None:
    """Cronbach's α of a small table worked by hand: 3 items, 5 respondents, α = 1.5 · (1 − 7.1/19.7) ≈ 0.959."""
    from suitability.review.stats import _Sums

    document = json.loads(QUESTIONNAIRE_FILE.read_text(encoding="utf-8"))
    # three items of one dimension scoring 1..5, answered by five respondents
    matrix = [[1, 1, 2], [2, 3, 2], [3, 3, 4], [4, 5, 4], [5, 5, 5]]
    import numpy as np

    sub = np.array(matrix, dtype=float)
    expected = 3 / 2 * (1 - sub.var(axis=0, ddof=1).sum() / sub.sum(axis=1).var(ddof=1))
    # Σ var_i = 2.5 + 2.8 + 1.8 = 7.1; totals 4, 7, 10, 13, 15 have var_X = 78.8 / 4 = 19.7
    assert expected == pytest.approx(1.5 * (1 - 7.1 / 19.7))
    document["questions"] = [
        {"id": f"i{j}", "dimension": "risk_tolerance", "type": "single", "text": {"zh-CN": "题", "en": "item"},
         "options": [{"id": f"o{v}", "score": v, "text": {"zh-CN": str(v), "en": str(v)}} for v in range(1, 6)]}
        for j in range(3)
    ]  # fmt: skip
    document["bands"] = [
        {"profile": p, "min": lo, "max": hi, "name": {"zh-CN": p, "en": p}}
        for p, lo, hi in (("C1", 3, 5), ("C2", 6, 8), ("C3", 9, 10), ("C4", 11, 12), ("C5", 13, 15))
    ]
    document["rules"], document["consistency"], document["derive"] = [], [], {}
    q = load_questionnaire(document, "worked example")
    sums = _Sums(q)
    for row in matrix:
        sums.add({f"i{j}": f"o{v}" for j, v in enumerate(row)})
    result = sums.result(30, 0, 0, [])
    (dim,) = [d for d in result.dimensions if d.dimension == "risk_tolerance"]
    assert dim.alpha == pytest.approx(1.5 * (1 - 7.1 / 19.7), abs=1e-12)


def test_binomial_tail_is_exact() -> None:
    from fractions import Fraction
    from math import comb

    from suitability.review.stats import binomial_tail

    for n in (0, 1, 7, 40):
        for k in range(n + 2):
            assert binomial_tail(k, n) == float(Fraction(sum(comb(n, i) for i in range(k, n + 1)), 2**n))


def test_bunching_just_above_an_edge_is_flagged(tmp_path: Path) -> None:
    """Coached answers: many totals at 54-55 (the C4 edge), few at 52-53: that edge, and only it, is flagged."""
    import random

    from suitability import Engine
    from suitability.review.demo import _latent_answers
    from suitability.review.stats import questionnaire_stats

    q = REGISTRY.questionnaire("cn-securities-individual")
    store = SQLiteStore(tmp_path / "coached.sqlite3")
    engine = Engine(REGISTRY, store)
    rnd = random.Random(5)
    when = datetime.fromisoformat("2026-03-01T10:00:00+00:00")
    for i in range(400):
        answers, _ = _latent_answers(q, rnd, rnd.randint(25, 80))
        engine.assess(q, answers, Client(client_id=f"B{i}"), when)
    coached = 0
    while coached < 80:
        answers, a = _latent_answers(q, rnd, 40)
        if a.score in (54, 55):
            engine.assess(q, answers, Client(client_id=f"K{coached}"), when)
            coached += 1
    (got,) = questionnaire_stats(store, "cn-securities-individual@2026.1")
    assert [e.profile for e in got.edges if e.flagged] == ["C4"]
    assert any("C4 edge (54)" in f for f in got.flags)


def test_retake_agreement_counts_retakes_within_the_window(demo_log: Path, records: list[dict[str, Any]]) -> None:
    from suitability.review.stats import questionnaire_stats

    last: dict[str, tuple[datetime, str]] = {}
    pairs = changed = 0
    for r in records:
        if r["type"] != "assessment":
            continue
        at, now = datetime.fromisoformat(r["recorded_at"]), label(r["result"])
        before = last.get(r["result"]["client_id"])
        if before is not None and (at - before[0]).total_seconds() <= 30 * 86400:
            pairs += 1
            changed += before[1] != now
        last[r["result"]["client_id"]] = (at, now)
    (got,) = questionnaire_stats(SQLiteStore(demo_log), "cn-securities-individual@2026.1")
    assert (got.retakes, got.retakes_changed) == (pairs, changed) == (3, 3)  # the planted drifter
    assert got.retake_agreement == 0.0


def test_stats_cli_and_the_review_section(demo_log: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        cli, ["questionnaire", "stats", str(demo_log), "--questionnaire", "cn-securities-individual@2026.1", "--json"]
    )
    assert done.exit_code == 0, done.output
    (data,) = json.loads(done.output)
    assert data["flags"] and data["dimensions"]
    done = runner.invoke(cli, ["questionnaire", "stats", str(demo_log), "--questionnaire", "nope@1"])
    assert done.exit_code == 5, done.output
    out = tmp_path / "review.html"
    done = runner.invoke(cli, ["audit", "report", str(demo_log), "--out", str(out), "--lang", "en"])
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    assert 'id="questionnaire-stats"' in page and "does not discriminate" in page


def test_the_demo_has_lowest_category_rows(demo_log: Path) -> None:
    done = CliRunner().invoke(
        cli, ["audit", "query", str(demo_log), "--reason", "LOWEST_CATEGORY", "--format", "jsonl"]
    )
    assert done.exit_code == 0
    assert len(done.output.splitlines()) > 0


# --- re-checks after a change ---------------------------------------------------------------------


def sales_log(path: Path) -> tuple[SQLiteStore, dict[str, int]]:
    """Client A (C3) buys MIX-05 and BOND-03 (suitable) and FUND-EQ-01 (R4, confirmed); client B (C3)
    buys MIX-05, then is assessed again and gives a knock-out answer (lowest category)."""
    from suitability import Engine, load_catalog

    from .conftest import EXAMPLES

    store = SQLiteStore(path)
    engine = Engine(REGISTRY, store)
    answers = json.loads((EXAMPLES / "answers.json").read_text())["answers"]
    shelf = {p.id: p for p in load_catalog(EXAMPLES / "catalog.csv")}
    t0 = datetime.fromisoformat("2026-03-01T10:00:00+00:00")
    seqs: dict[str, int] = {}
    a = Client(client_id="CN-A", birth_date="1980-01-01")
    b = Client(client_id="CN-B", birth_date="1982-06-01")
    sa = engine.assess("cn-securities-individual", answers, a, t0)
    for pid in ("MIX-05", "BOND-03", "FUND-EQ-01"):
        d = engine.decide(sa, shelf[pid], a, "cn-csrc", "client", t0)
        seqs[f"A:{pid}"] = engine.store.find(d.id).seq  # type: ignore[union-attr]
        if d.outcome == "requires_confirmation":
            engine.confirm(
                d, "我已知晓风险，坚持购买", "staff-07", "branch", shown_warnings=d.warnings, confirmed_at=t0
            )
    sb = engine.assess("cn-securities-individual", answers, b, t0)
    d = engine.decide(sb, shelf["MIX-05"], b, "cn-csrc", "client", t0)
    seqs["B:MIX-05"] = engine.store.find(d.id).seq  # type: ignore[union-attr]
    later = engine.assess(
        "cn-securities-individual",
        dict(answers, accept_loss="no"),
        b,
        datetime.fromisoformat("2026-05-01T10:00:00+00:00"),
    )
    seqs["B:newest"] = engine.store.find(later.id).seq  # type: ignore[union-attr]
    return store, seqs


def rerated_catalog(tmp_path: Path) -> Path:
    from .conftest import EXAMPLES

    lines = (EXAMPLES / "catalog.csv").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.startswith("MIX-05,"):
            line = line.replace(",R3,", ",R4,")
        if line.startswith("FUND-EQ-01,"):
            line = line.replace(",R4,", ",R5,")
        out.append(line)
    path = tmp_path / "catalog-2027.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def test_recheck_lists_the_sales_a_change_made_unsuitable(tmp_path: Path) -> None:
    from suitability import load_catalog
    from suitability.review.recheck import recheck

    store, seqs = sales_log(tmp_path / "sales.sqlite3")
    result = recheck(
        store, load_catalog(rerated_catalog(tmp_path)), as_of=datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    )
    got = {(n.client_id, n.product_id): n for n in result.notices}
    assert set(got) == {("CN-A", "MIX-05"), ("CN-A", "FUND-EQ-01"), ("CN-B", "MIX-05")}
    assert result.checked == 4  # A: three sales (one confirmed); B: one
    mix = got[("CN-A", "MIX-05")]
    assert (mix.causes, mix.codes, mix.sale, mix.risk_level_was, mix.risk_level_now) == (
        ["product_rerated"],
        ["RISK_ABOVE_PROFILE"],
        "suitable",
        "R3",
        "R4",
    )
    assert "R4" in mix.text["zh-CN"] and "R4" in mix.text["en"]
    confirmed = got[("CN-A", "FUND-EQ-01")]
    assert confirmed.sale == "confirmed" and confirmed.codes == [
        "RISK_ABOVE_PROFILE"
    ]  # R5 is a new warning: not the one accepted
    b = got[("CN-B", "MIX-05")]
    assert b.causes == ["product_rerated", "new_assessment"] and "LOWEST_CATEGORY" in b.codes
    assert (b.assessment_seq, b.profile_was, b.profile_now) == (seqs["B:newest"], "C3", "lowest")
    # the policy's text for every reason, in both languages
    policy = REGISTRY.policy("cn-csrc")
    assert policy.model.messages["LOWEST_CATEGORY"]["en"].split("{")[0] in b.text["en"]


def test_a_confirmed_sale_whose_warnings_are_unchanged_is_not_listed(tmp_path: Path) -> None:
    from suitability import load_catalog
    from suitability.review.recheck import recheck

    from .conftest import EXAMPLES

    store, _ = sales_log(tmp_path / "sales.sqlite3")
    result = recheck(
        store, load_catalog(EXAMPLES / "catalog.csv"), as_of=datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    )
    assert {(n.client_id, n.product_id) for n in result.notices} == {("CN-B", "MIX-05")}  # only the new assessment


def test_recheck_holdings_and_the_cli(tmp_path: Path) -> None:
    store, _ = sales_log(tmp_path / "sales.sqlite3")
    store.close()
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("client_id,product_id\nCN-A,MIX-05\nCN-B,BOND-03\n", encoding="utf-8")
    catalog = rerated_catalog(tmp_path)
    runner = CliRunner()
    done = runner.invoke(cli, ["audit", "recheck", str(tmp_path / "sales.sqlite3"), "--catalog", str(catalog),
                               "--holdings", str(holdings), "--format", "csv", "--as-of", "2026-06-01"])  # fmt: skip
    assert done.exit_code == 0, done.output
    import csv as csv_module
    import io

    rows = list(csv_module.DictReader(io.StringIO(done.output)))
    assert [(r["client_id"], r["product_id"], r["codes"]) for r in rows] == [("CN-A", "MIX-05", "RISK_ABOVE_PROFILE")]
    assert rows[0]["text_zh-CN"] and rows[0]["text_en"]
    done = runner.invoke(cli, ["audit", "recheck", str(tmp_path / "sales.sqlite3"), "--catalog", str(catalog),
                               "--holdings", str(holdings), "--format", "json", "--as-of", "2026-06-01"])  # fmt: skip
    assert json.loads(done.output)["unmatched"] == [["CN-B", "BOND-03"]]
    holdings.write_text("client,product\nCN-A,MIX-05\n", encoding="utf-8")
    done = runner.invoke(
        cli,
        ["audit", "recheck", str(tmp_path / "sales.sqlite3"), "--catalog", str(catalog), "--holdings", str(holdings)],
    )
    assert done.exit_code == 3 and "client_id,product_id" in done.output


def test_a_recorded_recheck_verifies_replays_and_shows_in_the_rows(tmp_path: Path) -> None:
    """The log shows that the firm looked and what it found; verify (check 5) and replay cover it."""
    from suitability.log.verify import verify
    from suitability.replay import replay
    from suitability.review import QueryFilter, query

    store, _ = sales_log(tmp_path / "sales.sqlite3")
    size = store.size()
    store.close()
    log = str(tmp_path / "sales.sqlite3")
    done = CliRunner().invoke(cli, ["audit", "recheck", log, "--catalog", str(rerated_catalog(tmp_path)), "--record",
                                    "--actor", "compliance-01", "--as-of", "2026-06-01", "--lang", "en"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"recorded as seq {size}" in done.output
    store = SQLiteStore(log)
    record = orjson.loads(store.get(size).data)  # type: ignore[union-attr]
    assert record["type"] == "recheck" and record["actor"] == "compliance-01" and len(record["findings"]) == 3
    assert {p["id"] for p in record["products"]} == {"MIX-05", "FUND-EQ-01"}
    assert verify(store).ok
    report = replay(store)
    assert report.ok and report.counts["recheck"] == 1
    (row,) = list(query(store, QueryFilter(type="recheck")))
    assert row["outcome"] == "rechecked" and "LOWEST_CATEGORY" in row["reasons"]


@pytest.mark.parametrize("chunk", [4, 4096])
def test_a_recheck_naming_no_earlier_decision_fails_verify_and_altered_codes_fail_replay(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check 5 of verify, within one chunk of records and across chunks (references resolved in order)."""
    from suitability.log import _parallel
    from suitability.log.verify import verify

    monkeypatch.setattr(_parallel, "CHUNK", chunk)
    from suitability.records import RecheckFinding, recheck_draft
    from suitability.replay import replay

    store, seqs = sales_log(tmp_path / "sales.sqlite3")
    decision = orjson.loads(store.get(seqs["A:MIX-05"]).data)  # type: ignore[union-attr]
    finding = RecheckFinding(client_id="CN-A", product_id="MIX-05", decision_id=decision["result"]["id"],
                             decision_seq=seqs["A:MIX-05"], assessment_id=decision["assessment_id"],
                             assessment_seq=decision["assessment_seq"], sale="suitable", causes=["product_rerated"], codes=[])  # fmt: skip
    when = datetime.fromisoformat("2026-06-01T00:00:00+00:00")
    # the codes say nothing fired, yet MIX-05 at R4 is above a C3 profile
    from suitability import load_catalog

    rerated = next(p for p in load_catalog(rerated_catalog(tmp_path)) if p.id == "MIX-05")
    store.append([recheck_draft([finding], [rerated], as_of=when, checked=1, catalog="sha256:x")])
    assert verify(store).ok  # its references hold: only replay can tell its codes are wrong
    report = replay(store)
    assert [(d.field, d.recorded, d.recomputed) for d in report.differences] == [
        ("findings/0/codes", [], ["RISK_ABOVE_PROFILE"])
    ]
    wrong = RecheckFinding(
        **{**finding, "decision_seq": decision["assessment_seq"]}
    )  # names an assessment as the decision
    bad = store.append([recheck_draft([wrong], [], as_of=when, checked=1, catalog="sha256:x")])[0].seq
    result = verify(store)
    references = next(c for c in result.checks if c.name == "references")
    assert not references.ok and references.seq == bad
