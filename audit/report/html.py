"""``--format html``: one self-contained page for finance, fit to open in a browser or mail.

The page is rendered from :func:`~audit.report.serialize.report_dict` — the documented
``tokaudit.report/1`` data — so HTML, JSON and terminal carry the same facts. Keys that
later builds add to that data (``previous``, ``model_mix``, ``checklist``, richer
``findings``) are rendered when present and skipped when absent or empty.

Email-safe by construction: table layout, inline ``style=`` on the elements mail clients
need (one small ``<style>`` block only for browsers), no JavaScript, no web fonts, no
images or other external assets; charts are table cells with percentage widths. Jinja2
autoescapes every value, and undefined names fail loudly (``StrictUndefined``), so a
template typo cannot silently drop a number. The output is deterministic: no clock but
``generated_at`` from the data.

:func:`html_context` turns the data into display-ready strings (money as ``$1,234.57``,
shares as percentages, compact token counts) so the templates only lay them out;
:func:`render_text` renders the same context as the plain-text alternative of an email.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from audit.money import format_usd
from audit.report import RenderContext, ReportFormat, report_format
from audit.report.model import Report
from audit.report.serialize import report_dict
from audit.report.terminal import tokens

if TYPE_CHECKING:  # imported when a page is rendered, not by every command that starts
    from jinja2 import Environment


@dataclass(frozen=True)
class Density:
    """How much detail the page shows before it summarises the rest as "N more".

    Gmail clips a message body past about 102 kB and hides the rest behind a link most
    readers never click, so the page is rendered at the first density that fits
    :data:`EMAIL_BYTES`. Nothing is lost: every figure is in the attached CSV and in
    ``--format json``, and each cut table says how many rows it left out.
    """

    #: Rows per breakdown table before the "N more" line.
    top: int
    #: Findings shown as full cards, then as one table row each; past both, a count.
    findings_detailed: int
    findings_listed: int
    #: Evidence items per finding card.
    evidence: int
    #: Alert and anomaly rows.
    alerts: int
    anomalies: int


DENSITIES = (
    Density(8, findings_detailed=6, findings_listed=40, evidence=3, alerts=10, anomalies=8),
    Density(8, findings_detailed=4, findings_listed=25, evidence=2, alerts=6, anomalies=5),
    Density(7, findings_detailed=3, findings_listed=20, evidence=1, alerts=5, anomalies=4),
    Density(6, findings_detailed=3, findings_listed=15, evidence=1, alerts=4, anomalies=3),
    Density(5, findings_detailed=2, findings_listed=10, evidence=1, alerts=3, anomalies=3),
    Density(4, findings_detailed=1, findings_listed=8, evidence=1, alerts=3, anomalies=2),
    Density(3, findings_detailed=1, findings_listed=5, evidence=1, alerts=2, anomalies=2),
)
#: The size the page aims to stay under: Gmail's ~102 kB clip, less headroom for the
#: headers and transfer encoding a mail client may count.
EMAIL_BYTES = 100_000
#: Breakdowns on the page, in order: (data key, section title, column label).
BREAKDOWNS = (
    ("provider", "By provider", "Provider"),
    ("model", "By model", "Model"),
    ("api_key", "By API key", "API key"),
    ("user", "By user", "User"),
    ("project", "By project", "Project"),
    ("team", "By team", "Team"),
)
BASIS_LABELS = (
    ("billed", "Billed by providers", "#27496d"),
    ("reported", "Reported by logs", "#5a87ad"),
    ("calculated", "Priced by tokaudit", "#a7c0d8"),
)
COST_MODE_TEXT = {
    "auto": "amounts the sources report (billing exports, logged costs), "
    "tokaudit's price tables otherwise",
    "calculate": "tokaudit's price tables only",
    "reported": "amounts the sources report only",
}
SEVERITIES = ("high", "medium", "low")
#: Model-mix classes get fixed colours when known, the fallback palette otherwise.
CLASS_COLORS = {"premium": "#27496d", "standard": "#5a87ad", "economy": "#a7c0d8"}
FALLBACK_COLORS = ("#7a8fa6", "#c9d6e3", "#3d5a73", "#b3b9c2")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: Every input token: uncached, read from cache, written to cache.
_INPUT_COLUMNS = ("input_tokens", "cached_input_tokens", "cache_write_tokens")


def clean(value: object) -> str:
    """Text from the data with control characters shown as ``?`` (markup is escaped later)."""
    return _CONTROL.sub("?", str(value))


def _decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        return Decimal(str(value))
    return None


def money(value: object) -> str:
    """``$1,234.57``; tiny non-zero amounts ``<$0.01``; a missing amount ``—``."""
    return format_usd(_decimal(value))


def signed_money(value: object) -> str:
    """Money with an explicit sign: ``+$17.43``, ``-$3.50``, ``$0.00``."""
    text = money(value)
    amount = _decimal(value)
    return f"+{text}" if amount is not None and amount > 0 and text != "<$0.01" else text


def percent(share: object, *, signed: bool = False) -> str:
    """A fraction as a percentage to one decimal: ``46.2%``; tiny non-zero shares ``<0.1%``."""
    if share is None or isinstance(share, bool) or not isinstance(share, int | float):
        return "—"
    value = float(share) * 100
    sign = "+" if signed and value > 0 else ""
    if 0 < abs(value) < 0.05:
        return f"{sign}<0.1%" if value > 0 else "-<0.1%"
    return f"{sign}{value:.1f}%"


def count(value: object) -> str:
    """A whole number with thousands separators."""
    return f"{int(value):,}" if isinstance(value, int | float) else "—"


def width(share: object) -> str:
    """A bar width in percent of its track, visible (≥1%) for any positive share."""
    if not isinstance(share, int | float) or share <= 0:
        return "0"
    value = min(100.0, max(1.0, float(share) * 100))
    return f"{value:.1f}".rstrip("0").rstrip(".")


def month_label(month: object) -> str:
    """``2026-06`` → ``June 2026`` (English, independent of the locale)."""
    try:
        year, number = (int(part) for part in str(month).split("-"))
        return f"{calendar.month_name[number]} {year}"
    except (ValueError, IndexError):
        return clean(month)


def _period_label(month: str) -> str:
    try:
        year, number = (int(part) for part in month.split("-"))
        last = calendar.monthrange(year, number)[1]
    except (ValueError, calendar.IllegalMonthError):
        return clean(month)
    return f"1–{last} {calendar.month_name[number]} {year}"


def _generated(value: object) -> str:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return clean(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _evidence_value(name: str, value: object) -> str:
    if value is None:
        return "—"
    if name in {"ts", "time", "timestamp"} and isinstance(value, str):
        return _generated(value).removesuffix(" UTC")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name.endswith("_usd"):
        return money(value)
    if name == "share" or name.endswith(("_share", "_rate", "_ratio")):
        return percent(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, list | dict):
        return clean(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return clean(value)


def _evidence_label(name: str) -> str:
    if name in {"ts", "time", "timestamp"}:
        return "time"
    return name.removesuffix("_usd").replace("_", " ")


def _evidence(items: object, limit: int) -> tuple[list[dict[str, Any]], int]:
    if not isinstance(items, list):
        return [], 0
    shown: list[dict[str, Any]] = []
    for item in items[:limit]:
        if not isinstance(item, Mapping):
            shown.append({"record_id": clean(item), "facts": []})
            continue
        facts = [
            {"label": _evidence_label(name), "value": _evidence_value(name, v)}
            for name, v in item.items()
            if name != "record_id"
        ]
        shown.append({"record_id": clean(item.get("record_id", "")), "facts": facts})
    return shown, max(0, len(items) - limit)


def _breakdown(rows: Sequence[Mapping[str, Any]], top: int) -> dict[str, Any]:
    def row(item: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "key": clean(item.get("key", "")),
            "basis": clean(item["basis"]) if item.get("basis") else "",
            "cost": money(item.get("cost_usd")),
            "share": percent(item.get("share")),
            "width": width(item.get("share")),
            "requests": count(item.get("requests", 0)),
            "tokens_in": tokens(
                int(item.get("input_tokens") or 0) + int(item.get("cached_input_tokens") or 0)
            ),
            "tokens_out": tokens(int(item.get("output_tokens") or 0)),
        }

    rest = rows[top:]
    more = None
    if rest:
        more = {
            "count": count(len(rest)),
            "cost": money(
                sum((_decimal(r.get("cost_usd")) or Decimal(0) for r in rest), Decimal(0))
            ),
            "share": percent(sum(float(r.get("share") or 0) for r in rest)),
            "requests": count(sum(int(r.get("requests") or 0) for r in rest)),
        }
    return {"rows": [row(item) for item in rows[:top]], "more": more}


def _daily(days: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    if not days:
        return None
    amounts = [_decimal(day.get("cost_usd")) or Decimal(0) for day in days]
    peak = max(amounts)
    rows = []
    for day, amount in zip(days, amounts, strict=True):
        key = str(day.get("key", ""))
        label, weekend = clean(key), False
        try:
            moment = date.fromisoformat(key)
            label = f"{_WEEKDAYS[moment.weekday()]} {moment.day}"
            weekend = moment.weekday() >= 5
        except ValueError:
            pass
        share = float(amount / peak) if peak > 0 else 0.0
        rows.append(
            {"label": label, "weekend": weekend, "width": width(share), "cost": money(amount)}
        )
    peak_index = amounts.index(peak)
    peak_day = rows[peak_index]["label"]
    return {
        "rows": rows,
        "peak": money(peak),
        "peak_day": peak_day,
        "average": money(sum(amounts, Decimal(0)) / len(amounts)),
    }


def _composition(totals: Mapping[str, Any]) -> list[dict[str, str]]:
    by_basis = totals.get("cost_by_basis") or {}
    amounts = [
        (key, label, color, _decimal(by_basis.get(key))) for key, label, color in BASIS_LABELS
    ]
    parts = [(key, label, color, a) for key, label, color, a in amounts if a is not None and a > 0]
    whole = sum((a for *_, a in parts), Decimal(0))
    out = []
    for key, label, color, amount in parts:
        share = float(amount / whole) if whole > 0 else 0.0
        out.append(
            {
                "key": key,
                "label": label,
                "color": color,
                "amount": money(amount),
                "share": percent(share),
                "width": f"{share * 100:.1f}",
            }
        )
    return out


def _previous(data: Mapping[str, Any]) -> dict[str, str] | None:
    previous = data.get("previous")
    if not isinstance(previous, Mapping) or previous.get("cost_usd") is None:
        return None
    change = _decimal(previous.get("change_usd"))
    if change is None:
        now = _decimal((data.get("totals") or {}).get("cost_usd")) or Decimal(0)
        change = now - (_decimal(previous.get("cost_usd")) or Decimal(0))
    direction = "up" if change > 0 else "down" if change < 0 else "flat"
    return {
        "month": month_label(previous.get("month", "")),
        "cost": money(previous.get("cost_usd")),
        "change": signed_money(change),
        "change_pct": percent(previous.get("change_share"), signed=True)
        if previous.get("change_share") is not None
        else "",
        "arrow": {"up": "▲", "down": "▼", "flat": "="}[direction],
        "direction": direction,
    }


def _model_mix(data: Mapping[str, Any]) -> dict[str, Any] | None:
    mix = data.get("model_mix")
    if not isinstance(mix, Mapping) or not mix.get("by_class"):
        return None
    classes = []
    for index, item in enumerate(mix["by_class"]):
        name = str(item.get("class", ""))
        color = CLASS_COLORS.get(name.lower(), FALLBACK_COLORS[index % len(FALLBACK_COLORS)])
        classes.append(
            {
                "label": clean(name[:1].upper() + name[1:]),
                "color": color,
                "amount": money(item.get("cost_usd")),
                "share": percent(item.get("share")),
                "width": width(item.get("share")),
            }
        )
    premium = mix.get("premium_share")
    return {"premium_share": percent(premium) if premium is not None else "", "classes": classes}


def _findings(findings: object, density: Density) -> list[dict[str, Any]]:
    if not isinstance(findings, list):
        return []
    out = []
    for rank, item in enumerate(findings, start=1):
        if not isinstance(item, Mapping):
            continue
        severity = str(item.get("severity", "")).lower()
        evidence, evidence_more = _evidence(item.get("evidence"), density.evidence)
        out.append(
            {
                "rank": rank,
                "detailed": rank <= density.findings_detailed,
                "rule": clean(item.get("rule", "")),
                "severity": severity if severity in SEVERITIES else "low",
                "severity_label": clean(severity or "info").capitalize(),
                "title": clean(item.get("title") or item.get("rule") or "Finding"),
                "subject": clean(item.get("subject") or ""),
                "records": count(item.get("records", 0)),
                "cost": money(item.get("cost_usd")),
                "savings": money(item.get("savings_usd")),
                "recommendation": clean(item.get("recommendation") or ""),
                "evidence": evidence,
                "evidence_more": evidence_more,
            }
        )
    return out


def _checklist(data: Mapping[str, Any]) -> list[dict[str, str]]:
    items = data.get("checklist")
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        status = str(item.get("status", "unknown")).lower()
        known = status if status in {"ok", "warn", "alert", "info", "unknown"} else "unknown"
        out.append(
            {
                "id": clean(item.get("id", "")),
                "title": clean(item.get("title") or item.get("id") or ""),
                "status": known,
                "status_label": {"ok": "OK", "warn": "Warning", "alert": "Alert"}.get(
                    known, known.capitalize()
                ),
                "detail": clean(item.get("detail") or ""),
            }
        )
    return out


def _quality(data: Mapping[str, Any]) -> dict[str, Any]:
    sources = [
        {
            "source": clean(s.get("source", "")),
            "granularity": clean(s.get("granularity", "")),
            "rows": count(s.get("rows", 0)),
            "requests": count(s.get("requests", 0)),
            "files": count(s.get("files", 0)),
        }
        for s in data.get("sources") or []
    ]
    unpriced = [
        {
            "model": clean(u.get("model_raw", "")),
            "reason": clean(u.get("reason") or ""),
            "requests": count(u.get("requests", 0)),
            "tokens": tokens(int(u.get("tokens") or 0)),
            "share": percent(u.get("share")),
        }
        for u in data.get("unpriced") or []
    ]
    rejected = [
        {
            "file": clean(r.get("file", "")),
            "format": clean(r.get("format") or "—"),
            "rows": count(r.get("rows", 0)),
            "reasons": [
                {
                    "reason": clean(reason.get("reason", "")),
                    "rows": count(reason.get("rows", 0)),
                    "first_line": clean(reason.get("first_line", "")),
                }
                for reason in r.get("reasons") or []
            ],
        }
        for r in data.get("rejected") or []
    ]
    problems = [
        {
            "path": clean(p.get("path", "")),
            "status": clean(p.get("status") or ""),
            "message": clean(p.get("message") or ""),
        }
        for p in data.get("problems") or []
    ]
    tables = [
        {"name": clean(t.get("name", "")), "sha": clean(str(t.get("sha256") or "")[:12])}
        for t in data.get("price_tables") or []
    ]
    return {
        "sources": sources,
        "unpriced": unpriced,
        "rejected": rejected,
        "problems": problems,
        "price_tables": tables,
    }


def html_context(data: Mapping[str, Any], density: Density = DENSITIES[0]) -> dict[str, Any]:
    """Everything the templates show, as display-ready strings, from the report data."""
    from audit.report import html_insights  # a sibling that imports this module's formatters

    totals: Mapping[str, Any] = data.get("totals") or {}
    month = str(data.get("month", ""))
    total = _decimal(totals.get("cost_usd")) or Decimal(0)
    requests = int(totals.get("requests") or 0)
    unpriced = int(totals.get("unpriced_requests") or 0)
    savings = _decimal(totals.get("savings_usd")) or Decimal(0)
    findings = _findings(data.get("findings"), density)
    breakdowns = data.get("breakdowns") or {}
    tables = []
    for key, title, label in BREAKDOWNS:
        rows = breakdowns.get(key) or []
        if rows:
            tables.append(
                {"key": key, "title": title, "label": label, **_breakdown(rows, density.top)}
            )
    by_severity = [
        {"severity": s, "count": sum(f["severity"] == s for f in findings)} for s in SEVERITIES
    ]
    cost_mode = str(data.get("cost_mode", ""))
    return {
        "month": clean(month),
        "month_label": month_label(month),
        "period_label": _period_label(month),
        "timezone": clean(data.get("timezone", "UTC")),
        "generated_at": _generated(data.get("generated_at", "")),
        "schema": clean(data.get("schema", "")),
        "cost_mode": clean(cost_mode),
        "cost_mode_text": COST_MODE_TEXT.get(cost_mode, ""),
        "total": money(total),
        "requests": count(requests),
        "tokens": {
            "input_all": tokens(sum(int(totals.get(k) or 0) for k in _INPUT_COLUMNS)),
            "input": tokens(int(totals.get("input_tokens") or 0)),
            "cached": tokens(int(totals.get("cached_input_tokens") or 0)),
            "cache_writes": tokens(int(totals.get("cache_write_tokens") or 0)),
            "output": tokens(int(totals.get("output_tokens") or 0)),
            "reasoning": tokens(int(totals.get("reasoning_tokens") or 0)),
        },
        "composition": _composition(totals),
        "unpriced_requests": count(unpriced) if unpriced else "",
        "unpriced_share": percent(unpriced / requests) if unpriced and requests else "",
        "savings": money(savings),
        "savings_share": percent(float(savings / total)) if savings > 0 and total > 0 else "",
        "previous": _previous(data),
        "breakdowns": tables,
        "daily": _daily(breakdowns.get("day") or []),
        "model_mix": _model_mix(data),
        "findings": findings,
        "findings_brief": [f for f in findings if not f["detailed"]][: density.findings_listed],
        "findings_unlisted": max(
            0, len(findings) - density.findings_detailed - density.findings_listed
        ),
        "findings_by_severity": [s for s in by_severity if s["count"]],
        "checklist": _checklist(data),
        "budgets": html_insights.budgets(data),
        "alerts": html_insights.alerts(data, density.alerts),
        "anomalies": html_insights.anomalies(data, density.anomalies),
        "reconciliation": html_insights.reconciliation(data),
        "quality": _quality(data),
    }


def _ljust(value: object, size: int) -> str:
    return str(value).ljust(size)


def _fit(value: object, size: int) -> str:
    """Left-justified in ``size`` columns, cut with ``…`` when longer."""
    text = str(value)
    return text[: size - 1] + "…" if len(text) > size else text.ljust(size)


def _rjust(value: object, size: int) -> str:
    return str(value).rjust(size)


@cache
def _environment(autoescape: bool) -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(
        loader=PackageLoader("audit.report", "templates"),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(ljust=_ljust, rjust=_rjust, fit=_fit)
    return env


def render_html(data: Mapping[str, Any]) -> str:
    """The HTML page for report data shaped like :func:`report_dict` (plus optional keys).

    The fullest :class:`Density` whose page fits :data:`EMAIL_BYTES`; the sparsest if none
    does (a month with hundreds of findings still renders, and says what it left out).
    """
    template = _environment(True).get_template("report.html.jinja")
    page = ""
    for density in DENSITIES:
        page = template.render(r=html_context(data, density))
        if len(page.encode("utf-8")) <= EMAIL_BYTES:
            break
    return page


def render_text(data: Mapping[str, Any]) -> str:
    """The same report as plain text (the email's text/plain alternative), ≤ 78 columns."""
    template = _environment(False).get_template("report.txt.jinja")
    return template.render(r=html_context(data))


@report_format
class HtmlFormat(ReportFormat):
    """A self-contained HTML page (inline CSS, no scripts, no external assets)."""

    name = "html"
    suffix = ".html"
    description = "self-contained HTML report for finance and email (no scripts or assets)"

    def render(self, report: Report, context: RenderContext) -> str:
        return render_html(report_dict(report))


__all__ = [
    "DENSITIES",
    "EMAIL_BYTES",
    "Density",
    "HtmlFormat",
    "html_context",
    "money",
    "percent",
    "render_html",
    "render_text",
]
