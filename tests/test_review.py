"""Regulator review: query filters, report figures and findings, the HTML itself."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import shutil
import subprocess
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from suitability import Registry
from suitability.cli import cli
from suitability.demo import DRIFTER, PUSHER, generate
from suitability.report_html import render
from suitability.review import QueryFilter, Review, ReviewConfig, load_config, query, review
from suitability.store import SQLiteStore

REGISTRY = Registry.default(environ={})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite3"
    store = SQLiteStore(path)
    summary = generate(
        store, REGISTRY.questionnaire("cn-securities-individual"), REGISTRY.policy("cn-csrc"), clients=400, seed=3
    )
    store.close()
    return path, summary


@pytest.fixture(scope="module")
def records(demo: tuple[Path, Any]) -> list[dict[str, Any]]:
    """Every record, parsed: the independent view the tests compare against."""
    return [orjson.loads(d) for _, d, _ in SQLiteStore(demo[0]).scan()]


@pytest.fixture(scope="module")
def reviewed(demo: tuple[Path, Any]) -> Review:
    return review(SQLiteStore(demo[0]))


def age(birth: str | None, at: str) -> int | None:
    if birth is None:
        return None
    b, a = date.fromisoformat(birth), datetime.fromisoformat(at).date()
    return a.year - b.year - ((a.month, a.day) < (b.month, b.day))


def brute_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The facts of each record, joined by plain lookups over the whole list."""
    out = []
    for r in records:
        row: dict[str, Any] = {"seq": r["seq"], "type": r["type"], "at": r["recorded_at"], "client": None, "actor": None, "product": None,
                               "risk_level": None, "profile": None, "outcome": None, "reasons": []}  # fmt: skip
        if r["type"] == "assessment":
            row.update(at=r["as_of"], client=r["result"]["client_id"], actor=r["actor"], profile=r["result"]["profile"],
                       outcome="inconsistent" if r["result"]["consistency_violations"] else "assessed",
                       reasons=[x["id"] for x in r["result"]["rules_fired"]])  # fmt: skip
        elif r["type"] == "decision":
            a = records[r["assessment_seq"]]
            row.update(at=r["as_of"], client=r["client"]["client_id"], actor=r["actor"], product=r["product"]["id"],
                       risk_level=r["product"]["risk_level"], profile=a["result"]["profile"], outcome=r["result"]["outcome"],
                       reasons=[x["code"] for x in r["result"]["reasons"]])  # fmt: skip
        elif r["type"] == "confirmation":
            d = records[r["decision_seq"]]
            a = records[d["assessment_seq"]]
            row.update(at=r["confirmed_at"], client=d["client"]["client_id"], actor=r["actor"], product=d["product"]["id"],
                       risk_level=d["product"]["risk_level"], profile=a["result"]["profile"], outcome="confirmed",
                       reasons=r["result"]["warning_codes"])  # fmt: skip
        out.append(row)
    return out


KEYS = ("seq", "type", "at", "client", "actor", "product", "risk_level", "profile", "outcome", "reasons")


@pytest.mark.parametrize("case", range(40))
def test_query_filters_agree_with_a_brute_force_scan(
    demo: tuple[Path, Any], records: list[dict[str, Any]], case: int
) -> None:
    """Every filter combination returns exactly the rows a full scan with plain joins finds."""
    truth = brute_rows(records)
    rnd = random.Random(case)

    def pick(values: list[str]) -> str | None:
        return rnd.choice(values) if rnd.random() < 0.4 else None

    flt = QueryFilter(
        client=pick(sorted({r["client"] for r in truth if r["client"]})),
        actor=pick(sorted({r["actor"] for r in truth if r["actor"]})),
        risk_level=pick(["R1", "R2", "R3", "R4", "R5"]),
        profile=pick(["C1", "C2", "C3", "C4", "C5"]),
        outcome=pick(["suitable", "requires_confirmation", "blocked", "confirmed", "assessed"]),
        reason=pick(["RISK_ABOVE_PROFILE", "FIRM_INITIATED_MISMATCH", "SPECIAL_CARE_REQUIRED", "LOWEST_CATEGORY"]),
        type=pick(["assessment", "decision", "confirmation"]),
        since=pick(["2026-03", "2026-06-15"]),
        until=pick(["2026-05", "2026-12"]),
    )
    expected = [
        {k: r[k] for k in KEYS}
        for r in truth
        if all(
            getattr(flt, f) is None or r[f] == getattr(flt, f)
            for f in ("client", "actor", "risk_level", "profile", "outcome", "type")
        )
        and (flt.reason is None or flt.reason in r["reasons"])
        and (flt.since is None or r["at"] >= flt.since)
        and (flt.until is None or r["at"] < flt.until)
    ]
    got = [{k: r[k] for k in KEYS} for r in query(SQLiteStore(demo[0]), flt)]
    assert got == expected


def cells(reviewed: Review, key: str) -> dict[str, int]:
    figure = next(f for f in reviewed.figures if f.key == key)
    return {(f"{c.series}|{c.label}" if c.series else c.label): c.count for c in figure.cells}


def test_report_numbers_equal_an_independent_count(reviewed: Review, records: list[dict[str, Any]]) -> None:
    assessments = [r for r in records if r["type"] == "assessment"]
    decisions = [r for r in records if r["type"] == "decision"]
    confirmations = [r for r in records if r["type"] == "confirmation"]
    profiles = Counter("C1 (lowest)" if a["result"]["lowest_category"] else a["result"]["profile"] for a in assessments)
    assert cells(reviewed, "profiles") == dict(profiles)
    outcomes = Counter(f"{d['result']['outcome']}|{d['product']['risk_level']}" for d in decisions)
    assert cells(reviewed, "outcomes_by_risk") == dict(outcomes)
    assert cells(reviewed, "confirmations_by_actor") == dict(Counter(c["actor"] for c in confirmations))
    by_risk = Counter(records[c["decision_seq"]]["product"]["risk_level"] for c in confirmations)
    assert cells(reviewed, "confirmations_by_risk") == dict(by_risk)
    elderly = Counter(
        c["actor"]
        for c in confirmations
        if (age(records[c["decision_seq"]]["client"]["birth_date"], records[c["decision_seq"]]["as_of"]) or 0) >= 65
        and records[c["decision_seq"]]["product"]["risk_level"] in ("R4", "R5")
    )
    assert cells(reviewed, "special_care") == dict(elderly)
    blocked = [d for d in decisions if d["result"]["outcome"] == "blocked"]
    lowest = sum(any(x["code"] == "LOWEST_CATEGORY" for x in d["result"]["reasons"]) for d in blocked)
    firm = sum(
        any(x["code"] == "FIRM_INITIATED_MISMATCH" for x in d["result"]["reasons"])
        and not any(x["code"] == "LOWEST_CATEGORY" for x in d["result"]["reasons"])
        for d in blocked
    )
    got = cells(reviewed, "blocked")
    assert got.get("LOWEST_CATEGORY", 0) == lowest
    assert got.get("FIRM_INITIATED_MISMATCH", 0) == firm
    assert sum(got.values()) == len(blocked)
    reasons = Counter(x["code"] for d in decisions for x in d["result"]["reasons"])
    assert {k.split("|")[1]: v for k, v in cells(reviewed, "mismatch_by_dimension").items()} == dict(reasons)


def test_every_number_names_its_records(reviewed: Review, records: list[dict[str, Any]]) -> None:
    for figure in reviewed.figures:
        for cell in figure.cells:
            assert cell.seqs, (figure.key, cell.label)
            assert len(cell.seqs) == min(cell.count, 12)
            assert all(0 <= s < len(records) for s in cell.seqs)
    profile_cells = next(f for f in reviewed.figures if f.key == "profiles").cells
    for cell in profile_cells:
        for s in cell.seqs:
            assert records[s]["type"] == "assessment"


def test_the_planted_patterns_are_flagged_and_nothing_else(reviewed: Review, demo: tuple[Path, Any]) -> None:
    summary = demo[1]
    flagged = {(f.kind, f.subject.split(" /")[0]) for f in reviewed.findings}
    assert flagged == {("retake_drift", DRIFTER), ("flipped_decision", DRIFTER), ("actor", PUSHER)}
    drift = next(f for f in reviewed.findings if f.kind == "retake_drift")
    assert drift.seqs == summary.drifter_assessments
    flipped = next(f for f in reviewed.findings if f.kind == "flipped_decision")
    assert flipped.seqs[-1] == summary.drifter_decision
    actor = next(a for a in reviewed.actors if a.actor == PUSHER)
    assert actor.elderly_high_risk == len(summary.pusher_confirmations) >= 5
    assert reviewed.actors[0].actor == PUSHER
    assert all(not a.flags for a in reviewed.actors if a.actor != PUSHER)


def test_without_planted_patterns_nothing_is_flagged(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "clean.sqlite3")
    generate(
        store,
        REGISTRY.questionnaire("cn-securities-individual"),
        REGISTRY.policy("cn-csrc"),
        clients=300,
        seed=4,
        plant=False,
    )
    assert review(store).findings == []


def test_thresholds_come_from_the_config(tmp_path: Path, demo: tuple[Path, Any]) -> None:
    config = tmp_path / "review.json"
    config.write_text(json.dumps({"actor_elderly_high_risk": 1000, "actor_confirmation_rate": 1.0}))
    loaded = load_config(config)
    assert loaded == ReviewConfig(actor_elderly_high_risk=1000, actor_confirmation_rate=1.0)
    assert not any(f.kind == "actor" for f in review(SQLiteStore(demo[0]), loaded).findings)
    config.write_text(json.dumps({"actor_elderly_high_risk": "many", "colour": 1}))
    from suitability.errors import InputError

    with pytest.raises(InputError) as exc:
        load_config(config)
    assert {p.pointer for p in exc.value.problems} == {"/actor_elderly_high_risk", "/colour"}


def test_the_html_is_self_contained(reviewed: Review) -> None:
    for lang in ("zh-CN", "en"):
        html = render(reviewed, lang)
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
        assert "<link" not in html and "@import" not in html and "url(" not in html
        assert html.count("<svg") == len(reviewed.figures) - sum(1 for f in reviewed.figures if not f.cells)
        assert html.index('id="integrity"') < html.index('id="findings"') < html.index('id="profiles"')
    chinese = render(reviewed, "zh-CN")
    assert "适当性决策日志审阅报告" in chinese and "序号连续" in chinese
    assert "岁及以上客户坚持购买高风险产品" in chinese  # flags are localized too
    assert "high-risk sales confirmed" not in chinese
    assert "Suitability decision-log review" in render(reviewed, "en")


def test_the_report_renders_in_headless_chromium(reviewed: Review, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    page = tmp_path / "report.html"
    page.write_text(render(reviewed, "en"), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]  # fmt: skip
    done = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    charts = sum(1 for f in reviewed.figures if f.cells)
    assert f'data-rendered="{charts}"' in done.stdout  # the inline script ran and counted every chart
    assert "Uncaught" not in done.stderr and "CONSOLE" not in done.stderr
    shot = subprocess.run([browser, *flags, f"--screenshot={tmp_path / 'shot.png'}", "--window-size=1100,1600", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert shot.returncode == 0
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_review_cli(demo: tuple[Path, Any], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.html"
    done = runner.invoke(
        cli, ["audit", "report", str(demo[0]), "--out", str(out), "--lang", "en", "--json", str(tmp_path / "r.json")]
    )
    assert done.exit_code == 0, done.output
    assert "3 finding(s)" in done.output and "verified" in done.output
    assert json.loads((tmp_path / "r.json").read_text())["verified"] is True
    jsonl = runner.invoke(
        cli, ["audit", "query", str(demo[0]), "--actor", PUSHER, "--type", "confirmation", "--format", "jsonl"]
    )
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert rows and all(r["actor"] == PUSHER and r["type"] == "confirmation" for r in rows)
    as_csv = runner.invoke(cli, ["audit", "query", str(demo[0]), "--client", DRIFTER, "--format", "csv"])
    parsed = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["type"] for r in parsed] == ["assessment"] * 4 + ["decision"]
    table = runner.invoke(cli, ["audit", "query", str(demo[0]), "--client", DRIFTER])
    assert table.stdout.splitlines()[0].startswith("seq  type  at")
    again = runner.invoke(cli, ["demo", "--log", str(demo[0])])
    assert again.exit_code == 3 and "never writes into an existing log" in again.stderr


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from suitability.cli import _progress

    assert _progress("verify", 1_000_000) is None  # stderr is not a terminal here
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    show = _progress("verify", 1_000_000)
    assert show is not None
    show(500_000)
    show(1_000_000)
    err = capsys.readouterr().err
    assert "verify [###############...............] 500,000/1,000,000" in err
    assert err.endswith("1,000,000/1,000,000\n")


def test_rows_dropped_halfway_give_back_the_collector_setting(demo: tuple[Path, Any]) -> None:
    """Rows stream under a long pass; a reader that stops early leaves the collector as it was."""
    import gc

    from suitability._passes import PASS_THRESHOLD

    before = gc.get_threshold()
    rows = query(SQLiteStore(demo[0]), QueryFilter())
    next(rows)
    assert gc.get_threshold()[0] == PASS_THRESHOLD
    del rows
    assert gc.get_threshold() == before
