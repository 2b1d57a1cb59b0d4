"""The ``suitability`` command line: a thin layer over the library.

Each command parses its arguments, calls one library function and renders the result, as JSON
(``--json``) for machines or a short table for people, in ``--lang zh-CN|en``. Every
:class:`~suitability.errors.SuitabilityError` is printed without a traceback and exits with its
stable code (see ``suitability.errors``); click's usage errors exit 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel

from . import __version__
from .codec import content_hash, read_json
from .errors import InputError, Problem, ProductError, ResponseError, SuitabilityError
from .matching import Decision, Evidence, confirm, decide, recommend
from .models import LANGUAGES, Assessment, Client, Response, parse_model
from .policy import Policy, load_policy
from .product import Product, check_against, load_catalog, parse_product
from .questionnaire import QuestionDoc, Questionnaire, load_questionnaire
from .registry import Registry
from .scoring import assess, check_answer, next_question

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERNAL = 70


class _Group(click.Group):
    """A group that turns library errors into a message and a stable exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SuitabilityError as exc:
            click.echo(f"error: {exc.render()}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: say so plainly, keep the traceback for SUITABILITY_DEBUG
            if os.environ.get("SUITABILITY_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(EXIT_INTERNAL)


def _lang_option(func: F) -> F:
    return click.option(
        "--lang",
        type=click.Choice(LANGUAGES),
        default=lambda: os.environ.get("SUITABILITY_LANG", "zh-CN"),
        show_default="zh-CN, or $SUITABILITY_LANG",
        help="Language of the text people read.",
    )(func)


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")(func)


def _as_of_option(func: F) -> F:
    return click.option(
        "--as-of",
        "as_of",
        metavar="DATE",
        help="The instant the result is for: YYYY-MM-DD (midnight UTC) or an ISO 8601 datetime. Default: now.",
    )(func)


def _parse_as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            "invalid --as-of",
            [Problem(f"expected YYYY-MM-DD or an ISO 8601 datetime, found {value!r}")],
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _registry(ctx: click.Context) -> Registry:
    registry: Registry = ctx.find_object(Registry) or ctx.ensure_object(Registry)
    return registry


def _questionnaire(ctx: click.Context, ref: str, allow_retired: bool = True) -> Questionnaire:
    registry = _registry(ctx)
    if Path(ref).is_file():
        result: Questionnaire = registry.load_file("questionnaire", ref, allow_retired=allow_retired)
        return result
    return registry.questionnaire(ref, allow_retired=allow_retired)


def _policy(ctx: click.Context, ref: str, allow_retired: bool = True) -> Policy:
    registry = _registry(ctx)
    if Path(ref).is_file():
        result: Policy = registry.load_file("policy", ref, allow_retired=allow_retired)
        return result
    return registry.policy(ref, allow_retired=allow_retired)


def _emit_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _table(rows: Sequence[Sequence[str]]) -> str:
    def width(text: str) -> int:
        return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)

    widths = [max(width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--documents",
    "folders",
    multiple=True,
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Also register every questionnaire and policy under DIR (repeatable; "
    "$SUITABILITY_DOCUMENTS is read too, folders separated as in PATH).",
)
@click.version_option(__version__, prog_name="suitability")
@click.pass_context
def cli(ctx: click.Context, folders: tuple[str, ...]) -> None:
    """Investor suitability: score questionnaires into C1–C5, match products R1–R5.

    \b
    Example:
      suitability assess --questionnaire cn-securities-individual --answers examples/answers.json
    """
    ctx.obj = Registry.default(folders)


# --- questionnaires and policies -------------------------------------------------------------


def _document_commands(kind: str, loader: Callable[[Any, str | None], Any]) -> click.Group:
    @click.group(name=kind)
    def group() -> None:
        pass

    group.help = f"List, show, validate and hash {kind} documents."

    @group.command("list")
    @_lang_option
    @_json_option
    @click.pass_context
    def list_(ctx: click.Context, lang: str, as_json: bool) -> None:
        entries = _registry(ctx).entries(kind)
        if as_json:
            _emit_json(
                [
                    {
                        "id": e.id,
                        "version": e.version,
                        "status": e.status,
                        "effective_from": e.effective_from,
                        "hash": e.hash,
                        "source": e.source,
                        "title": e.document.get("title"),
                    }
                    for e in entries
                ]
            )
            return
        rows = [["ID", "VERSION", "STATUS", "EFFECTIVE", "HASH", "TITLE"]]
        rows += [
            [
                e.id,
                e.version,
                e.status,
                e.effective_from,
                e.hash[:19],
                str((e.document.get("title") or {}).get(lang, "")),
            ]
            for e in entries
        ]
        click.echo(_table(rows))

    list_.help = f"List the registered {kind} documents.\n\n\b\nExample:\n  suitability {kind} list --lang en"

    @group.command("validate")
    @click.argument("files", nargs=-1, required=True, type=click.Path())
    def validate(files: tuple[str, ...]) -> None:
        failed: SuitabilityError | None = None
        for file in files:
            try:
                doc = loader(read_json(file), file)
            except SuitabilityError as exc:
                failed = failed or exc
                click.echo(f"INVALID {exc.render()}")
                continue
            click.echo(f"ok {file}: {doc.id}@{doc.version} {doc.hash}")
        if failed is not None:
            sys.exit(failed.exit_code)

    validate.help = (
        f"Validate {kind} FILES, printing every problem with its JSON Pointer; exit 0 only when all are valid."
        f"\n\n\b\nExample:\n  suitability {kind} validate my-{kind}.json"
    )

    @group.command("hash")
    @click.argument("file", type=click.Path())
    def hash_(file: str) -> None:
        click.echo(content_hash(read_json(file)))

    hash_.help = (
        "Print sha256:<hex> over the RFC 8785 canonical bytes of FILE (key order and whitespace do not count)."
        f"\n\n\b\nExample:\n  suitability {kind} hash my-{kind}.json"
    )
    return group


questionnaire_group = _document_commands("questionnaire", load_questionnaire)
policy_group = _document_commands("policy", load_policy)
cli.add_command(questionnaire_group)
cli.add_command(policy_group)


@questionnaire_group.command("show")
@click.argument("ref", metavar="ID[@VERSION]|FILE")
@_lang_option
@_json_option
@click.pass_context
def questionnaire_show(ctx: click.Context, ref: str, lang: str, as_json: bool) -> None:
    """Show a questionnaire: its questions, options and scores, bands and rules.

    \b
    Example:
      suitability questionnaire show cn-securities-individual --lang en
    """
    q = _questionnaire(ctx, ref)
    if as_json:
        _emit_json(q.document)
        return
    m = q.model
    click.echo(f"{m.title[lang]}\n{q.id}@{q.version} ({q.status}, from {m.effective_from}) {q.hash}")
    if m.description:
        click.echo(m.description[lang])
    for number, question in enumerate(m.questions, start=1):
        kind = {
            "single": "",
            "multi": f" [multi {question.aggregate}{f', cap {question.cap}' if question.cap else ''}]",
        }[question.type]
        cond = f" (when {json.dumps(question.enable_when, ensure_ascii=False)})" if question.enable_when else ""
        click.echo(f"\n{number}. {question.text[lang]}  <{question.id}, {question.dimension}>{kind}{cond}")
        for option in question.options:
            ko = " KNOCKOUT→C1 lowest category" if option.knockout else ""
            click.echo(f"   - {option.id}: {option.text[lang]} ({option.score}){ko}")
    click.echo("\n" + _table([[b.profile, f"{b.min}–{b.max}", (b.name or {}).get(lang, "")] for b in m.bands]))
    for rule in m.rules:
        click.echo(f"rule {rule.id}: cap {rule.cap}: {rule.reason[lang]}")
    for check in m.consistency:
        click.echo(f"consistency {check.id}: {check.message[lang]}")


@policy_group.command("show")
@click.argument("ref", metavar="ID[@VERSION]|FILE")
@_lang_option
@_json_option
@click.pass_context
def policy_show(ctx: click.Context, ref: str, lang: str, as_json: bool) -> None:
    """Show a policy: its matrix, limits and messages.

    \b
    Example:
      suitability policy show cn-csrc --lang en
    """
    p = _policy(ctx, ref)
    if as_json:
        _emit_json(p.document)
        return
    m = p.model
    click.echo(f"{m.title[lang]}\n{p.id}@{p.version} ({p.status}, from {m.effective_from}) {p.hash}")
    if m.description:
        click.echo(m.description[lang])
    click.echo("\n" + _table([["PROFILE", "MAY BUY"]] + [[c, " ".join(m.matrix[c])] for c in m.profiles]))
    care = f"age >= {m.special_care.min_age} and >= {m.special_care.from_risk}" if m.special_care else "none"
    facts = [
        ["horizons", " < ".join(m.horizons)],
        ["varieties", f"{', '.join(m.varieties)} ({m.variety_mode})"],
        [
            "assessment validity",
            f"{m.assessment_validity_days} days" if m.assessment_validity_days else "none",
        ],
        ["lowest category at most", m.lowest_category_max_risk],
        ["professional may buy all", str(m.professional_may_buy_all).lower()],
        ["special care", care],
        ["mismatch (client / firm)", f"{m.on_mismatch.client} / {m.on_mismatch.firm}"],
    ]
    click.echo("\n" + _table(facts))
    click.echo("")
    for code, text in m.messages.items():
        click.echo(f"{code}: {text[lang]}")


# --- assessing ----------------------------------------------------------------------------------


def _read_model(model: type[Any], file: str, error: type[SuitabilityError]) -> Any:
    return parse_model(model, read_json(file), file, error)


def _ask(q: Questionnaire, question: QuestionDoc, lang: str, number: int) -> str | list[str] | None:
    click.echo(f"\n{number}. {question.text[lang]}")
    ids = [o.id for o in question.options]
    for i, option in enumerate(question.options, start=1):
        click.echo(f"  {i}) {option.text[lang]}")
    hint = {"zh-CN": "可多选，用逗号分隔", "en": "choose one or more, separated by commas"}[lang]
    single = {"zh-CN": "请输入序号", "en": "enter a number"}[lang]
    prompt = hint if question.type == "multi" else single
    while True:
        text = click.prompt(prompt, default="" if not question.required else None, show_default=False).strip()
        if not text and not question.required:
            return None
        picks = [p.strip() for p in text.split(",") if p.strip()]
        chosen = [ids[int(p) - 1] if p.isdigit() and 1 <= int(p) <= len(ids) else p for p in picks]
        value: str | list[str] = chosen if question.type == "multi" else (chosen[0] if len(chosen) == 1 else chosen)
        problem = check_answer(q, question.id, value)
        if problem is None:
            return value
        click.echo({"zh-CN": "无效的回答：", "en": "Invalid answer: "}[lang] + problem, err=True)


def _interactive_answers(q: Questionnaire, lang: str) -> dict[str, str | list[str]]:
    answers: dict[str, str | list[str]] = {}
    skipped: set[str] = set()
    click.echo(q.model.title[lang])
    while (question := next_question(q, answers, frozenset(skipped))) is not None:
        value = _ask(q, question, lang, len(answers) + len(skipped) + 1)
        if value is None:
            skipped.add(question.id)
        else:
            answers[question.id] = value
    return answers


def _render_assessment(q: Questionnaire, a: Assessment, lang: str) -> None:
    band_names = {b.profile: (b.name or {}).get(lang, "") for b in q.model.bands}
    lowest = {"zh-CN": "（风险承受能力最低类别）", "en": " (lowest category)"}[lang] if a.lowest_category else ""
    rows = [
        ["assessment", a.id],
        ["client", a.client_id or "-"],
        ["profile", f"{a.profile} {band_names.get(a.profile, '')}{lowest}"],
        ["score", str(a.score)],
        *[[f"  {d}", str(s)] for d, s in a.dimension_scores.items()],
        ["horizon", a.horizon or "-"],
        ["varieties", ", ".join(a.varieties) or "-"],
        ["assessed at", a.assessed_at.isoformat()],
        ["valid until", a.valid_until.isoformat() if a.valid_until else "-"],
        [
            "questionnaire",
            f"{a.questionnaire.id}@{a.questionnaire.version} {a.questionnaire.hash[:19]}",
        ],
    ]
    click.echo(_table(rows))
    for rule in a.rules_fired:
        click.echo(f"rule {rule.id}: {rule.reason[lang]}")
    for violation in a.consistency_violations:
        click.echo(f"INCONSISTENT {violation.id}: {violation.message[lang]}")


@cli.command("assess")
@click.option(
    "--questionnaire",
    "questionnaire_ref",
    required=True,
    metavar="ID[@VERSION]|FILE",
    help="The questionnaire.",
)
@click.option(
    "--answers",
    "answers_file",
    type=click.Path(),
    help="Answers file; without it the questions are asked here.",
)
@click.option(
    "--client",
    "client_file",
    type=click.Path(),
    help="Client facts (client_id, investor_type, birth_date, full_civil_capacity).",
)
@_as_of_option
@_lang_option
@_json_option
@click.pass_context
def assess_command(
    ctx: click.Context,
    questionnaire_ref: str,
    answers_file: str | None,
    client_file: str | None,
    as_of: str | None,
    lang: str,
    as_json: bool,
) -> None:
    """Score answers into a risk profile C1–C5.

    The answers file is {"answers": {"<question id>": "<option id>" | ["<option id>", ...]}}.

    \b
    Example:
      suitability assess --questionnaire cn-securities-individual \\
          --answers examples/answers.json --client examples/client.json --as-of 2026-11-28
    """
    q = _questionnaire(ctx, questionnaire_ref, allow_retired=False)
    client = _read_model(Client, client_file, ResponseError) if client_file else None
    if answers_file:
        response = _read_model(Response, answers_file, ResponseError)
        source = answers_file
    else:
        response = Response(answers=_interactive_answers(q, lang))
        source = "<terminal>"
    assessment = assess(q, response, client, _parse_as_of(as_of), source=source)
    if as_json:
        _emit_json(assessment)
    else:
        _render_assessment(q, assessment, lang)


# --- deciding -----------------------------------------------------------------------------------


def _render_decision(d: Decision, lang: str) -> None:
    label = {
        "suitable": {"zh-CN": "适当", "en": "suitable"},
        "requires_confirmation": {
            "zh-CN": "需客户确认（特别风险警示后）",
            "en": "requires the client's confirmation after a special warning",
        },
        "blocked": {"zh-CN": "禁止销售", "en": "blocked"},
    }[d.outcome][lang]
    click.echo(
        _table(
            [
                ["decision", d.id],
                ["outcome", f"{d.outcome} ({label})"],
                ["product", f"{d.product.id} {d.product.name[lang]} {d.product.risk_level}"],
                ["client", f"{d.client.client_id} ({d.client.investor_type})"],
                ["initiated by", d.initiated_by],
                ["as of", d.as_of.isoformat()],
                ["policy", f"{d.policy.id}@{d.policy.version}"],
            ]
        )
    )
    for reason in d.reasons:
        click.echo(f"reason {reason.code} [{reason.dimension}]: {reason.text[lang]}")
    for warning in d.warnings:
        click.echo(f"WARNING {warning.code}: {warning.text[lang]}")


def _product(product_file: str | None, catalog_file: str | None, product_id: str | None) -> Product:
    if product_file and not catalog_file and not product_id:
        return parse_product(read_json(product_file), "product", product_file)
    if catalog_file and product_id and not product_file:
        for product in load_catalog(catalog_file):
            if product.id == product_id:
                return product
        raise ProductError(
            f"{catalog_file}: no product {product_id!r}",
            [Problem(f"expected a product with id {product_id!r}, found none", source=catalog_file)],
        )
    raise click.UsageError("give either --product FILE, or --catalog FILE with --product-id ID")


def _questionnaire_status(ctx: click.Context, assessment: Assessment) -> str:
    ref = assessment.questionnaire
    registry = _registry(ctx)
    for entry in registry.entries("questionnaire"):
        if entry.id == ref.id and entry.version == ref.version:
            return entry.status
    return "active"


_policy_option = click.option(
    "--policy",
    "policy_ref",
    default="cn-csrc",
    show_default=True,
    metavar="ID[@VERSION]|FILE",
    help="The matching policy.",
)


@cli.command("decide")
@click.option(
    "--assessment",
    "assessment_file",
    required=True,
    type=click.Path(),
    help="Assessment JSON (from assess --json).",
)
@click.option("--product", "product_file", type=click.Path(), help="One product as JSON.")
@click.option("--catalog", "catalog_file", type=click.Path(), help="A catalog (.json, .jsonl or .csv).")
@click.option("--product-id", help="The product's id in --catalog.")
@click.option("--client", "client_file", required=True, type=click.Path(), help="Client facts JSON.")
@click.option(
    "--initiated-by",
    type=click.Choice(["client", "firm"]),
    required=True,
    help="Who started the sale.",
)
@_policy_option
@_as_of_option
@_lang_option
@_json_option
@click.pass_context
def decide_command(
    ctx: click.Context,
    assessment_file: str,
    product_file: str | None,
    catalog_file: str | None,
    product_id: str | None,
    client_file: str,
    initiated_by: str,
    policy_ref: str,
    as_of: str | None,
    lang: str,
    as_json: bool,
) -> None:
    """Decide whether a product suits an assessed client: suitable, requires_confirmation or blocked.

    \b
    Example:
      suitability decide --assessment a.json --catalog examples/catalog.csv --product-id FUND-EQ-01 \\
          --client examples/client.json --initiated-by client --lang en
    """
    assessment = _read_model(Assessment, assessment_file, InputError)
    client = _read_model(Client, client_file, ResponseError)
    product = _product(product_file, catalog_file, product_id)
    policy = _policy(ctx, policy_ref)
    decision = decide(
        assessment,
        product,
        client,
        policy,
        "client" if initiated_by == "client" else "firm",
        _parse_as_of(as_of),
        questionnaire_status=_questionnaire_status(ctx, assessment),
    )
    if as_json:
        _emit_json(decision)
    else:
        _render_decision(decision, lang)


@cli.command("confirm")
@click.option(
    "--decision",
    "decision_file",
    required=True,
    type=click.Path(),
    help="Decision JSON (from decide --json).",
)
@click.option("--ack", required=True, help="The client's acknowledgement, in their words.")
@click.option("--actor", required=True, help="Who took the confirmation.")
@click.option("--channel", required=True, help="Where: branch, app, phone…")
@click.option("--evidence-id", help="双录 recording id.")
@click.option("--evidence-sha256", help="SHA-256 (hex) of the recording.")
@_lang_option
@_json_option
def confirm_command(
    decision_file: str,
    ack: str,
    actor: str,
    channel: str,
    evidence_id: str | None,
    evidence_sha256: str | None,
    lang: str,
    as_json: bool,
) -> None:
    """Record a client's insistence on a requires_confirmation decision, after its warnings (shown in --lang).

    \b
    Example:
      suitability confirm --decision d.json --ack "我已知晓风险，坚持购买" --actor staff-07 --channel branch
    """
    decision = _read_model(Decision, decision_file, InputError)
    evidence = None
    if evidence_id or evidence_sha256:
        if not (evidence_id and evidence_sha256):
            raise click.UsageError("--evidence-id and --evidence-sha256 go together")
        evidence = parse_model(
            Evidence,
            {"recording_id": evidence_id, "sha256": evidence_sha256},
            "--evidence",
            InputError,
        )
    confirmation = confirm(decision, ack, actor, channel, evidence, language="en" if lang == "en" else "zh-CN")
    if as_json:
        _emit_json(confirmation)
        return
    for warning in decision.warnings:
        click.echo(f"WARNING {warning.code}: {warning.text[lang]}")
    click.echo(
        _table(
            [
                ["confirmation", confirmation.id],
                ["decision", confirmation.decision_id],
                ["warnings hash", confirmation.warnings_hash],
                ["actor / channel", f"{actor} / {channel}"],
                ["confirmed at", confirmation.confirmed_at.isoformat()],
                ["evidence", f"{evidence.recording_id} {evidence.sha256}" if evidence else "-"],
            ]
        )
    )


@cli.command("recommend")
@click.option("--assessment", "assessment_file", required=True, type=click.Path(), help="Assessment JSON.")
@click.option(
    "--catalog",
    "catalog_file",
    required=True,
    type=click.Path(),
    help="A catalog (.json, .jsonl or .csv).",
)
@click.option("--client", "client_file", required=True, type=click.Path(), help="Client facts JSON.")
@_policy_option
@_as_of_option
@_lang_option
@_json_option
@click.pass_context
def recommend_command(
    ctx: click.Context,
    assessment_file: str,
    catalog_file: str,
    client_file: str,
    policy_ref: str,
    as_of: str | None,
    lang: str,
    as_json: bool,
) -> None:
    """List only the catalog's products that are suitable for the client, each with why it fits.

    \b
    Example:
      suitability recommend --assessment a.json --catalog examples/catalog.csv --client examples/client.json
    """
    assessment = _read_model(Assessment, assessment_file, InputError)
    client = _read_model(Client, client_file, ResponseError)
    policy = _policy(ctx, policy_ref)
    catalog = load_catalog(catalog_file)
    for product in catalog:
        check_against(product, policy)
    found = recommend(
        assessment,
        catalog,
        client,
        policy,
        _parse_as_of(as_of),
        questionnaire_status=_questionnaire_status(ctx, assessment),
    )
    if as_json:
        _emit_json(found)
        return
    if not found:
        click.echo({"zh-CN": "没有适合的产品。", "en": "No suitable product."}[lang])
    for item in found:
        click.echo(f"{item.product.id} {item.product.name[lang]} {item.product.risk_level}")
        for fit in item.fits:
            click.echo(f"  - {fit.text[lang]}")


def main() -> None:
    """Entry point of the ``suitability`` script."""
    cli(prog_name="suitability")
