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
