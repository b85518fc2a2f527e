"""``--format terminal``: the Rich report a platform engineer reads in a shell.

Fits 100 columns; without colour (not a TTY, ``NO_COLOR``) it is plain text that still
lines up. Every name from the data goes through :func:`safe` and into ``Text`` objects, so
markup or terminal escape sequences hidden in a model or user name print as inert text.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from audit.money import format_usd
from audit.report import RenderContext, ReportFormat, report_format
from audit.report.model import BreakdownRow, Report

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TOP = 10
BAR_WIDTH = 46


def safe(value: object) -> str:
    """A name with control characters (ESC, CR, …) shown as ``?``; never interpreted."""
    return _CONTROL.sub("?", str(value))


def tokens(count: int) -> str:
    """Compact token counts: 950, 12.3k, 4.56M, 1.2B."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(count) >= limit:
            return f"{count / limit:.3g}{suffix}"
    return str(count)


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def _headline(report: Report) -> Panel:
    t = report.totals
    body = Text()
    body.append("Total spend  ", style="bold")
    body.append(format_usd(t.cost_usd), style="bold green")
    body.append(f"   ·   {t.requests:,} requests\n")
    body.append(
        f"tokens: input {tokens(t.input_tokens)} · cached {tokens(t.cached_input_tokens)} · "
        f"cache writes {tokens(t.cache_write_tokens)} · output {tokens(t.output_tokens)} "
        f"(reasoning {tokens(t.reasoning_tokens)})\n"
    )
    parts = [
        f"{label} {format_usd(t.cost_by_basis.get(key, Decimal(0)))}"
        for key, label in (
            ("billed", "billed by providers"),
            ("reported", "reported by logs"),
            ("calculated", "priced by tokaudit"),
        )
        if t.cost_by_basis.get(key)
    ]
    body.append("made of: " + (" · ".join(parts) or "nothing"), style="dim")
    if report.findings:
        body.append("\nestimated avoidable spend ", style="bold")
        body.append(format_usd(t.savings_usd), style="bold yellow")
        count = len(report.findings)
        noun = "finding" if count == 1 else "findings"
        body.append(f" across {count} {noun} (no dollar counted twice)")
    if t.unpriced_requests:
        share = t.unpriced_requests / t.requests if t.requests else 0
        body.append(
            f"\n{t.unpriced_requests:,} requests unpriced ({_percent(share)}): not in the total",
            style="yellow",
        )
    previous = report.sections.get("previous")
    if previous:
        change = previous["change_usd"]
        share = previous["change_share"]
        arrow = "up" if change > 0 else "down" if change < 0 else "flat"
        body.append(
            f"\nvs {previous['month']}: {format_usd(Decimal(str(previous['cost_usd'])))} "
            f"({arrow} {format_usd(abs(Decimal(str(change))))}"
            + (f", {share:+.0%})" if share is not None else ")")
        )
    title = f"tokaudit · LLM spend {report.month} ({safe(report.timezone)})"
    return Panel(body, title=title, title_align="left", expand=True)


def _table(title: str, label: str, rows: list[BreakdownRow], *, basis: bool = False) -> Table:
    table = Table(title=title, title_justify="left", expand=True, pad_edge=False, show_edge=False)
    table.add_column(label, overflow="fold", ratio=3)
    if basis:
        table.add_column("basis")
    table.add_column("spend", justify="right")
    table.add_column("share", justify="right")
    table.add_column("requests", justify="right")
    table.add_column("tokens in/out", justify="right")
    shown = rows[:TOP]
    for row in shown:
        cells = [Text(safe(row.key))]
        if basis:
            cells.append(Text(str(row.extra.get("basis", ""))))
        cells += [
            Text(format_usd(row.cost_usd)),
            Text(_percent(row.share)),
            Text(f"{row.requests:,}"),
            Text(
                f"{tokens(row.input_tokens + row.cached_input_tokens)}/{tokens(row.output_tokens)}"
            ),
        ]
        table.add_row(*cells)
    if len(rows) > TOP:
        rest = rows[TOP:]
        cost = sum((r.cost_usd for r in rest), Decimal(0))
        filler = [""] if basis else []
        table.add_row(
            Text(f"… {len(rest)} more", style="dim"),
            *filler,
            Text(format_usd(cost), style="dim"),
            Text(_percent(sum(r.share for r in rest)), style="dim"),
            Text(f"{sum(r.requests for r in rest):,}", style="dim"),
            Text(""),
        )
    return table


_SEVERITY_STYLE = {"high": "bold red", "medium": "yellow", "low": "cyan"}


def _findings(report: Report) -> list[Table | Text]:
    table = Table(title="Findings, by avoidable spend", title_justify="left", expand=True)
    table.add_column("#", justify="right")
    table.add_column("severity")
    table.add_column("finding", overflow="fold", ratio=2)
    table.add_column("subject", overflow="fold", ratio=2)
    table.add_column("requests", justify="right")
    table.add_column("cost", justify="right")
    table.add_column("avoidable", justify="right")
    for rank, item in enumerate(report.findings, start=1):
        table.add_row(
            Text(str(rank)),
            Text(item["severity"], style=_SEVERITY_STYLE.get(item["severity"], "")),
            Text(safe(item["title"])),
            Text(safe(item["subject"])),
            Text(f"{item['records']:,}"),
            Text(format_usd(Decimal(str(item["cost_usd"])))),
            Text(format_usd(Decimal(str(item["savings_usd"])))),
        )
    advice = Text()
    for rank, item in enumerate(report.findings[:TOP], start=1):
        advice.append(f"{rank}. ", style="bold")
        advice.append(safe(item["recommendation"]) + "\n")
    return [table, advice]


_STATUS_STYLE = {
    "ok": "green",
    "warn": "yellow",
    "alert": "bold red",
    "over": "bold red",
    "info": "",
    "unknown": "dim",
}


def _checklist(report: Report) -> Table | None:
    items = report.sections.get("checklist") or []
    if not items:
        return None
    table = Table(title="Monthly checklist", title_justify="left", expand=True, show_header=False)
    table.add_column("status")
    table.add_column("item")
    table.add_column("detail", overflow="fold", ratio=4)
    for item in items:
        table.add_row(
            Text(item["status"], style=_STATUS_STYLE.get(item["status"], "")),
            Text(safe(item["title"])),
            Text(safe(item["detail"])),
        )
    return table


def _budgets(report: Report) -> Table | None:
    items = (report.sections.get("budgets") or {}).get("items") or []
    if not items:
        return None
    table = Table(title="Budgets", title_justify="left", expand=True)
    for name, justify in (
        ("budget", "left"),
        ("limit", "right"),
        ("spent", "right"),
        ("used", "right"),
        ("status", "left"),
        ("crossed", "left"),
        ("forecast", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for item in items:
        forecast = item["forecast_usd"]
        table.add_row(
            Text(safe(f"{item['scope']} {item['name']}")),
            Text(format_usd(Decimal(str(item["limit_usd"])))),
            Text(format_usd(Decimal(str(item["spent_usd"])))),
            Text(_percent(item["share"]) if item["share"] is not None else "—"),
            Text(item["status"], style=_STATUS_STYLE.get(item["status"], "")),
            Text(item["crossed_on"] or "—"),
            Text(format_usd(Decimal(str(forecast))) if forecast is not None else "—"),
        )
    return table


def _user_caps(report: Report) -> Table | None:
    caps = (report.sections.get("budgets") or {}).get("user_daily_caps") or []
    if not caps:
        return None
    table = Table(title="Users over their daily allocation", title_justify="left", expand=True)
    for name, justify in (
        ("user", "left"),
        ("daily cap", "right"),
        ("days over", "right"),
        ("worst day", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for cap in caps:
        worst = format_usd(Decimal(str(cap["worst_usd"])))
        table.add_row(
            Text(safe(cap["user"])),
            Text(format_usd(Decimal(str(cap["cap_usd"])))),
            Text(str(cap["days_over"])),
            Text(f"{worst} on {cap['worst_day']}"),
        )
    return table


def _gap(gap: dict[str, Any]) -> str:
    amount = format_usd(Decimal(str(gap["difference_usd"])))
    return f"{gap['day']} {safe(gap['model'])} {amount}: {safe(gap['likely_cause'])}"


def _events(report: Report) -> list[Table]:
    out: list[Table] = []
    alerts = report.sections.get("alerts") or []
    if alerts:
        table = Table(title="Alerts", title_justify="left", expand=True)
        table.add_column("day")
        table.add_column("alert")
        table.add_column("what happened", overflow="fold", ratio=4)
        for alert in alerts[:20]:
            table.add_row(Text(alert["day"]), Text(alert["kind"]), Text(safe(alert["message"])))
        if len(alerts) > 20:
            table.add_row(Text("…"), Text(f"{len(alerts) - 20} more"), Text("see --format json"))
        out.append(table)
    anomalies = report.sections.get("anomalies") or []
    if anomalies:
        table = Table(
            title="Anomalies (robust z = jump over the median in MAD units)",
            title_justify="left",
            expand=True,
        )
        for name in ("day", "dimension", "subject", "metric", "value", "typical", "z"):
            table.add_column(name, overflow="fold")
        for item in anomalies[:10]:
            table.add_row(
                Text(item["day"]),
                Text(item["dimension"]),
                Text(safe(item["subject"])),
                Text(item["metric"]),
                Text(f"{item['value']:g}"),
                Text(f"{item['baseline']:g}"),
                Text(f"{item['robust_z']:g}"),
            )
        out.append(table)
    blocks = report.sections.get("reconciliation") or []
    if blocks:
        table = Table(
            title="Reconciliation: bill vs request logs", title_justify="left", expand=True
        )
        for name, justify in (
            ("provider", "left"),
            ("billed", "right"),
            ("logged", "right"),
            ("our prices", "right"),
            ("coverage", "right"),
            ("largest gap, likely cause", "left"),
        ):
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for block in blocks:
            gap = block["discrepancies"][0] if block["discrepancies"] else None
            table.add_row(
                Text(safe(block["provider"])),
                Text(format_usd(Decimal(str(block["billed_usd"])))),
                Text(format_usd(Decimal(str(block["logged_usd"])))),
                Text(format_usd(Decimal(str(block["calculated_usd"])))),
                Text(_percent(block["coverage"]) if block["coverage"] is not None else "—"),
                Text(_gap(gap) if gap else "none"),
            )
        out.append(table)
    return out


def _daily(report: Report) -> Table:
    days = report.breakdowns.get("day", [])
    peak = max((row.cost_usd for row in days), default=Decimal(0))
    table = Table(
        title="Daily spend", title_justify="left", show_header=False, show_edge=False, box=None
    )
    table.add_column("day")
    table.add_column("bar")
    table.add_column("spend", justify="right")
    for row in days:
        width = int(BAR_WIDTH * row.cost_usd / peak) if peak > 0 else 0
        bar = "█" * width if width or row.cost_usd <= 0 else "▏"
        table.add_row(Text(row.key), Text(bar, style="cyan"), Text(format_usd(row.cost_usd)))
    return table


def _data_quality(report: Report) -> list[Table | Text]:
    parts: list[Table | Text] = []
    if report.unpriced:
        table = Table(
            title="Unpriced models (no price table entry: add one with --prices)",
            title_justify="left",
        )
        table.add_column("model as written")
        table.add_column("reason")
        table.add_column("requests", justify="right")
        table.add_column("tokens", justify="right")
        table.add_column("share of requests", justify="right")
        for item in report.unpriced:
            table.add_row(
                Text(safe(item["model_raw"])),
                Text(safe(item["reason"])),
                Text(f"{item['requests']:,}"),
                Text(tokens(item["tokens"])),
                Text(_percent(item["share"])),
            )
        parts.append(table)
    if report.rejected or report.problems:
        table = Table(title="Input not loaded", title_justify="left")
        table.add_column("file", overflow="fold", ratio=2)
        table.add_column("rows", justify="right")
        table.add_column("reason (first line)", overflow="fold", ratio=3)
        for item in report.rejected:
            for reason in item["reasons"][:3]:
                table.add_row(
                    Text(safe(item["file"])),
                    Text(f"{reason['rows']:,}"),
                    Text(f"{safe(reason['reason'])} (line {reason['first_line']})"),
                )
        for problem in report.problems:
            table.add_row(
                Text(safe(problem["path"])), Text("file"), Text(safe(problem.get("message") or ""))
            )
        parts.append(table)
    return parts


@report_format
class TerminalFormat(ReportFormat):
    """The default: a readable summary in the shell."""

    name = "terminal"
    suffix = ".txt"
    description = "Rich terminal report (plain text when not a TTY or NO_COLOR is set)"

    def render(self, report: Report, context: RenderContext) -> str:
        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=context.width,
            force_terminal=context.color,
            no_color=not context.color,
            color_system="truecolor" if context.color else None,
            highlight=False,
            emoji=False,
            legacy_windows=False,
        )
        if report.is_empty:
            console.print(_headline(report))
            console.print(Text(f"No usage recorded for {report.month}.", style="yellow"))
            return buffer.getvalue()
        b = report.breakdowns
        sections: list[Panel | Table | Text] = [
            _headline(report),
            _table("Spend by provider", "provider", b["provider"], basis=True),
            _table("Spend by model", "model", b["model"]),
            _table("Spend by API key", "API key", b["api_key"]),
            _table("Spend by user", "user", b["user"]),
            _table("Spend by project", "project", b["project"]),
            _daily(report),
        ]
        if report.findings:
            sections.extend(_findings(report))
        for extra in (_checklist(report), _budgets(report), _user_caps(report)):
            if extra is not None:
                sections.append(extra)
        sections.extend(_events(report))
        sections.extend(_data_quality(report))
        for section in sections:
            console.print(section)
            console.print()
        return buffer.getvalue()


__all__ = ["Group", "TerminalFormat", "safe", "tokens"]
