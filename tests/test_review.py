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
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from suitability import Registry
from suitability.cli import cli
from suitability.log.sqlite import SQLiteStore
from suitability.review import QueryFilter, Review, ReviewConfig, load_config, query, review
from suitability.review.demo import BATCH_SPAN, DRIFTER, PUSHER, generate
from suitability.review.html import render

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
        row: dict[str, Any] = {"seq": r["seq"], "type": r["type"], "recorded_at": r["recorded_at"], "as_of": None, "client": None, "actor": None, "product": None,
                               "risk_level": None, "profile": None, "outcome": None, "reasons": []}  # fmt: skip
        if r["type"] == "assessment":
            row.update(as_of=r["as_of"], client=r["result"]["client_id"], actor=r["actor"], profile=r["result"]["profile"],
                       outcome="inconsistent" if r["result"]["consistency_violations"] else "assessed",
                       reasons=[x["id"] for x in r["result"]["rules_fired"]])  # fmt: skip
        elif r["type"] == "decision":
            a = records[r["assessment_seq"]]
            row.update(as_of=r["as_of"], client=r["client"]["client_id"], actor=r["actor"], product=r["product"]["id"],
                       risk_level=r["product"]["risk_level"], profile=a["result"]["profile"], outcome=r["result"]["outcome"],
                       reasons=[x["code"] for x in r["result"]["reasons"]])  # fmt: skip
        elif r["type"] == "confirmation":
            d = records[r["decision_seq"]]
            a = records[d["assessment_seq"]]
            row.update(as_of=r["confirmed_at"], client=d["client"]["client_id"], actor=r["actor"], product=d["product"]["id"],
                       risk_level=d["product"]["risk_level"], profile=a["result"]["profile"], outcome="confirmed",
                       reasons=r["result"]["warning_codes"])  # fmt: skip
        out.append(row)
    return out


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def month_start(text: str) -> datetime:
    """The first instant (UTC) of a YYYY-MM or YYYY-MM-DD bound, parsed independently of the code under test."""
    year, month, *day = (int(part) for part in text.split("-"))
    return datetime(year, month, day[0] if day else 1, tzinfo=UTC)


KEYS = (
    "seq",
    "type",
    "recorded_at",
    "as_of",
    "client",
    "actor",
    "product",
    "risk_level",
    "profile",
    "outcome",
    "reasons",
)


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
        and (flt.since is None or instant(r["recorded_at"]) >= month_start(str(flt.since)))
        and (flt.until is None or instant(r["recorded_at"]) < month_start(str(flt.until)))
    ]
    got = [{k: r[k] for k in KEYS} for r in query(SQLiteStore(demo[0]), flt)]
    assert got == expected


def cells(reviewed: Review, key: str) -> dict[str, int]:
    figure = next(f for f in reviewed.figures if f.key == key)
    return {(f"{c.series}|{c.label}" if c.series and c.series != c.label else c.label): c.count for c in figure.cells}


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
    # Special care as the policy applied it at the sale: confirmations after a SPECIAL_CARE_REQUIRED warning.
    special = Counter(c["actor"] for c in confirmations if "SPECIAL_CARE_REQUIRED" in c["result"]["warning_codes"])
    assert cells(reviewed, "special_care") == dict(special)
    elderly = [
        c
        for c in confirmations
        if (age(records[c["decision_seq"]]["client"]["birth_date"], records[c["decision_seq"]]["as_of"]) or 0) >= 65
        and records[c["decision_seq"]]["product"]["risk_level"] in ("R4", "R5")
    ]
    assert {c["seq"] for c in elderly} == {
        c["seq"] for c in confirmations if "SPECIAL_CARE_REQUIRED" in c["result"]["warning_codes"]
    }
    # Blocked attempts by reason: a decision blocked for several reasons counts under each.
    blocked = [d for d in decisions if d["result"]["outcome"] == "blocked"]
    got = cells(reviewed, "blocked")
    assert {k.split("|")[-1]: v for k, v in got.items()} == dict(
        Counter(x["code"] for d in blocked for x in d["result"]["reasons"])
    )
    assert next(f for f in reviewed.figures if f.key == "blocked").total == len(blocked)
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
    assert table.stdout.splitlines()[0].split()[:4] == ["seq", "type", "recorded_at", "as_of"]
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
    err = capsys.readouterr().err  # drawn by rich: the label, a bar, done/total
    assert "verify" in err and "━" in err
    assert "1000000/1000000" in err


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


# --- issue 10: dating, filters, hostile cells, bad configs, malformed records ---------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def clocked_store(path: Path, now: list[datetime]) -> SQLiteStore:
    """A store whose clock (recorded_at) reads ``now[0]``: the test plays the passing of time."""
    return SQLiteStore(path, clock=lambda: now[0].isoformat().replace("+00:00", "Z"))


def drift_log(path: Path, *, retake_as_of: timedelta) -> dict[str, int]:
    """A client assessed at C2, then 'retaking' two days later (recorded) at C5 dated ``retake_as_of``
    after the first, then buying an R5 product on the strength of the retake, dated like it."""
    from suitability import Engine, Product
    from suitability.review.demo import _answers_for

    q = REGISTRY.questionnaire("cn-securities-individual")
    now = [T0]
    store = clocked_store(path, now)
    engine = Engine(REGISTRY, store)
    client = Client(client_id="CN-RETAKE-1", birth_date=date(1980, 5, 1))
    rnd = random.Random(7)
    first = engine.assess(q, _answers_for(q, rnd, "C2", "a31_45")[0], client, as_of=T0, actor="staff-07")
    now[0] = T0 + timedelta(days=2)
    retake = engine.assess(
        q, _answers_for(q, rnd, "C5", "a31_45")[0], client, as_of=T0 + retake_as_of, actor="staff-07"
    )
    now[0] = T0 + timedelta(days=2, hours=1)
    product = Product(id="P-R5", name={"zh-CN": "高风险", "en": "High risk"}, risk_level="R5", term="short",
                      variety=retake.varieties[0] if retake.varieties else "equity")  # fmt: skip
    decision = engine.decide(retake, product, client, as_of=T0 + retake_as_of, actor="staff-07")
    assert decision.outcome == "suitable"
    seqs = {json.loads(d)["result"]["id"] if json.loads(d)["type"] != "artifact" else "": s for s, d, _ in store.scan()}
    store.close()
    return {"first": seqs[first.id], "retake": seqs[retake.id], "decision": seqs[decision.id]}


from suitability.models import Client  # noqa: E402


def test_a_retake_dated_a_month_ahead_is_still_a_retake_and_the_dating_is_flagged(tmp_path: Path) -> None:
    """Windows run on recorded_at; an as_of 31+ days from it is a finding of its own, by actor."""
    seqs = drift_log(tmp_path / "log.sqlite3", retake_as_of=timedelta(days=33))
    result = review(SQLiteStore(tmp_path / "log.sqlite3"))
    by_kind = {f.kind: f for f in result.findings}
    assert by_kind["retake_drift"].subject == "CN-RETAKE-1"
    assert by_kind["retake_drift"].seqs == [seqs["first"], seqs["retake"]]
    assert by_kind["flipped_decision"].seqs == [seqs["first"], seqs["retake"], seqs["decision"]]
    dated = by_kind["dated"]
    assert (dated.subject, dated.seqs, dated.count) == ("staff-07", [seqs["retake"], seqs["decision"]], 2)
    assert "2 forward-dated (as_of up to 31.0 days after recorded_at)" in dated.detail["en"]
    assert "预签" in dated.detail["zh-CN"]
    actor = next(a for a in result.actors if a.actor == "staff-07")
    assert actor.dated == 2 and any("back- or forward-dated" in f["en"] for f in actor.flags)
    english, chinese = render(result, "en"), render(result, "zh-CN")
    assert "back- or forward-dated" in english and "forward-dated (as_of up to 31.0 days" in english
    assert "倒签或预签的记录" in chinese and "预签（判定时点最多晚于记录时间 31.0 天）" in chinese
    from suitability.review import review_json

    data = json.loads(review_json(result))
    found = next(f for f in data["findings"] if f["kind"] == "dated")
    assert found["seqs"] == [seqs["retake"], seqs["decision"]] and found["count"] == 2
    # The finding names the query that lists every record behind it.
    assert dated.query == "--dated-beyond 24 --actor staff-07"
    assert "suitability audit query LOG --dated-beyond 24 --actor staff-07" in english
    listed = CliRunner().invoke(
        cli, ["audit", "query", str(tmp_path / "log.sqlite3"), *dated.query.split(), "--format", "jsonl"]
    )
    assert [json.loads(line)["seq"] for line in listed.stdout.splitlines()] == dated.seqs


def test_a_back_dated_record_is_flagged_and_a_small_offset_is_not(tmp_path: Path) -> None:
    seqs = drift_log(tmp_path / "back.sqlite3", retake_as_of=timedelta(days=-40))
    result = review(SQLiteStore(tmp_path / "back.sqlite3"))
    dated = [f for f in result.findings if f.kind == "dated"]
    assert [f.seqs for f in dated] == [[seqs["retake"], seqs["decision"]]]
    assert "2 back-dated (as_of up to 42.0 days before recorded_at)" in dated[0].detail["en"]
    # Within the tolerance (default 24 h): nothing is dated; a tighter tolerance from the config flags it.
    drift_log(tmp_path / "near.sqlite3", retake_as_of=timedelta(days=2, hours=20))
    assert not any(f.kind == "dated" for f in review(SQLiteStore(tmp_path / "near.sqlite3")).findings)
    tight = review(SQLiteStore(tmp_path / "near.sqlite3"), ReviewConfig(dated_tolerance_hours=12))
    assert [f.subject for f in tight.findings if f.kind == "dated"] == ["staff-07"]


def test_the_demo_is_written_in_time_order_and_dated_by_its_store(records: list[dict[str, Any]]) -> None:
    """A clean demo has every as_of just before its recorded_at, which never goes back."""
    recorded = [datetime.fromisoformat(r["recorded_at"]) for r in records]
    assert recorded == sorted(recorded)
    assert recorded[-1] - recorded[0] > timedelta(days=300)
    for r, at in zip(records, recorded, strict=True):
        as_of = r.get("as_of") or r.get("confirmed_at")
        if as_of is not None:
            assert timedelta(0) <= at - datetime.fromisoformat(as_of) <= BATCH_SPAN < timedelta(hours=24), r["seq"]


def test_query_filters_on_either_time_and_shows_both(tmp_path: Path) -> None:
    seqs = drift_log(tmp_path / "log.sqlite3", retake_as_of=timedelta(days=33))
    runner = CliRunner()

    def found(*args: str) -> list[int]:
        done = runner.invoke(cli, ["audit", "query", str(tmp_path / "log.sqlite3"), "--type", "assessment",
                                   "--format", "jsonl", *args])  # fmt: skip
        assert done.exit_code == 0, done.output
        return [json.loads(line)["seq"] for line in done.stdout.splitlines()]

    # Recorded in March (both); dated: the first in March, the retake in April.
    assert found("--since", "2026-03", "--until", "2026-04") == [seqs["first"], seqs["retake"]]
    assert found("--since", "2026-03", "--until", "2026-04", "--time", "as-of") == [seqs["first"]]
    assert found("--since", "2026-04", "--time", "as-of") == [seqs["retake"]]
    assert found("--since", "2026-03-04T09:00:01Z") == []
    assert found("--since", "2026-03-04T17:00:00+08:00") == [seqs["retake"]]  # 09:00Z, offsets honoured
    table = runner.invoke(cli, ["audit", "query", str(tmp_path / "log.sqlite3"), "--client", "CN-RETAKE-1"])
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["seq", "type", "recorded_at", "as_of"]
    retake = next(line for line in lines if line.startswith(f"{seqs['retake']} "))
    assert "2026-03-04T09:00:00Z" in retake and "2026-04-04T09:00:00Z" in retake


def test_time_bounds_are_iso_8601() -> None:
    from suitability.review import parse_time

    assert parse_time("2026") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("2026-03") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_time("2026-03-05") == datetime(2026, 3, 5, tzinfo=UTC)
    assert parse_time("2026-03-05T08:00:00+08:00") == datetime(2026, 3, 5, tzinfo=UTC)
    assert parse_time("2026-03-05T00:00Z") == datetime(2026, 3, 5, tzinfo=UTC)
    for bad in ("2026-1", "2026-13", "yesterday", "2026-02-30", "2026-03-05T08:00:00", "26-03", "２０２６", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            parse_time(bad)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--since", "yesterday"], "YYYY, YYYY-MM, YYYY-MM-DD"),
        (["--since", "2026-13"], "YYYY, YYYY-MM, YYYY-MM-DD"),
        (["--since", "2026-1"], "YYYY, YYYY-MM, YYYY-MM-DD"),
        (["--until", "2026-03-01T00:00:00"], "an instant with an offset"),
        (["--outcome", "blcoked"], "requires_confirmation"),
        (["--reason", "LOWEST_CATEGROY"], "LOWEST_CATEGORY"),
        (["--time", "asof"], "as-of"),
    ],
)
def test_query_refuses_values_no_row_can_have(demo: tuple[Path, Any], args: list[str], expected: str) -> None:
    """A typo used to return 0 rows and exit 0; now it is a usage error listing what is valid."""
    done = CliRunner().invoke(cli, ["audit", "query", str(demo[0]), *args])
    assert done.exit_code == 2, done.output
    assert expected in done.stderr


def test_query_accepts_rule_ids_of_known_questionnaires(demo: tuple[Path, Any]) -> None:
    done = CliRunner().invoke(cli, ["audit", "query", str(demo[0]), "--reason", "over_70_cap", "--format", "jsonl"])
    assert done.exit_code == 0, done.output
    assert all("over_70_cap" in json.loads(line)["reasons"] for line in done.stdout.splitlines())


def test_query_filter_refuses_unknown_values_in_the_library() -> None:
    from suitability.errors import InputError

    with pytest.raises(InputError) as exc:
        QueryFilter(outcome="blcoked", reason="LOWEST_CATEGROY", since="2026-1", type="decisions")
    assert {p.pointer for p in exc.value.problems} == {"/outcome", "/reason", "/since", "/type"}


HOSTILE = ["=HYPERLINK(\"http://evil\")", "+1+2", "-3+4", "@SUM(A1)", "\tTAB", "\rCR",
           "clear\x1b[2J\x1b[Hscreen", "title\x1b]0;pwned\x07x", "link\x1b]8;;http://evil\x1b\\x", "c1\x9b31m", "bidi\u202eexe.txt"]  # fmt: skip


def hostile_log(path: Path, actors: list[str] = HOSTILE) -> None:
    """Assessments whose actor is each hostile string (actors are free text in the record)."""
    from suitability.records import assessment_draft
    from suitability.review.demo import _answers_for
    from suitability.scoring import assess

    q = REGISTRY.questionnaire("cn-securities-individual")
    store = SQLiteStore(path)
    answers, _ = _answers_for(q, random.Random(1), None, "a31_45")
    for i, actor in enumerate(actors):
        client = Client(client_id=f"CN-H-{i}")
        store.append([assessment_draft(q, answers, client, assess(q, answers, client, T0), actor)])
    store.close()


CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]")


def test_csv_cells_never_run_as_formulas_nor_reach_the_terminal_raw(tmp_path: Path) -> None:
    hostile_log(tmp_path / "h.sqlite3")
    done = CliRunner().invoke(cli, ["audit", "query", str(tmp_path / "h.sqlite3"), "--format", "csv"])
    assert done.exit_code == 0, done.output
    assert not CONTROLS.search(done.stdout.replace("\r\n", "\n").replace("\n", "")), repr(done.stdout)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    actors = [r["actor"] for r in rows if r["type"] == "assessment"]
    assert len(actors) == len(HOSTILE)
    for actor in actors:
        assert not actor.startswith(("=", "+", "-", "@", "\t", "\r")), actor
    assert actors[:4] == ['\'=HYPERLINK("http://evil")', "'+1+2", "'-3+4", "'@SUM(A1)"]
    assert actors[4].startswith("'") and actors[5].startswith("'")
    assert actors[6] == "clear\ufffd\ufffdscreen"  # each sequence replaced whole, visibly
    assert [r["seq"] for r in rows] == [str(i) for i in range(len(rows))]  # numbers stay numbers


def test_table_output_never_carries_control_sequences(tmp_path: Path) -> None:
    hostile_log(tmp_path / "h.sqlite3")
    done = CliRunner().invoke(cli, ["audit", "query", str(tmp_path / "h.sqlite3")])
    assert done.exit_code == 0, done.output
    body = "".join(done.stdout.splitlines())
    assert not CONTROLS.search(body) and "\x1b" not in body and "\u202e" not in body
    assert "title\ufffdx" in body and "link\ufffdx" in body
    from suitability.cli import _table

    assert "\x1b" not in _table([["a", "b\x1b[31m"], ["c\x1b]52;c;ZXZpbA==\x07", "d"]])


# Characters no control pattern lists that still mislead a reader: a line or paragraph separator
# (a table row, or a JSON Lines line split by str.splitlines, becomes two), NEL, zero-width and other
# format characters (a name that looks like another), tag characters, a BOM before a formula,
# private-use and unassigned code points.
UNSEEN = ["alice\u2028999  decision  forged", "para\u2029graph", "nel\x85x", "C0\u200b01", "zwj\u200d",
          "tag\U000e0041\U000e0042", "\ufeff=HYPERLINK(\"http://evil\")", "soft\u00adhyphen", "pua\ue000",
          "unassigned\U000e0fff", "wj\u2060\u180e", "c1\x9b31m", "bidi\u202eexe.txt", "汉\u3000字"]  # fmt: skip


def _unseen(text: str) -> list[str]:
    """The characters of ``text`` a terminal does not show as themselves (not printable, not a space)."""
    import unicodedata

    return [hex(ord(c)) for c in text if not c.isprintable() and unicodedata.category(c) != "Zs"]


def test_no_table_row_splits_nor_hides_a_character(tmp_path: Path) -> None:
    """A U+2028 in an actor split its table row in two (the second half a forged-looking row); a
    zero-width space made 'C0\u200b01' look like 'C001'."""
    hostile_log(tmp_path / "h.sqlite3", UNSEEN)
    done = CliRunner().invoke(cli, ["audit", "query", str(tmp_path / "h.sqlite3"), "--type", "assessment"])
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert len(lines) == 1 + len(UNSEEN), lines
    assert [line.split()[0] for line in lines[1:]] == [str(i + 1) for i in range(len(UNSEEN))]
    assert not _unseen(done.stdout.replace("\n", "")), _unseen(done.stdout)
    assert "C0\ufffd01" in done.stdout and "汉\u3000字" in done.stdout


def test_no_csv_cell_hides_a_character(tmp_path: Path) -> None:
    hostile_log(tmp_path / "h.sqlite3", UNSEEN)
    done = CliRunner().invoke(cli, ["audit", "query", str(tmp_path / "h.sqlite3"), "--format", "csv"])
    assert done.exit_code == 0, done.output
    actors = [r["actor"] for r in csv.DictReader(io.StringIO(done.stdout)) if r["type"] == "assessment"]
    assert len(actors) == len(UNSEEN)
    assert not [a for a in actors if _unseen(a)], [ascii(a) for a in actors if _unseen(a)]
    assert '\ufffd=HYPERLINK("http://evil")' in actors


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_output_escapes_what_a_terminal_would_not_show(tmp_path: Path, fmt: str) -> None:
    """JSON Lines carried C1 controls (the 8-bit CSI), bidi overrides and U+2028 raw to the terminal,
    and str.splitlines split a row in two; escaped, the values still read back exactly."""
    hostile_log(tmp_path / "h.sqlite3", UNSEEN)
    done = CliRunner().invoke(cli, ["audit", "query", str(tmp_path / "h.sqlite3"), "--format", fmt])
    assert done.exit_code == 0, done.output
    assert not _unseen(done.stdout.replace("\n", "")), _unseen(done.stdout)
    lines = done.stdout.splitlines()
    rows = [json.loads(line) for line in lines] if fmt == "jsonl" else json.loads(done.stdout)
    assert [r["actor"] for r in rows if r["type"] == "assessment"] == UNSEEN


def test_a_damaged_record_cannot_reach_the_terminal_through_the_error_message(tmp_path: Path) -> None:
    """The rows before a damaged record are shown; its message (which quotes the record's type) is
    free of control sequences, and the exit code is the integrity error's."""
    import sqlite3

    hostile_log(tmp_path / "h.sqlite3", ["a", "b"])
    db = sqlite3.connect(tmp_path / "h.sqlite3")
    db.execute("DROP TRIGGER records_no_update")
    forged = json.dumps({"type": "decision\x1b[1A\x1b[2K\x1b]0;pwned\x07\u202e\u2028x"})
    db.execute("UPDATE records SET data = CAST(? AS BLOB) WHERE seq = 2", (forged,))
    db.commit()
    db.close()
    done = CliRunner().invoke(cli, ["audit", "query", str(tmp_path / "h.sqlite3"), "--format", "csv"])
    assert done.exit_code == 10, done.output
    assert [r["seq"] for r in csv.DictReader(io.StringIO(done.stdout))] == ["0", "1"]
    assert "record 2" in done.stderr
    assert "\x1b" not in done.stderr and not _unseen(done.stderr.replace("\n", "")), ascii(done.stderr)


@pytest.mark.parametrize(
    ("config", "pointer", "expected"),
    [
        ({"high_risk_from": "R9"}, "/high_risk_from", "R1, R2, R3, R4, R5"),
        ({"retake_window_days": 10**30}, "/retake_window_days", "from 1 to 3650"),
        ({"actor_min_decisions": -1}, "/actor_min_decisions", "from 0 to"),
        ({"actor_confirmation_rate": -0.5}, "/actor_confirmation_rate", "from 0.0 to 1.0"),
        ({"dated_tolerance_hours": -1}, "/dated_tolerance_hours", "from 0.0 to"),
        ({"actor_confirmation_rate": True}, "/actor_confirmation_rate", "a number"),
        ({"elderly_age": 65.5}, "/elderly_age", "an integer"),
    ],
)
def test_a_bad_report_config_is_a_clean_error(
    demo: tuple[Path, Any], tmp_path: Path, config: dict[str, Any], pointer: str, expected: str
) -> None:
    path = tmp_path / "review.json"
    path.write_text(json.dumps(config))
    done = CliRunner().invoke(
        cli, ["audit", "report", str(demo[0]), "--out", str(tmp_path / "r.html"), "--config", str(path)]
    )
    assert done.exit_code == 3, done.output
    assert pointer in done.stderr and expected in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_an_infinite_threshold_is_refused(tmp_path: Path) -> None:
    from suitability.errors import InputError, SuitabilityError

    with pytest.raises(InputError, match="invalid review config"):
        ReviewConfig(actor_confirmation_rate=float("inf"))
    with pytest.raises(InputError):
        ReviewConfig(dated_tolerance_hours=float("nan"))
    path = tmp_path / "review.json"
    path.write_text('{"dated_tolerance_hours": 1e999}')
    with pytest.raises(SuitabilityError) as exc:
        load_config(path)
    assert exc.value.exit_code == 3


def append_tampered(path: Path, change: Callable[[dict[str, Any]], None], kind: str = "decision") -> int:
    """Append a copy of the log's last ``kind`` record, changed, as an insider with the database could."""
    from suitability.codec import canonical_bytes
    from suitability.log.merkle import leaf_hash

    store = SQLiteStore(path)
    seq = store.size()
    last = next(orjson.loads(d) for _, d, _ in reversed(list(store.scan())) if orjson.loads(d)["type"] == kind)
    last["seq"] = seq
    change(last)
    data = canonical_bytes(last)
    store.append_raw([(seq, kind, f"tampered-{seq}", data, leaf_hash(data))])
    store.close()
    return seq


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.pop("result"),
        lambda r: r.update(product="P-001"),
        lambda r: r.update(assessment_seq="3"),
        lambda r: r.update(assessment_seq=10**9),
        lambda r: r["result"].update(reasons=[{"code": ["x"]}]),
        lambda r: r["client"].update(birth_date="yesterday"),
        lambda r: r.update(recorded_at="noon"),
        lambda r: r.update(type="sale"),
    ],
)
def test_a_malformed_record_is_an_integrity_error_naming_its_seq(
    tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    path = tmp_path / "log.sqlite3"
    drift_log(path, retake_as_of=timedelta(0))
    seq = append_tampered(path, change)
    runner = CliRunner()
    for args in (["audit", "query", str(path)], ["audit", "query", str(path), "--since", "2026"],
                 ["audit", "report", str(path), "--out", str(tmp_path / "r.html")]):  # fmt: skip
        done = runner.invoke(cli, args)
        assert done.exit_code == 10, (args, done.output)
        assert f"record {seq}" in done.stderr and "Traceback" not in done.output


def test_a_malformed_record_names_the_field(tmp_path: Path) -> None:
    from suitability.errors import IntegrityError

    path = tmp_path / "log.sqlite3"
    drift_log(path, retake_as_of=timedelta(0))
    seq = append_tampered(path, lambda r: r.update(product="P-001"))
    with pytest.raises(IntegrityError) as exc:
        list(query(SQLiteStore(path), QueryFilter()))
    assert exc.value.seq == seq
    assert exc.value.problems[0].pointer == "/product"
    assert exc.value.problems[0].message == "expected an object, found a string"
    seq = append_tampered(path, lambda r: r.pop("result"), kind="assessment")
    with pytest.raises(IntegrityError) as exc:
        list(query(SQLiteStore(path), QueryFilter(type="assessment")))
    assert exc.value.seq == seq - 1  # the product one comes first


def test_every_finding_names_a_query_that_lists_its_records(reviewed: Review, demo: tuple[Path, Any]) -> None:
    """A reviewer goes from a finding to all of its evidence: the query it names lists every seq it shows."""
    import shlex

    from click.testing import CliRunner

    from suitability.cli import cli

    assert reviewed.findings
    for finding in reviewed.findings:
        assert finding.query, finding
        done = CliRunner().invoke(
            cli, ["audit", "query", str(demo[0]), *shlex.split(finding.query), "--format", "jsonl"]
        )
        assert done.exit_code == 0, done.output
        listed = {orjson.loads(line)["seq"] for line in done.stdout.splitlines()}
        assert set(finding.seqs) <= listed, (finding.kind, finding.subject, finding.query)
        assert len(listed) >= finding.count


def test_the_report_parses_each_record_once_and_its_statistics_match_their_own_pass(
    demo: tuple[Path, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The questionnaire statistics ride on the pass that loads the report's facts: every record is
    parsed once for both (not once more in a pass of their own), and the figures are those
    `questionnaire stats` computes alone."""
    import sys

    from suitability.records import read_record
    from suitability.review import stats as stats_module

    query_module = sys.modules["suitability.review.query"]  # the package exports a function of that name

    store = SQLiteStore(demo[0])
    alone = stats_module.questionnaire_stats(store, window_days=ReviewConfig().retake_window_days)
    parsed: Counter[int] = Counter()

    def counted(data: bytes) -> Any:
        record = read_record(data)
        parsed[record["seq"]] += 1
        return record

    monkeypatch.setattr(query_module, "read_record", counted)
    monkeypatch.setattr(stats_module, "read_record", counted)
    result = review(store)
    size = store.size()
    store.close()
    assert result.questionnaires == alone and alone and alone[0].assessments > 0
    assert set(parsed) == set(range(size))
    twice = sum(1 for n in parsed.values() if n > 1)  # read again only when a later record refers to it
    assert twice < size // 20, twice
