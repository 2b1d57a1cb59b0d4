"""The command line, through click's CliRunner and through one real subprocess."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from suitability.cli import FORMATS, cli

from .conftest import DATA, EXAMPLES, QUESTIONNAIRE_FILE, ROOT, load

ANSWERS = str(EXAMPLES / "answers.json")
CLIENT = str(EXAMPLES / "client.json")
CATALOG = str(EXAMPLES / "catalog.csv")
ASSESSMENT_FIELDS = {
    "id", "client_id", "profile", "score", "dimension_scores", "lowest_category", "rules_fired",
    "consistency_violations", "horizon", "varieties", "assessed_at", "valid_until", "questionnaire",
}  # fmt: skip


@pytest.fixture(autouse=True)
def own_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test records into a log of its own."""
    log = tmp_path / "test-log.sqlite3"
    monkeypatch.setenv("SUITABILITY_LOG", str(log))
    return log


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input, env={"SUITABILITY_DOCUMENTS": "", **(env or {})})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def assess_json(tmp_path: Path, *extra: str) -> Path:
    result = run("assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS, "--client", CLIENT,
                 "--as-of", "2026-11-28", "--json", *extra)  # fmt: skip
    assert result.exit_code == 0, result.output
    path = tmp_path / "assessment.json"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += all_commands(command, (*prefix, name))
        else:
            found.append(((*prefix, name), command))
    return found


@pytest.mark.parametrize(
    ("path", "command"), all_commands(cli), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_every_command_is_documented_with_an_example(path: tuple[str, ...], command: click.Command) -> None:
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"suitability {' '.join(path)}" in result.output


def test_questionnaire_list_and_show() -> None:
    listing = run("questionnaire", "list", "--lang", "en")
    assert "cn-securities-individual" in listing.output
    assert "active" in listing.output
    shown = run("questionnaire", "show", "cn-securities-individual", "--lang", "en")
    assert "What is your age?" in shown.output
    assert "KNOCKOUT" in shown.output
    assert "C5" in shown.output
    zh = run("questionnaire", "show", "cn-securities-individual@2026.1", "--lang", "zh-CN")
    assert "您的年龄是？" in zh.output
    as_json = run("questionnaire", "show", str(QUESTIONNAIRE_FILE), "--json")
    assert json.loads(as_json.stdout) == load(QUESTIONNAIRE_FILE)


def test_questionnaire_validate_reports_every_problem() -> None:
    ok = run("questionnaire", "validate", str(QUESTIONNAIRE_FILE))
    assert ok.exit_code == 0
    assert ok.output.startswith("ok ")
    bad = run("questionnaire", "validate", str(QUESTIONNAIRE_FILE), str(DATA / "questionnaire-many-problems.json"))
    assert bad.exit_code == 4
    for pointer in ("/questions/1/id", "/questions/2/dimension", "/bands/2/min", "/derive/horizon/map"):
        assert pointer in bad.output
    assert "7 problem(s)" in bad.output
    unreadable = run("questionnaire", "validate", str(DATA / "answers-invalid-json.json"))
    assert unreadable.exit_code == 3
    assert ":4:21" in unreadable.output


def test_hash_ignores_layout(tmp_path: Path) -> None:
    doc = load(QUESTIONNAIRE_FILE)
    (tmp_path / "compact.json").write_text(json.dumps(dict(reversed(list(doc.items())))), encoding="utf-8")
    one = run("questionnaire", "hash", str(QUESTIONNAIRE_FILE)).output.strip()
    two = run("questionnaire", "hash", str(tmp_path / "compact.json")).output.strip()
    assert one == two
    assert one.startswith("sha256:")
    assert len(one) == 71


def test_policy_commands() -> None:
    assert "cn-bank-wm" in run("policy", "list").output
    shown = run("policy", "show", "cn-csrc", "--lang", "en")
    assert "C3       R1 R2 R3" in shown.output
    assert "age >= 65 and >= R4" in shown.output
    bad = run("policy", "validate", str(DATA / "policy-not-monotone.json"))
    assert bad.exit_code == 4
    assert "/matrix/C3" in bad.output
    assert run("policy", "hash", str(ROOT / "policies" / "cn-csrc" / "2026.1.json")).output.startswith("sha256:")


def test_assess_table_and_json(tmp_path: Path) -> None:
    table = run(
        "assess",
        "--questionnaire",
        "cn-securities-individual",
        "--answers",
        ANSWERS,
        "--lang",
        "en",
        "--as-of",
        "2026-11-28",
    )
    assert table.exit_code == 0
    assert "C3 Balanced" in table.output
    assert "53" in table.output
    data = json.loads(assess_json(tmp_path).read_text())
    assert set(data) == ASSESSMENT_FIELDS
    assert data["profile"] == "C3"
    assert data["client_id"] == "CN-000123"
    assert data["assessed_at"] == "2026-11-28T00:00:00Z"


def test_assess_with_a_questionnaire_file_and_extra_folders(tmp_path: Path) -> None:
    doc = load(QUESTIONNAIRE_FILE)
    doc.update(version="2027.1", effective_from="2027-01-01")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "q.json").write_text(json.dumps(doc), encoding="utf-8")
    for args, env in [(("--documents", str(folder)), {}), ((), {"SUITABILITY_DOCUMENTS": str(folder)})]:
        result = run(
            *args, "assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS, "--json", env=env
        )
        assert json.loads(result.stdout)["questionnaire"]["version"] == "2027.1"
    direct = run("assess", "--questionnaire", str(folder / "q.json"), "--answers", ANSWERS, "--json")
    assert json.loads(direct.stdout)["questionnaire"]["version"] == "2027.1"


BAD_INPUTS = [
    ("answers-invalid-json.json", 3, "invalid JSON"),
    ("answers-bom.json", 3, "byte order mark"),
    ("answers-not-utf8.json", 3, "0xff"),
    ("answers-duplicate-key.json", 3, "'age' twice"),
    ("answers-nan.json", 3, "NaN"),
    ("answers-deeply-nested.json", 3, "deep"),
    ("answers-oversize.json", 3, "input too large"),
    ("answers-not-object.json", 6, "valid Response"),
    ("answers-wrong-type.json", 6, "found int 31"),
    ("answers-unknown-question.json", 6, "unknown question 'favourite_colour'"),
    ("answers-unknown-option.json", 6, "unknown option(s) ['get_rich_quick']"),
    ("answers-disabled-question.json", 6, "enable_when disables"),
    ("answers-missing-required.json", 6, "/answers/horizon: expected an answer"),
    ("answers-several-for-single.json", 6, "found a list of 2"),
]


@pytest.mark.parametrize(("name", "code", "fragment"), BAD_INPUTS)
def test_bad_answers_get_a_clear_error_and_a_stable_code(name: str, code: int, fragment: str) -> None:
    result = run("assess", "--questionnaire", "cn-securities-individual", "--answers", str(DATA / name))
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert fragment in result.stderr
    assert name in result.stderr  # where: the file


@pytest.mark.parametrize(
    ("questionnaire", "code", "fragment"),
    [
        (str(DATA / "questionnaire-retired.json"), 5, "is retired"),
        ("no-such-questionnaire", 5, "no active questionnaire"),
        ("cn-securities-individual@1999.1", 5, "versions of cn-securities-individual"),
        ("../x", 5, "no path characters"),
        (str(DATA / "questionnaire-path-id.json"), 5, "plain id"),
        (str(DATA / "questionnaire-schema-problems.json"), 4, "/bands/0/profile"),
    ],
)
def test_bad_questionnaires(questionnaire: str, code: int, fragment: str) -> None:
    result = run("assess", "--questionnaire", questionnaire, "--answers", ANSWERS)
    assert result.exit_code == code
    assert fragment in result.stderr


def test_bad_client_and_as_of() -> None:
    bad_client = run(
        "assess",
        "--questionnaire",
        "cn-securities-individual",
        "--answers",
        ANSWERS,
        "--client",
        str(DATA / "client-bad.json"),
    )
    assert bad_client.exit_code == 6
    assert "/client_id" in bad_client.stderr
    assert "/investor_type" in bad_client.stderr
    assert "/birth_date" in bad_client.stderr
    bad_date = run(
        "assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS, "--as-of", "yesterday"
    )
    assert bad_date.exit_code == 3
    assert "YYYY-MM-DD" in bad_date.stderr
    missing = run("assess", "--answers", ANSWERS)
    assert missing.exit_code == 2


def test_interactive_assess_reasks_invalid_answers() -> None:
    answers: dict[str, Any] = load(EXAMPLES / "answers.json")["answers"]
    from suitability import Registry

    q = Registry.default(environ={}).questionnaire("cn-securities-individual")
    lines = []
    for question in q.model.questions:
        if question.id not in answers:
            continue
        ids = [o.id for o in question.options]
        value = answers[question.id]
        picks = [value] if isinstance(value, str) else value
        lines.append(",".join(str(ids.index(p) + 1) for p in picks))
    lines.insert(0, "9")  # no ninth option for the first question: asked again
    lines.insert(1, "1,2")  # two options for a single-choice question: asked again
    result = run("assess", "--questionnaire", "cn-securities-individual", "--lang", "en", "--as-of", "2026-11-28", "--json",
                 "--client", CLIENT, input="\n".join([*lines, "y"]) + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr.count("[1/20] What is your age?") == 1
    assert "Invalid answer" in result.stderr
    assert "How often do you trade derivatives?" not in result.stderr
    assert json.loads(result.stdout)["score"] == 53  # the questions went to stderr: stdout is the JSON alone


def test_decide_confirm_recommend(tmp_path: Path) -> None:
    assessment = assess_json(tmp_path)
    common = ("--assessment", str(assessment), "--client", CLIENT, "--as-of", "2026-11-29")
    table = run(
        "decide",
        *common,
        "--catalog",
        CATALOG,
        "--product-id",
        "FUND-EQ-01",
        "--initiated-by",
        "client",
        "--lang",
        "en",
    )
    assert table.exit_code == 0
    assert "requires_confirmation" in table.output
    assert "WARNING SPECIAL_CARE_REQUIRED: You are 68" in table.output
    firm = run(
        "decide", *common, "--catalog", CATALOG, "--product-id", "FUND-EQ-01", "--initiated-by", "firm", "--json"
    )
    assert json.loads(firm.stdout)["outcome"] == "blocked"
    as_json = run(
        "decide", *common, "--catalog", CATALOG, "--product-id", "FUND-EQ-01", "--initiated-by", "client", "--json"
    )
    decision = tmp_path / "decision.json"
    decision.write_text(as_json.stdout, encoding="utf-8")
    confirmed = run("confirm", "--decision", str(decision), "--ack", "我已知晓风险，坚持购买", "--actor", "staff-07",
                    "--channel", "branch", "--evidence-id", "REC-1", "--evidence-sha256", "ab" * 32, "--json",
                    "--as-of", "2026-11-29T00:10:00Z")  # fmt: skip
    data = json.loads(confirmed.stdout)
    assert data["decision_id"] == json.loads(as_json.stdout)["id"]
    assert data["evidence"] == {"recording_id": "REC-1", "sha256": "ab" * 32}
    (tmp_path / "blocked.json").write_text(firm.stdout, encoding="utf-8")
    refused = run(
        "confirm", "--decision", str(tmp_path / "blocked.json"), "--ack", "x", "--actor", "a", "--channel", "b"
    )
    assert refused.exit_code == 8
    assert "found blocked" in refused.stderr
    half = run(
        "confirm", "--decision", str(decision), "--ack", "x", "--actor", "a", "--channel", "b", "--evidence-id", "R"
    )
    assert half.exit_code == 2
    listed = run("recommend", *common, "--catalog", CATALOG, "--lang", "en")
    assert listed.output.splitlines()[0] == "MMF-01 Money-market fund R1"
    assert "FUND-EQ-01" not in listed.output
    product_file = tmp_path / "product.json"
    product_file.write_text(json.dumps(load(DATA / "product-unknown-variety.json")), encoding="utf-8")
    unknown = run("decide", *common, "--product", str(product_file), "--initiated-by", "client")
    assert unknown.exit_code == 7
    assert "/variety" in unknown.stderr
    missing = run("decide", *common, "--catalog", CATALOG, "--product-id", "NOPE", "--initiated-by", "client")
    assert missing.exit_code == 7
    assert "NOPE" in missing.stderr
    neither = run("decide", *common, "--initiated-by", "client")
    assert neither.exit_code == 2
    bad_csv = run("recommend", *common, "--catalog", str(DATA / "catalog-missing-column.csv"))
    assert bad_csv.exit_code == 7
    assert "missing ['variety']" in bad_csv.stderr


def test_real_subprocess(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "suitability", "assess", "--questionnaire", "cn-securities-individual",
               "--answers", ANSWERS, "--client", CLIENT, "--as-of", "2026-11-28", "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["profile"] == "C3"
    failed = subprocess.run(
        [*command[:7], str(DATA / "answers-duplicate-key.json")], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 3
    assert "Traceback" not in failed.stderr
    assert "'age' twice" in failed.stderr


def test_decide_refuses_facts_other_than_the_assessments(tmp_path: Path) -> None:
    # A salesperson names the client a professional at decide time to lift the risk limit.
    assessment = assess_json(tmp_path)
    facts = load(EXAMPLES / "client.json")
    liar = tmp_path / "pro.json"
    liar.write_text(json.dumps({**facts, "investor_type": "professional"}), encoding="utf-8")
    result = run("decide", "--assessment", str(assessment), "--catalog", CATALOG, "--product-id", "FUND-EQ-01",
                 "--client", str(liar), "--initiated-by", "client", "--as-of", "2026-11-28", "--lang", "en")  # fmt: skip
    assert result.exit_code == 8, result.output
    assert "/client/investor_type" in result.output and "new assessment" in result.output


def test_an_empty_pseudonym_key_is_refused_not_taken_as_off(tmp_path: Path) -> None:
    result = run("assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS, "--client", CLIENT,
                 "--as-of", "2026-11-28", env={"SUITABILITY_PSEUDONYM_KEY": ""})  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "pseudonymization key is empty" in result.output


# --- issue 10: bad input gets a clean error, never exit 70 or a hang -----------------------------

BAD_FOLDER = DATA / "documents-bad-file"
SUITABILITY = [sys.executable, "-m", "suitability"]


def _subprocess(*args: str | bytes, timeout: float = 60, memory: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a real process; ``timeout`` only keeps a hang from stalling the suite."""

    def limit() -> None:
        if memory is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    done = subprocess.run(
        [*SUITABILITY, *args], capture_output=True, check=False, timeout=timeout, preexec_fn=limit if memory else None
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )


ASSESS = ("assess", "--questionnaire", "cn-securities-individual", "--client", CLIENT, "--as-of", "2026-11-28")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (("assess", "--questionnaire", "cn-securities-individual", "--answers", str(DATA / "answers-multi-object.json")),
         6, "found [{}]"),
        (("assess", "--questionnaire", "cn-securities-individual", "--answers", str(DATA / "answers-overflow-number.json")),
         3, "1e400 (it overflows to infinity)"),
        (("assess", "--questionnaire", "cn-securities-individual", "--answers", str(DATA / "answers-lone-surrogate-key.json")),
         3, "lone surrogate"),
        (("questionnaire", "hash", str(DATA / "questionnaire-lone-surrogate-key.json")), 3, "lone surrogate"),
        (("questionnaire", "validate", str(DATA / "questionnaire-any-of-list.json")), 4, "found ['derivatives']"),
        (("questionnaire", "validate", str(DATA / "questionnaire-superscript-key.json")), 4, "/derive/horizon/map/²"),
        ((*ASSESS, "--answers", ANSWERS, "--as-of", "9999-12-31"), 3, "before the year 10000"),
        ((*ASSESS, "--answers", ANSWERS, "--as-of", "9999-12-31T23:00:00-05:00"), 3, "between the years 1 and 9999"),
        ((*ASSESS, "--answers", ANSWERS, "--actor", "staff-\u202e70"), 3, "RIGHT-TO-LEFT OVERRIDE"),
        ((*ASSESS, "--answers", ANSWERS, "--actor", " "), 3, "only white space"),
        (("assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS, "--as-of", "2026-11-28",
          "--client", str(DATA / "client-birth-future.json")), 6, "/birth_date"),
        (("assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS,
          "--client", str(DATA / "client-birth-zero.json")), 6, "expected a date YYYY-MM-DD"),
        (("assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS,
          "--client", str(DATA / "client-id-bidi.json")), 6, "/client_id"),
    ],
    ids=["multi-object", "1e400", "surrogate-answers", "surrogate-hash", "any-of-list", "superscript-key",
         "as-of-9999", "as-of-offset", "actor-bidi", "actor-blank", "birth-future", "birth-zero", "client-bidi"],
)  # fmt: skip
def test_bad_input_that_crashed_or_passed_gets_a_clean_error(args: tuple[str, ...], code: int, fragment: str) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert fragment in result.output


@pytest.mark.parametrize(
    ("catalog", "code", "fragment"),
    [
        ("catalog-superscript-term.csv", 7, "found '²'"),
        ("catalog-fullwidth-term.csv", 7, "found '１２'"),
        ("catalog-long-field.csv", 3, "catalog-long-field.csv:2: expected CSV, found: field larger than field limit"),
        ("catalog-negative-term.json", 7, "found -6"),
    ],
)
def test_bad_catalog_terms_and_fields(tmp_path: Path, catalog: str, code: int, fragment: str) -> None:
    assessment = assess_json(tmp_path)
    result = run("decide", "--assessment", str(assessment), "--catalog", str(DATA / catalog), "--product-id", "BOND-X",
                 "--client", CLIENT, "--initiated-by", "client", "--as-of", "2026-11-29")  # fmt: skip
    assert result.exit_code == code, result.output
    assert fragment in result.stderr


def test_confirm_refuses_ids_a_person_would_misread(tmp_path: Path) -> None:
    assessment = assess_json(tmp_path)
    decided = run("decide", "--assessment", str(assessment), "--catalog", CATALOG, "--product-id", "FUND-EQ-01",
                  "--client", CLIENT, "--initiated-by", "client", "--as-of", "2026-11-29", "--json")  # fmt: skip
    decision = tmp_path / "decision.json"
    decision.write_text(decided.stdout, encoding="utf-8")
    base = [
        "confirm",
        "--decision",
        str(decision),
        "--ack",
        "我已知晓风险，坚持购买",
        "--actor",
        "staff-07",
        "--channel",
        "branch",
        "--as-of",
        "2026-11-29T01:00:00Z",
    ]
    for option, value in [("--actor", "staff\u200b-07"), ("--channel", "bran\u0007ch"), ("--channel", "\t")]:
        args = [*base]
        args[args.index(option) + 1] = value
        refused = run(*args)
        assert refused.exit_code == 3, refused.output
        assert f"invalid {option}" in refused.stderr
    evidence = run(*base, "--evidence-id", "REC-1\u2066", "--evidence-sha256", "ab" * 32)
    assert evidence.exit_code == 3
    assert "U+2066" in evidence.stderr
    assert run(*base).exit_code == 0


def test_non_utf8_arguments_are_refused_in_a_real_process(tmp_path: Path) -> None:
    """Python hands argv bytes that are not UTF-8 over as lone surrogates: confirm crashed (exit 70)."""
    log = str(tmp_path / "log.sqlite3")
    done = _subprocess(*ASSESS, "--answers", ANSWERS, "--json", "--log", log)
    assessment = tmp_path / "a.json"
    assessment.write_text(done.stdout, encoding="utf-8")
    done = _subprocess("decide", "--assessment", str(assessment), "--catalog", CATALOG, "--product-id", "FUND-EQ-01",
                       "--client", CLIENT, "--initiated-by", "client", "--as-of", "2026-11-29", "--json", "--log", log)  # fmt: skip
    decision = tmp_path / "d.json"
    decision.write_text(done.stdout, encoding="utf-8")
    confirm = [
        "confirm",
        "--decision",
        str(decision),
        "--log",
        log,
        "--ack",
        "ok",
        "--actor",
        "staff-07",
        "--channel",
        "app",
    ]
    for option in ("--actor", "--channel", "--ack"):
        args: list[str | bytes] = [*confirm]
        args[args.index(option) + 1] = b"staff-\xff"
        failed = _subprocess(*args)
        assert failed.returncode == 3, failed.stderr
        assert "not UTF-8" in failed.stderr or "bytes that are not" in failed.stderr
        assert f"invalid {option}" in failed.stderr
        assert "Traceback" not in failed.stderr
    actor = _subprocess(*ASSESS, "--answers", ANSWERS, "--log", log, "--actor", b"staff-\xff")
    assert actor.returncode == 3
    assert "invalid --actor" in actor.stderr


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    """/dev/zero grew memory without bound; a FIFO without a writer hung forever."""
    log = str(tmp_path / "log.sqlite3")
    zero = _subprocess(*ASSESS, "--answers", "/dev/zero", "--log", log, memory=1 << 30)
    assert zero.returncode == 3, zero.stderr
    assert "expected a regular file, found a character device" in zero.stderr
    fifo = tmp_path / "answers.json"
    os.mkfifo(fifo)
    piped = _subprocess(*ASSESS, "--answers", str(fifo), "--log", log)
    assert piped.returncode == 3, piped.stderr
    assert "expected a regular file, found a FIFO" in piped.stderr
    docs = tmp_path / "docs"
    docs.mkdir()
    os.mkfifo(docs / "pipe.json")
    under = _subprocess("--documents", str(docs), *ASSESS, "--answers", ANSWERS, "--log", log)
    assert under.returncode == 0, under.stderr
    assert "warning: skipped" in under.stderr and "pipe.json" in under.stderr


def test_a_bad_file_under_documents_does_not_stop_other_work(tmp_path: Path, own_log: Path) -> None:
    assess_json(tmp_path)
    verified = run("--documents", str(BAD_FOLDER), "audit", "verify", str(own_log), "--allow-no-checkpoint")
    assert verified.exit_code == 0, verified.output
    assert "warning" not in verified.stderr  # audit needs no registry: nothing was read
    assessed = run("--documents", str(BAD_FOLDER), *ASSESS, "--answers", ANSWERS, "--json")
    assert assessed.exit_code == 0, assessed.output
    assert json.loads(assessed.stdout)["profile"] == "C3"
    assert "warning: skipped" in assessed.stderr
    assert "notes.json" in assessed.stderr and "invalid JSON" in assessed.stderr
    own = run("--documents", str(BAD_FOLDER), "questionnaire", "show", "cn-broken")
    assert own.exit_code == 3
    assert "cn-broken/2026.1.json" in own.stderr


def test_without_as_of_the_engine_s_clock_is_the_only_clock_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --as-of: the CLI passes none, so the Engine's clock (Engine(clock=)) dates every result."""
    import functools

    import suitability.engine
    from suitability.engine import Engine

    then = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    monkeypatch.setattr(suitability.engine, "Engine", functools.partial(Engine, clock=lambda: then))
    assessed = run("assess", "--questionnaire", "cn-securities-individual", "--answers", ANSWERS,
                   "--client", CLIENT, "--json")  # fmt: skip
    assert assessed.exit_code == 0, assessed.output
    assert json.loads(assessed.stdout)["assessed_at"] == "2031-05-06T07:08:09Z"
    assessment = tmp_path / "a.json"
    assessment.write_text(assessed.stdout, encoding="utf-8")
    decided = run("decide", "--assessment", str(assessment), "--client", CLIENT, "--catalog", CATALOG,
                  "--product-id", "FUND-EQ-01", "--initiated-by", "client", "--json")  # fmt: skip
    assert decided.exit_code == 0, decided.output
    assert json.loads(decided.stdout)["as_of"] == "2031-05-06T07:08:09Z"


def test_as_of_without_an_offset_is_still_utc_on_the_command_line() -> None:
    assessed = run(*ASSESS[:-2], "--answers", ANSWERS, "--as-of", "2026-11-28T10:00:00", "--json")
    assert assessed.exit_code == 0, assessed.output
    assert json.loads(assessed.stdout)["assessed_at"] == "2026-11-28T10:00:00Z"


# --- issue 14: the branch flow, output formats, encodings, cold start ----------------------------


def _typed_answers() -> list[str]:
    """The example answers as a person types them: option numbers, one question a line."""
    answers: dict[str, Any] = load(EXAMPLES / "answers.json")["answers"]
    from suitability import Registry

    q = Registry.default(environ={}).questionnaire("cn-securities-individual")
    lines = []
    for question in q.model.questions:
        if question.id in answers:
            ids = [o.id for o in question.options]
            value = answers[question.id]
            lines.append(",".join(str(ids.index(p) + 1) for p in ([value] if isinstance(value, str) else value)))
    return lines


FACTS = ["CN-000123", "1", "1958-05-01", "y"]  # examples/client.json, typed


def test_interactive_assess_feeds_decide_and_confirm_by_id(tmp_path: Path, own_log: Path) -> None:
    """The questions go to stderr, the assessment alone to stdout, then decide and confirm by id."""
    # a blank client id, investor type 9, month 13 and "maybe" for capacity: each asked again
    typed = ["", *FACTS[:1], "9", "1", "1958-13-01", "1958-05-01", "maybe", "y"]
    done = run("assess", "--questionnaire", "cn-securities-individual", "--lang", "en", "--as-of", "2026-11-28",
               "--json", input="\n".join([*typed, *_typed_answers(), "y"]) + "\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assessment = json.loads(done.stdout)  # nothing but the assessment on stdout
    assert assessment["client_id"] == "CN-000123" and assessment["score"] == 53
    assert done.stderr.count("Invalid answer") == 3  # type 9, month 13, "maybe" (a blank id is simply asked again)
    assert "[1/20]" in done.stderr and "[19/20]" in done.stderr
    assert f"suitability decide --assessment {assessment['id']}" in done.stderr
    decided = run("decide", "--assessment", assessment["id"], "--catalog", CATALOG, "--product-id", "FUND-EQ-01",
                  "--initiated-by", "client", "--as-of", "2026-11-29", "--json")  # fmt: skip
    assert decided.exit_code == 0, decided.output
    decision = json.loads(decided.stdout)
    assert decision["outcome"] == "requires_confirmation"
    assert f"suitability confirm --decision {decision['id']}" in decided.stderr
    recording = tmp_path / "recording.mp4"
    recording.write_bytes(b"\x00video" * 100_000)
    confirmed = run("confirm", "--decision", decision["id"], "--ack", "我已知晓风险，坚持购买", "--actor", "staff-07",
                    "--channel", "branch", "--evidence-id", "REC-1", "--evidence-file", str(recording),
                    "--as-of", "2026-11-29T00:10:00Z", "--lang", "en")  # fmt: skip
    assert confirmed.exit_code == 0, confirmed.output
    assert hashlib.sha256(recording.read_bytes()).hexdigest() in confirmed.stdout
    assert "WARNING SPECIAL_CARE_REQUIRED" in confirmed.stdout
    listed = run("recommend", "--assessment", assessment["id"], "--catalog", CATALOG, "--as-of", "2026-11-29",
                 "--format", "csv")  # fmt: skip
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[0] == "product,name,risk_level,decision,fits"


def test_an_id_not_in_the_log_is_refused(tmp_path: Path) -> None:
    unknown = run("decide", "--assessment", "asm_0000", "--catalog", CATALOG, "--product-id", "FUND-EQ-01",
                  "--initiated-by", "client")  # fmt: skip
    assert unknown.exit_code == 8 and "asm_0000 is not in the decision log" in unknown.stderr
    missing = run("confirm", "--decision", "nothing-here.json", "--ack", "x", "--actor", "a", "--channel", "b")
    assert missing.exit_code == 3 and "found nothing at this path" in missing.stderr


def test_going_back_and_editing_before_anything_is_recorded(own_log: Path) -> None:
    typed = _typed_answers()
    # b at the first question says so; answer 1, go back, answer 2 instead (then the rest);
    # at the review, change question 1 back to the example's answer, keep every other (Enter).
    lines = [*FACTS, "b", "1", "<", "2", *typed[1:], "1", typed[0], *[""] * (len(typed) - 1), "y"]
    done = run("assess", "--questionnaire", "cn-securities-individual", "--lang", "en", "--as-of", "2026-11-28",
               "--json", input="\n".join(lines) + "\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "This is the first question." in done.stderr
    assert done.stderr.count("Review your answers") == 2
    assert json.loads(done.stdout)["score"] == 53  # the example's answers, after the edit


@pytest.mark.parametrize(("lang", "message"), [("en", "nothing was recorded"), ("zh-CN", "未记录任何内容")])
def test_eof_or_quitting_records_nothing(own_log: Path, tmp_path: Path, lang: str, message: str) -> None:
    assess_json(tmp_path)  # the log already holds a record
    before = own_log.read_bytes()
    ended = run("assess", "--questionnaire", "cn-securities-individual", "--lang", lang,
                input="\n".join([*FACTS, "1", "2"]) + "\n")  # fmt: skip
    assert ended.exit_code == 3 and message in ended.stderr
    ended_line = {"en": "The input ended before the last question", "zh-CN": "输入在最后一题之前结束"}[lang]
    assert any(line.startswith(("error", "错误")) and ended_line in line for line in ended.stderr.splitlines())
    quit_ = run("assess", "--questionnaire", "cn-securities-individual", "--lang", lang,
                input="\n".join([*FACTS, *_typed_answers(), "q"]) + "\n")  # fmt: skip
    assert quit_.exit_code == 130 and message in quit_.stderr
    assert own_log.read_bytes() == before


def test_ctrl_c_in_a_real_terminal_session_records_nothing_and_exits_130(tmp_path: Path) -> None:
    import signal
    import time

    log = tmp_path / "log.sqlite3"
    env = {**os.environ, "SUITABILITY_LOG": str(log), "PYTHONPATH": str(ROOT), "SUITABILITY_DOCUMENTS": ""}
    command = [sys.executable, "-m", "suitability", "assess", "--questionnaire", "cn-securities-individual",
               "--lang", "zh-CN"]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, cwd=tmp_path)  # fmt: skip
    assert process.stdin is not None and process.stderr is not None
    process.stdin.write("\n".join([*FACTS, "1"]).encode() + b"\n")
    process.stdin.flush()
    seen = b""
    while b"[2/20]" not in seen:  # wait until it asks the second question
        chunk = os.read(process.stderr.fileno(), 4096)
        assert chunk, seen.decode()
        seen += chunk
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "已中断：未记录任何内容。" in (seen + err).decode()
    assert out == b""
    assert not log.exists() or subprocess.run(
        [sys.executable, "-c", f"import sqlite3; print(sqlite3.connect({str(log)!r}).execute('select count(*) from records').fetchone()[0])"],
        capture_output=True, text=True, check=False,
    ).stdout.strip() in ("", "0")  # fmt: skip


def test_evidence_file_is_hashed_streaming_and_must_be_regular(tmp_path: Path) -> None:
    from suitability.codec import sha256_file

    big = tmp_path / "rec.bin"
    big.write_bytes(os.urandom(3 << 20))
    assert sha256_file(big) == hashlib.sha256(big.read_bytes()).hexdigest()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused = run("confirm", "--decision", "dec_x", "--ack", "x", "--actor", "a", "--channel", "b",
                  "--evidence-id", "REC-1", "--evidence-file", str(fifo))  # fmt: skip
    assert refused.exit_code == 3 and "FIFO" in refused.stderr
    both = run("confirm", "--decision", "dec_x", "--ack", "x", "--actor", "a", "--channel", "b", "--evidence-id",
               "REC-1", "--evidence-file", str(big), "--evidence-sha256", "ab" * 32)  # fmt: skip
    assert both.exit_code == 2
    helped = run("confirm", "--help")
    assert "双录" in helped.stdout and "--evidence-file" in helped.stdout and "SHA-256" in helped.stdout


def test_every_listing_and_checking_command_takes_one_format_option(tmp_path: Path, own_log: Path) -> None:
    assess_json(tmp_path)
    for args in (["questionnaire", "list"], ["policy", "list"], ["audit", "verify", str(own_log), "--allow-no-checkpoint"],
                 ["audit", "replay", str(own_log)], ["audit", "query", str(own_log)]):  # fmt: skip
        for fmt in FORMATS:
            done = run(*args, "--format", fmt)
            assert done.exit_code == 0, (args, fmt, done.output)
            if fmt == "json":
                json.loads(done.stdout)
                assert run(*args, "--json").stdout == done.stdout  # --json stays an alias
            elif fmt == "jsonl":
                [json.loads(line) for line in done.stdout.splitlines()]
            elif fmt == "csv":
                assert list(csv.reader(io.StringIO(done.stdout)))
        excel = run(*args, "--format", "csv", "--excel")
        assert excel.stdout_bytes.startswith(b"\xef\xbb\xbf")
    assert run("questionnaire", "list", "--excel").exit_code == 2
    assert run("questionnaire", "list", "--json", "--format", "csv").exit_code == 2


def test_tables_are_aligned() -> None:
    table = run("policy", "list", "--lang", "en").stdout.splitlines()
    starts = {line.index("active") for line in table[1:]}
    assert len(table) > 2 and len(starts) == 1
    assert table[0].index("STATUS") == starts.pop()


@pytest.mark.parametrize(("encoding", "data"), [("utf-8-sig", b"\xef\xbb\xbf"), ("gb18030", b"")])
def test_catalogs_and_answers_from_excel_with_encoding(tmp_path: Path, encoding: str, data: bytes) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_bytes(data + Path(CATALOG).read_text(encoding="utf-8").encode("gb18030" if data == b"" else "utf-8"))
    answers = tmp_path / "answers.json"
    answers.write_bytes(data + Path(ANSWERS).read_text(encoding="utf-8").encode("gb18030" if data == b"" else "utf-8"))
    strict = run("assess", "--questionnaire", "cn-securities-individual", "--answers", str(answers), "--client", CLIENT)
    assessment = assess_json(tmp_path)
    if data:  # a BOM is refused unless the encoding says to expect one
        assert strict.exit_code == 3 and "BOM" in strict.stderr
    refused = run("recommend", "--assessment", str(assessment), "--catalog", str(catalog), "--as-of", "2026-11-29")
    assert refused.exit_code == 3
    taken = run("recommend", "--assessment", str(assessment), "--catalog", str(catalog), "--as-of", "2026-11-29",
                "--encoding", encoding, "--lang", "zh-CN")  # fmt: skip
    assert taken.exit_code == 0, taken.output
    assert "货币市场基金" in taken.stdout or "MMF-01" in taken.stdout
    read = run("assess", "--questionnaire", "cn-securities-individual", "--answers", str(answers), "--client", CLIENT,
               "--encoding", encoding, "--json")  # fmt: skip
    assert read.exit_code == 0, read.output


def test_the_cli_s_own_copies_of_library_values_agree() -> None:
    """The option values the CLI offers before importing the library are the library's."""
    from suitability import cli as module
    from suitability.codec import ENCODINGS
    from suitability.log import DEFAULT_LOG
    from suitability.review import OUTCOMES, TIMES, demo

    assert module.DEFAULT_LOG == DEFAULT_LOG
    assert (tuple(OUTCOMES), tuple(TIMES)) == (module.OUTCOMES, module.TIMES)
    assert (module.DEMO_CLIENTS, module.DEMO_SEED) == (demo.CLIENTS, demo.SEED)
    assert module.ENCODINGS == ENCODINGS


def test_help_imports_no_heavy_module() -> None:
    """Cold start: --help of any command loads neither the rules nor the log, cryptography, jsonschema or rich."""
    probe = (
        "import sys; from suitability.cli import cli\n"
        "try:\n    cli(['audit', 'verify', '--help'])\nexcept SystemExit: pass\n"
        "heavy = ['suitability.engine', 'suitability.models', 'suitability.log.sqlite', 'cryptography', 'jsonschema', 'rich', 'orjson']\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_document_lists_in_csv_give_the_title_in_the_language_asked() -> None:
    """A CSV cell is text a spreadsheet shows: the title in --lang, not the document's dict of languages."""
    for kind in ("questionnaire", "policy"):
        for lang, title in (("en", "Individual investor"), ("zh-CN", "个人投资者")):
            done = CliRunner().invoke(cli, [kind, "list", "--format", "csv", "--lang", lang])
            assert done.exit_code == 0, done.output
            rows = list(csv.DictReader(io.StringIO(done.stdout)))
            assert rows and all(not row["title"].startswith("{") for row in rows)
            if kind == "questionnaire":
                cn = next(row for row in rows if row["id"] == "cn-securities-individual")
                assert cn["title"].startswith(title), cn["title"]
        listed = CliRunner().invoke(cli, [kind, "list", "--format", "jsonl"])
        assert all(set(json.loads(line)["title"]) >= {"zh-CN", "en"} for line in listed.stdout.splitlines())
