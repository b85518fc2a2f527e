"""Alerts as the audit practice defines them.

* **daily spike** — a day's spend above ``daily_spike`` x its trailing average (the
  ``trailing_days`` calendar days before it; days without spend count as zero, days before
  the store's first data do not count). Quiet days below ``min_daily_usd`` never alert.
* **user over daily allocation**, **key over its cap**, **budget exceeded**, **automation
  cap exceeded** — from the budgets section, on the day the line was crossed.

Each alert names the day, the subject, the amount and the threshold.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from audit.money import format_usd, json_number, to_decimal
from audit.report.insights import Frames

if TYPE_CHECKING:
    from audit.report.model import Report

MIN_TRAILING_DAYS = 3


def _spike_message(day: str, amount: Decimal, average: Decimal, days: int) -> str:
    if not average:
        return f"{format_usd(amount)} on {day} after {days} days without spend"
    ratio = float(amount / average)
    trailing = f"the trailing {days}-day average {format_usd(average)}"
    return f"{format_usd(amount)} on {day} is {ratio:.0%} of {trailing}"


def _usd(value: float) -> str:
    return format_usd(Decimal(str(value)))


def _budget_message(item: dict[str, Any]) -> str:
    who = (
        item["name"]
        if item["scope"] in {"total", "automation"}
        else f"{item['scope']} {item['name']}"
    )
    return (
        f"{who} passed its {_usd(item['limit_usd'])} monthly budget on {item['crossed_on']}"
        f" (month total {_usd(item['spent_usd'])})"
    )


def _cap_message(user: str, spent: float, day: str, cap: float) -> str:
    return f"{user} spent {_usd(spent)} on {day}, above the {_usd(cap)} daily allocation"


class Alerts:
    name = "alerts"

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]:
        daily = pl.concat(
            [
                frames.previous_spend.select("day", "cost_usd"),
                frames.spend.select("day", "cost_usd"),
            ],
            how="vertical_relaxed",
        )
        return {"daily": daily.group_by("day").agg(pl.col("cost_usd").sum()).sort("day")}

    def _spikes(self, frames: Frames, daily: pl.DataFrame) -> list[dict[str, Any]]:
        s = frames.settings
        spend = {row["day"]: to_decimal(row["cost_usd"]) for row in daily.to_dicts()}
        if not spend:
            return []
        first_data = min(spend)
        out = []
        for day in frames.month.days():
            amount = spend.get(day, Decimal(0))
            window = [day - timedelta(days=i) for i in range(1, s.trailing_days + 1)]
            covered = [d for d in window if d >= first_data]
            if len(covered) < MIN_TRAILING_DAYS or amount < s.min_daily_usd:
                continue
            average = sum((spend.get(d, Decimal(0)) for d in covered), Decimal(0)) / len(covered)
            threshold = average * s.daily_spike
            if amount > threshold:
                out.append(
                    {
                        "kind": "daily-spike",
                        "day": day.isoformat(),
                        "subject": "total spend",
                        "amount_usd": json_number(amount),
                        "threshold_usd": json_number(threshold),
                        "message": _spike_message(day.isoformat(), amount, average, len(covered)),
                    }
                )
        return out

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
        alerts = self._spikes(frames, results["daily"])
        budgets = report.sections.get("budgets") or {}
        kinds = {"api_key": "key-over-cap", "automation": "automation-cap-exceeded"}
        for item in budgets.get("items", []):
            if item["crossed_on"] is None:
                continue
            alerts.append(
                {
                    "kind": kinds.get(item["scope"], "budget-exceeded"),
                    "day": item["crossed_on"],
                    "subject": f"{item['scope']} {item['name']}",
                    "amount_usd": item["spent_usd"],
                    "threshold_usd": item["limit_usd"],
                    "message": _budget_message(item),
                }
            )
        for cap in budgets.get("user_daily_caps", []):
            for over in cap["over_days"]:
                alerts.append(
                    {
                        "kind": "user-over-daily-allocation",
                        "day": over["day"],
                        "subject": f"user {cap['user']}",
                        "amount_usd": over["spent_usd"],
                        "threshold_usd": cap["cap_usd"],
                        "message": _cap_message(
                            cap["user"], over["spent_usd"], over["day"], cap["cap_usd"]
                        ),
                    }
                )
        report.sections["alerts"] = sorted(
            alerts, key=lambda a: (a["day"], a["kind"], a["subject"])
        )
