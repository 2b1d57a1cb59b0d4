"""The review report a regulator reads: what it covers, its queries, its charts on screen and on A4.

Screenshots (en and zh-CN) and the PDF are written to $SUITABILITY_REPORT_SHOTS when it is set, so
a person can look at them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
from collections import Counter
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from click.testing import CliRunner

from suitability import Registry, __version__
from suitability.cli import cli
from suitability.log.sqlite import SQLiteStore
from suitability.review import Review, review
from suitability.review.demo import generate
from suitability.review.figures import AGE_BANDS
from suitability.review.html import COLOURS, render

REGISTRY = Registry.default(environ={})
NOW = datetime(2026, 12, 31, 8, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "demo.sqlite3"
    store = SQLiteStore(path)
    generate(
        store, REGISTRY.questionnaire("cn-securities-individual"), REGISTRY.policy("cn-csrc"), clients=300, seed=11
    )
    store.close()
    return path


@pytest.fixture(scope="module")
def records(demo: Path) -> list[dict[str, Any]]:
    return [orjson.loads(d) for _, d, _ in SQLiteStore(demo).scan()]


@pytest.fixture(scope="module")
def reviewed(demo: Path) -> Review:
    return review(SQLiteStore(demo), tz="Asia/Shanghai", now=NOW)


def test_the_report_says_what_it_covers(reviewed: Review, records: list[dict[str, Any]]) -> None:
    times = sorted(r["recorded_at"] for r in records)
    assert reviewed.period is not None
    assert [datetime.fromisoformat(t) for t in reviewed.period] == [
        datetime.fromisoformat(times[0]),
        datetime.fromisoformat(times[-1]),
    ]
    assert reviewed.generated_at == "2026-12-31T08:30:00Z" and reviewed.version == __version__
    used = {
        f"{r['kind']} {r['id']}@{r['version']}"
        for r in records
        if r["type"] == "artifact" and r["kind"] in ("questionnaire", "policy")
    }
    assert set(reviewed.documents) == used == {"questionnaire cn-securities-individual@2026.1", "policy cn-csrc@2026.1"}
    english, chinese = render(reviewed, "en"), render(reviewed, "zh-CN")
    coverage = english[english.index('id="coverage"') : english.index('id="integrity"')]
    for text in (times[0][:19], times[-1][:19], "2026-12-31T08:30:00Z", f"suitability {__version__}",
                 "questionnaire cn-securities-individual@2026.1", "policy cn-csrc@2026.1", "Asia/Shanghai"):  # fmt: skip
        assert text in coverage, text
    assert english.index('id="coverage"') < english.index('id="integrity"')
    assert "报告范围" in chinese and "问卷 cn-securities-individual@2026.1" in chinese and "生成时间" in chinese


def test_a_failed_report_names_the_first_bad_seq_as_the_cli_does(demo: Path, tmp_path: Path) -> None:
    log = tmp_path / "tampered.sqlite3"
    shutil.copy(demo, log)
    db = sqlite3.connect(log, isolation_level=None)
    db.execute("DROP TRIGGER records_no_update")
    for seq in (41, 77):  # an insider edits two records and leaves their leaf hashes
        data = db.execute("SELECT data FROM records WHERE seq = ?", (seq,)).fetchone()[0]
        db.execute(
            "UPDATE records SET data = ? WHERE seq = ?",
            (data.replace(b'"recorded_at":"2026', b'"recorded_at":"2025'), seq),
        )
    db.close()
    runner = CliRunner()
    verified = runner.invoke(cli, ["audit", "verify", str(log), "--allow-no-checkpoint"])
    assert verified.exit_code == 10 and "seq 41" in verified.stdout
    out = tmp_path / "r.html"
    done = runner.invoke(cli, ["audit", "report", str(log), "--out", str(out), "--lang", "en"])
    assert done.exit_code == 0, done.output
    assert "FAILED VERIFICATION at seq 41" in done.stdout
    html = out.read_text(encoding="utf-8")
    assert "The log FAILED verification at seq 41: do not rely on the figures below" in html
    assert "seq 41: " in html  # the failing check's line names it too
    chinese = runner.invoke(cli, ["audit", "report", str(log), "--out", str(out), "--lang", "zh-CN"])
    assert "首个异常记录序号 41" in chinese.stdout and "首个异常记录序号 41" in out.read_text(encoding="utf-8")


def test_months_are_counted_in_the_time_zone_the_reviewer_chooses(demo: Path, records: list[dict[str, Any]]) -> None:
    assessments = [r for r in records if r["type"] == "assessment"]

    def label(r: dict[str, Any]) -> str:
        return "C1 (lowest)" if r["result"]["lowest_category"] else r["result"]["profile"]

    moved = 0
    for tz in ("UTC", "Asia/Shanghai"):
        zone = ZoneInfo(tz)
        month = {
            r["seq"]: datetime.fromisoformat(r["recorded_at"]).astimezone(zone).strftime("%Y-%m") for r in assessments
        }
        expected = Counter((month[r["seq"]], label(r)) for r in assessments)
        figure = next(f for f in review(SQLiteStore(demo), tz=tz).figures if f.key == "profiles_by_month")
        assert {(c.label, c.series): c.count for c in figure.cells} == dict(expected)
        assert tz in figure.title["en"]
        moved += sum(month[r["seq"]] != r["recorded_at"][:7] for r in assessments)
    assert moved, "the demo has assessments late on a month's last day (UTC), which Shanghai counts a month later"
    bad = CliRunner().invoke(cli, ["audit", "report", str(demo), "--out", "x.html", "--tz", "Mars/Olympus"])
    assert bad.exit_code == 3 and "Asia/Shanghai" in bad.stderr and not Path("x.html").exists()


def test_age_bands_in_their_natural_order_and_one_colour_per_meaning(reviewed: Review) -> None:
    ages = next(f for f in reviewed.figures if f.key == "confirmations_by_age")
    order = [band for _, _, band in AGE_BANDS] + ["unknown"]
    labels = [c.label for c in ages.cells]
    assert labels == sorted(labels, key=order.index) and len(labels) >= 3
    html = render(reviewed, "en")
    # Every outcome has one colour in every chart that shows outcomes, and profiles theirs.
    for figure in reviewed.figures:
        section = html[html.index(f'id="{figure.key}"') :]
        section = section[: section.index("</section>")]
        for cell in figure.cells:
            if figure.series_kind in ("outcome", "profile"):
                colour = COLOURS[figure.series_kind][cell.series]
                assert re.search(rf'fill="{colour}" data-seqs="{" ".join(map(str, cell.seqs))}"', section), (
                    figure.key,
                    cell,
                )
    kinds = {f.key: f.kind for f in reviewed.figures}
    assert kinds["profiles_by_month"] == "months" and kinds["outcomes_by_profile_and_risk"] == "heatmap"
    assert kinds["outcomes_by_risk"] == "stacked"
    heat = next(f for f in reviewed.figures if f.key == "outcomes_by_profile_and_risk")
    decisions = sum(1 for f in reviewed.figures if f.key == "outcomes_by_risk" for c in f.cells for _ in range(c.count))
    assert sum(c.count for c in heat.cells) == decisions == heat.total
    assert 'class="legend"' in html[html.index('id="profiles_by_month"') :]


PRINTED = re.compile(r"<code>suitability audit query LOG ([^<]*)</code>")


def printed_queries(html: str) -> list[tuple[str, int]]:
    """Every query the report prints with the number of records it promises, as a reader sees them."""
    promised = []
    for match in re.finditer(
        r"List them all \((\d+) records\): <code>suitability audit query LOG ([^<]*)</code>", html
    ):
        promised.append((unescape(match.group(2)), int(match.group(1))))
    for match in re.finditer(
        r"<td class='n'>(\d+)</td><td>[^<]*</td><td><code>suitability audit query LOG ([^<]*)</code>", html
    ):
        promised.append((unescape(match.group(2)), int(match.group(1))))
    for match in re.finditer(
        r" — seq ([0-9, ]+)(?: … \(\+(\d+)\))? \(List them all: <code>suitability audit query LOG ([^<]*)</code>", html
    ):
        shown = len(match.group(1).split(","))
        promised.append((unescape(match.group(3)), shown + int(match.group(2) or 0)))
    return promised


def test_every_query_the_report_prints_returns_the_rows_it_promises(demo: Path, reviewed: Review) -> None:
    html = render(reviewed, "en")
    promised = printed_queries(html)
    cells_with_queries = sum(1 for f in reviewed.figures for c in f.cells if c.query)
    assert len(promised) >= cells_with_queries + sum(1 for f in reviewed.figures if f.query)
    assert any("--outcome blocked" in q for q, _ in promised)  # today's 0-row "blocked attempts" query among them
    runner = CliRunner()
    wrong = {}
    for arguments, count in promised:
        done = runner.invoke(cli, ["audit", "query", str(demo), *shlex.split(arguments), "--format", "jsonl"])
        assert done.exit_code == 0, (arguments, done.output)
        got = len(done.stdout.splitlines())
        if got != count:
            wrong[arguments] = (count, got)
    assert wrong == {}


def browser_flags(tmp_path: Path) -> tuple[str, list[str]]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return browser, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip


def keep(path: Path) -> None:
    """Copy ``path`` to $SUITABILITY_REPORT_SHOTS, for a person to look at."""
    folder = os.environ.get("SUITABILITY_REPORT_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_screenshots_and_charts_that_fit_the_page(reviewed: Review, tmp_path: Path, lang: str) -> None:
    browser, flags = browser_flags(tmp_path)
    page = tmp_path / f"report-{lang}.html"
    page.write_text(render(reviewed, lang), encoding="utf-8")
    for width in (1100, 700):
        dom = subprocess.run([browser, *flags, f"--window-size={width},1200", "--dump-dom", page.as_uri()],
                             capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert f'data-rendered="{sum(1 for f in reviewed.figures if f.cells)}"' in dom.stdout
        assert 'data-overflowing="0"' in dom.stdout, f"a chart is wider than a {width}px page"
    shot = tmp_path / f"report-{lang}.png"
    done = subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=1100,3000", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0 and shot.stat().st_size > 50_000
    keep(shot)


def test_printed_on_a4_every_heading_stays_with_its_chart(reviewed: Review, tmp_path: Path) -> None:
    browser, flags = browser_flags(tmp_path)
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) is not installed (.ci/run installs it)")
    for lang in ("en", "zh-CN"):
        html = render(reviewed, lang)
        page = tmp_path / f"print-{lang}.html"
        page.write_text(html, encoding="utf-8")
        pdf = tmp_path / f"report-{lang}.pdf"
        done = subprocess.run([browser, *flags, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0 and pdf.stat().st_size > 10_000, done.stderr[-2000:]
        keep(pdf)
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
        pages = text.split("\f")
        pages = [p for p in pages if p.strip()]
        assert 3 <= len(pages) <= 16, len(pages)
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"Page size:.*\(A4\)", info), info
        headings = {unescape(re.sub(r"<[^>]+>", "", h)).strip() for h in re.findall(r"<h2>(.*?)</h2>", html)}
        for number, body in enumerate(pages, start=1):
            last = [line.strip() for line in body.splitlines() if line.strip()][-1]
            assert last not in headings, f"{lang} page {number} ends with the heading {last!r}"
