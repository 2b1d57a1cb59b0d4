"""Languages as data: every text people read comes from a message catalog, complete in zh-CN and zh-Hant.

The English-word test runs every command that prints for people (documents, assess, decide,
confirm, recommend, the report) in zh-CN and zh-Hant over the examples and a demo log, and fails on
any English word that is not an id, a code, a file name, a number or an ISO date.
"""

from __future__ import annotations

import gettext
import json
import re
import shutil
from html import unescape
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from click.testing import CliRunner

from suitability import Registry
from suitability.cli import cli
from suitability.i18n import LANGUAGES, LOCALE_DIR, Message, catalog_dir, name, pick, tr
from suitability.log.sqlite import SQLiteStore
from suitability.review.demo import generate

from .test_foresight import draft_document, rerated_catalog, sales_log

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
KEYWORDS = {"tr": (2,), "pN_": ((1, "c"), 2), "Message": (1,)}
CATALOGS = list(LANGUAGES)
PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")


def source_messages() -> set[tuple[str | None, str]]:
    """Every text marked in the package's source, as Babel extracts it (context, English text)."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT / "suitability"), keywords=KEYWORDS, method_map=[("**.py", "python")]
    ):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


@pytest.mark.parametrize("lang", CATALOGS)
def test_each_catalog_translates_every_text_of_the_source(lang: str) -> None:
    po = LOCALE_DIR / catalog_dir(lang) / "LC_MESSAGES" / "suitability.po"
    with po.open("rb") as file:
        catalog = read_po(file)
    translated = {(m.context, m.id): m.string for m in catalog if m.id}
    wanted = {k for k in source_messages() if lang != "en" or k[0] is not None}  # en: only names of values
    missing = wanted - {k for k, v in translated.items() if v}
    assert not missing, f"{po} lacks {sorted(missing, key=str)[:5]} (run the refresh in suitability/i18n.py)"
    for (_, msgid), text in translated.items():
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(text)), (msgid, text)
    # The compiled catalog that ships is the .po's, not an older one.
    with (po.with_suffix(".mo")).open("rb") as file:
        shipped = gettext.GNUTranslations(file)
    for (context, msgid), text in translated.items():
        got = shipped.pgettext(context, msgid) if context else shipped.gettext(msgid)
        assert got == text, f"{po.with_suffix('.mo')} is stale: {msgid!r}"


def test_adding_a_language_is_adding_a_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A catalog is all a language needs: the lookups find it by its folder; values are named from it."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    import suitability.i18n as i18n

    folder = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, folder)
    catalog = Catalog(locale="fr")
    catalog.add("Integrity", "Intégrité")
    catalog.add("short", "court terme", context="horizon")
    (folder / "fr" / "LC_MESSAGES").mkdir(parents=True)
    with (folder / "fr" / "LC_MESSAGES" / "suitability.mo").open("wb") as file:
        write_mo(file, catalog)
    monkeypatch.setattr(i18n, "LOCALE_DIR", folder)
    i18n.translations.cache_clear()
    try:
        assert tr("fr", "Integrity") == "Intégrité" and name("fr", "horizon", "short") == "court terme"
        assert tr("fr", "Thresholds") == "Thresholds"  # untranslated: the English text, never a crash
    finally:
        i18n.translations.cache_clear()


def test_values_are_named_and_documents_fall_back_from_zh_hant_to_zh_cn() -> None:
    assert [name(lang, "horizon", "short") for lang in LANGUAGES] == ["短期", "短期", "short"]
    assert name("en", "outcome", "requires_confirmation") == "requires confirmation"
    assert name("zh-Hant", "outcome", "blocked") == "禁止銷售" and name("zh-CN", "outcome", "blocked") == "禁止销售"
    assert name("zh-CN", "horizon", "decade") == "decade"  # a value a document invented: as it is
    text = {"zh-CN": "简体", "en": "English"}
    assert (pick(text, "zh-Hant"), pick(text, "zh-CN"), pick(text, "en")) == ("简体", "简体", "English")
    assert pick({**text, "zh-Hant": "繁體"}, "zh-Hant") == "繁體"
    message = Message("{n} clients with upward retake drift (≥ {limit})", n=3, limit=2)
    assert message["en"] == "3 clients with upward retake drift (≥ 2)"
    assert message["zh-CN"] == "3 名客户重新评估后风险等级上升（≥ 2）"
    assert message["zh-Hant"] == "3 名客戶重新評估後風險等級上升（≥ 2）"


# --- no English word in zh-CN (or zh-Hant) output ------------------------------------------------

WORD = re.compile(r"[A-Za-z][A-Za-z'’]*(?:[-_.][A-Za-z0-9]+)*")
#: Words allowed in Chinese output besides ids, codes, file names, numbers and dates: the record key
#: ``seq``, the hash and time-zone names, the regulator's name, and the product's own name.
ALLOWED = {"seq", "sha256", "UTC", "NFRA", "suitability", "Asia", "Shanghai", "Taipei", "Hong_Kong"}
#: A questionnaire's conditions are shown as the document states them (JSON): their keys are codes.
ALLOWED |= {"question", "any_of", "all_of", "answered", "dimension", "all", "any", "not", "true", "false"}


def english_words(text: str, ids: set[str]) -> list[str]:
    """The words of ``text`` a Chinese reader would have to read in English."""
    found = []
    for match in WORD.finditer(text):
        word = match.group(0)
        start, end = match.start(), match.end()
        around = text[max(0, start - 1) : end + 1]
        if word in ALLOWED or word in ids or word.rstrip(".") in ids:
            continue
        if re.fullmatch(r"[A-Z][A-Z0-9_]+", word):  # a code (RISK_ABOVE_PROFILE, C3, R4)
            continue
        if re.search(r"[0-9/@]", around) or "_" in word:  # ids, hashes, dates, versions, paths
            continue
        if re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", word) or word.endswith((".json", ".csv", ".html", ".sqlite3")):
            continue  # document ids, file names
        found.append(word)
    return found


def visible_text(html: str) -> str:
    """What a reader of the report sees: no tags, styles, scripts or command lines (<code>)."""
    html = re.sub(r"<(style|script|code)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("i18n") / "demo.sqlite3"
    registry = Registry.default(environ={})
    store = SQLiteStore(path)
    generate(store, registry.questionnaire("cn-securities-individual"), registry.policy("cn-csrc"), clients=150, seed=5)
    store.close()
    return path


def outputs(lang: str, work: Path, demo_log: Path) -> dict[str, str]:
    """Every command that prints for people, in ``lang``, over the examples and the demo log."""
    runner = CliRunner()
    log = str(work / f"{lang}.sqlite3")
    catalog = str(EXAMPLES / "catalog.csv")
    client = str(EXAMPLES / "client.json")
    printed: dict[str, str] = {}

    def run(label: str, *args: str) -> str:
        done = runner.invoke(cli, [*args, "--lang", lang], env={"SUITABILITY_LANG": None})
        assert done.exit_code == 0, (label, done.output)
        printed[label] = done.stdout
        return done.stdout

    run("questionnaire list", "questionnaire", "list")
    run("policy list", "policy", "list")
    run("questionnaire show", "questionnaire", "show", "cn-securities-individual")
    for policy in ("cn-csrc", "cn-bank-wm"):
        shown = run(f"policy show {policy}", "policy", "show", policy)
        # The policy's messages are templates: their {placeholders} are names of the values, not text.
        printed[f"policy show {policy}"] = re.sub(r"\{[a-z_]+\}", "", shown)
    common = ["--as-of", "2026-11-28", "--log", log]
    answers = ["--questionnaire", "cn-securities-individual", "--answers", str(EXAMPLES / "answers.json")]
    run("assess", "assess", *answers, "--client", client, *common)
    assessment = work / f"{lang}-a.json"
    assessment.write_text(run("assess --json", "assess", *answers, "--client", client, *common, "--json"))
    printed.pop("assess --json")
    products = [line.split(",")[0] for line in (EXAMPLES / "catalog.csv").read_text().splitlines()[1:]]
    for product in products:
        for who in ("client", "firm"):
            run(f"decide {product} {who}", "decide", "--assessment", str(assessment), "--catalog", catalog,
                "--product-id", product, "--client", client, "--initiated-by", who, *common)  # fmt: skip
    decision = work / f"{lang}-d.json"
    decision.write_text(
        runner.invoke(
            cli,
            [
                "decide",
                "--assessment",
                str(assessment),
                "--catalog",
                catalog,
                "--product-id",
                "FUND-EQ-01",
                "--client",
                client,
                "--initiated-by",
                "client",
                *common,
                "--json",
            ],
        ).stdout
    )
    run("confirm", "confirm", "--decision", str(decision), "--ack", "我已知晓风险，坚持购买", "--actor", "staff-07",
        "--channel", "branch", "--as-of", "2026-11-28", "--log", log)  # fmt: skip
    run("recommend", "recommend", "--assessment", str(assessment), "--catalog", catalog, "--client", client, *common)
    report = work / f"{lang}.html"
    run("audit report", "audit", "report", str(demo_log), "--out", str(report), "--tz", "Asia/Shanghai")
    printed["report.html"] = visible_text(report.read_text(encoding="utf-8"))
    # Before and after a change: the impact of a draft, the questionnaire statistics, a re-check.
    draft = work / "draft.json"
    draft.write_text(json.dumps(draft_document(), ensure_ascii=False), encoding="utf-8")
    impact_html, stats_html = work / f"{lang}-impact.html", work / f"{lang}-stats.html"
    run("audit impact", "audit", "impact", str(demo_log), "--questionnaire", str(draft), "--out", str(impact_html))
    printed["impact.html"] = visible_text(impact_html.read_text(encoding="utf-8"))
    run("questionnaire stats", "questionnaire", "stats", str(demo_log), "--questionnaire",
        "cn-securities-individual@2026.1", "--out", str(stats_html))  # fmt: skip
    printed["stats.html"] = visible_text(stats_html.read_text(encoding="utf-8"))
    sales = work / f"{lang}-sales.sqlite3"
    sales_log(sales)[0].close()
    run("audit recheck", "audit", "recheck", str(sales), "--catalog", str(rerated_catalog(work)), "--record",
        "--actor", "staff-07", "--as-of", "2026-06-01")  # fmt: skip
    return printed


@pytest.mark.parametrize("lang", ["zh-CN", "zh-Hant"])
def test_chinese_output_has_no_english_words(lang: str, tmp_path: Path, demo_log: Path) -> None:
    registry = Registry.default(environ={})
    ids = {e.id for kind in ("questionnaire", "policy") for e in registry.entries(kind)}
    ids |= {"branch", "staff-07", "CN-000123"}  # the channel and actor given on the command line
    ids |= {"CN-A", "CN-B"}  # the clients of the re-check's sales
    questionnaire = registry.questionnaire("cn-securities-individual").model
    ids |= {q.id for q in questionnaire.questions} | {o.id for q in questionnaire.questions for o in q.options}
    printed = outputs(lang, tmp_path, demo_log)
    found = {label: english_words(text, ids) for label, text in printed.items()}
    assert {label: words for label, words in found.items() if words} == {}
    assert "短期" in printed["recommend"] or "中期" in printed["recommend"]  # values named: 产品期限（短期）
    assert "(short)" not in printed["recommend"] and "（short）" not in printed["recommend"]


def test_zh_hant_is_traditional_throughout_the_cli_and_the_report(tmp_path: Path, demo_log: Path) -> None:
    printed = outputs("zh-Hant", tmp_path, demo_log)
    assert "風險承受能力" in printed["assess"] and "风险承受能力" not in printed["assess"].split("\n")[2]
    assert "適當性決策日誌審閱報告" in printed["report.html"] and "报告" not in printed["report.html"]
    assert "完整性" in printed["report.html"] and "客戶堅持購買的確認" in printed["report.html"]
    assert "問卷有效性證據" in printed["report.html"] and "维度" not in printed["report.html"]
    assert "草案影響評估" in printed["impact.html"] and "最低類別" in printed["impact.html"]
    assert "風險承受能力類別遷移" in printed["impact.html"] and "客戶" in printed["impact.html"]
    assert "重放" in printed["audit impact"] and "評估" in printed["audit impact"]
    assert "問卷有效性證據" in printed["stats.html"] and "維度" in printed["questionnaire stats"]
    assert "不再適當" in printed["audit recheck"] and "產品風險重新評級" in printed["audit recheck"]
    for label in ("impact.html", "stats.html", "audit impact", "questionnaire stats", "audit recheck"):
        assert not set("评问维风险产户类迁确认录这须") & set(printed[label]), label  # no Simplified form


def test_a_document_with_zh_hant_texts_is_shown_in_them(tmp_path: Path) -> None:
    """Bundled documents have no zh-Hant texts (they fall back to zh-CN); a document that has them shows them."""
    document = json.loads((ROOT / "policies" / "cn-csrc" / "2026.1.json").read_text(encoding="utf-8"))
    document["id"] = "hk-test"
    document["title"]["zh-Hant"] = "香港測試匹配規則"
    document["messages"]["RISK_ABOVE_PROFILE"]["zh-Hant"] = "產品風險等級 {risk_level} 高於您的風險承受能力 {profile}。"
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "hk.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    shown = runner.invoke(cli, ["--documents", str(folder), "policy", "show", "hk-test", "--lang", "zh-Hant"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("香港測試匹配規則")
    assert "RISK_ABOVE_PROFILE: 產品風險等級" in shown.stdout
    assert "HORIZON_MISMATCH: 产品期限" in shown.stdout  # no zh-Hant text: the zh-CN one
    bundled = runner.invoke(cli, ["policy", "show", "cn-csrc", "--lang", "zh-Hant"])
    assert bundled.stdout.startswith("证券期货经营机构投资者适当性匹配规则")  # falls back to zh-CN
    assert "投資期限" in bundled.stdout  # while the CLI's own labels are Traditional


def test_errors_speak_the_language_chosen_and_keep_their_details_and_code(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    args = [
        "assess",
        "--questionnaire",
        "cn-securities-individual",
        "--answers",
        str(bad),
        "--log",
        str(tmp_path / "l"),
    ]
    zh = runner.invoke(cli, [*args, "--lang", "zh-CN"], env={"SUITABILITY_LANG": None})
    assert zh.exit_code == 3 and zh.stderr.startswith("错误（输入错误，退出码 3；详情为英文）: ")
    assert "bad.json" in zh.stderr and "invalid JSON" in zh.stderr
    hant = runner.invoke(cli, [*args, "--lang", "zh-Hant"], env={"SUITABILITY_LANG": None})
    assert hant.stderr.startswith("錯誤（輸入錯誤，退出碼 3；詳情為英文）: ")
    plain = runner.invoke(cli, args, env={"SUITABILITY_LANG": None})
    assert plain.stderr.startswith("error: ")  # no language chosen: the stable prefix scripts match
