"""The report as plain data: the documented ``tokaudit.report/1`` JSON shape.

Money is a JSON number rounded to the micro-dollar (exact: at most 15 significant digits
survive the float round trip), shares are fractions rounded to 4 places. Key order is
fixed so the same report always serialises to the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.money import json_number
from audit.report.model import BreakdownRow, Report, Totals

BREAKDOWN_ORDER = (
    "provider",
    "model",
    "api_key",
    "user",
    "team",
    "project",
    "environment",
    "purpose",
    "app",
    "day",
)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def totals_dict(totals: Totals) -> dict[str, Any]:
    return {
        "cost_usd": json_number(totals.cost_usd),
        "calculated_cost_usd": json_number(totals.calculated_cost_usd),
        "reported_cost_usd": json_number(totals.reported_cost_usd),
        "requests": totals.requests,
        "input_tokens": totals.input_tokens,
        "cached_input_tokens": totals.cached_input_tokens,
        "cache_write_tokens": totals.cache_write_tokens,
        "output_tokens": totals.output_tokens,
        "reasoning_tokens": totals.reasoning_tokens,
        "unpriced_requests": totals.unpriced_requests,
        "cost_by_basis": {name: json_number(value) for name, value in totals.cost_by_basis.items()},
        "savings_usd": json_number(totals.savings_usd),
    }


def row_dict(row: BreakdownRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": row.key,
        "cost_usd": json_number(row.cost_usd),
        "share": round(row.share, 4),
        "requests": row.requests,
        "input_tokens": row.input_tokens,
        "cached_input_tokens": row.cached_input_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "output_tokens": row.output_tokens,
        "reasoning_tokens": row.reasoning_tokens,
    }
    out.update({k: row.extra[k] for k in sorted(row.extra)})
    return out


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON report (documented in the README under "JSON report")."""
    return {
        "schema": report.schema,
        "month": report.month,
        "timezone": report.timezone,
        "period": {"start": iso(report.period_start), "end": iso(report.period_end)},
        "generated_at": iso(report.generated_at),
        "cost_mode": report.cost_mode,
        "totals": totals_dict(report.totals),
        "breakdowns": {
            name: [row_dict(row) for row in report.breakdowns.get(name, [])]
            for name in BREAKDOWN_ORDER
        },
        "previous": report.sections.get("previous"),
        "model_mix": report.sections.get("model_mix"),
        "findings": report.findings,
        "checklist": report.sections.get("checklist", []),
        "budgets": report.sections.get("budgets"),
        "alerts": report.sections.get("alerts", []),
        "anomalies": report.sections.get("anomalies", []),
        "reconciliation": report.sections.get("reconciliation", []),
        "unpriced": [{**item, "share": round(item["share"], 4)} for item in report.unpriced],
        "rejected": report.rejected,
        "problems": report.problems,
        "sources": report.sources,
        "price_tables": [{"name": t["name"], "sha256": t["sha256"]} for t in report.price_tables],
    }
