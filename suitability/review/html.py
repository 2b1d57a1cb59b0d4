"""The review as one self-contained HTML file: inline CSS, inline SVG charts, no external resource.

It opens with the integrity result (the numbered checks, and the checkpoints they were checked
against), then the findings, then every figure; each number lists the ``seq`` of the records behind
it, and each figure names the ``audit query`` that lists them all.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from .figures import Figure, Review
from .impact import Impact
from .stats import QuestionnaireStats

_PALETTE = ("#2f6fb0", "#d9822b", "#3a9a5b", "#b83b3b", "#7a5bb5", "#6b7b8c", "#c2a32b", "#2fa3a3")

_TEXT = {
    "title": {"zh-CN": "适当性决策日志审阅报告", "en": "Suitability decision-log review"},
    "integrity": {"zh-CN": "完整性", "en": "Integrity"},
    "verified": {"zh-CN": "日志已通过验证", "en": "The log verified"},
    "failed": {
        "zh-CN": "日志未通过验证：以下数字不可依赖",
        "en": "The log FAILED verification: do not rely on the figures below",
    },
    "no_checkpoint": {
        "zh-CN": "未对照任何签名检查点（只验证了内部一致性）",
        "en": "Checked against no signed checkpoint (internal consistency only)",
    },
    "checked_against": {"zh-CN": "已对照签名检查点", "en": "Checked against signed checkpoint"},
    "findings": {"zh-CN": "需要关注", "en": "Flagged for review"},
    "none": {"zh-CN": "无", "en": "None"},
    "actors": {
        "zh-CN": "经办人排名（按确认率与重复评估漂移）",
        "en": "Actors ranked by confirmation rate and retake drift",
    },
    "records": {"zh-CN": "记录", "en": "records"},
    "query": {"zh-CN": "列出全部记录", "en": "List them all"},
    "thresholds": {"zh-CN": "阈值", "en": "Thresholds"},
}
_CHECK_NAMES = {
    "sequence": {"zh-CN": "序号连续", "en": "sequence"},
    "canonical bytes": {"zh-CN": "规范字节", "en": "canonical bytes"},
    "leaf hashes": {"zh-CN": "叶哈希", "en": "leaf hashes"},
    "root": {"zh-CN": "根哈希与检查点", "en": "root"},
    "references": {"zh-CN": "引用", "en": "references"},
}
_KINDS = {
    "retake_drift": {"zh-CN": "重新评估漂移（刷分）", "en": "retake drift"},
    "flipped_decision": {"zh-CN": "被重新评估改变的判定", "en": "flipped decision"},
    "dated": {"zh-CN": "倒签或预签的记录", "en": "back- or forward-dated"},
    "actor": {"zh-CN": "经办人", "en": "actor"},
}
_HEAD = {
    "zh-CN": ("经办人", "判定", "确认", "确认率", "高龄高风险", "重新评估漂移", "倒签/预签", "标记", "记录"),
    "en": ("actor", "decisions", "confirmations", "rate", "65+ high-risk", "retake drift", "dated", "flags", "seq"),
}


def _t(key: str, lang: str) -> str:
    return _TEXT[key][lang]


def _seqs(seqs: list[int], count: int) -> str:
    shown = ", ".join(str(s) for s in seqs)
    more = f" … (+{count - len(seqs)})" if count > len(seqs) else ""
    return f"seq {shown}{more}"


def _chart(figure: Figure) -> str:
    if not figure.cells:
        return "<p class='empty'>—</p>"
    series = sorted({c.series for c in figure.cells})
    colour = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(series)}
    biggest = max(c.count for c in figure.cells)
    bar_h, gap, label_w, width = 18, 6, 330, 900
    height = len(figure.cells) * (bar_h + gap) + gap
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, cell in enumerate(figure.cells):
        y = gap + i * (bar_h + gap)
        w = max(2, int((width - label_w - 80) * cell.count / biggest))
        label = f"{cell.series} · {cell.label}" if cell.series else cell.label
        tip = escape(f"{label}: {cell.count} — {_seqs(cell.seqs, cell.count)}")
        parts.append(
            f'<g><title>{tip}</title><text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{colour[cell.series]}" data-seqs="{" ".join(map(str, cell.seqs))}"/>'
            f'<text x="{label_w + w + 6}" y="{y + bar_h - 5}">{cell.count}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _figure(figure: Figure, lang: str) -> str:
    rows = "".join(
        f"<li><b>{escape(f'{c.series} · {c.label}' if c.series else c.label)}</b> {c.count}: {_seqs(c.seqs, c.count)}</li>"
        for c in figure.cells
    )
    note = f"<p class='note'>{escape(figure.note[lang])}</p>" if figure.note else ""
    query = (
        f"<p class='query'>{_t('query', lang)}: <code>suitability audit query LOG {escape(figure.query)}</code></p>"
        if figure.query
        else ""
    )
    return (
        f'<section class="figure" id="{figure.key}"><h2>{escape(figure.title[lang])}</h2>{note}{_chart(figure)}'
        f"<details><summary>{_t('records', lang)}</summary><ul>{rows}</ul></details>{query}</section>"
    )


def render(result: Review, lang: str = "zh-CN") -> str:
    """Return the report as one self-contained HTML document."""
    status = _t("verified", lang) if result.verified else _t("failed", lang)
    checks = "".join(
        f"<tr class='{s.lower()}'><td>({n})</td><td>{escape(_CHECK_NAMES.get(name, {}).get(lang, name))}</td><td>{s}</td><td>{escape(detail)}</td></tr>"
        for n, name, s, detail in result.integrity
    )
    against = (
        "".join(f"<li>{_t('checked_against', lang)}: {escape(src)} ({size})</li>" for src, size in result.checkpoints)
        or f"<li>{_t('no_checkpoint', lang)}</li>"
    )
    findings = (
        "".join(
            f"<li class='finding {escape(f.kind)}'><b>{escape(_KINDS.get(f.kind, {}).get(lang, f.kind))}</b> {escape(f.subject)}: "
            f"{escape(f.detail[lang])} — {_seqs(f.seqs, f.count)}"
            + (f" ({_t('query', lang)}: <code>suitability audit query LOG {escape(f.query)}</code>)" if f.query else "")
            + "</li>"
            for f in result.findings
        )
        or f"<li>{_t('none', lang)}</li>"
    )
    actor_rows = "".join(
        f"<tr class='{'flagged' if a.flags else ''}'><td>{escape(a.actor)}</td><td>{a.decisions}</td><td>{a.confirmations}</td>"
        f"<td>{a.rate:.0%}</td><td>{a.elderly_high_risk}</td><td>{a.retake_drift}</td><td>{a.dated}</td><td>{escape('; '.join(f[lang] for f in a.flags))}</td>"
        f"<td>{_seqs(a.seqs, a.confirmations)}</td></tr>"
        for a in result.actors
    )
    c = result.config
    thresholds = escape(
        {
            "zh-CN": f"重新评估窗口 {c.retake_window_days} 天；确认率 > {c.actor_confirmation_rate:.0%}（至少 {c.actor_min_decisions} 笔判定）；"
            f"{c.elderly_age} 岁及以上客户确认 {c.high_risk_from} 及以上产品 ≥ {c.actor_elderly_high_risk} 笔；重新评估漂移客户 ≥ {c.actor_retake_drift} 名；"
            f"as_of 与记录时间相差超过 {c.dated_tolerance_hours:g} 小时的记录 ≥ {c.actor_dated} 条",
            "en": f"retake window {c.retake_window_days} d; confirmation rate > {c.actor_confirmation_rate:.0%} (≥ {c.actor_min_decisions} decisions); "
            f"≥ {c.actor_elderly_high_risk} high-risk ({c.high_risk_from}+) confirmations by clients {c.elderly_age}+; ≥ {c.actor_retake_drift} drifting retakers; "
            f"≥ {c.actor_dated} records whose as_of lies more than {c.dated_tolerance_hours:g} h from recorded_at",
        }[lang]
    )
    figures = "".join(_figure(f, lang) for f in result.figures) + stats_section(result.questionnaires, lang)
    root = base64.b64encode(result.root).decode()
    head = "".join(f"<th>{h}</th>" for h in _HEAD[lang])
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{_t("title", lang)}</title>
<style>
body {{ font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 2em auto; max-width: 1000px; color: #1d2733; }}
h1 {{ font-size: 1.6em; }} h2 {{ font-size: 1.15em; margin-top: 1.8em; }}
.status {{ padding: .6em 1em; border-radius: 4px; font-weight: bold; }}
.status.ok {{ background: #e3f4e8; }} .status.fail {{ background: #fbe3e3; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #dde3ea; padding: .3em .5em; text-align: left; font-size: .9em; }}
tr.fail td, tr.flagged td {{ background: #fbe3e3; }}
.chart text {{ font-size: 12px; fill: #1d2733; }}
.finding {{ margin: .3em 0; }} code {{ background: #f1f4f7; padding: 0 .3em; }}
.note, .query {{ color: #55606d; font-size: .9em; }}
</style></head>
<body>
<h1>{_t("title", lang)}</h1>
<section id="integrity"><h2>{_t("integrity", lang)}</h2>
<p class="status {"ok" if result.verified else "fail"}">{status}: {result.size} {_t("records", lang)}, root <code>{root}</code></p>
<table>{checks}</table><ul>{against}</ul></section>
<section id="findings"><h2>{_t("findings", lang)}</h2><ul>{findings}</ul></section>
{figures}
<section id="actors"><h2>{_t("actors", lang)}</h2><p class="note">{_t("thresholds", lang)}: {thresholds}</p>
<table><tr>{head}</tr>{actor_rows}</table></section>
<script>document.documentElement.dataset.rendered = String(document.querySelectorAll("svg.chart").length);</script>
</body></html>
"""


# --- foresight: the impact of a draft, and the evidence that a questionnaire measures something ---

_STYLE = """
body { font-family: system-ui, "Noto Sans CJK SC", sans-serif; margin: 2em auto; max-width: 1000px; color: #1d2733; }
h1 { font-size: 1.6em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; width: 100%; } td, th { border-bottom: 1px solid #dde3ea; padding: .3em .5em; text-align: left; font-size: .9em; }
tr.flagged td, tr.changed td { background: #fbe3e3; }
code { background: #f1f4f7; padding: 0 .3em; } .note { color: #55606d; font-size: .9em; }
"""

_IMPACT_TEXT = {
    "title": {"zh-CN": "草案影响评估", "en": "Impact of a draft"},
    "summary": {
        "zh-CN": "重放 {a} 份评估与 {d} 笔判定：{m} 份评估改变类别，{f} 笔判定改变结果。未向日志写入任何内容。",
        "en": "Replayed {a} assessments and {d} decisions: {m} assessments change category, {f} decisions change outcome. Nothing was written to the log.",
    },
    "transitions": {"zh-CN": "风险等级迁移（原 → 新）", "en": "Profile transitions (old → new)"},
    "flips": {
        "zh-CN": "改变结果的判定（按产品风险等级与原因）",
        "en": "Decisions that flip (by product level and reason)",
    },
    "lowest": {
        "zh-CN": "将成为最低类别（或不适格）的客户",
        "en": "Clients who would become lowest category (or not eligible)",
    },
    "rejected": {"zh-CN": "草案不再接受的答案", "en": "Answers the draft no longer accepts"},
    "old": {"zh-CN": "原", "en": "old"},
    "new": {"zh-CN": "新", "en": "new"},
    "count": {"zh-CN": "数量", "en": "count"},
    "level": {"zh-CN": "产品风险等级", "en": "product level"},
    "reasons": {"zh-CN": "原因变化", "en": "reasons gained (+) or lost (−)"},
    "question": {"zh-CN": "问题", "en": "question"},
    "problem": {"zh-CN": "问题类型", "en": "problem"},
    "action": {"zh-CN": "处理方式", "en": "what to do"},
    "clients": {"zh-CN": "客户", "en": "clients"},
}


def _table_html(head: list[str], rows: list[tuple[list[str], str]]) -> str:
    if not rows:
        return "<p class='empty'>—</p>"
    cells = "".join(
        f"<tr class='{cls}'>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row, cls in rows
    )
    return "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + f"</tr>{cells}</table>"


def impact_section(result: Impact, lang: str = "zh-CN") -> str:
    """The impact of a draft as an HTML section (tables in the review report's style, seqs behind each number)."""

    def t(key: str) -> str:
        return _IMPACT_TEXT[key][lang]

    summary = t("summary").format(a=result.assessments, d=result.decisions, m=result.moved, f=result.flipped)
    drafts = " · ".join(x for x in (result.questionnaire, result.policy) if x)
    transitions = _table_html(
        [t("old"), t("new"), t("count"), "seq"],
        [
            ([r.key[0], r.key[1], str(r.count), _seqs(r.seqs, r.count)], "changed" if r.key[0] != r.key[1] else "")
            for r in result.transitions
        ],
    )
    flips = _table_html(
        [t("level"), t("old"), t("new"), t("reasons"), t("count"), "seq"],
        [([*r.key, str(r.count), _seqs(r.seqs, r.count)], "") for r in result.flips],
    )
    lowest = _table_html(
        [t("old"), t("new"), t("count"), "seq"],
        [([*r.key, str(r.count), _seqs(r.seqs, r.count)], "flagged") for r in result.lowest],
    )
    clients = (
        f"<p class='note'>{t('clients')} ({result.lowest_count}): {escape(', '.join(result.lowest_clients))}</p>"
        if result.lowest_clients
        else ""
    )
    rejected = _table_html(
        [t("question"), t("problem"), t("count"), "seq", t("action")],
        [
            ([*r.key, str(r.count), _seqs(r.seqs, r.count), result.actions.get(r.key[1], {}).get(lang, "")], "flagged")
            for r in result.rejected
        ],
    )
    return (
        f'<section id="impact"><h2>{t("title")}: {escape(drafts)}</h2><p>{escape(summary)}</p>'
        f"<h2>{t('transitions')}</h2>{transitions}<h2>{t('flips')}</h2>{flips}"
        f"<h2>{t('lowest')}</h2>{lowest}{clients}<h2>{t('rejected')}</h2>{rejected}</section>"
    )


def render_impact(result: Impact, lang: str = "zh-CN") -> str:
    """The impact of a draft as one self-contained HTML document."""
    title = _IMPACT_TEXT["title"][lang]
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{impact_section(result, lang)}</body></html>\n"
    )


_STATS_TEXT: dict[str, dict[str, Any]] = {
    "title": {"zh-CN": "问卷有效性证据", "en": "Evidence that the questionnaire measures something"},
    "note": {
        "zh-CN": "题目-其余总分相关（校正后题总相关）低于 {m} 的题目不能区分客户；各维度为 Cronbach α；分界线上方的总分聚集（单侧二项检验）可能表明答案受到引导。",
        "en": "A question whose item-rest correlation (corrected item-total) is below {m} does not discriminate between clients; "
        "α is Cronbach's per dimension; totals bunched just above a band edge (one-sided binomial test) suggest coached answers.",
    },
    "head": {
        "zh-CN": ("题目", "维度", "答案分布", "无人选择", "题目-其余相关", "标记"),
        "en": ("question", "dimension", "answers", "nobody chose", "item-rest r", "flags"),
    },
    "dims": {"zh-CN": ("维度", "计分题数", "Cronbach α"), "en": ("dimension", "scored items", "Cronbach's α")},
    "edges": {
        "zh-CN": ("等级", "分界", "分界下方", "分界上方", "p 值", "聚集"),
        "en": ("profile", "edge", "just below", "just above", "p", "bunching"),
    },
    "scores": {"zh-CN": "总分分布", "en": "Distribution of total scores"},
    "retakes": {
        "zh-CN": "{w} 天内重新评估 {n} 次，其中 {c} 次类别改变（一致率 {a}）",
        "en": "{n} retakes within {w} days, {c} with a changed category (agreement {a})",
    },
    "assessments": {"zh-CN": "份评估", "en": "assessments"},
}


def _histogram(scores: dict[int, int], edges: list[int]) -> str:
    """Bars of plain HTML (the report's SVG charts are its figures, one each): a band edge in red."""
    if not scores:
        return "<p class='empty'>—</p>"
    low, high = min(scores), max(scores)
    top = max(scores.values())
    bars = "".join(
        f'<span title="{s}: {scores.get(s, 0)}" style="display:inline-block;width:8px;margin-right:1px;'
        f'height:{max(1, 150 * scores.get(s, 0) // top)}px;background:{"#b83b3b" if s in edges else _PALETTE[0]}"></span>'
        for s in range(low, high + 1)
    )
    return f'<div class="histogram" style="display:flex;align-items:flex-end;height:155px">{bars}</div><p class="note">{low} … {high}</p>'


def stats_section(results: list[QuestionnaireStats], lang: str = "zh-CN") -> str:
    """The questionnaire statistics as an HTML section (one part per questionnaire version)."""
    if not results:
        return ""
    from .stats import DISCRIMINATION_MIN

    text = _STATS_TEXT
    parts = [f'<section id="questionnaire-stats"><h2>{text["title"][lang]}</h2>'
             f'<p class="note">{escape(text["note"][lang].format(m=DISCRIMINATION_MIN))}</p>']  # fmt: skip
    for r in results:
        rows = [
            (
                [
                    q.id,
                    q.dimension,
                    " ".join(f"{o}:{n}" for o, n in q.answers.items()),
                    ", ".join(q.unused),
                    "-" if q.item_rest is None else f"{q.item_rest:.2f}",
                    "; ".join(q.flags),
                ],
                "flagged" if q.flags else "",
            )
            for q in r.questions
        ]
        dims = [([d.dimension, str(d.items), "-" if d.alpha is None else f"{d.alpha:.2f}"], "") for d in r.dimensions]
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
        retakes = text["retakes"][lang].format(w=r.window_days, n=r.retakes, c=r.retakes_changed, a=agreement)
        seqs = f" — {_seqs(r.retake_seqs, r.retakes_changed)}" if r.retake_seqs else ""
        parts.append(
            f"<h2>{escape(r.questionnaire)}: {r.assessments} {text['assessments'][lang]}</h2>"
            f"{_table_html(list(text['head'][lang]), rows)}{_table_html(list(text['dims'][lang]), dims)}"
            f"<h2>{text['scores'][lang]}</h2>{_histogram(r.scores, [e.edge for e in r.edges])}"
            f"{_table_html(list(text['edges'][lang]), edges)}<p>{escape(retakes + seqs)}</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_stats(results: list[QuestionnaireStats], lang: str = "zh-CN") -> str:
    """The questionnaire statistics as one self-contained HTML document."""
    title = _STATS_TEXT["title"][lang]
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{stats_section(results, lang)}</body></html>\n"
    )
