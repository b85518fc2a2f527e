"""Display-ready view models of the insight sections for the HTML and text templates.

Budgets, alerts, anomalies and reconciliation come from the same report data as the JSON
(``report_dict``), so every format carries the same facts; this module only formats them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.report.html import clean, money, percent, signed_money

_STATUS = {"ok": ("ok", "OK"), "warn": ("warn", "Warning"), "over": ("alert", "Over")}
_ALERT_TONE = {
    "daily-spike": "warn",
    "user-over-daily-allocation": "warn",
    "key-over-cap": "alert",
    "budget-exceeded": "alert",
    "automation-cap-exceeded": "alert",
}


def budgets(data: Mapping[str, Any]) -> dict[str, Any] | None:
    section = data.get("budgets") or {}
    items = section.get("items") or []
    caps = section.get("user_daily_caps") or []
    if not items and not caps:
        return None
    rows = []
    for item in items:
        tone, label = _STATUS.get(str(item.get("status")), ("unknown", "Unknown"))
        forecast = item.get("forecast_usd")
        rows.append(
            {
                "name": clean(f"{item.get('scope')} · {item.get('name')}"),
                "limit": money(item.get("limit_usd")),
                "spent": money(item.get("spent_usd")),
                "share": percent(item.get("share")) if item.get("share") is not None else "—",
                "tone": tone,
                "status": label,
                "crossed": clean(item.get("crossed_on") or "—"),
                "forecast": money(forecast) if forecast is not None else "—",
            }
        )
    users = [
        {
            "user": clean(cap.get("user", "")),
            "cap": money(cap.get("cap_usd")),
            "days": clean(cap.get("days_over", 0)),
            "worst": f"{money(cap.get('worst_usd'))} on {clean(cap.get('worst_day', ''))}",
        }
        for cap in caps
    ]
    return {"rows": rows, "users": users}


def alerts(data: Mapping[str, Any], limit: int) -> dict[str, Any] | None:
    items = data.get("alerts") or []
    if not items:
        return None
    rows = [
        {
            "day": clean(item.get("day", "")),
            "tone": _ALERT_TONE.get(str(item.get("kind")), "info"),
            "kind": clean(str(item.get("kind", "")).replace("-", " ")),
            "message": clean(item.get("message", "")),
        }
        for item in items[:limit]
    ]
    return {"rows": rows, "more": max(0, len(items) - limit)}


def anomalies(data: Mapping[str, Any], limit: int) -> dict[str, Any] | None:
    items = data.get("anomalies") or []
    if not items:
        return None

    def shown(item: Mapping[str, Any], key: str) -> str:
        value = item.get(key)
        if "USD" in str(item.get("metric", "")):
            return money(value)
        return percent(value) if isinstance(value, int | float) else clean(value)

    rows = [
        {
            "day": clean(item.get("day", "")),
            "subject": clean(f"{item.get('dimension')} · {item.get('subject')}"),
            "metric": clean(item.get("metric", "")),
            "value": shown(item, "value"),
            "baseline": shown(item, "baseline"),
            "z": clean(item.get("robust_z", "")),
        }
        for item in items[:limit]
    ]
    return {"rows": rows, "more": max(0, len(items) - limit)}


def reconciliation(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for block in data.get("reconciliation") or []:
        coverage = block.get("coverage")
        out.append(
            {
                "provider": clean(block.get("provider", "")),
                "summary": clean(block.get("summary", "")),
                "billed": money(block.get("billed_usd")),
                "logged": money(block.get("logged_usd")),
                "calculated": money(block.get("calculated_usd")),
                "coverage": percent(coverage) if coverage is not None else "—",
                "gaps": [
                    {
                        "day": clean(gap.get("day", "")),
                        "model": clean(gap.get("model", "")),
                        "difference": signed_money(gap.get("difference_usd")),
                        "cause": clean(gap.get("likely_cause", "")),
                    }
                    for gap in (block.get("discrepancies") or [])[:5]
                ],
                "more": max(0, int(block.get("discrepancy_count") or 0) - 5),
            }
        )
    return out
