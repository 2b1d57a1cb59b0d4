"""Red team on the report's recorded level labels: an insider who rewrites records (triggers dropped)
plants profiles, risk levels, outcomes, reason codes and documents. The report still says it failed
verification; every cell's ``audit query`` is safe to paste into a shell and lists exactly the
records the cell counts (or is empty); the heatmap grows with its cells, not with their square; a
damaged record stops the report with exit 10 naming its seq, for any ``--jobs``."""

from __future__ import annotations

import json
import shlex
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suitability.cli import cli
from suitability.log.sqlite import SQLiteStore
from suitability.review import Review, review
from suitability.review.demo import generate
from suitability.review.html import render

from .test_format2_review import CN, REGISTRY, RPQ, RT, SRI, fund

Edit = Callable[[dict[str, Any]], Any]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CN demo log (C/R scale) with hk-bank-rpq assessments decided under eu-priips-sri after it."""
    from suitability import Client, Engine

    from .conftest import AS_OF

    path = tmp_path_factory.mktemp("base") / "log.sqlite3"
    store = SQLiteStore(path)
    generate(store, CN, REGISTRY.policy("cn-csrc"), clients=8, seed=3)
    engine = Engine(REGISTRY, store)
    hk = Client(client_id="HK-1", birth_date="1980-05-01")
    for profile, levels in (("RT5", ["SRI7", "SRI1"]), ("RT1", ["SRI2"])):
        a = engine.assess(RPQ, RT[profile], hk, AS_OF, actor="staff-hk")
        for level in levels:
            engine.decide(a, fund(level), hk, SRI, "client", AS_OF, actor="staff-hk")
    store.close()
    return path


def seqs_of(path: Path, kind: str) -> list[int]:
    with sqlite3.connect(path) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM records WHERE type = ? ORDER BY seq", (kind,))]


def tamper(source: Path, target: Path, edits: dict[int, Edit]) -> Path:
    """Copy ``source`` and rewrite each record ``seq`` with ``edits[seq]`` (which may return raw bytes)."""
    shutil.copy(source, target)
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("DROP TRIGGER IF EXISTS records_no_update")
    for seq, edit in edits.items():
        (data,) = db.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()
        record = orjson.loads(data)
        out = edit(record)
        raw = out if isinstance(out, bytes) else orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
        db.execute("UPDATE records SET data = ? WHERE seq = ?", (raw, seq))
    db.close()
    return target


def listed(log: Path, arguments: str) -> list[int]:
    done = CliRunner().invoke(cli, ["audit", "query", str(log), *shlex.split(arguments), "--format", "jsonl"])
    assert done.exit_code == 0, (arguments, done.output)
    return [json.loads(line)["seq"] for line in done.stdout.splitlines()]


def assert_cells_honest(result: Review, log: Path) -> None:
    """Every cell's query is what a shell reads as written, and lists exactly the cell's records."""
    for figure in result.figures:
        for cell in figure.cells:
            assert shlex.join(shlex.split(cell.query)) == cell.query, (figure.key, cell)
            if cell.query and cell.count <= len(cell.seqs):
                assert listed(log, cell.query) == cell.seqs, (figure.key, cell)


def set_path(*path: str, value: Any) -> Edit:
    def edit(record: dict[str, Any]) -> None:
        target = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def flip_lowest(record: dict[str, Any]) -> None:
    record["result"]["lowest_category"] = not record["result"]["lowest_category"]


def set_reason(code: str) -> Edit:
    def edit(record: dict[str, Any]) -> None:
        record["result"]["reasons"] = [{**reason, "code": code} for reason in record["result"]["reasons"]] or [
            {"code": code}
        ]

    return edit


def test_a_planted_outcome_or_reason_code_never_reaches_a_shell(base: Path, tmp_path: Path) -> None:
    """Outcomes and reason codes are recorded text too: pasted as printed, the cell's query ran the
    planted command (``--outcome suitable;touch${IFS}pwned``)."""
    decisions = seqs_of(base, "decision")
    log = tamper(
        base,
        tmp_path / "t.sqlite3",
        {
            decisions[0]: set_path("result", "outcome", value="suitable;touch${IFS}pwned"),
            decisions[1]: set_reason("RISK_MISMATCH$(touch pwned)"),
        },
    )
    with SQLiteStore(log, create=False) as store:
        result = review(store)
    assert not result.verified
    assert_cells_honest(result, log)
    assert "pwned" not in " ".join(c.query for f in result.figures for c in f.cells)


def test_a_planted_label_that_repeats_a_real_one_is_never_counted_under_its_query(base: Path, tmp_path: Path) -> None:
    """A profile recorded as "C1 (lowest)" outside the lowest category, or as "not eligible", or a
    pair whose labels hold the heatmap's own " × ", reads like a real cell: it was counted in it,
    under a query that lists only the real records (or none)."""
    assessments, decisions = seqs_of(base, "assessment"), seqs_of(base, "decision")
    log = tamper(
        base,
        tmp_path / "t.sqlite3",
        {
            assessments[0]: set_path("result", "profile", value="C1 (lowest)"),
            assessments[1]: set_path("result", "lowest_category", value=True),
            assessments[2]: set_path("result", "profile", value="not eligible"),
            decisions[-1]: set_path("product", "risk_level", value="SRI1 × SRI7"),
            decisions[-2]: set_path("product", "risk_level", value="SRI7"),
        },
    )
    with SQLiteStore(log, create=False) as store:
        result = review(store)
    assert not result.verified
    assert_cells_honest(result, log)


_HOSTILE = st.sampled_from(
    ["C1 (lowest)", "not eligible", "C3 × R3", "R3 × R5", "SRI1", "sri1", "R1.0", "C1", "-v", "--help",
     "<i>x</i>", "a'b", "$(id)", "R3;id", " R3", "", "RT0 (lowest)", "x" * 40]
)  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plants=st.lists(
        st.tuples(st.sampled_from(["profile", "risk", "outcome", "reason", "lowest"]), st.integers(0, 40), _HOSTILE),
        min_size=1,
        max_size=4,
    )
)
def test_any_planted_text_leaves_every_cell_honest_and_the_report_failed(
    base: Path, tmp_path: Path, plants: list[tuple[str, int, str]]
) -> None:
    assessments, decisions = seqs_of(base, "assessment"), seqs_of(base, "decision")
    original = SQLiteStore(base, create=False)
    edits: dict[int, Edit] = {}
    for what, index, text in plants:
        if what in ("profile", "lowest"):
            seq = assessments[index % len(assessments)]
            edit = set_path("result", "profile", value=text) if what == "profile" else flip_lowest
        else:
            seq = decisions[index % len(decisions)]
            edit = {
                "risk": set_path("product", "risk_level", value=text),
                "outcome": set_path("result", "outcome", value=text),
                "reason": set_reason(text),
            }[what]
        edits[seq] = edit
    log = tamper(base, tmp_path / f"h{abs(hash(repr(plants)))}.sqlite3", edits)
    with SQLiteStore(log, create=False) as store:
        result = review(store)
        changed = any(store.get(seq) != original.get(seq) for seq in edits)
    assert result.verified is not changed
    assert_cells_honest(result, log)
    original.close()
    page = render(result, "en")
    assert "<i>x</i>" not in page and ("status ok" if result.verified else "status fail") in page


def test_the_heatmap_grows_with_its_cells_not_their_square(tmp_path: Path) -> None:
    """Every decision planted at its own risk level and every assessment at its own profile: the grid
    drew every profile × level square (950,751 empty ones, a 60 MB report, from a 2,356-record log),
    and past 660 levels its squares had a negative width."""
    source = tmp_path / "demo.sqlite3"
    with SQLiteStore(source) as store:
        generate(store, CN, REGISTRY.policy("cn-csrc"), clients=280, seed=2)
    assessments, decisions = seqs_of(source, "assessment"), seqs_of(source, "decision")
    assert len(decisions) > 660
    edits: dict[int, Edit] = {seq: set_path("result", "profile", value=f"P{i}") for i, seq in enumerate(assessments)}
    edits |= {seq: set_path("product", "risk_level", value=f"L{i}") for i, seq in enumerate(decisions)}
    log = tamper(source, tmp_path / "t.sqlite3", edits)
    with SQLiteStore(log, create=False) as store:
        result = review(store)
    assert not result.verified
    page = render(result, "en")
    section = page.split('id="outcomes_by_profile_and_risk"')[1].split("</section>")[0]
    cells = next(f for f in result.figures if f.key == "outcomes_by_profile_and_risk").cells
    assert section.count("<rect") <= 2 * len(cells)
    assert 'width="-' not in page and "status fail" in page


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize(
    ("kind", "edit"),
    [
        ("assessment", lambda r: r.update(answers=[])),
        ("assessment", lambda r: r.update(answers="x")),
        ("artifact", lambda r: r.update(document=5) if r["kind"] == "questionnaire" else None),
        ("artifact", lambda r: r.update(document={"format": 2}) if r["kind"] == "questionnaire" else None),
        ("assessment", lambda r: b"{not json"),
        ("assessment", lambda r: r.update(type="bogus")),
        ("assessment", lambda r: r.pop("result")),
    ],
    ids=["answers-list", "answers-text", "questionnaire-not-object", "questionnaire-invalid", "not-json",
         "unknown-type", "missing-result"],
)  # fmt: skip
def test_a_damaged_record_stops_the_report_naming_its_seq(
    base: Path, tmp_path: Path, kind: str, edit: Edit, jobs: str
) -> None:
    """Answers of the wrong shape ended the report in an internal error (exit 70), and a recorded
    questionnaire its schema refuses in a document error (exit 4): both are a damaged log (exit 10)."""
    seq = next(s for s in seqs_of(base, kind) if kind != "artifact" or _is_questionnaire(base, s))
    log = tamper(base, tmp_path / "t.sqlite3", {seq: edit})
    done = CliRunner().invoke(
        cli, ["audit", "report", str(log), "--out", str(tmp_path / "r.html"), "--jobs", jobs, "--lang", "en"]
    )
    assert done.exit_code == 10, done.output
    assert f"record {seq} " in done.stderr and "Traceback" not in done.output + done.stderr


def _is_questionnaire(log: Path, seq: int) -> bool:
    with SQLiteStore(log, create=False) as store:
        found = store.get(seq)
    assert found is not None
    return bool(orjson.loads(found.data)["kind"] == "questionnaire")
