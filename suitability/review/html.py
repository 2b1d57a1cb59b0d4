"""The review as one self-contained HTML file: inline CSS, inline SVG charts, no external resource.

It opens with what it covers (the period, when and by which version it was generated, the
questionnaire and policy versions in the log) and the integrity result (the numbered checks, the
checkpoints they were checked against, the first bad seq), then the findings, then every figure;
each number lists the ``seq`` of the records behind it and the ``audit query`` that lists them
all. Every text is looked up in the message catalogs (:mod:`suitability.i18n`).

Colours carry one meaning across every chart: a profile, an outcome, a risk level, a reason's
dimension always has the same colour. Charts scale to the page width; the print style (A4) keeps
each heading with its chart.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

from ..i18n import name, pN_, tr
from .figures import AGE_BANDS, NOT_ELIGIBLE, Cell, Figure, Review
from .impact import Impact, category_name
from .stats import DISCRIMINATION_MIN, QuestionnaireStats, question_flags

#: One colour per meaning, the same in every chart.
COLOURS: dict[str, dict[str, str]] = {
    "profile": {
        "C1 (lowest)": "#5b2a86",
        "C1": "#c6dbef",
        "C2": "#9ecae1",
        "C3": "#6baed6",
        "C4": "#3182bd",
        "C5": "#08519c",
    },
    "outcome": {"suitable": "#3a9a5b", "requires_confirmation": "#e0a526", "blocked": "#c0392b"},
    "risk": {"R1": "#fdd0a2", "R2": "#fdae6b", "R3": "#fd8d3c", "R4": "#e6550d", "R5": "#a63603"},
    "dimension": {
        "risk": "#c0392b",
        "horizon": "#2f6fb0",
        "variety": "#7a5bb5",
        "investor_type": "#2fa3a3",
        "assessment": "#6b7b8c",
        "document": "#8c6d31",
        "age": "#d9822b",
        "initiator": "#b83b8f",
        "axis": "#5b8c3a",
    },
}
_NEUTRAL = "#4f6d8a"
_WIDTH = 720  # the SVG's own units; it is drawn at the page's width


def _seqs(seqs: list[int], count: int) -> str:
    shown = ", ".join(str(s) for s in seqs)
    more = f" … (+{count - len(seqs)})" if count > len(seqs) else ""
    return f"seq {shown}{more}"


#: Colours of the levels of a scale other than the default C/R one (RT3, SRI6…), lightest first
#: (:func:`_level_colour`).
_RAMP = {
    "profile": ("#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b"),
    "risk": ("#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#e6550d", "#a63603", "#7f2704"),
}
_LOWEST = " (lowest)"


def _colour(kind: str, value: str) -> str:
    return COLOURS.get(kind, {}).get(value) or _level_colour(kind, value)


def _level_colour(kind: str, value: str) -> str:
    """A level of another scale, by the number its id ends with: profiles from 0 (RT0), risk levels
    from 1 (SRI1) the lightest, darker up the scale; a lowest category as the default scale's."""
    ramp = _RAMP.get(kind)
    if ramp is None:
        return _NEUTRAL
    if value.endswith(_LOWEST):
        return COLOURS["profile"]["C1 (lowest)"]
    stem = value.rstrip("0123456789")
    if stem == value:
        return _NEUTRAL
    step = int(value[len(stem) :][-2:]) - (1 if kind == "risk" else 0)
    return ramp[min(max(step, 0), len(ramp) - 1)]


def _name(kind: str, value: str, lang: str) -> str:
    """What a person reads for a label or series value of ``kind``."""
    if kind == "profile" and value == "C1 (lowest)":
        return tr(lang, "C1 (lowest category)")
    if kind == "profile" and value.endswith(_LOWEST):
        return value.removesuffix(_LOWEST) + tr(lang, " (lowest category)")
    if kind == "profile" and value == NOT_ELIGIBLE:
        return name(lang, "category", "not_eligible")
    if kind in ("outcome", "dimension", "age_band"):
        return name(lang, kind, value)
    return value


def _cell_name(figure: Figure, cell: Cell, lang: str) -> str:
    label = _name(figure.label_kind, cell.label, lang)
    return (
        f"{label} · {_name(figure.series_kind, cell.series, lang)}" if cell.series and figure.kind != "bars" else label
    )


def _svg(width: int, height: int, body: Iterable[str], title: str) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def _legend(figure: Figure, lang: str) -> str:
    seen: list[str] = []
    for cell in figure.cells:
        if cell.series and cell.series not in seen:
            seen.append(cell.series)
    order = list(COLOURS.get(figure.series_kind, {}))
    seen.sort(key=lambda s: order.index(s) if s in order else len(order))
    if figure.kind == "bars" and not figure.series_kind:
        return ""
    items = "".join(
        f'<li><span class="swatch" style="background:{_colour(figure.series_kind, s)}"></span>'
        f"{escape(_name(figure.series_kind, s, lang))}</li>"
        for s in seen
    )
    return f'<ul class="legend">{items}</ul>' if items else ""


def _bar(x: float, y: float, w: float, h: float, colour: str, tip: str, cell: Cell) -> str:
    seqs = " ".join(map(str, cell.seqs))
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 1.5):.1f}" height="{h:.1f}" fill="{colour}" data-seqs="{seqs}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _bars(figure: Figure, lang: str) -> str:
    """One horizontal bar a cell, the label on its left, the count on its right."""
    bar_h, gap, label_w = 16, 5, 230
    biggest = max(c.count for c in figure.cells)
    parts = []
    for i, cell in enumerate(figure.cells):
        y = gap + i * (bar_h + gap)
        w = (_WIDTH - label_w - 50) * cell.count / biggest
        label = _cell_name(figure, cell, lang)
        colour = _colour(figure.series_kind, cell.series) if figure.series_kind else _NEUTRAL
        tip = f"{label}: {cell.count} — {_seqs(cell.seqs, cell.count)}"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(label)}</text>'
            + _bar(label_w, y, w, bar_h, colour, tip, cell)
            + f'<text x="{label_w + w + 5:.1f}" y="{y + bar_h - 4}">{cell.count}</text>'
        )
    return _svg(_WIDTH, len(figure.cells) * (bar_h + gap) + gap, parts, figure.title[lang])


def _groups(figure: Figure) -> dict[str, list[Cell]]:
    groups: dict[str, list[Cell]] = {}
    for cell in figure.cells:
        groups.setdefault(cell.label, []).append(cell)
    return groups


def _stacked(figure: Figure, lang: str) -> str:
    """One horizontal bar a label, its series stacked in their colours."""
    groups = _groups(figure)
    bar_h, gap, label_w = 20, 6, 80
    biggest = max(sum(c.count for c in cells) for cells in groups.values())
    parts = []
    for i, (label, cells) in enumerate(groups.items()):
        y = gap + i * (bar_h + gap)
        x = float(label_w)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(label)}</text>')
        for cell in cells:
            w = (_WIDTH - label_w - 50) * cell.count / biggest
            tip = f"{_cell_name(figure, cell, lang)}: {cell.count} — {_seqs(cell.seqs, cell.count)}"
            parts.append(_bar(x, y, w, bar_h, _colour(figure.series_kind, cell.series), tip, cell))
            x += w
        parts.append(f'<text x="{x + 5:.1f}" y="{y + bar_h - 5}">{sum(c.count for c in cells)}</text>')
    return _svg(_WIDTH, len(groups) * (bar_h + gap) + gap, parts, figure.title[lang])


def _months(figure: Figure, lang: str) -> str:
    """One vertical bar a month, its profiles stacked, months left to right."""
    groups = _groups(figure)
    height, top, bottom, left = 220, 10, 34, 40
    biggest = max(sum(c.count for c in cells) for cells in groups.values())
    step = (_WIDTH - left - 10) / max(len(groups), 1)
    bar_w = min(step * 0.75, 60)
    scale = (height - top - bottom) / biggest
    parts = [
        f'<line x1="{left}" y1="{height - bottom}" x2="{_WIDTH - 5}" y2="{height - bottom}" stroke="#8896a5"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{biggest}</text>',
        f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end">0</text>',
    ]
    for i, (month, cells) in enumerate(groups.items()):
        x = left + i * step + (step - bar_w) / 2
        y = float(height - bottom)
        for cell in cells:
            h = cell.count * scale
            y -= h
            tip = f"{month} · {_name('profile', cell.series, lang)}: {cell.count} — {_seqs(cell.seqs, cell.count)}"
            parts.append(_bar(x, y, bar_w, h, _colour("profile", cell.series), tip, cell))
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" class="small">{sum(c.count for c in cells)}</text>'
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle" class="small">{escape(month)}</text>'
        )
    return _svg(_WIDTH, height, parts, figure.title[lang])


#: The most columns (risk levels) and rows (profiles) the heatmap draws as a grid: its squares stay
#: at least 27 units wide, and its empty squares never outnumber the cells by more than this area.
_GRID_COLUMNS, _GRID_ROWS = 24, 40


def _heatmap(figure: Figure, lang: str, order: Sequence[str] = ()) -> str:
    """Client profile (rows) × product risk level (columns): each square split by outcome share.

    Rows come in the order of the cells (their scale's); columns in ``order`` (the risk levels as the
    figure of outcomes by risk level orders them: the cells, ordered by profile first, cannot say).
    """
    counts: dict[tuple[str, str], list[Cell]] = {}
    for cell in figure.cells:
        profile, _, risk = cell.label.rpartition(" × ")  # labels are recorded text: never trust their shape
        counts.setdefault((profile, risk), []).append(cell)
    # The default scale's rows and columns are drawn whole (empty ones too) unless only other scales'
    # levels were recorded; those follow in the order of the cells (their scale's), as recorded.
    profiles, levels = list(COLOURS["profile"])[1:], list(COLOURS["risk"])
    default = not counts or any(p in profiles or r in levels for p, r in counts)
    if not default:
        profiles, levels = [], []
    for profile, risk in counts:
        for found, seen in ((profile, profiles), (risk, levels)):
            if found not in seen:
                seen.append(found)
    if len(levels) > _GRID_COLUMNS or len(profiles) > _GRID_ROWS:
        # more levels than a grid can show (a scale of hundreds, or labels planted in a tampered log):
        # one bar a pair, as the other figures draw, so the chart grows with the cells, not their square
        return _stacked(figure, lang)
    place = {level: i for i, level in enumerate(order)}
    drawn = len(COLOURS["risk"]) if default else 0  # the default scale's stay first, in theirs
    levels[drawn:] = sorted(levels[drawn:], key=lambda level: place.get(level, len(place)))
    left, top, size_h = 50, 22, 44
    size_w = min(128, (_WIDTH - left - 10) // len(levels))
    parts = [
        f'<text x="{left + j * size_w + size_w / 2}" y="{top - 7}" text-anchor="middle">{escape(r)}</text>'
        for j, r in enumerate(levels)
    ]
    order = list(COLOURS["outcome"])
    for i, profile in enumerate(profiles):
        y = top + i * size_h
        parts.append(f'<text x="{left - 8}" y="{y + size_h / 2 + 4}" text-anchor="end">{escape(profile)}</text>')
        for j, risk in enumerate(levels):
            x = left + j * size_w
            cells = sorted(
                counts.get((profile, risk), []), key=lambda c: order.index(c.series) if c.series in order else 9
            )
            total = sum(c.count for c in cells)
            parts.append(f'<rect x="{x + 1}" y="{y + 1}" width="{size_w - 2}" height="{size_h - 2}" fill="#f1f4f7"/>')
            offset = float(x + 1)
            for cell in cells:
                w = (size_w - 2) * cell.count / total
                tip = f"{profile} × {risk} · {_name('outcome', cell.series, lang)}: {cell.count} — {_seqs(cell.seqs, cell.count)}"
                parts.append(_bar(offset, y + 1, w, size_h - 2, _colour("outcome", cell.series), tip, cell))
                offset += w
            if total:
                parts.append(
                    f'<text x="{x + size_w / 2}" y="{y + size_h / 2 + 4}" text-anchor="middle" class="onbar">{total}</text>'
                )
    return _svg(left + len(levels) * size_w + 10, top + len(profiles) * size_h + 4, parts, figure.title[lang])


_DRAW: dict[str, Callable[[Figure, str], str]] = {"bars": _bars, "stacked": _stacked, "months": _months}


def _query(arguments: str) -> str:
    return f"<code>suitability audit query LOG {escape(arguments)}</code>"


def _figure(figure: Figure, lang: str, levels: Sequence[str] = ()) -> str:
    """A figure, its chart, and its records; ``levels`` orders a heatmap's columns."""
    none, records = tr(lang, "None"), tr(lang, "records")
    if not figure.cells:
        chart = f"<p class='empty'>{none}</p>"
    elif figure.kind == "heatmap":
        chart = _heatmap(figure, lang, levels)
    else:
        chart = _DRAW[figure.kind](figure, lang)
    rows = "".join(
        f"<tr><td>{escape(_cell_name(figure, c, lang))}</td><td class='n'>{c.count}</td><td>{_seqs(c.seqs, c.count)}</td>"
        f"<td>{_query(c.query) if c.query else ''}</td></tr>"
        for c in figure.cells
    )
    head = "".join(f"<th>{h}</th>" for h in (tr(lang, "value"), tr(lang, "records"), "seq", tr(lang, "list them")))
    note = f"<p class='note'>{escape(figure.note[lang])}</p>" if figure.note else ""
    all_of_them = tr(lang, "List them all ({n} records)", n=figure.total)
    query = f"<p class='query'>{all_of_them}: {_query(figure.query)}</p>" if figure.query else ""
    return (
        f'<section class="figure" id="{figure.key}"><div class="keep"><h2>{escape(figure.title[lang])}</h2>{note}'
        f"{_legend(figure, lang)}{chart}</div>{query}"
        f"<details><summary>{records}</summary><table class='cells'><tr>{head}</tr>{rows}</table></details></section>"
    )


def _instant(text: str) -> str:
    return text.replace(".000000Z", "Z")


_DOCUMENT_KINDS = (pN_("document_kind", "questionnaire"), pN_("document_kind", "policy"))


def _document(text: str, lang: str) -> str:
    """``questionnaire id@version`` with its kind named."""
    kind, _, ref = text.partition(" ")
    return f"{name(lang, 'document_kind', kind)} {ref}"


def _coverage(result: Review, lang: str) -> str:
    period = (
        tr(
            lang,
            "{first} to {last} (recorded_at, UTC)",
            first=_instant(result.period[0]),
            last=_instant(result.period[1]),
        )
        if result.period
        else tr(lang, "no records")
    )
    documents = ", ".join(_document(d, lang) for d in result.documents) or tr(lang, "None")
    rows = [
        (tr(lang, "Period"), escape(period)),
        (tr(lang, "Months counted in"), escape(result.tz)),
        (tr(lang, "Generated at"), escape(result.generated_at)),
        (tr(lang, "Generated by"), escape(f"suitability {result.version}")),
        (tr(lang, "Questionnaire and policy versions in the log"), escape(documents)),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    heading = tr(lang, "What this report covers")
    return f'<section id="coverage"><h2>{heading}</h2><table class="facts">{body}</table></section>'


def render(result: Review, lang: str = "zh-CN") -> str:
    """Return the report as one self-contained HTML document."""
    if result.verified:
        status = tr(lang, "The log verified")
    elif result.first_bad_seq is not None:
        status = tr(
            lang, "The log FAILED verification at seq {seq}: do not rely on the figures below", seq=result.first_bad_seq
        )
    else:
        status = tr(lang, "The log FAILED verification: do not rely on the figures below")
    checked = tr(lang, "Checked against signed checkpoint")
    unchecked = tr(lang, "Checked against no signed checkpoint (internal consistency only)")
    list_all, theirs, none = tr(lang, "List them all"), tr(lang, "Their records"), tr(lang, "None")
    heads = {
        "integrity": tr(lang, "Integrity"),
        "findings": tr(lang, "Flagged for review"),
        "actors": tr(lang, "Actors ranked by confirmation rate and retake drift"),
        "thresholds": tr(lang, "Thresholds"),
        "size": tr(lang, "{n} records", n=result.size),
        "root": tr(lang, "root"),
    }
    checks = "".join(
        f"<tr class='{s.lower()}'><td>({n})</td><td>{escape(name(lang, 'check', check))}</td>"
        f"<td>{escape(name(lang, 'check_status', s))}</td><td>{escape(detail)}</td></tr>"
        for n, check, s, detail in result.integrity
    )
    against = (
        "".join(f"<li>{checked}: {escape(src)} ({size})</li>" for src, size in result.checkpoints)
        or f"<li>{unchecked}</li>"
    )
    findings = (
        "".join(
            f"<li class='finding {escape(f.kind)}'><b>{escape(name(lang, 'finding', f.kind))}</b> {escape(f.subject)}: "
            f"{escape(f.detail[lang])} — {_seqs(f.seqs, f.count)}"
            + (f" ({list_all if f.exact else theirs}: {_query(f.query)})" if f.query else "")
            + "</li>"
            for f in result.findings
        )
        or f"<li>{none}</li>"
    )
    actor_rows = "".join(
        f"<tr class='{'flagged' if a.flags else ''}'><td>{escape(a.actor)}</td><td>{a.decisions}</td><td>{a.confirmations}</td>"
        f"<td>{a.rate:.0%}</td><td>{a.elderly_high_risk}</td><td>{a.retake_drift}</td><td>{a.dated}</td>"
        f"<td>{escape(tr(lang, '; ').join(f[lang] for f in a.flags))}</td><td>{_seqs(a.seqs, a.confirmations)}</td></tr>"
        for a in result.actors
    )
    c = result.config
    thresholds = escape(
        tr(
            lang,
            "retake window {window} d; confirmation rate > {rate:.0%} (≥ {decisions} decisions); "
            "≥ {elderly} high-risk ({high}+) confirmations by clients {age}+; ≥ {drift} drifting retakers; "
            "≥ {dated} records whose as_of lies more than {hours:g} h from recorded_at",
            window=c.retake_window_days,
            rate=c.actor_confirmation_rate,
            decisions=c.actor_min_decisions,
            elderly=c.actor_elderly_high_risk,
            high=c.high_risk_from,
            age=c.elderly_age,
            drift=c.actor_retake_drift,
            dated=c.actor_dated,
            hours=c.dated_tolerance_hours,
        )
    )
    by_risk = [c.label for f in result.figures if f.key == "outcomes_by_risk" for c in f.cells]
    levels = list(dict.fromkeys(by_risk))  # every risk level decided, in its scale's order
    figures = "".join(_figure(f, lang, levels) for f in result.figures) + stats_section(result.questionnaires, lang)
    root = base64.b64encode(result.root).decode()
    names = (
        tr(lang, "actor"),
        tr(lang, "decisions"),
        tr(lang, "confirmations"),
        tr(lang, "rate"),
        tr(lang, "{age}+ high-risk", age=c.elderly_age),
        tr(lang, "retake drift"),
        tr(lang, "dated"),
        tr(lang, "flags"),
        "seq",
    )
    head = "".join(f"<th>{h}</th>" for h in names)
    title = tr(lang, "Suitability decision-log review")
    age_order = " ".join(band for _, _, band in AGE_BANDS)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", "Noto Sans CJK TC", sans-serif; margin: 2em auto; max-width: 1000px;
       padding: 0 1em; color: #1d2733; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.15em; margin: 1.6em 0 .4em; }}
.status {{ padding: .6em 1em; border-radius: 4px; font-weight: bold; }}
.status.ok {{ background: #e3f4e8; }} .status.fail {{ background: #fbe3e3; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #dde3ea; padding: .3em .5em; text-align: left; font-size: .9em; vertical-align: top; }}
table.facts th {{ width: 16em; font-weight: normal; color: #55606d; }}
td.n {{ text-align: right; }}
tr.fail td, tr.flagged td {{ background: #fbe3e3; }}
svg.chart {{ display: block; width: 100%; max-width: 100%; height: auto; }}
svg.chart text {{ font-size: 11px; fill: #1d2733; }} svg.chart text.small {{ font-size: 9px; }}
svg.chart text.onbar {{ font-size: 12px; font-weight: bold; fill: #fff; paint-order: stroke; stroke: #1d2733; stroke-width: 2px; }}
.legend {{ list-style: none; padding: 0; margin: .2em 0 .4em; display: flex; flex-wrap: wrap; gap: .3em 1.2em; font-size: .85em; }}
.swatch {{ display: inline-block; width: .9em; height: .9em; margin-right: .35em; vertical-align: -.1em; border-radius: 2px; }}
.finding {{ margin: .3em 0; }} code {{ background: #f1f4f7; padding: 0 .3em; word-break: break-all; }}
.note, .query {{ color: #55606d; font-size: .9em; }}
@page {{ size: A4; margin: 14mm 12mm; }}
@media print {{
  body {{ margin: 0; max-width: none; padding: 0; font-size: 10pt; }}
  h1, h2 {{ break-after: avoid; page-break-after: avoid; }}
  .keep, .status, tr {{ break-inside: avoid; page-break-inside: avoid; }}
  details {{ display: none; }}
}}
</style></head>
<body data-age-bands="{escape(age_order)}">
<h1>{title}</h1>
{_coverage(result, lang)}
<section id="integrity"><div class="keep"><h2>{heads["integrity"]}</h2>
<p class="status {"ok" if result.verified else "fail"}">{status}: {heads["size"]}, {heads["root"]} <code>{root}</code></p></div>
<table>{checks}</table><ul>{against}</ul></section>
<section id="findings"><h2>{heads["findings"]}</h2><ul>{findings}</ul></section>
{figures}
<section id="actors"><div class="keep"><h2>{heads["actors"]}</h2>
<p class="note">{heads["thresholds"]}: {thresholds}</p></div>
<table><tr>{head}</tr>{actor_rows}</table></section>
<script>
const charts = document.querySelectorAll("svg.chart");
document.documentElement.dataset.rendered = String(charts.length);
const page = document.body.getBoundingClientRect().right;
document.documentElement.dataset.overflowing = String([...charts].filter(c => c.getBoundingClientRect().right > page + 1).length);
</script>
</body></html>
"""


# --- foresight: the impact of a draft, and the evidence that a questionnaire measures something ---

_STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", "Noto Sans CJK TC", sans-serif; margin: 2em auto; max-width: 1000px; color: #1d2733; }
h1 { font-size: 1.6em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #dde3ea; padding: .3em .5em; text-align: left; font-size: .9em; }
tr.flagged td, tr.changed td { background: #fbe3e3; }
code { background: #f1f4f7; padding: 0 .3em; } .note { color: #55606d; font-size: .9em; }
"""


def _table_html(head: list[str], rows: list[tuple[list[str], str]]) -> str:
    if not rows:
        return "<p class='empty'>—</p>"
    cells = "".join(
        f"<tr class='{cls}'>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row, cls in rows
    )
    return "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + f"</tr>{cells}</table>"


def impact_section(result: Impact, lang: str = "zh-CN") -> str:
    """The impact of a draft as an HTML section (tables in the review report's style, seqs behind each number)."""
    summary = tr(
        lang,
        "Replayed {assessments} assessments and {decisions} decisions: {moved} assessments change category, "
        "{flipped} decisions change outcome. Nothing was written to the log.",
        assessments=result.assessments,
        decisions=result.decisions,
        moved=result.moved,
        flipped=result.flipped,
    )
    drafts = " · ".join(x for x in (result.questionnaire, result.policy) if x)
    heads = {  # (Babel extracts no text from inside an f-string)
        "title": tr(lang, "Impact of a draft"),
        "transitions": tr(lang, "Profile transitions (old → new)"),
        "flips": tr(lang, "Decisions that flip (by product level and reason)"),
        "lowest": tr(lang, "Clients who would become lowest category (or not eligible)"),
        "rejected": tr(lang, "Answers the draft no longer accepts"),
        "clients": tr(lang, "clients"),
    }
    old, new, count = tr(lang, "old"), tr(lang, "new"), tr(lang, "count")
    transitions = _table_html(
        [old, new, count, "seq"],
        [
            (
                [category_name(lang, r.key[0]), category_name(lang, r.key[1]), str(r.count), _seqs(r.seqs, r.count)],
                "changed" if r.key[0] != r.key[1] else "",
            )
            for r in result.transitions
        ],
    )
    flips = _table_html(
        [tr(lang, "product level"), old, new, tr(lang, "reasons gained (+) or lost (−)"), count, "seq"],
        [
            (
                [
                    r.key[0],
                    name(lang, "outcome", r.key[1]),
                    name(lang, "outcome", r.key[2]),
                    r.key[3],
                    str(r.count),
                    _seqs(r.seqs, r.count),
                ],
                "",
            )
            for r in result.flips
        ],
    )
    lowest = _table_html(
        [old, new, count, "seq"],
        [
            (
                [category_name(lang, r.key[0]), category_name(lang, r.key[1]), str(r.count), _seqs(r.seqs, r.count)],
                "flagged",
            )
            for r in result.lowest
        ],
    )
    clients = (
        f"<p class='note'>{heads['clients']} ({result.lowest_count}): {escape(', '.join(result.lowest_clients))}</p>"
        if result.lowest_clients
        else ""
    )
    rejected = _table_html(
        [tr(lang, "question"), tr(lang, "problem"), count, "seq", tr(lang, "what to do")],
        [
            ([*r.key, str(r.count), _seqs(r.seqs, r.count), result.actions.get(r.key[1], {}).get(lang, "")], "flagged")
            for r in result.rejected
        ],
    )
    return (
        f'<section id="impact"><h2>{heads["title"]}: {escape(drafts)}</h2><p>{escape(summary)}</p>'
        f"<h2>{heads['transitions']}</h2>{transitions}<h2>{heads['flips']}</h2>{flips}"
        f"<h2>{heads['lowest']}</h2>{lowest}{clients}<h2>{heads['rejected']}</h2>{rejected}</section>"
    )


def render_impact(result: Impact, lang: str = "zh-CN") -> str:
    """The impact of a draft as one self-contained HTML document."""
    title = tr(lang, "Impact of a draft")
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{impact_section(result, lang)}</body></html>\n"
    )


def _histogram(scores: Mapping[int, int] | Mapping[str, int], edges: Sequence[int | str]) -> str:
    """Bars of plain HTML (the report's SVG charts are its figures, one each): a band edge in red.
    Integer totals get a bar for every score from the lowest to the highest; decimal totals (text,
    such as "3.6") one for each total found, in order."""
    if not scores:
        return "<p class='empty'>—</p>"
    counts: dict[Any, int] = dict(scores)
    keys: list[Any] = list(counts)
    if all(isinstance(k, int) for k in keys):
        keys = list(range(min(keys), max(keys) + 1))
    else:
        keys.sort(key=Decimal)
    low, high = keys[0], keys[-1]
    top = max(counts.values())
    bars = "".join(
        f'<span title="{s}: {counts.get(s, 0)}" style="display:inline-block;width:8px;margin-right:1px;'
        f'height:{max(1, 150 * counts.get(s, 0) // top)}px;background:{"#b83b3b" if s in edges else COLOURS["profile"]["C3"]}"></span>'
        for s in keys
    )
    return f'<div class="histogram" style="display:flex;align-items:flex-end;height:155px">{bars}</div><p class="note">{low} … {high}</p>'


def stats_section(results: list[QuestionnaireStats], lang: str = "zh-CN") -> str:
    """The questionnaire statistics as an HTML section (one part per questionnaire version)."""
    if not results:
        return ""
    title = tr(lang, "Evidence that the questionnaire measures something")
    note = tr(
        lang,
        "A question whose item-rest correlation (corrected item-total) is below {minimum} does not discriminate "
        "between clients; the internal consistency of each dimension is Cronbach's α; totals bunched just above "
        "a band edge (one-sided binomial test) suggest coached answers.",
        minimum=DISCRIMINATION_MIN,
    )
    head = [tr(lang, "question"), tr(lang, "dimension"), tr(lang, "answers"), tr(lang, "nobody chose"),
            tr(lang, "item-rest correlation"), tr(lang, "flags")]  # fmt: skip
    dims_head = [tr(lang, "dimension"), tr(lang, "scored items"), tr(lang, "Cronbach's α")]
    edges_head = [tr(lang, "profile"), tr(lang, "edge"), tr(lang, "just below"), tr(lang, "just above"),
                  tr(lang, "p-value"), tr(lang, "bunching")]  # fmt: skip
    scores = tr(lang, "Distribution of total scores")
    parts = [f'<section id="questionnaire-stats"><h2>{title}</h2><p class="note">{escape(note)}</p>']
    for r in results:
        rows = [
            (
                [
                    q.id,
                    name(lang, "question_dimension", q.dimension),
                    " ".join(f"{o}:{n}" for o, n in q.answers.items()),
                    ", ".join(q.unused),
                    "-" if q.item_rest is None else f"{q.item_rest:.2f}",
                    tr(lang, "; ").join(f[lang] for f in question_flags(q, r.assessments)),
                ],
                "flagged" if q.flags else "",
            )
            for q in r.questions
        ]
        dims = [
            (
                [
                    name(lang, "question_dimension", d.dimension),
                    str(d.items),
                    "-" if d.alpha is None else f"{d.alpha:.2f}",
                ],
                "",
            )
            for d in r.dimensions
        ]
        edges = [
            (
                [
                    e.profile,
                    str(e.edge),
                    str(e.below),
                    str(e.above),
                    "-" if e.p_value is None else f"{e.p_value:.2g}",
                    "!" if e.flagged else "",
                ],
                "flagged" if e.flagged else "",
            )
            for e in r.edges
        ]
        agreement = "-" if r.retake_agreement is None else f"{r.retake_agreement:.0%}"
        retakes = tr(
            lang,
            "{retakes} retakes within {days} days, {changed} with a changed category (agreement {agreement})",
            retakes=r.retakes,
            days=r.window_days,
            changed=r.retakes_changed,
            agreement=agreement,
        )
        seqs = f" — {_seqs(r.retake_seqs, r.retakes_changed)}" if r.retake_seqs else ""
        heading = tr(lang, "{questionnaire}: {n} assessments", questionnaire=r.questionnaire, n=r.assessments)
        parts.append(
            f"<h2>{escape(heading)}</h2>"
            f"{_table_html(head, rows)}{_table_html(dims_head, dims)}"
            f"<h2>{scores}</h2>{_histogram(r.scores, [e.edge for e in r.edges])}"
            f"{_table_html(edges_head, edges)}<p>{escape(retakes + seqs)}</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_stats(results: list[QuestionnaireStats], lang: str = "zh-CN") -> str:
    """The questionnaire statistics as one self-contained HTML document."""
    title = tr(lang, "Evidence that the questionnaire measures something")
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{stats_section(results, lang)}</body></html>\n"
    )
