"""The ``suitability`` command line: a thin layer over the library.

Each command parses its arguments, calls one library function and renders the result, for people
(an aligned table, ``--format table``, in ``--lang zh-CN|en``) or machines (``--format
json|jsonl|csv``; ``--json`` is kept as an alias). Every
:class:`~suitability.errors.SuitabilityError` is printed without a traceback and exits with its
stable code (see ``suitability.errors``); click's usage errors exit 2, Ctrl-C exits 130.

Cold start: only click and the error tree are imported here; each command imports the library
modules it needs inside its body (``benchmarks/bench_cli.py`` measures it against ``import click,
pydantic``), so ``suitability audit verify`` never loads the rules and ``--help`` loads nothing.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from .__about__ import __version__
from .errors import DocumentError, InputError, PairWarning, Problem, ResponseError, SuitabilityError
from .i18n import FALLBACK, LANGUAGES, Message, name, pick, pN_, tr

if TYPE_CHECKING:
    from .engine import Engine
    from .log import LogStore
    from .log.checkpoint import Checkpoint, Verifier
    from .matching import Decision, Reason
    from .models import Assessment, Client
    from .policy import Policy
    from .product import Product
    from .questionnaire import QuestionDoc, Questionnaire
    from .registry import Registry

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

# Values the options offer before any library module is imported (cold start); tests/test_cli.py
# checks each against the library's own.
DEFAULT_LOG = "suitability-log.sqlite3"  # suitability.log.DEFAULT_LOG
OUTCOMES = ("suitable", "requires_confirmation", "blocked", "confirmed", "assessed", "inconsistent", "rechecked")
TIMES = ("recorded", "as-of")  # suitability.review.query.OUTCOMES and TIMES
DEMO_CLIENTS, DEMO_SEED = 500, 1  # suitability.review.demo.CLIENTS and SEED
FORMATS = ("table", "json", "jsonl", "csv")
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")


class _Group(click.Group):
    """A group that turns library errors into a message and a stable exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SuitabilityError as exc:
            # a damaged record's own text can be in the message: each line is made safe to show
            shown = "\n".join(_safe(line) for line in exc.render().split("\n"))
            click.echo(f"{_error_label(ctx, exc)}: {shown}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except (KeyboardInterrupt, click.exceptions.Abort):  # Ctrl-C, or q at a review
            # A recording command appends its result in one transaction at its very end: nothing was
            # recorded. Others (demo, checkpoint, export) may have done part of their work: say less.
            said = "interrupted" if ctx.meta.get(_RECORDS) else "interrupted_plain"
            click.echo("\n" + _text(said, _lang_of(ctx)), err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly
            sys.stderr.close()
            ctx.exit(0)
        except Exception as exc:  # a bug: say so plainly, keep the traceback for SUITABILITY_DEBUG
            if os.environ.get("SUITABILITY_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            ctx.exit(EXIT_INTERNAL)


def _lang_of(ctx: click.Context) -> str:
    """The --lang of the command that ran (or $SUITABILITY_LANG), for messages outside it."""
    lang = os.environ.get("SUITABILITY_LANG", "zh-CN")
    found = ctx.meta.get(_LANG_KEY)
    return found if found in LANGUAGES else lang if lang in LANGUAGES else "zh-CN"


# The texts this module shows people that the library does not: catalog messages (suitability/locale),
# rendered in the run's --lang.
_TEXTS: dict[str, Message] = {
    "interrupted": Message("Interrupted: nothing was recorded."),
    "interrupted_plain": Message("Interrupted."),
    "input_ended": Message("The input ended before the last question: nothing was recorded."),
    "next_decide": Message("Next (match a product):"),
    "next_confirm": Message("Next (if the client insists, record the confirmation):"),
    "client_facts": Message("Client facts"),
    "client_id": Message("Client id"),
    "investor_type": Message("Investor type (1 ordinary, 2 professional)"),
    "birth_date": Message("Birth date (YYYY-MM-DD)"),
    "capacity": Message("Full civil capacity (y/n)"),
    "multi": Message("choose one or more, separated by commas; b goes back"),
    "single": Message("enter a number; b goes back"),
    "optional": Message(" (optional: press Enter to skip)"),
    "first": Message("This is the first question."),
    "review": Message("Review your answers"),
    "skipped": Message("(skipped)"),
    "record_or_edit": Message("Enter y to record, or a question number to change it (q to quit)"),
}


def _text(key: str, lang: str) -> str:
    return _TEXTS[key][lang]


_LANG_KEY = "suitability.lang-value"
_RECORDS = "suitability.records"  # set by the commands that record one result (assess, decide, confirm, recommend)


def _recording(ctx: click.Context) -> None:
    ctx.find_root().meta[_RECORDS] = True


_LANG = "suitability.lang"

#: What each exit code means, named in the error line of a command run in a --lang.
_ERROR_KINDS = {
    3: pN_("error_kind", "input error"),
    4: pN_("error_kind", "document error"),
    5: pN_("error_kind", "registry error"),
    6: pN_("error_kind", "response error"),
    7: pN_("error_kind", "product error"),
    8: pN_("error_kind", "decision error"),
    9: pN_("error_kind", "log error"),
    10: pN_("error_kind", "integrity error"),
}


def _error_label(ctx: click.Context, exc: SuitabilityError) -> str:
    """``error`` in English; in another --lang, the CLI's own words (the library's details stay English)."""
    command: click.Context | None = ctx.meta.get(_LANG)
    # The language chosen (--lang or $SUITABILITY_LANG); without a choice it stays "error", which scripts match.
    lang = "en"
    if command is not None and (
        "SUITABILITY_LANG" in os.environ
        or command.get_parameter_source("lang") is click.core.ParameterSource.COMMANDLINE
    ):
        lang = command.params.get("lang", "en")
    if lang == "en":
        return "error"
    kind = _ERROR_KINDS.get(exc.exit_code)
    what = name(lang, "error_kind", kind) if kind else ""
    return tr(lang, "error ({kind}, exit {code}; details in English)", kind=what, code=exc.exit_code)


def _remember_lang(ctx: click.Context, param: click.Parameter, value: str) -> str:
    ctx.meta[_LANG] = ctx  # shared by the whole run: the error line speaks the command's --lang
    ctx.meta[_LANG_KEY] = value
    return value


def _lang_option(func: F) -> F:
    return click.option(
        "--lang",
        type=click.Choice(LANGUAGES),
        default=lambda: os.environ.get("SUITABILITY_LANG", "zh-CN"),
        show_default="zh-CN, or $SUITABILITY_LANG",
        callback=_remember_lang,
        help="Language of the text people read (zh-Hant: documents without it are shown in zh-CN).",
    )(func)


def _json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of a table.")(func)


class Output(NamedTuple):
    """How a command prints: the format, and for CSV whether Excel gets its byte order mark."""

    format: str
    excel: bool = False

    @property
    def table(self) -> bool:
        return self.format == "table"


def _format_options(*choices: str) -> Callable[[F], F]:
    """``--format`` (with ``--json`` its alias, and ``--excel`` for CSV), handed to the command as ``out``."""
    choices = choices or FORMATS

    def apply(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, fmt: str | None, as_json: bool, excel: bool = False, **kwargs: Any) -> Any:
            if as_json:
                if fmt not in (None, "json"):
                    raise click.UsageError(f"--json is --format json; found --format {fmt} as well")
                fmt = "json"
            fmt = fmt or "table"
            if excel and fmt != "csv":
                raise click.UsageError("--excel applies to --format csv")
            return func(*args, out=Output(fmt, excel), **kwargs)

        decorated: Any = wrapper
        if "csv" in choices:
            decorated = click.option(
                "--excel", is_flag=True, help="With --format csv: start with a UTF-8 byte order mark, as Excel expects."
            )(decorated)
        decorated = click.option("--json", "as_json", is_flag=True, help="The same as --format json.")(decorated)
        decorated = click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default=None,
            help=f"Output: {', '.join(choices)} [default: table].",
        )(decorated)
        return decorated  # type: ignore[no-any-return]

    return apply


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """Fold a stack of option decorators into one, listed in --help in the order given."""

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """``--as-of`` as an instant; a datetime without an offset is UTC (the CLI's rule since its first day)."""
    from .models import parse_instant

    return None if value is None else parse_instant(value, naive="utc", name="--as-of")


def _as_of_option(func: F) -> F:
    return click.option(
        "--as-of",
        "as_of",
        metavar="DATE",
        callback=_instant,
        help="The instant the result is for: YYYY-MM-DD (midnight UTC) or an ISO 8601 datetime. Default: now.",
    )(func)


def _log_option(func: F) -> F:
    return click.option(
        "--log",
        "log",
        metavar="PATH",
        default=lambda: os.environ.get("SUITABILITY_LOG", DEFAULT_LOG),
        show_default=f"{DEFAULT_LOG} in the current folder, or $SUITABILITY_LOG",
        help="The decision log the result is recorded in before it is shown.",
    )(func)


def _engine(ctx: click.Context, log: str) -> Engine:
    from .engine import Engine
    from .log import open_store

    key = os.environ.get("SUITABILITY_PSEUDONYM_KEY")  # set but empty is refused by the Engine, never "off"
    store = ctx.with_resource(open_store(log))
    return Engine(_registry(ctx), store, pseudonym_key=None if key is None else key.encode())


_FOLDERS = "suitability.documents"


def _registry(ctx: click.Context) -> Registry:
    """The run's registry, built on first use: commands that need none (``audit``) never read a document."""
    from .registry import Registry

    registry = ctx.find_object(Registry)
    if registry is None:
        root = ctx.find_root()
        registry = root.obj = Registry.default(
            root.meta.get(_FOLDERS, ()), on_problem=_warn_skipped, on_warning=_warn_pair
        )
    return registry


def _warn_skipped(file: Path, error: SuitabilityError) -> None:
    click.echo(f"warning: skipped {file}: {error.render()}", err=True)


#: What a questionnaire and policy pair cannot do, by the code of check_pair's warning, in the run's --lang.
_PAIR_PROBLEMS = {
    "NOTHING_DERIVED": pN_("pair_problem", "derives nothing for a dimension the policy matches on"),
    "UNKNOWN_CATEGORY": pN_("pair_problem", "derives a category the policy does not know"),
    "LEVEL_UNREACHABLE": pN_("pair_problem", "a level of the scale that no answer set reaches"),
    "LEVEL_UNSOLD": pN_("pair_problem", "a product risk level that no profile may buy"),
}


def _pair_warning_text(warning: PairWarning, lang: str) -> str:
    """A pair's warning for stderr: ``warning:`` (which scripts match), then the run's --lang; the
    details of each problem stay English, as in the error line."""
    head = tr(
        lang,
        "policy {policy} used with questionnaire {questionnaire} cannot do everything:",
        policy=warning.policy,
        questionnaire=warning.questionnaire,
    )
    lines = [f"warning: {head}"]
    for problem in warning.problems:
        what = _PAIR_PROBLEMS.get(problem.code)
        said = name(lang, "pair_problem", what) if what and lang != "en" else ""
        lines.append(f"  {problem.code}: {said + ' | ' if said else ''}{problem.message}")
    return "\n".join(lines)


def _warn_pair(warning: PairWarning) -> None:
    """Print a questionnaire and policy pair's warning on stderr, once per pair: the exit code is unchanged."""
    ctx = click.get_current_context(silent=True)
    lang = _lang_of(ctx) if ctx is not None else os.environ.get("SUITABILITY_LANG", "zh-CN")
    click.echo(_pair_warning_text(warning, lang if lang in LANGUAGES else "zh-CN"), err=True)


def _utf8(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse free text that was not UTF-8 on the command line (Python hands it over as lone surrogates)."""
    if value is not None and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(
                f"invalid {param.opts[0] if param.opts else param.name}",
                [Problem(f"expected UTF-8 text, found bytes that are not at position {exc.start} of {value!r}")],
            ) from None
    return value


def _identifier(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an --actor (and the like) that a person could misread: see ``models.identifier_problem``."""
    if value is None:
        return None
    from .models import identifier_problem

    problem = identifier_problem(value)
    if problem is not None:
        raise InputError(
            f"invalid {param.opts[0] if param.opts else param.name}", [Problem(problem, code="IDENTIFIER_INVALID")]
        )
    return value


_actor_option = click.option(
    "--actor",
    "actor",
    default=None,
    callback=_identifier,
    help="Who handled it (staff id or system), recorded for reviewers.",
)
#: What every recorded call takes after its own options: when, how to show it, where to record it, who.
_recorded_call_options = _options(
    _as_of_option, _lang_option, _format_options("table", "json"), _log_option, _actor_option
)
_output_options = _options(_lang_option, _format_options())
_log_argument = click.argument("log", metavar="LOG")
_encoding_option = click.option(
    "--encoding",
    type=click.Choice(ENCODINGS, case_sensitive=False),
    default="utf-8",
    show_default=True,
    help="How input files are encoded: utf-8-sig for Excel's UTF-8 (with a byte order mark), gb18030 for Excel's Chinese.",
)


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _emit_json(value: Any) -> None:
    click.echo(_json_text(_plain(value), indent=2))


# Terminal control: CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC strings, other
# escapes, then any C0 or C1 control left (the 8-bit CSI 0x9B among them) and the bidi controls
# that reorder what a reader sees. Each becomes U+FFFD, so a reader sees that something was there.
_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _shown(char: str) -> bool:
    """Whether a character is shown as itself: printable (:meth:`str.isprintable`) or a space."""
    return char.isprintable() or unicodedata.category(char) == "Zs"


def _safe(value: Any) -> str:
    """A value as text a terminal shows as text: no control sequence reaches it raw, and no character
    that is not shown as itself (line and paragraph separators, zero-width and other format
    characters, tag characters, private-use and unassigned code points) hides in it unseen."""
    text = value if isinstance(value, str) else str(value)
    # every character _CONTROL matches first is a control or format character, which Python never
    # calls printable: most text is returned as it is after one scan in C
    if text.isprintable():
        return text
    text = _CONTROL.sub("\ufffd", text)
    return text if text.isprintable() else "".join(c if _shown(c) else "\ufffd" for c in text)


def _json_text(value: Any, indent: int | None = None) -> str:
    """``value`` as JSON whose every character a terminal shows as itself: a character in a string
    that :func:`_safe` would replace is written as its ``\\u`` escape instead (the JSON still reads
    back to the same value), so no C1 control, bidi override or line separator reaches the reader
    raw, and no line of JSON Lines splits in two for a reader that splits on U+2028 or U+0085."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    if text.replace("\n", "").isprintable():
        return text
    return "".join(c if c == "\n" or _shown(c) else _json_escape(c) for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _csv_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet runs as a formula (OWASP CSV injection) and no terminal obeys.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'``; numbers stay
    numbers (a negative number is data, not a formula), and None stays empty.
    """
    if value is None or type(value) in (int, float):
        return value
    text = value if isinstance(value, str) else str(value)
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return _safe(text)


def _table(rows: Sequence[Sequence[Any]], *, header: bool = False, widths: list[int] | None = None) -> str:
    """Rows as an aligned table (rich), every cell through :func:`_safe` first; no colour, no markup.

    ``widths`` (updated in place) carries column widths from one chunk of a stream to the next.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cells = [[_safe("-" if cell is None else cell) for cell in row] for row in rows]
    if not cells:
        return ""
    table = Table(box=None, show_header=header, pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    for i in range(len(cells[0])):
        table.add_column(Text(cells[0][i]) if header else "", no_wrap=True, min_width=widths[i] if widths else None)
    for row in cells[1:] if header else cells:
        table.add_row(*(Text(cell) for cell in row))
    console = Console(width=1_000_000, color_system=None, force_terminal=False, highlight=False, markup=False)
    with console.capture() as captured:
        console.print(table, crop=False, soft_wrap=True)
    if widths is not None:
        from rich.cells import cell_len

        widths[:] = [max([w, *(cell_len(r[i]) for r in cells)]) for i, w in enumerate(widths or [0] * len(cells[0]))]
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def _emit_rows(
    out: Output, columns: Sequence[str], rows: Iterable[dict[str, Any]], *, headers: Sequence[str] | None = None
) -> None:
    """Print rows (dicts with ``columns``) in ``out``'s format, streaming: JSON Lines and CSV row by row,
    a table in aligned chunks, JSON as one array."""
    if out.format == "json":
        click.echo(_json_text(list(rows), indent=2))
        return
    if out.format == "jsonl":
        _stream_lines(_json_text(row) + "\n" for row in rows)
        return
    if out.format == "csv":
        line = _csv_line()

        def lines() -> Iterator[str]:
            if out.excel:
                yield "\ufeff"
            yield line([*columns])
            for row in rows:
                yield line([_csv_cell(_cell(row.get(k))) for k in columns])

        _stream_lines(lines())
        return
    widths: list[int] = []
    title = list(headers or columns)
    first = True
    for chunk in _chunks(rows, 1000):
        body = [[_cell(row.get(k)) for k in columns] for row in chunk]
        if first:
            widths[:] = [0] * len(columns)
        click.echo(_table([title, *body] if first else body, header=first, widths=widths))
        first = False
    if first:
        click.echo(_table([title], header=True))


def _csv_line() -> Callable[[list[Any]], str]:
    """A function from a row's cells to its CSV line (the csv module's quoting, ``\r\n`` ends)."""
    import csv

    class _Last:
        text = ""

        def write(self, text: str) -> None:
            self.text = text

    last = _Last()
    writer = csv.writer(last)

    def line(cells: list[Any]) -> str:
        writer.writerow(cells)
        return last.text

    return line


def _stream_lines(lines: Iterable[str]) -> None:
    """Write ``lines`` (each ending in a newline) to standard output as they come, without a flush
    each: a terminal still shows each line at once (its stream is line-buffered), a pipe or a file
    gets them in blocks (``click.echo`` flushes every call: a write call per row of a long log).
    Each line is text already made safe for a terminal (:func:`_safe`, :func:`_csv_cell`, JSON)."""
    stream = sys.stdout  # click's own text stream is line-buffered: a write call per line again
    write = stream.write
    try:
        for line in lines:
            write(line)
    finally:  # what was read before an error is shown before its message
        stream.flush()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
    ctx.meta[_FOLDERS] = folders  # read by _registry on first use


# --- questionnaires and policies -------------------------------------------------------------


def _load_questionnaire(value: Any, source: str | None) -> Any:
    from .questionnaire import load_questionnaire

    return load_questionnaire(value, source)


def _load_policy(value: Any, source: str | None) -> Any:
    from .policy import load_policy

    return load_policy(value, source)


def _document_commands(kind: str, loader: Callable[[Any, str | None], Any]) -> click.Group:
    @click.group(name=kind)
    def group() -> None:
        pass

    group.help = f"List, show, validate and hash {kind} documents" + (
        ", and check a policy against questionnaires."
        if kind == "policy"
        else "; upgrade them; their answer statistics."
    )

    @group.command("list")
    @_output_options
    @click.pass_context
    def list_(ctx: click.Context, lang: str, out: Output) -> None:
        entries = _registry(ctx).entries(kind)
        rows = [
            {
                "id": e.id,
                "version": e.version,
                "status": e.status if not out.table else name(lang, "status", e.status),
                "effective_from": e.effective_from,
                "hash": e.hash if not out.table else e.hash[:19],
                "source": e.source,
                # JSON keeps every language; a table or CSV cell is text in the one asked for
                "title": (
                    e.document.get("title")
                    if out.format in ("json", "jsonl")
                    else pick(e.document.get("title") or {}, lang)
                ),
            }
            for e in entries
        ]
        columns = ["id", "version", "status", "effective_from", "hash", "title"]
        if out.table:
            heads = [tr(lang, "ID"), tr(lang, "VERSION"), tr(lang, "STATUS"), tr(lang, "EFFECTIVE"), tr(lang, "HASH")]
            _emit_rows(out, columns, rows, headers=[*heads, tr(lang, "TITLE")])
        else:
            _emit_rows(out, [*columns, "source"], rows)

    list_.help = f"List the registered {kind} documents.\n\n\b\nExample:\n  suitability {kind} list --lang en"

    @group.command("validate")
    @click.argument("files", nargs=-1, required=True, type=click.Path())
    @_format_options()
    def validate(files: tuple[str, ...], out: Output) -> None:
        from .codec import read_json

        failed: SuitabilityError | None = None
        rows = []
        for file in files:
            try:
                doc = loader(read_json(file), file)
            except SuitabilityError as exc:
                failed = failed or exc
                rows.append({"file": file, "valid": False, "document": None, "hash": None, "problems": exc.render()})
                if out.table:
                    click.echo(f"INVALID {exc.render()}")
                continue
            rows.append(
                {"file": file, "valid": True, "document": f"{doc.id}@{doc.version}", "hash": doc.hash, "problems": None}
            )
            if out.table:
                click.echo(f"ok {file}: {doc.id}@{doc.version} {doc.hash}")
        if not out.table:
            _emit_rows(out, ["file", "valid", "document", "hash", "problems"], rows)
        if failed is not None:
            sys.exit(failed.exit_code)

    validate.help = (
        f"Validate {kind} FILES, printing every problem with its JSON Pointer; exit 0 only when all are valid."
        f"\n\n\b\nExample:\n  suitability {kind} validate my-{kind}.json"
    )

    @group.command("hash")
    @click.argument("file", type=click.Path())
    def hash_(file: str) -> None:
        from .codec import content_hash, read_json

        click.echo(content_hash(read_json(file)))

    hash_.help = (
        "Print sha256:<hex> over the RFC 8785 canonical bytes of FILE (key order and whitespace do not count)."
        f"\n\n\b\nExample:\n  suitability {kind} hash my-{kind}.json"
    )
    return group


questionnaire_group = _document_commands("questionnaire", _load_questionnaire)
policy_group = _document_commands("policy", _load_policy)
cli.add_command(questionnaire_group)
cli.add_command(policy_group)


_show_options = _options(_lang_option, _format_options("table", "json", "jsonl"))


def _emit_document(out: Output, document: Any) -> None:
    if out.format == "jsonl":
        click.echo(json.dumps(document, ensure_ascii=False))
    else:
        _emit_json(document)


@questionnaire_group.command("show")
@click.argument("ref", metavar="ID[@VERSION]|FILE")
@_show_options
@click.pass_context
def questionnaire_show(ctx: click.Context, ref: str, lang: str, out: Output) -> None:
    """Show a questionnaire: its questions, options and scores, bands and rules.

    \b
    Example:
      suitability questionnaire show cn-securities-individual --lang en
    """
    q = _registry(ctx).resolve_questionnaire(ref)
    if not out.table:
        _emit_document(out, q.document)
        return
    m = q.model
    status = tr(lang, "{status}, from {date}", status=name(lang, "status", q.status), date=m.effective_from)
    click.echo(f"{pick(m.title, lang)}\n{q.id}@{q.version} ({status}) {q.hash}")
    if m.description:
        click.echo(pick(m.description, lang))
    if m.weights:
        weights = ", ".join(f"{name(lang, 'question_dimension', d)} {_points(w)}" for d, w in m.weights.items())
        click.echo(tr(lang, "total: the weighted sum of the dimensions ({weights})", weights=weights))
    for number, question in enumerate(m.questions, start=1):
        kind = ""
        if question.type == "multi":
            how = name(lang, "aggregate", question.aggregate or "")
            kind = " " + tr(lang, "[multiple choice, {aggregate}]", aggregate=how)
            if question.cap:
                kind = " " + tr(
                    lang, "[multiple choice, {aggregate}, cap {cap}]", aggregate=how, cap=_points(question.cap)
                )
        elif question.type == "level":
            kind = " " + tr(lang, "[level choice: {levels}]", levels=" ".join(q.levels))
        cond = ""
        if question.enable_when:
            cond = " " + tr(lang, "(when {condition})", condition=json.dumps(question.enable_when, ensure_ascii=False))
        dimension = name(lang, "question_dimension", question.dimension)
        click.echo(f"\n{number}. {pick(question.text, lang)}  <{question.id}, {dimension}>{kind}{cond}")
        for option in question.options:
            ko = " " + tr(lang, "KNOCKOUT→C1 lowest category") if option.knockout else ""
            click.echo(f"   - {option.id}: {pick(option.text, lang)} ({_points(option.score)}){ko}")
    click.echo("\n" + _table([[b.profile, f"{_points(b.min)}–{_points(b.max)}", pick(b.name, lang)] for b in m.bands]))
    for rule in m.rules:
        if rule.cap is not None:
            effect = tr(lang, "cap {cap}", cap=rule.cap)
        else:
            effect = tr(lang, "lower by {n}", n=rule.lower_by)
        click.echo(tr(lang, "rule {id}: {effect}: {reason}", id=rule.id, effect=effect, reason=pick(rule.reason, lang)))
    for check in m.consistency:
        click.echo(tr(lang, "consistency {id}: {message}", id=check.id, message=pick(check.message, lang)))


def _points(value: float) -> str:
    """A score as the document printed it (``2.5``, ``0.000001``), never a float's exponent form."""
    from .conditions import exact_decimal

    return format(exact_decimal(value).normalize(), "f")


@questionnaire_group.command("upgrade")
@click.argument("file", type=click.Path())
@click.option("-o", "--output", "out_file", type=click.Path(), help="Write here (whole or not at all), not to stdout.")
def questionnaire_upgrade(file: str, out_file: str | None) -> None:
    """Write the format-1 questionnaire FILE in format 2 (schema_version 2): the same questions,
    bands, rules and derivations, scoring every answer set alike, with its C1..C5 scale declared.

    \b
    Example:
      suitability questionnaire upgrade my-questionnaire.json -o my-questionnaire-2.json
    """
    from .codec import read_json
    from .questionnaire import upgrade as upgrade_questionnaire

    text = json.dumps(upgrade_questionnaire(read_json(file), file), ensure_ascii=False, indent=2) + "\n"
    if out_file is None:
        click.echo(text, nl=False)
    else:
        _write_atomic(out_file, text)


@policy_group.command("check")
@click.argument("ref", metavar="POLICY")
@click.option(
    "--questionnaire",
    "questionnaire_refs",
    multiple=True,
    required=True,
    metavar="ID[@VERSION]|FILE",
    help="A questionnaire the policy is used with (repeat for several).",
)
@click.pass_context
def policy_check(ctx: click.Context, ref: str, questionnaire_refs: tuple[str, ...]) -> None:
    """Say what POLICY cannot do with each questionnaire: a scale it does not accept (an error,
    exit 4), no horizon or variety derived, levels never reached, risk levels no profile may buy
    (warnings, exit 0).

    \b
    Example:
      suitability policy check cn-csrc --questionnaire cn-securities-individual
    """
    from .policy import check_pair

    registry = _registry(ctx)
    policy = registry.resolve_policy(ref)
    failed: list[Problem] = []
    for q_ref in questionnaire_refs:
        errors, warnings = check_pair(policy, registry.resolve_questionnaire(q_ref))
        for problem in errors:
            click.echo(f"error: {problem.code}: {problem.message}")
        for problem in warnings:
            click.echo(f"warning: {problem.code}: {problem.message}")
        if not errors and not warnings:
            click.echo(f"ok {policy.id}@{policy.version} with {q_ref}")
        failed += errors
    if failed:
        raise DocumentError(
            f"policy {policy.id}@{policy.version} cannot be used with every questionnaire given", failed
        )


@policy_group.command("show")
@click.argument("ref", metavar="ID[@VERSION]|FILE")
@_show_options
@click.pass_context
def policy_show(ctx: click.Context, ref: str, lang: str, out: Output) -> None:
    """Show a policy: its matrix, limits and messages.

    \b
    Example:
      suitability policy show cn-csrc --lang en
    """
    p = _registry(ctx).resolve_policy(ref)
    if not out.table:
        _emit_document(out, p.document)
        return
    m = p.model
    status = tr(lang, "{status}, from {date}", status=name(lang, "status", p.status), date=m.effective_from)
    click.echo(f"{pick(m.title, lang)}\n{p.id}@{p.version} ({status}) {p.hash}")
    if m.description:
        click.echo(pick(m.description, lang))
    head = [tr(lang, "PROFILE"), tr(lang, "MAY BUY")]
    click.echo("\n" + _table([head] + [[c, " ".join(m.matrix[c])] for c in m.profiles]))
    none = tr(lang, "none")
    care = (
        tr(lang, "age >= {age} and >= {risk}", age=m.special_care.min_age, risk=m.special_care.from_risk)
        if m.special_care
        else none
    )
    varieties = ", ".join(name(lang, "variety", v) for v in m.varieties)
    validity = m.assessment_validity_days
    facts = [
        [tr(lang, "horizons"), " < ".join(name(lang, "horizon", h) for h in m.horizons)],
        [tr(lang, "varieties"), f"{varieties} ({name(lang, 'variety_mode', m.variety_mode)})"],
        [tr(lang, "assessment validity"), tr(lang, "{days} days", days=validity) if validity else none],
        [tr(lang, "lowest category at most"), m.lowest_category_max_risk],
        [tr(lang, "professional may buy all"), tr(lang, "yes") if m.professional_may_buy_all else tr(lang, "no")],
        [tr(lang, "special care"), care],
        [
            tr(lang, "mismatch (client / firm)"),
            f"{name(lang, 'outcome', m.on_mismatch.client)} / {name(lang, 'outcome', m.on_mismatch.firm)}",
        ],
    ]
    click.echo("\n" + _table(facts))
    click.echo("")
    for code, text in m.messages.items():
        click.echo(f"{code}: {pick(text, lang)}")


# --- assessing ----------------------------------------------------------------------------------


def _read_model(model: type[Any], file: str, error: type[SuitabilityError], encoding: str = "utf-8") -> Any:
    from .codec import read_json
    from .models import parse_model

    return parse_model(model, read_json(file, encoding=encoding), file, error)


_BACK = frozenset({"b", "back", "<"})


class _Back(Exception):
    """The person asked to go back to the previous question."""


def _prompt(text: str, *, default: str | None = None) -> str:
    """Ask on stderr (stdout carries only the result); EOF ends the run like Ctrl-C, nothing recorded."""
    try:
        return str(click.prompt(text, default=default, show_default=bool(default), err=True)).strip()
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, EOFError):
            click.echo(err=True)  # end the prompt's line: the error is read on its own
            raise InputError(
                _text("input_ended", _lang_of(click.get_current_context())),
                [Problem("expected an answer, found the end of the input", source="<terminal>")],
            ) from None
        raise


def _say(text: str = "") -> None:
    click.echo(text, err=True)


def _answer_text(question: QuestionDoc, value: str | list[str] | None, lang: str) -> str:
    if value is None:
        return _text("skipped", lang)
    texts = {o.id: pick(o.text, lang) for o in question.options}
    picks = value if isinstance(value, list) else [value]
    return "; ".join(texts.get(p, p) for p in picks)


def _ask(
    q: Questionnaire, question: QuestionDoc, lang: str, number: int, total: int, before: str | list[str] | None
) -> str | list[str] | None:
    """Ask one question (``number``/``total``); raise :class:`_Back` when the person goes back."""
    from .scoring import check_answer

    _say(f"\n[{number}/{total}] {pick(question.text, lang)}")
    ids = [o.id for o in question.options]
    for i, option in enumerate(question.options, start=1):
        _say(f"  {i}) {pick(option.text, lang)}")
    prompt = _text("multi" if question.type == "multi" else "single", lang)
    if not question.required:
        prompt += _text("optional", lang)
    shown = None
    if before is not None:
        picks = before if isinstance(before, list) else [before]
        shown = ",".join(str(ids.index(p) + 1) if p in ids else p for p in picks)
    while True:
        text = _prompt(prompt, default=shown if shown is not None else "" if not question.required else None)
        if text.lower() in _BACK:
            raise _Back
        if not text and not question.required:
            return None
        picks = [p.strip() for p in text.split(",") if p.strip()]
        chosen = [ids[int(p) - 1] if p.isdigit() and 1 <= int(p) <= len(ids) else p for p in picks]
        value: str | list[str] = chosen if question.type == "multi" else (chosen[0] if len(chosen) == 1 else chosen)
        problem = check_answer(q, question.id, value)
        if problem is None:
            return value
        _say(tr(lang, "Invalid answer: {problem}", problem=problem))


def _interactive_answers(q: Questionnaire, lang: str) -> dict[str, str | list[str]]:
    """Ask question by question on stderr, with progress, going back (``b``), and a review before recording.

    Nothing is recorded here: the answers are returned only once the person accepts the review.
    """
    from .scoring import next_question

    questions = {question.id: question for question in q.model.questions}
    total = len(questions)
    answers: dict[str, str | list[str]] = {}
    skipped: set[str] = set()
    history: list[str] = []  # the questions asked, in order
    earlier: dict[str, str | list[str] | None] = {}  # answers given before going back or editing
    _say(pick(q.model.title, lang))
    while True:
        while (question := next_question(q, answers, frozenset(skipped))) is not None:
            try:
                value = _ask(q, question, lang, len(history) + 1, total, earlier.get(question.id))
            except _Back:
                if not history:
                    _say(_text("first", lang))
                    continue
                last = history.pop()
                earlier[last] = answers.pop(last, None)
                skipped.discard(last)
                continue
            history.append(question.id)
            if value is None:
                skipped.add(question.id)
            else:
                answers[question.id] = value
        _say(f"\n{_text('review', lang)}")
        rows = [
            [f"{n}.", pick(questions[qid].text, lang), _answer_text(questions[qid], answers.get(qid), lang)]
            for n, qid in enumerate(history, start=1)
        ]
        _say(_table(rows))
        choice = _prompt(_text("record_or_edit", lang)).lower()
        if choice in ("y", "yes", "是"):
            return answers
        if choice in ("q", "quit"):
            raise click.exceptions.Abort
        if choice.isdigit() and 1 <= int(choice) <= len(history):
            # Ask again from that question on, each earlier answer offered as the default (Enter keeps it).
            for qid in history[int(choice) - 1 :]:
                earlier[qid] = answers.pop(qid, None)
                skipped.discard(qid)
            del history[int(choice) - 1 :]


def _ask_fact(prompt: str, field: str, facts: dict[str, Any], lang: str, convert: Callable[[str], Any]) -> None:
    """Ask for one client fact until it passes the Client model's own checks for that field."""
    from .models import Client, parse_model

    while True:
        text = _prompt(prompt)
        try:
            value = convert(text)
            parse_model(Client, {**facts, field: value}, "<terminal>", ResponseError)
        except (ValueError, ResponseError) as exc:
            message = exc.problems[0].message if isinstance(exc, ResponseError) and exc.problems else str(exc)
            _say(tr(lang, "Invalid answer: {problem}", problem=message))
            continue
        facts[field] = value
        return


def _yes_no(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("y", "yes", "是", "1", "true"):
        return True
    if lowered in ("n", "no", "否", "0", "false"):
        return False
    raise ValueError(f"expected y or n, found {text!r}")


def _investor_type(text: str) -> str:
    found = {"1": "ordinary", "2": "professional", "ordinary": "ordinary", "professional": "professional"}.get(
        text.lower()
    )
    if found is None:
        raise ValueError(f"expected 1 (ordinary) or 2 (professional), found {text!r}")
    return found


def _interactive_client(lang: str) -> Client:
    """Ask for the client's KYC facts, each checked as the Client model checks it."""
    from .models import Client

    _say(f"{_text('client_facts', lang)}")
    facts: dict[str, Any] = {}
    _ask_fact(_text("client_id", lang), "client_id", facts, lang, str)
    _ask_fact(_text("investor_type", lang), "investor_type", facts, lang, _investor_type)
    _ask_fact(_text("birth_date", lang), "birth_date", facts, lang, str)
    _ask_fact(_text("capacity", lang), "full_civil_capacity", facts, lang, _yes_no)
    return Client.model_validate(facts)


def _not_eligible(a: Assessment, lang: str) -> str:
    return tr(lang, "not eligible: {reason}", reason=pick(a.not_eligible.reason, lang) if a.not_eligible else "")


def _render_assessment(q: Questionnaire, a: Assessment, lang: str) -> None:
    band_names = {b.profile: pick(b.name, lang) for b in q.model.bands}
    lowest = tr(lang, " (lowest category)") if a.lowest_category else ""
    rows = [
        [tr(lang, "assessment"), a.id],
        [tr(lang, "client"), a.client_id or "-"],
        [
            tr(lang, "profile"),
            f"{a.profile} {band_names.get(a.profile, '')}{lowest}" if a.profile else _not_eligible(a, lang),
        ],
        [tr(lang, "score"), str(a.score)],
        *[[f"  {name(lang, 'question_dimension', d)}", str(s)] for d, s in a.dimension_scores.items()],
        [tr(lang, "horizon"), name(lang, "horizon", a.horizon) if a.horizon else "-"],
        [tr(lang, "varieties"), ", ".join(name(lang, "variety", v) for v in a.varieties) or "-"],
        [tr(lang, "assessed at"), a.assessed_at.isoformat()],
        [tr(lang, "valid until"), a.valid_until.isoformat() if a.valid_until else "-"],
        [
            tr(lang, "questionnaire"),
            f"{a.questionnaire.id}@{a.questionnaire.version} {a.questionnaire.hash[:19]}",
        ],
    ]
    click.echo(_table(rows))
    for rule in a.rules_fired:
        click.echo(tr(lang, "rule {id}: {reason}", id=rule.id, reason=pick(rule.reason, lang)))
    for violation in a.consistency_violations:
        click.echo(tr(lang, "INCONSISTENT {id}: {message}", id=violation.id, message=pick(violation.message, lang)))


def _log_flag(ctx: click.Context, log: str) -> str:
    """``--log LOG`` for a next command, when the log is not the default one."""
    source = ctx.get_parameter_source("log")
    return "" if source is click.core.ParameterSource.DEFAULT else f" --log {_quote(log)}"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


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
    help="Answers file; without it the questions are asked here (prompts on stderr, the result on stdout).",
)
@click.option(
    "--client",
    "client_file",
    type=click.Path(),
    help="Client facts (client_id, investor_type, birth_date, full_civil_capacity); asked for when the "
    "questions are asked here and this is not given.",
)
@_encoding_option
@_recorded_call_options
@click.pass_context
def assess_command(
    ctx: click.Context,
    questionnaire_ref: str,
    answers_file: str | None,
    client_file: str | None,
    encoding: str,
    as_of: datetime | None,
    lang: str,
    out: Output,
    log: str,
    actor: str | None,
) -> None:
    """Score answers into a risk profile C1–C5, record it, and print it with the next command to run.

    The answers file is {"answers": {"<question id>": "<option id>" | ["<option id>", ...]}}.
    Without --answers the questions are asked one by one on the terminal (stderr): progress shows
    as [3/20], b goes back, and every answer is shown for review before anything is recorded;
    Ctrl-C records nothing (exit 130). The result alone goes to stdout.

    \b
    Example:
      suitability assess --questionnaire cn-securities-individual \\
          --answers examples/answers.json --client examples/client.json --as-of 2026-11-28
      suitability assess --questionnaire cn-securities-individual --json > a.json
    """
    from .models import Client, Response

    _recording(ctx)
    q = _registry(ctx).resolve_questionnaire(questionnaire_ref, allow_retired=False)
    client = _read_model(Client, client_file, ResponseError, encoding) if client_file else None
    if answers_file:
        response = _read_model(Response, answers_file, ResponseError, encoding)
        source = answers_file
    else:
        if client is None:
            client = _interactive_client(lang)
        response = Response(answers=_interactive_answers(q, lang))
        source = "<terminal>"
    engine = _engine(ctx, log)  # opened only now: an interrupted questionnaire leaves no log behind
    assessment = engine.assess(q, response, client, as_of, actor=actor, source=source)
    if out.table:
        _render_assessment(q, assessment, lang)
    else:
        _emit_json(assessment)
    if assessment.client_id is not None:
        _say(
            f"{_text('next_decide', lang)}\n  suitability decide --assessment {assessment.id}{_log_flag(ctx, log)} "
            "--catalog CATALOG --product-id PRODUCT_ID --initiated-by client"
        )


# --- deciding -----------------------------------------------------------------------------------


def _reason_text(reason: Reason, d: Decision, lang: str, assessment: Assessment | None, policy: Policy | None) -> str:
    """A reason as the salesperson reads it: with the horizons and varieties it names in words.

    The policy's text of the reason is filled again with the values named in the text's language
    (``产品期限（短期）``, not ``（short）``); the recorded text, evidence of what was decided, keeps
    the values as recorded. Other reasons are shown as recorded.
    """
    if reason.code not in ("HORIZON_MISMATCH", "VARIETY_MISMATCH") or assessment is None or policy is None:
        return pick(reason.text, lang)
    from .product import product_horizon

    texts = policy.model.messages.get(reason.code) or reason.text
    shown = next((tag for tag in FALLBACK.get(lang, (lang, "en")) if tag in texts), "en")
    values = {
        "horizon": name(shown, "horizon", assessment.horizon) if assessment.horizon else "-",
        "product_horizon": name(shown, "horizon", product_horizon(d.product, policy)),
        "variety": name(shown, "variety", d.product.variety),
        "client_varieties": "/".join(name(shown, "variety", v) for v in assessment.varieties) or "-",
    }
    return re.sub(r"\{([a-z_]+)\}", lambda m: values.get(m.group(1), m.group(0)), pick(texts, lang))


def _render_decision(
    d: Decision, lang: str, assessment: Assessment | None = None, policy: Policy | None = None
) -> None:
    explained = {
        "suitable": pN_("outcome_explained", "suitable"),
        "requires_confirmation": pN_("outcome_explained", "requires the client's confirmation after a special warning"),
        "blocked": pN_("outcome_explained", "blocked"),
    }[d.outcome]
    outcome = f"{d.outcome} ({name(lang, 'outcome_explained', explained)})"
    if lang != "en":
        outcome = name(lang, "outcome_explained", explained)
    investor = name(lang, "investor_type", d.client.investor_type)
    click.echo(
        _table(
            [
                [tr(lang, "decision"), d.id],
                [tr(lang, "outcome"), outcome],
                [tr(lang, "product"), f"{d.product.id} {pick(d.product.name, lang)} {d.product.risk_level}"],
                [tr(lang, "client"), f"{d.client.client_id} ({investor})"],
                [tr(lang, "initiated by"), name(lang, "initiated_by", d.initiated_by)],
                [tr(lang, "as of"), d.as_of.isoformat()],
                [tr(lang, "policy"), f"{d.policy.id}@{d.policy.version}"],
            ]
        )
    )
    for applied in d.axes or ():
        axis, band = applied.axis, applied.band
        if policy is not None and policy.hash == d.policy.hash:
            declared = {a.id: a for a in policy.model.axes}[applied.axis]
            axis = pick(declared.name, lang)
            band = pick(next(b.name for b in declared.bands if b.id == applied.band), lang)
        if applied.basis == "value":
            click.echo(tr(lang, "{axis}: {band}", axis=axis, band=band))
        else:
            basis = name(lang, "axis_basis", applied.basis)
            click.echo(tr(lang, "{axis}: {band} ({basis})", axis=axis, band=band, basis=basis))
    for reason in d.reasons:
        dimension = name(lang, "dimension", reason.dimension)
        text = _reason_text(reason, d, lang, assessment, policy)
        click.echo(tr(lang, "reason {code} [{dimension}]: {text}", code=reason.code, dimension=dimension, text=text))
    for warning in d.warnings:
        text = _reason_text(warning, d, lang, assessment, policy)
        click.echo(tr(lang, "WARNING {code}: {text}", code=warning.code, text=text))


def _fit_text(fit: Reason, product: Product, assessment: Assessment, policy: Policy, lang: str) -> str:
    """Why a recommended product fits, with its term and variety named in ``lang`` (not recorded: shown only)."""
    from .product import product_horizon

    if fit.code == "FITS_HORIZON":
        term, horizon = product_horizon(product, policy), assessment.horizon or "-"
        return tr(
            lang,
            "The product's term ({term}) is no longer than your horizon ({horizon})",
            term=name(lang, "horizon", term),
            horizon=name(lang, "horizon", horizon),
        )
    if fit.code == "FITS_RISK":
        levels = policy.allowed.get(assessment.profile or "-", ())
        allowed = "/".join(sorted(levels, key=policy.risk_index.__getitem__))
        return tr(
            lang,
            "Risk level {risk} is within what {profile} may buy ({allowed})",
            risk=product.risk_level,
            profile=assessment.profile,
            allowed=allowed or "-",
        )
    if fit.code == "FITS_PROFESSIONAL":
        return tr(lang, "A professional investor may buy every risk level")
    if fit.code == "FITS_VARIETY":
        variety = name(lang, "variety", product.variety)
        return tr(lang, "The product's variety ({variety}) is among the varieties you chose", variety=variety)
    return pick(fit.text, lang)


def _product(product_file: str | None, catalog_file: str | None, product_id: str | None, encoding: str) -> Product:
    from .codec import read_json
    from .product import find_product, load_catalog, parse_product

    if product_file and not catalog_file and not product_id:
        return parse_product(read_json(product_file, encoding=encoding), "product", product_file)
    if catalog_file and product_id and not product_file:
        if encoding == "utf-8":
            return find_product(catalog_file, product_id)
        return find_product(load_catalog(catalog_file, encoding=encoding), product_id)
    raise click.UsageError("give either --product FILE, or --catalog FILE with --product-id ID")


_policy_option = click.option(
    "--policy",
    "policy_ref",
    default="cn-csrc",
    show_default=True,
    metavar="ID[@VERSION]|FILE",
    help="The matching policy.",
)
_client_facts_option = click.option(
    "--client",
    "client_file",
    type=click.Path(),
    help="Client facts JSON; checked against those recorded with the assessment (default: those).",
)


def _catalog_option(*, required: bool) -> Callable[[F], F]:
    return click.option(
        "--catalog", "catalog_file", required=required, type=click.Path(), help="A catalog (.json, .jsonl or .csv)."
    )


def _assessment_option(help_text: str) -> Callable[[F], F]:
    return click.option("--assessment", "assessment_ref", required=True, metavar="FILE|ID", help=help_text)


def _recorded_ref(ref: str, model: type[Any], prefix: str) -> Any:
    """An assessment or decision given as a file (from --json), or by its id (``asm_…``, ``dec_…``) in the log.

    A value that names no file and starts with the id's prefix is an id; the Engine finds it in the log
    (or refuses it: not in the log is a DecisionError, exit 8).
    """
    if ref.startswith(prefix) and not os.path.lexists(ref):
        return ref
    return _read_model(model, ref, InputError)


def _client_or_recorded(client_file: str | None, encoding: str) -> Client | None:
    from .models import Client

    return _read_model(Client, client_file, ResponseError, encoding) if client_file else None


@cli.command("decide")
@_assessment_option("The assessment: a file from assess --json, or its id (asm_…) in the log.")
@click.option("--product", "product_file", type=click.Path(), help="One product as JSON.")
@_catalog_option(required=False)
@click.option("--product-id", help="The product's id in --catalog.")
@_client_facts_option
@click.option(
    "--initiated-by",
    type=click.Choice(["client", "firm"]),
    required=True,
    help="Who started the sale.",
)
@_policy_option
@_encoding_option
@_recorded_call_options
@click.pass_context
def decide_command(
    ctx: click.Context,
    assessment_ref: str,
    product_file: str | None,
    catalog_file: str | None,
    product_id: str | None,
    client_file: str | None,
    initiated_by: str,
    policy_ref: str,
    encoding: str,
    as_of: datetime | None,
    lang: str,
    out: Output,
    log: str,
    actor: str | None,
) -> None:
    """Decide whether a product suits an assessed client: suitable, requires_confirmation or blocked.

    \b
    Example:
      suitability decide --assessment a.json --catalog examples/catalog.csv --product-id FUND-EQ-01 \\
          --client examples/client.json --initiated-by client --lang en
      suitability decide --assessment asm_… --catalog examples/catalog.csv --product-id FUND-EQ-01 --initiated-by client
    """
    from .models import Assessment

    _recording(ctx)
    assessment = _recorded_ref(assessment_ref, Assessment, "asm_")
    client = _client_or_recorded(client_file, encoding)
    product = _product(product_file, catalog_file, product_id, encoding)
    policy = _registry(ctx).resolve_policy(policy_ref)
    engine = _engine(ctx, log)
    decision = engine.decide(
        assessment,
        product,
        client,
        policy,
        "client" if initiated_by == "client" else "firm",
        as_of,
        actor=actor,
    )
    if out.table:
        recorded = assessment if not isinstance(assessment, str) else engine.recorded_assessment(assessment)[1]
        _render_decision(decision, lang, recorded, policy)
    else:
        _emit_json(decision)
    if decision.outcome == "requires_confirmation":
        _say(
            f"{_text('next_confirm', lang)}\n  suitability confirm --decision {decision.id}{_log_flag(ctx, log)} "
            '--ack "我已知晓风险，坚持购买" --actor STAFF_ID --channel branch --evidence-id RECORDING_ID --evidence-file RECORDING'
        )


_EVIDENCE_HELP = (
    "SHA-256 (64 hex digits) of the recording of the 双录 session (the audio and video recording of the "
    "sale, CSRC 办法 Art. 20), so the record binds that exact file; or give --evidence-file."
)


def _sha256_of(path: str) -> str:
    """The SHA-256 of a regular file, streamed (a recording may be gigabytes)."""
    from .codec import sha256_file

    return sha256_file(path)


@cli.command("confirm")
@click.option(
    "--decision",
    "decision_ref",
    required=True,
    metavar="FILE|ID",
    help="The decision: a file from decide --json, or its id (dec_…) in the log.",
)
@click.option("--ack", required=True, callback=_utf8, help="The client's acknowledgement, in their words.")
@click.option("--actor", required=True, callback=_identifier, help="Who took the confirmation.")
@click.option("--channel", required=True, callback=_identifier, help="Where: branch, app, phone…")
@click.option("--evidence-id", callback=_identifier, help="The 双录 recording's id in the firm's archive.")
@click.option("--evidence-sha256", metavar="HEX", help=_EVIDENCE_HELP)
@click.option(
    "--evidence-file",
    type=click.Path(dir_okay=False),
    help="The 双录 recording itself: its SHA-256 is computed here (streamed; a regular file only).",
)
@_as_of_option
@_lang_option
@_format_options("table", "json")
@_log_option
@click.pass_context
def confirm_command(
    ctx: click.Context,
    decision_ref: str,
    ack: str,
    actor: str,
    channel: str,
    evidence_id: str | None,
    evidence_sha256: str | None,
    evidence_file: str | None,
    as_of: datetime | None,
    lang: str,
    out: Output,
    log: str,
) -> None:
    """Record a client's insistence on a requires_confirmation decision, after its warnings (shown in --lang).

    The evidence of the 双录 session (the recorded sale) is its recording id with the SHA-256 of the
    recording: --evidence-sha256 HEX, or --evidence-file to compute it from the file.

    \b
    Example:
      suitability confirm --decision d.json --ack "我已知晓风险，坚持购买" --actor staff-07 --channel branch \\
          --evidence-id REC-1 --evidence-file recording.mp4
    """
    from .matching import Decision, Evidence, Language
    from .models import parse_model

    _recording(ctx)
    if evidence_file and evidence_sha256:
        raise click.UsageError("give --evidence-sha256 or --evidence-file, not both")
    if evidence_file:
        evidence_sha256 = _sha256_of(evidence_file)
    evidence = None
    if evidence_id or evidence_sha256:
        if not (evidence_id and evidence_sha256):
            raise click.UsageError("--evidence-id goes with --evidence-sha256 or --evidence-file")
        evidence = parse_model(
            Evidence,
            {"recording_id": evidence_id, "sha256": evidence_sha256},
            "--evidence",
            InputError,
        )
    given = _recorded_ref(decision_ref, Decision, "dec_")
    language: Language = "en" if lang == "en" else "zh-CN"  # zh-Hant: the warnings shown (and recorded) are zh-CN
    engine = _engine(ctx, log)
    decision = given if not isinstance(given, str) else engine.recorded_decision(given)[1]
    confirmation = engine.confirm(decision, ack, actor, channel, evidence, language=language, confirmed_at=as_of)
    if not out.table:
        _emit_json(confirmation)
        return
    for warning in decision.warnings:
        click.echo(tr(lang, "WARNING {code}: {text}", code=warning.code, text=warning.text[language]))
    click.echo(
        _table(
            [
                [tr(lang, "confirmation"), confirmation.id],
                [tr(lang, "decision"), confirmation.decision_id],
                [tr(lang, "warnings hash"), confirmation.warnings_hash],
                [tr(lang, "actor / channel"), f"{actor} / {channel}"],
                [tr(lang, "confirmed at"), confirmation.confirmed_at.isoformat()],
                [tr(lang, "evidence"), f"{evidence.recording_id} {evidence.sha256}" if evidence else "-"],
            ]
        )
    )


@cli.command("recommend")
@_assessment_option("The assessment: a file from assess --json, or its id (asm_…) in the log.")
@_catalog_option(required=True)
@_client_facts_option
@_policy_option
@_encoding_option
@_as_of_option
@_lang_option
@_format_options()
@_log_option
@_actor_option
@click.pass_context
def recommend_command(
    ctx: click.Context,
    assessment_ref: str,
    catalog_file: str,
    client_file: str | None,
    policy_ref: str,
    encoding: str,
    as_of: datetime | None,
    lang: str,
    out: Output,
    log: str,
    actor: str | None,
) -> None:
    """List only the catalog's products that are suitable for the client, each with why it fits.

    \b
    Example:
      suitability recommend --assessment a.json --catalog examples/catalog.csv --client examples/client.json
    """
    from .models import Assessment
    from .product import load_catalog

    _recording(ctx)
    assessment = _recorded_ref(assessment_ref, Assessment, "asm_")
    client = _client_or_recorded(client_file, encoding)
    policy = _registry(ctx).resolve_policy(policy_ref)
    catalog = load_catalog(catalog_file, encoding=encoding)
    engine = _engine(ctx, log)
    found = engine.recommend(assessment, catalog, client, policy, as_of, actor=actor)
    if out.format == "json":
        _emit_json(found)
        return
    if out.table:
        if not found:
            click.echo(tr(lang, "No suitable product."))
        recorded = assessment if not isinstance(assessment, str) else engine.recorded_assessment(assessment)[1]
        for item in found:
            click.echo(_safe(f"{item.product.id} {pick(item.product.name, lang)} {item.product.risk_level}"))
            for fit in item.fits:
                click.echo(f"  - {_fit_text(fit, item.product, recorded, policy, lang)}")
        return
    rows = [
        {
            "product": item.product.id,
            "name": pick(item.product.name, lang),
            "risk_level": item.product.risk_level,
            "decision": item.decision.id,
            "fits": " ".join(fit.code for fit in item.fits),
        }
        for item in found
    ]
    _emit_rows(out, ["product", "name", "risk_level", "decision", "fits"], rows)


# --- audit ------------------------------------------------------------------------------------


@cli.group("audit")
def audit_group() -> None:
    """Verify, replay, prove and export a decision log; make signing keys and checkpoints."""


def _read_text(path: str) -> str:
    from .codec import read_text

    return read_text(path) if path else ""


def _verifier(path: str) -> Verifier:
    from .log.checkpoint import Verifier

    return Verifier.parse(_read_text(path), path)


def _existing_log(ctx: click.Context, log: str) -> LogStore:
    from .log import open_store

    return ctx.with_resource(open_store(log, create=False))


def _write_atomic(path: str, text: str) -> None:
    from ._output import write_atomic

    write_atomic(path, text)


def _checkpoint_options(func: F) -> F:
    func = click.option(
        "--public-key",
        "public_key",
        type=click.Path(dir_okay=False),
        help="The verifier key of the checkpoints (alone: check every checkpoint kept with the log under it).",
    )(func)
    return click.option(
        "--checkpoint",
        "checkpoint_files",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="A signed checkpoint to check the log against (repeatable; needs --public-key).",
    )(func)


def _checkpoints(
    store: LogStore, log: str, files: tuple[str, ...], public_key: str | None
) -> list[tuple[Checkpoint, str]]:
    """Open the signed checkpoints given (or, with a key alone, the latest one kept with the log)."""
    from .log.checkpoint import open_note
    from .log.verify import kept_checkpoints

    if files and not public_key:
        raise click.UsageError("--checkpoint needs --public-key to check its signature")
    if not public_key:
        return []
    verifier = _verifier(public_key)
    if not files:
        return kept_checkpoints(store, verifier, log)
    return [(open_note(_read_text(f), verifier, f), f) for f in files]


@audit_group.command("keygen")
@click.option(
    "--private",
    "private_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the signing key (kept secret).",
)
@click.option(
    "--public",
    "public_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the verifier key (handed out).",
)
@click.option("--name", default="suitability", show_default=True, help="The key's name, shown in signatures.")
def audit_keygen(private_file: str, public_file: str, name: str) -> None:
    """Make an Ed25519 key pair for signing checkpoints (C2SP signed-note format).

    \b
    Example:
      suitability audit keygen --private log.key --public log.pub --name broker-x
    """
    from .log.checkpoint import write_key_pair

    signer = write_key_pair(private_file, public_file, name)
    click.echo(f"signing key {private_file} (keep it secret), verifier key {public_file}: {signer.verifier().text()}")


@audit_group.command("checkpoint")
@_log_argument
@click.option(
    "--key", "key_file", required=True, type=click.Path(dir_okay=False), help="The signing key (from audit keygen)."
)
@click.option("--origin", required=True, help="The log's name, the first line of the checkpoint (one printable line).")
@click.option(
    "--out", "out_file", required=True, type=click.Path(dir_okay=False), help="Where to write the signed checkpoint."
)
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="An earlier checkpoint (e.g. one an outside party kept) the log must be consistent with (repeatable).",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Another key trusted for earlier checkpoints, e.g. before a key rotation (repeatable).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists (by default an existing file is refused).")
@click.pass_context
def audit_checkpoint(
    ctx: click.Context,
    log: str,
    key_file: str,
    origin: str,
    out_file: str,
    checkpoint_files: tuple[str, ...],
    public_keys: tuple[str, ...],
    force: bool,
) -> None:
    """Verify LOG, prove it consistent with earlier checkpoints, then sign its size and root.

    Before signing, every record passes the numbered checks of `audit verify`, and an RFC 9162
    consistency proof shows the log only grew since the latest checkpoint kept with it and since
    every --checkpoint given; otherwise nothing is signed and it exits 10. A copy of the new
    checkpoint is kept with the log. Hand checkpoints to someone who does not trust the firm: any
    later truncation or rewriting of what they cover is then caught.

    \b
    Example:
      suitability audit checkpoint suitability-log.sqlite3 --key log.key --origin broker-x/suitability --out cp-2.txt \\
          --checkpoint cp-1.txt
    """
    import base64

    from .log.checkpoint import Signer
    from .log.verify import sign_checkpoint

    signer = Signer.parse(_read_text(key_file), key_file)
    trusted = [_verifier(path) for path in public_keys]
    held = [(_read_text(path), path) for path in checkpoint_files]
    store = _existing_log(ctx, log)
    made = sign_checkpoint(
        store,
        signer,
        origin,
        out=out_file,
        replace=force,
        held=held,
        trusted=trusted,
        progress=_progress("verify", store.size()),
    )
    for source, size in made.consistent_with:
        click.echo(f"consistent with {source} ({size} records)")
    root = base64.b64encode(made.report.root).decode()
    click.echo(f"checkpoint {out_file}: {origin}, {made.report.size} records, root {root}")


@audit_group.command("consistency")
@click.argument("checkpoint_files", metavar="[OLD_CP NEW_CP]", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--log", "log", default=None, metavar="LOG", help="Make the proof from this log.")
@click.option(
    "--proof",
    "proof_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Check this proof file offline instead (no log needed).",
)
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(dir_okay=False),
    help="The verifier key of the checkpoints.",
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Also write the proof here (JSON).")
@click.pass_context
def audit_consistency(
    ctx: click.Context,
    checkpoint_files: tuple[str, ...],
    log: str | None,
    proof_file: str | None,
    public_key: str,
    out_file: str | None,
) -> None:
    """Prove (with --log) or check (with --proof) that the log only grew from OLD_CP to NEW_CP.

    With --log, prints the RFC 9162 consistency proof between the two signed checkpoints, checks
    it, and writes it with --out. With --proof, checks such a file with the public key alone; give
    OLD_CP and NEW_CP too to insist it is about the checkpoints you hold.

    \b
    Example:
      suitability audit consistency cp-1.txt cp-2.txt --log suitability-log.sqlite3 --public-key log.pub --out c.json
      suitability audit consistency cp-1.txt cp-2.txt --proof c.json --public-key log.pub
    """
    from .codec import read_json
    from .log.verify import prove_consistency, verify_consistency_proof

    if (log is None) == (proof_file is None):
        raise click.UsageError("give exactly one of --log (make a proof) and --proof (check one)")
    if len(checkpoint_files) not in ((0, 2) if proof_file else (2,)):
        raise click.UsageError("expected two checkpoints, OLD_CP and NEW_CP")
    verifier = _verifier(public_key)
    notes = [(_read_text(path), path) for path in checkpoint_files]
    if proof_file is not None:
        held = (notes[0], notes[1]) if notes else (None, None)
        old, new = verify_consistency_proof(read_json(proof_file), verifier, proof_file, held)
        click.echo(f"CONSISTENT {old.origin}: {new.size} records extend the {old.size} signed earlier ({proof_file})")
        return
    assert log is not None
    store = _existing_log(ctx, log)
    proof = prove_consistency(store, notes[0][0], notes[1][0], verifier, (notes[0][1], notes[1][1]))
    for number, node in enumerate(proof["consistency"]):
        click.echo(f"  [{number}] {node}")
    if out_file:
        _write_atomic(out_file, json.dumps(proof, indent=2) + "\n")
        click.echo(f"proof {out_file}")
    click.echo(
        f"CONSISTENT: {proof['new_size']} records ({checkpoint_files[1]}) extend the "
        f"{proof['old_size']} of {checkpoint_files[0]}"
    )


@audit_group.command("verify")
@_log_argument
@_checkpoint_options
@click.option(
    "--quick",
    is_flag=True,
    help="Skip checks 2 and 5 (canonical bytes, references); tampering is still caught by 1, 3, 4.",
)
@click.option(
    "--allow-no-checkpoint",
    is_flag=True,
    help="Exit 0 on internal consistency alone when no signed checkpoint is checked (a new log, say).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes checking ranges of records side by side (default: every core); the report is the same for any N.",
)
@_format_options()
@click.pass_context
def audit_verify(
    ctx: click.Context,
    log: str,
    checkpoint_files: tuple[str, ...],
    public_key: str | None,
    quick: bool,
    allow_no_checkpoint: bool,
    jobs: int | None,
    out: Output,
) -> None:
    """Check LOG: sequence, canonical bytes, leaf hashes, root (against every checkpoint), references.

    Exits 10 and names the first bad record by seq when any check fails. With --public-key and no
    --checkpoint, every checkpoint kept with the log under that key is checked, each named. With no
    checkpoint at all it says "no checkpoint: internal consistency only" and exits 10, or 0 with
    --allow-no-checkpoint: without a signed checkpoint, a log rewritten with every hash recomputed
    would pass.

    \b
    Example:
      suitability audit verify suitability-log.sqlite3 --checkpoint cp-1.txt --public-key log.pub
      suitability audit verify suitability-log.sqlite3 --public-key log.pub
      suitability audit verify suitability-log.sqlite3 --allow-no-checkpoint
    """
    import base64

    from .log.verify import NO_CHECKPOINT, default_jobs, verify

    store = _existing_log(ctx, log)
    opened = _checkpoints(store, log, checkpoint_files, public_key)
    report = verify(
        store, opened, deep=not quick, progress=_progress("verify", store.size()), jobs=jobs or default_jobs()
    )
    root = base64.b64encode(report.root).decode()
    if not out.table:
        rows = [
            {
                "check": check.number,
                "name": check.name,
                "status": "skip" if check.skipped else "ok" if check.ok else "fail",
                "seq": check.seq,
                "problem": check.failure.message if check.failure else None,
            }
            for check in report.checks
        ]
        if out.format == "json":
            verified = report.ok and (report.anchored or allow_no_checkpoint)
            checked = [{"source": source, "size": size} for source, size in report.checkpoints]
            _emit_json(
                {"verified": verified, "size": report.size, "root": root, "checks": rows, "checkpoints": checked}
            )
        else:
            _emit_rows(out, ["check", "name", "status", "seq", "problem"], rows)
        report.raise_for_failure(require_checkpoint=not allow_no_checkpoint)
        return
    for check in report.checks:
        status = "skip" if check.skipped else "ok  " if check.ok else "FAIL"
        detail = f": seq {check.seq}: {check.failure.message}" if check.failure else ""
        click.echo(f"({check.number}) {status} {check.name}{detail}")
    for source, size in report.checkpoints:
        click.echo(f"    checked against {source} ({size} records)")
    if not report.anchored:
        click.echo(f"    {NO_CHECKPOINT}")
    if report.ok and (report.anchored or allow_no_checkpoint):
        click.echo(f"VERIFIED {report.size} records, root {root}")
    report.raise_for_failure(require_checkpoint=not allow_no_checkpoint)


@audit_group.command("replay")
@_log_argument
@_format_options()
@click.pass_context
def audit_replay(ctx: click.Context, log: str, out: Output) -> None:
    """Recompute every assessment, decision and confirmation from LOG alone and compare field by field.

    \b
    Example:
      suitability audit replay suitability-log.sqlite3
    """
    from .replay import replay

    store = _existing_log(ctx, log)
    report = replay(store, progress=_progress("replay", store.size()))
    if not out.table:
        rows = [
            {"seq": d.seq, "type": d.type, "field": d.field, "recorded": d.recorded, "recomputed": d.recomputed}
            for d in report.differences
        ]
        rows += [
            {"seq": None, "type": None, "field": e.pointer, "recorded": None, "recomputed": e.message}
            for e in report.errors
        ]
        if out.format == "json":
            _emit_json({"replayed": report.ok, "counts": report.counts, "differences": rows})
        else:
            _emit_rows(out, ["seq", "type", "field", "recorded", "recomputed"], rows)
        report.raise_for_failure()
        return
    counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items())
    click.echo(f"replayed {counts}")
    if report.ok:
        click.echo("REPLAYED: every result reproduced")
    report.raise_for_failure()


@audit_group.command("prove")
@_log_argument
@click.option("--seq", type=int, required=True, help="The record to prove.")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="The signed checkpoint to prove it against.",
)
@click.option(
    "--out", "out_file", required=True, type=click.Path(dir_okay=False), help="Where to write the proof (JSON)."
)
@click.option(
    "--public-key", "public_key", type=click.Path(dir_okay=False), help="Check the checkpoint's signature first."
)
@click.pass_context
def audit_prove(
    ctx: click.Context, log: str, seq: int, checkpoint_file: str, out_file: str, public_key: str | None
) -> None:
    """Write an offline inclusion proof of record SEQ in the tree a checkpoint signs.

    \b
    Example:
      suitability audit prove suitability-log.sqlite3 --seq 3 --checkpoint cp-1.txt --out proof-3.json
    """
    from .log.verify import prove

    store = _existing_log(ctx, log)
    verifier = _verifier(public_key) if public_key else None
    proof = prove(store, seq, _read_text(checkpoint_file), verifier, checkpoint_file)
    _write_atomic(out_file, json.dumps(proof, indent=2) + "\n")
    click.echo(f"proof {out_file}: record {seq} in a tree of {proof['tree_size']} records")


@audit_group.command("verify-proof")
@click.argument("proof_file", metavar="FILE")
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(dir_okay=False),
    help="The verifier key of the checkpoint.",
)
@_format_options("table", "json")
def audit_verify_proof(proof_file: str, public_key: str, out: Output) -> None:
    """Check an inclusion proof offline, from the proof, the record bytes and the checkpoint alone.

    \b
    Example:
      suitability audit verify-proof proof-3.json --public-key log.pub
    """
    from .codec import read_json
    from .log.verify import verify_proof

    seq, record, checkpoint = verify_proof(read_json(proof_file), _verifier(public_key), proof_file)
    if not out.table:
        click.echo(record.decode("utf-8"))
        return
    parsed = json.loads(record)
    click.echo(f"PROVEN record {seq} ({parsed.get('type')}) is in {checkpoint.origin} at size {checkpoint.size}")
    click.echo(record.decode("utf-8"))


@audit_group.command("export")
@_log_argument
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="The folder to write the bundle to."
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(dir_okay=False),
    help="Export this checkpoint (default: the latest kept with the log).",
)
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(dir_okay=False),
    help="Export this verifier key (default: the one kept with the log).",
)
@click.pass_context
def audit_export(
    ctx: click.Context, log: str, out_dir: str, checkpoint_file: str | None, public_key: str | None
) -> None:
    """Write the records (exact bytes, JSON Lines), a checkpoint, the key and a stdlib-only verify.py.

    verify.py trusts only the key and origin its user gives it; the bundle's key is a hint.

    \b
    Example:
      suitability audit export suitability-log.sqlite3 --out bundle
      python bundle/verify.py --public-key log.pub --origin broker-x/suitability
    """
    from .log.export import export

    store = _existing_log(ctx, log)
    note = _read_text(checkpoint_file) if checkpoint_file else None
    key = _read_text(public_key).strip() if public_key else None
    manifest = export(store, Path(out_dir), note=note, public_key=key, progress=_progress("export", store.size()))
    script = Path(out_dir) / "verify.py"
    click.echo(
        f"exported {manifest['records']} records to {out_dir}; check with: "
        f"python {script} --public-key <the key you trust> --origin <the log's origin>"
    )


class _TimeBound(click.ParamType[str]):
    """An ISO 8601 year, month, day or instant with an offset (see :func:`suitability.review.parse_time`)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from .review.query import parse_time

        text = str(value)
        try:
            parse_time(text)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return text


def _check_reason(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A reason code, or a rule id of a questionnaire the registry knows (bundled or --documents)."""
    if value is None:
        return value
    from .review.query import reason_values

    rule_ids = (
        rule["id"]
        for entry in _registry(ctx).entries("questionnaire")
        for rule in entry.document.get("rules", [])
        if isinstance(rule, dict) and isinstance(rule.get("id"), str)
    )
    valid = reason_values(rule_ids)
    if value not in valid:
        raise click.BadParameter(f"expected one of {', '.join(valid)}; found {value!r}", ctx, param)
    return value


def _check_level(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A profile or risk level: of the default scale, or a level id of another scale (RT3, SRI6…)."""
    from .review.query import LEVEL_ID, PROFILES, RISK_LEVELS

    if value is None or LEVEL_ID.fullmatch(value):
        return value
    known = ", ".join(PROFILES if param.name == "profile" else RISK_LEVELS)
    raise click.BadParameter(f"expected one of {known} or a level id of another scale; found {value!r}", ctx, param)


@audit_group.command("query")
@_log_argument
@click.option("--client", default=None, help="Client id (or pseudonym).")
@click.option("--actor", default=None, help="Who handled it.")
@click.option("--product", default=None, help="Product id.")
@click.option(
    "--risk-level",
    default=None,
    callback=_check_level,
    help="Product risk level: R1-R5, or a level of another scale (SRI6…).",
)
@click.option(
    "--profile",
    default=None,
    callback=_check_level,
    help="Client profile: C1-C5, or a level of another scale (RT3…).",
)
@click.option("--outcome", default=None, type=click.Choice(OUTCOMES), help="The row's outcome.")
@click.option(
    "--reason",
    default=None,
    callback=_check_reason,
    help="A reason code, e.g. FIRM_INITIATED_MISMATCH (or a rule id of a known questionnaire, for assessments).",
)
@click.option(
    "--type",
    "kind",
    default=None,
    type=click.Choice(["artifact", "assessment", "decision", "confirmation", "recheck"]),
    help="Record type.",
)
@click.option(
    "--since", default=None, type=_TimeBound(), help="At or after: YYYY, YYYY-MM, YYYY-MM-DD (UTC) or an instant."
)
@click.option("--until", default=None, type=_TimeBound(), help="Before: YYYY, YYYY-MM, YYYY-MM-DD (UTC) or an instant.")
@click.option(
    "--time",
    "time_",
    default="recorded",
    type=click.Choice(TIMES),
    show_default=True,
    help="Which time --since and --until test: the store's clock (recorded_at) or the time the caller gave (as_of).",
)
@click.option(
    "--dated-beyond",
    "dated_beyond",
    type=click.FloatRange(min=0, max=87_600),
    metavar="HOURS",
    help="Only records whose as_of lies more than HOURS from their recorded_at (back- or forward-dated).",
)
@click.option(
    "--lowest-category/--not-lowest-category",
    "lowest_category",
    default=None,
    help="Only clients in (or out of) the lowest risk-tolerance category.",
)
@_format_options()
@click.pass_context
def audit_query(
    ctx: click.Context,
    log: str,
    out: Output,
    kind: str | None,
    client: str | None,
    actor: str | None,
    product: str | None,
    risk_level: str | None,
    profile: str | None,
    outcome: str | None,
    reason: str | None,
    since: str | None,
    until: str | None,
    time_: str,
    dated_beyond: float | None,
    lowest_category: bool | None,
) -> None:
    """List the records of LOG that match every filter given, streaming (constant memory).

    Each row shows both times: recorded_at (the store's clock) and as_of (the time the caller gave).
    Table and CSV cells never carry terminal control sequences; CSV text that a spreadsheet would
    run as a formula starts with a '.

    \b
    Example:
      suitability audit query suitability-log.sqlite3 --type decision --outcome blocked --reason LOWEST_CATEGORY
      suitability audit query suitability-log.sqlite3 --since 2026-03 --until 2026-07 --time as-of --format csv
    """
    from .review.query import ROW_FIELDS, QueryFilter, query

    store = _existing_log(ctx, log)
    flt = QueryFilter(
        client,
        actor,
        product,
        risk_level,
        profile,
        outcome,
        reason,
        kind,
        since,
        until,
        time_,
        dated_beyond,
        lowest_category,
    )
    found = query(store, flt, progress=_progress("query", store.size()))
    if out.format in ("jsonl", "json"):
        _emit_rows(out, ROW_FIELDS, found)
        return
    if out.format == "csv":
        _emit_rows(out, ROW_FIELDS, ({**row, "reasons": " ".join(row["reasons"])} for row in found))
        return
    shown = (
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
    _emit_rows(out, shown, found)


@audit_group.command("report")
@_log_argument
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Thresholds (JSON); see the README.")
@_checkpoint_options
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Also write the figures as JSON here.")
@click.option(
    "--tz",
    default="UTC",
    show_default=True,
    metavar="ZONE",
    help="The time zone of the report's months: UTC, Asia/Shanghai, Asia/Hong_Kong, Asia/Taipei or any IANA name.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes verifying ranges of records side by side (default: every core); the report is the same for any N.",
)
@_lang_option
@click.pass_context
def audit_report(
    ctx: click.Context,
    log: str,
    out_file: str,
    config_file: str | None,
    checkpoint_files: tuple[str, ...],
    public_key: str | None,
    json_file: str | None,
    tz: str,
    jobs: int | None,
    lang: str,
) -> None:
    """Write a self-contained HTML review of LOG: integrity first, then the figures a supervisor needs.

    Profiles and their drift, outcomes by risk level, mismatch reasons, client-insisted purchases by
    actor, risk level and age (special care for 65+), blocked attempts, retakes that drifted upward
    (刷分) and the decisions they flipped, and actors ranked against the thresholds.

    \b
    Example:
      suitability audit report suitability-log.sqlite3 --out review.html --lang en
    """
    from .log.verify import default_jobs
    from .review.figures import load_config, review, review_json
    from .review.html import render as render_report

    store = _existing_log(ctx, log)
    opened = _checkpoints(store, log, checkpoint_files, public_key)
    progress = _progress("report", store.size())
    result = review(store, load_config(config_file), opened, progress=progress, tz=tz, jobs=jobs or default_jobs())
    _write_atomic(out_file, render_report(result, lang))
    if json_file:
        _write_atomic(json_file, review_json(result))
    if result.verified:
        status = tr(lang, "verified")
    else:
        status = tr(lang, "FAILED VERIFICATION at seq {seq}", seq=result.first_bad_seq)
    click.echo(
        tr(
            lang,
            "report {file}: {size} records ({status}), {findings} finding(s)",
            file=out_file,
            size=result.size,
            status=status,
            findings=len(result.findings),
        )
    )


# --- foresight: the impact of a draft, re-checks after a change, questionnaire statistics -----


def _rows_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return _table([list(head), *[[str(c) for c in r] for r in rows]]) if rows else "-"


@audit_group.command("impact")
@_log_argument
@click.option("--questionnaire", "questionnaire_ref", metavar="FILE|ID@VERSION", help="The draft questionnaire.")
@click.option("--policy", "policy_ref", metavar="FILE|ID@VERSION", help="The draft policy.")
@click.option("--since", default=None, type=_TimeBound(), help="Only records at or after (recorded_at).")
@click.option("--until", default=None, type=_TimeBound(), help="Only records before (recorded_at).")
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Also write an HTML section here.")
@_options(_lang_option, _format_options("table", "json"))
@click.pass_context
def audit_impact(
    ctx: click.Context,
    log: str,
    questionnaire_ref: str | None,
    policy_ref: str | None,
    since: str | None,
    until: str | None,
    out_file: str | None,
    lang: str,
    out: Output,
) -> None:
    """Replay every recorded assessment and decision of LOG under a draft questionnaire and/or policy.

    Shows whom the change moves before it goes live: profile transitions (old -> new), decisions
    that flip, clients who would become lowest category, answers the draft no longer accepts and
    what to do about them. Nothing is written to LOG.

    \b
    Example:
      suitability audit impact demo.sqlite3 --questionnaire draft-2027.1.json --out impact.html --lang en
    """
    from .review.html import render_impact
    from .review.impact import category_name, impact

    if questionnaire_ref is None and policy_ref is None:
        raise click.UsageError("give --questionnaire, --policy or both: the draft(s) to compare")
    registry = _registry(ctx)
    q = registry.resolve_questionnaire(questionnaire_ref) if questionnaire_ref else None
    p = registry.resolve_policy(policy_ref) if policy_ref else None
    store = _existing_log(ctx, log)
    result = impact(store, q, p, since=since, until=until, progress=_progress("impact", store.size()))
    if out_file:
        _write_atomic(out_file, render_impact(result, lang))
    if not out.table:
        click.echo(result.as_json())
        return
    click.echo(
        tr(
            lang,
            "{assessments} assessments, {decisions} decisions replayed; {moved} change category, {flipped} decisions flip",
            assessments=result.assessments,
            decisions=result.decisions,
            moved=result.moved,
            flipped=result.flipped,
        )
    )
    old, new, count, seq = tr(lang, "OLD"), tr(lang, "NEW"), tr(lang, "COUNT"), tr(lang, "SEQ")
    click.echo(
        _rows_table(
            [old, new, count, seq],
            [
                [category_name(lang, r.key[0]), category_name(lang, r.key[1]), r.count, _seq_list(r.seqs, r.count)]
                for r in result.transitions
            ],
        )
    )
    click.echo(
        _rows_table(
            [tr(lang, "LEVEL"), old, new, tr(lang, "REASONS"), count, seq],
            [
                [
                    r.key[0],
                    name(lang, "outcome", r.key[1]),
                    name(lang, "outcome", r.key[2]),
                    r.key[3],
                    r.count,
                    _seq_list(r.seqs, r.count),
                ]
                for r in result.flips
            ],
        )
    )
    if result.lowest_count:
        clients = _safe(", ".join(result.lowest_clients[:20]))
        click.echo(tr(lang, "lowest category / not eligible: {n}: {clients}", n=result.lowest_count, clients=clients))
    click.echo(
        _rows_table(
            [tr(lang, "QUESTION"), tr(lang, "PROBLEM"), count, seq, tr(lang, "WHAT TO DO")],
            [[*r.key, r.count, _seq_list(r.seqs, r.count), result.actions[r.key[1]][lang]] for r in result.rejected],
        )
    )


def _seq_list(seqs: Sequence[int], count: int) -> str:
    return ",".join(map(str, seqs)) + (f",… (+{count - len(seqs)})" if count > len(seqs) else "")


@questionnaire_group.command("stats")
@_log_argument
@click.option("--questionnaire", "ref", required=True, metavar="ID@VERSION", help="The questionnaire version.")
@click.option(
    "--window-days", default=30, show_default=True, type=click.IntRange(1, 3650), help="A retake is this close."
)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Also write an HTML section here.")
@_options(_lang_option, _format_options("table", "json"))
@click.pass_context
def questionnaire_stats_command(
    ctx: click.Context, log: str, ref: str, window_days: int, out_file: str | None, lang: str, out: Output
) -> None:
    """Item statistics of a questionnaire version from the answers recorded in LOG.

    Per question the answers and the options nobody chose, the item-rest correlation (a question
    below 0.2 does not discriminate); Cronbach's alpha per dimension; the distribution of total
    scores with bunching just above band edges flagged; how often a retake changes the profile.

    \b
    Example:
      suitability questionnaire stats demo.sqlite3 --questionnaire cn-securities-individual@2026.1 --lang en
    """
    from .review.html import render_stats
    from .review.stats import questionnaire_stats, stats_json

    store = _existing_log(ctx, log)
    results = questionnaire_stats(store, ref, window_days=window_days, progress=_progress("stats", store.size()))
    if out_file:
        _write_atomic(out_file, render_stats(results, lang))
    if not out.table:
        click.echo(stats_json(results))
        return
    for r in results:
        click.echo(tr(lang, "{questionnaire}: {n} assessments", questionnaire=r.questionnaire, n=r.assessments))
        rows = [
            [q.id, name(lang, "question_dimension", q.dimension), "-" if q.item_rest is None else f"{q.item_rest:.2f}",
             ",".join(q.unused) or "-"]
            for q in r.questions
        ]  # fmt: skip
        dimension = tr(lang, "DIMENSION")
        click.echo(
            _rows_table([tr(lang, "QUESTION"), dimension, tr(lang, "ITEM-REST R"), tr(lang, "NOBODY CHOSE")], rows)
        )
        dims = [
            [name(lang, "question_dimension", d.dimension), d.items, "-" if d.alpha is None else f"{d.alpha:.2f}"]
            for d in r.dimensions
        ]
        click.echo(_rows_table([dimension, tr(lang, "ITEMS"), tr(lang, "ALPHA")], dims))
        edges = [
            [e.profile, e.edge, e.below, e.above, "-" if e.p_value is None else f"{e.p_value:.2g}"] for e in r.edges
        ]
        head = [tr(lang, "PROFILE"), tr(lang, "EDGE"), tr(lang, "BELOW"), tr(lang, "ABOVE"), tr(lang, "P")]
        click.echo(_rows_table(head, edges))
        agreement = "-" if r.retake_agreement is None else f"{r.retake_agreement:.0%}"
        click.echo(
            tr(
                lang,
                "retakes within {days} days: {retakes}, changed {changed}, agreement {agreement}",
                days=r.window_days,
                retakes=r.retakes,
                changed=r.retakes_changed,
                agreement=agreement,
            )
        )
        for flag in r.flag_messages():
            click.echo(tr(lang, "FLAG {flag}", flag=flag[lang]))


@audit_group.command("recheck")
@_log_argument
@click.option("--catalog", "catalog_file", required=True, type=click.Path(), help="The products as rated now.")
@click.option(
    "--holdings", "holdings_file", type=click.Path(dir_okay=False), help="CSV client_id,product_id: only these."
)
@click.option("--record", "record_it", is_flag=True, help="Record the re-check in LOG (a recheck record).")
@_actor_option
@_as_of_option
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "csv", "json"]), show_default=True)
@_lang_option
@click.pass_context
def audit_recheck(
    ctx: click.Context,
    log: str,
    catalog_file: str,
    holdings_file: str | None,
    record_it: bool,
    actor: str | None,
    as_of: datetime | None,
    fmt: str,
    lang: str,
) -> None:
    """List the clients whose latest suitable (or confirmed) sale would no longer be suitable.

    Each sale in LOG is decided again with the product as --catalog rates it now, and with the
    client's newest assessment; a reason the client had not already accepted makes a notice, with
    the policy's text in zh-CN and en (CSRC 办法 Art. 21). With --record the re-check is recorded.
    The table speaks --lang; csv and json are for machines and carry both texts.

    \b
    Example:
      suitability audit recheck suitability-log.sqlite3 --catalog catalog-2027.csv --holdings holdings.csv --format csv
    """
    import csv

    from .engine import Engine
    from .product import load_catalog
    from .review.impact import category_name
    from .review.recheck import read_holdings, recheck

    store = _existing_log(ctx, log)
    key = os.environ.get("SUITABILITY_PSEUDONYM_KEY")
    engine = Engine(_registry(ctx), store, pseudonym_key=None if key is None else key.encode()) if record_it else None
    result = recheck(
        store,
        load_catalog(catalog_file),
        read_holdings(holdings_file) if holdings_file else None,
        as_of=as_of or datetime.now(UTC),
        engine=engine,
        actor=actor,
        pseudonym_key=key.encode() if key else None,
        progress=_progress("recheck", store.size()),
    )
    if fmt == "json":
        click.echo(result.as_json())
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        for line in csv.reader(result.as_csv().splitlines()):
            writer.writerow([_csv_cell(c) for c in line])
        return
    rows = [[n.client_id, n.product_id, f"{n.risk_level_was}->{n.risk_level_now}",
             f"{category_name(lang, n.profile_was)}->{category_name(lang, n.profile_now)}", name(lang, "sale", n.sale),
             n.decision_seq, " ".join(name(lang, "cause", c) for c in n.causes), " ".join(n.codes)]
            for n in result.notices]  # fmt: skip
    head = [tr(lang, "CLIENT"), tr(lang, "PRODUCT"), tr(lang, "RATING"), tr(lang, "PROFILE"), tr(lang, "SALE"),
            tr(lang, "SEQ"), tr(lang, "CAUSES"), tr(lang, "CODES")]  # fmt: skip
    click.echo(_rows_table(head, rows))
    click.echo(
        tr(
            lang,
            "{n} of {checked} sales would no longer be suitable",
            n=len(result.notices),
            checked=result.checked,
        )
    )
    for client, product in result.unmatched:
        click.echo(
            tr(
                lang,
                "held without a suitable or confirmed sale on record: {client} {product}",
                client=_safe(client),
                product=_safe(product),
            )
        )
    if result.recorded:
        click.echo(tr(lang, "recorded as seq {seq} ({id})", seq=result.recorded[0], id=result.recorded[1]))


@cli.command("demo")
@click.option("--log", "log", required=True, metavar="PATH", help="The log to create (must not exist).")
@click.option("--clients", default=DEMO_CLIENTS, show_default=True, help="How many ordinary clients.")
@click.option("--seed", default=DEMO_SEED, show_default=True, help="Random seed (the same seed, the same log).")
@click.option("--no-patterns", is_flag=True, help="Leave out the planted mis-selling patterns.")
@click.pass_context
def demo_command(ctx: click.Context, log: str, clients: int, seed: int, no_patterns: bool) -> None:
    """Generate a realistic synthetic decision log with planted mis-selling patterns, for demos.

    \b
    Example:
      suitability demo --log demo.sqlite3 --clients 2000 && suitability audit report demo.sqlite3 --out demo.html
    """
    from .review import demo

    summary = demo.generate_log(
        log, _registry(ctx), clients=clients, seed=seed, plant=not no_patterns, progress=_progress("demo", clients * 5)
    )
    click.echo(
        f"demo log {log}: {summary.records} records, {summary.clients} clients, actors {', '.join(summary.actors)}"
    )


@cli.group("db")
def db_group() -> None:
    """Create, upgrade and fill PostgreSQL decision logs."""


@db_group.command("upgrade")
@_log_argument
@click.option(
    "--app-role",
    "app_role",
    metavar="NAME",
    help="PostgreSQL: let the existing role NAME read and append, and nothing more (the URL's role owns the log).",
)
@click.pass_context
def db_upgrade(ctx: click.Context, log: str, app_role: str | None) -> None:
    """Create or upgrade the decision log at LOG to the current schema (idempotent).

    A PostgreSQL URL gets its versioned migrations, run as the role that owns the log; with
    --app-role, the application's role may then read, append through the owner's functions and
    keep checkpoints, but not UPDATE, DELETE, TRUNCATE, ALTER or disable a trigger. A SQLite log
    of the older format gets the folded key index and the append-only triggers on its
    checkpoints. No record is changed.

    \b
    Example:
      suitability db upgrade postgresql://owner@db.internal:5432/suitability --app-role app
      suitability db upgrade suitability-log.sqlite3
    """
    from .log import is_url, upgrade

    if app_role is not None and not is_url(log):
        raise click.UsageError("--app-role applies to a PostgreSQL log only")
    applied = upgrade(log, app_role=app_role)
    click.echo("\n".join(f"applied {m}" for m in applied) if applied else "schema already current")


@db_group.command("copy")
@click.argument("source", metavar="SOURCE")
@click.argument("target", metavar="TARGET")
@click.pass_context
def db_copy(ctx: click.Context, source: str, target: str) -> None:
    """Copy every record of the log SOURCE, byte for byte, into the empty log TARGET (same root).

    \b
    Example:
      suitability db copy suitability-log.sqlite3 postgresql://app@db.internal:5432/suitability
    """
    from .log import open_store
    from .log.export import copy_log

    src = _existing_log(ctx, source)
    dst = ctx.with_resource(open_store(target))
    count = copy_log(src, dst, progress=_progress("copy", src.size()))
    click.echo(f"copied {count} records from {source} to {dst.location}")


# --- serving sales apps over HTTP (suitability.service, imported only here) ---------------------


def _service() -> Any:
    try:
        from . import service
    except ImportError as exc:  # FastAPI and uvicorn are an optional extra
        raise click.UsageError(f"the service needs its extra: pip install 'suitability[service]' ({exc})") from None
    return service


@cli.command("serve")
@click.option(
    "--log", "log", required=True, metavar="LOCATION", help="The decision log: a SQLite file or a postgresql:// URL."
)
@click.option(
    "--keys", "keys_file", required=True, type=click.Path(dir_okay=False), help="The API keys file (keys add)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="The port to listen on.")
@click.option("--catalog", "catalog_file", type=click.Path(), help="Products that requests may name by id.")
@click.option(
    "--checkpoint-key", "checkpoint_key", type=click.Path(dir_okay=False), help="Sign checkpoints with this key."
)
@click.option("--origin", help="The log's name in the checkpoints signed (with --checkpoint-key).")
@click.option(
    "--checkpoint-every",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between checkpoints.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port and the log, each with its own Engine.",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="A policy requests may name, exactly as written here (repeatable; default: cn-csrc). The firm picks, not the caller.",
)
@click.option(
    "--as-of-tolerance",
    default=300.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds a request's as_of (or confirmed_at) may be from the server's clock.",
)
@click.pass_context
def serve_command(
    ctx: click.Context,
    log: str,
    keys_file: str,
    host: str,
    port: int,
    catalog_file: str | None,
    checkpoint_key: str | None,
    origin: str | None,
    checkpoint_every: float,
    workers: int,
    policies: tuple[str, ...],
    as_of_tolerance: float,
) -> None:
    """Serve the Engine over HTTP (JSON, OpenAPI 3.1 at /openapi.json) to sales apps in any language.

    Every result is recorded in LOG before its 201 response. Callers present an API key
    (Authorization: Bearer …) from --keys; with --checkpoint-key the service signs a checkpoint
    whenever the log grew, every --checkpoint-every seconds, so records come with inclusion proofs.

    \b
    Example:
      suitability keys add --file keys.json --actor staff-07 --role sales
      suitability serve --log suitability-log.sqlite3 --keys keys.json --catalog examples/catalog.csv
    """
    service = _service()
    if (checkpoint_key is None) != (origin is None):
        raise click.UsageError("--checkpoint-key and --origin go together")
    from .log.checkpoint import Signer

    checkpointing = (
        service.Checkpointing(Signer.parse(_read_text(checkpoint_key), checkpoint_key), str(origin), checkpoint_every)
        if checkpoint_key
        else None
    )
    key = os.environ.get("SUITABILITY_PSEUDONYM_KEY")
    click.echo(f"serving {log} on http://{host}:{port} (OpenAPI at /openapi.json)", err=True)
    service.serve(
        log,
        keys_file,
        registry=_registry(ctx),
        host=host,
        port=port,
        catalog=catalog_file,
        pseudonym_key=None if key is None else key.encode(),
        checkpointing=checkpointing,
        workers=workers,
        policies=policies or service.DEFAULT_POLICIES,
        as_of_tolerance=timedelta(seconds=as_of_tolerance),
    )


@cli.group("keys")
def keys_group() -> None:
    """Add, list and revoke the API keys of `suitability serve` (only their hashes are stored)."""


@keys_group.command("add")
@click.option("--file", "keys_file", required=True, type=click.Path(dir_okay=False), help="The keys file.")
@click.option("--actor", required=True, callback=_identifier, help="Who the key stands for, recorded with each result.")
@click.option("--role", required=True, type=click.Choice(["sales", "auditor"]), help="sales records; auditor reads.")
def keys_add(keys_file: str, actor: str, role: str) -> None:
    """Make a new API key, print it once, and store only its hash.

    \b
    Example:
      suitability keys add --file keys.json --actor staff-07 --role sales
    """
    add_key = _service().add_key

    entry, key = add_key(keys_file, actor, role)
    click.echo(f"key {entry.id} for {entry.actor} ({entry.role}); shown once, keep it secret:", err=True)
    click.echo(key)


@keys_group.command("list")
@click.option("--file", "keys_file", required=True, type=click.Path(dir_okay=False), help="The keys file.")
@_format_options()
def keys_list(keys_file: str, out: Output) -> None:
    """List the keys: id, actor, role, when made and revoked (never the keys themselves).

    \b
    Example:
      suitability keys list --file keys.json
    """
    load_keys = _service().load_keys

    entries = load_keys(keys_file)
    rows = [{k: v for k, v in e.as_json().items() if k != "sha256"} for e in entries]
    _emit_rows(out, ["id", "actor", "role", "created_at", "revoked_at"], rows)


@keys_group.command("revoke")
@click.option("--file", "keys_file", required=True, type=click.Path(dir_okay=False), help="The keys file.")
@click.argument("key_id")
def keys_revoke(keys_file: str, key_id: str) -> None:
    """Revoke the key KEY_ID; a running service refuses it within a second.

    \b
    Example:
      suitability keys revoke --file keys.json 3f2a9c0d1e4b5a67
    """
    revoke_key = _service().revoke_key

    entry = revoke_key(keys_file, key_id)
    click.echo(f"revoked {entry.id} ({entry.actor}, {entry.role}) at {entry.revoked_at}")


def _progress(label: str, total: int) -> Callable[[int], None] | None:
    """A progress bar (rich) on stderr when it is a terminal and the run is long; nothing otherwise."""
    if not sys.stderr.isatty() or total < 50_000:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(_safe(label)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
    task = bar.add_task(label, total=total)
    bar.start()

    def show(done: int) -> None:
        bar.update(task, completed=done)
        if done >= total:
            bar.stop()

    return show


def main() -> None:
    """Entry point of the ``suitability`` script."""
    cli(prog_name="suitability")
