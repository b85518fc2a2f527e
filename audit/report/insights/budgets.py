"""Budgets: spend against each configured limit, the day it was crossed, a month-end forecast.

Scopes: the organisation total, teams, projects, API keys and models (monthly), a CI /
automation cap (monthly, over the requests its ``match`` selects), and per-user daily
allocations. Totals and models use the spend layer (what was billed); teams, projects, keys,
users and automation use the attribution layer (who spent it). While the month is still
running, a forecast extrapolates the run rate to the month's end.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from audit.insights_config import Budget
from audit.money import json_number, to_decimal
from audit.report.insights import Frames

if TYPE_CHECKING:
    from audit.report.model import Report


def _automation_filter(match: dict[str, tuple[str, ...]]) -> pl.Expr:
    return pl.any_horizontal([pl.col(field).is_in(list(values)) for field, values in match.items()])


def _key_match(names: list[str]) -> pl.Expr:
    return pl.col("key_name").is_in(names) | pl.col("api_key").is_in(names)


def _key_name(names: list[str]) -> pl.Expr:
    return (
        pl.when(pl.col("key_name").is_in(names))
        .then(pl.col("key_name"))
        .otherwise(pl.col("api_key"))
    )


def status_of(spent: Decimal, limit: Decimal, warn_at: Decimal) -> str:
    if spent > limit:
        return "over"
    if limit and spent >= limit * warn_at:
        return "warn"
    return "ok"


class Budgets:
    name = "budgets"

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]:
        s = frames.settings
        cost = pl.col("cost_usd").sum()
        out: dict[str, pl.LazyFrame] = {}
        by_scope: dict[str, list[str]] = {}
        for budget in s.monthly:
            by_scope.setdefault(budget.scope, []).append(budget.name)
        if "total" in by_scope:
            out["total"] = (
                frames.spend.group_by("day")
                .agg(cost)
                .with_columns(pl.lit("organisation").alias("name"))
            )
        for scope in ("team", "project"):
            if scope in by_scope:
                out[scope] = (
                    frames.attribution.filter(pl.col(scope).is_in(by_scope[scope]))
                    .group_by("day", pl.col(scope).alias("name"))
                    .agg(cost)
                )
        if "api_key" in by_scope:
            names = by_scope["api_key"]
            out["api_key"] = (
                frames.attribution.filter(_key_match(names))
                .group_by("day", _key_name(names).alias("name"))
                .agg(cost)
            )
        if "model" in by_scope:
            model = pl.coalesce(pl.col("model"), pl.col("model_raw"))
            out["model"] = (
                frames.spend.filter(model.is_in(by_scope["model"]))
                .group_by("day", model.alias("name"))
                .agg(cost)
            )
        if s.automation is not None:
            out["automation"] = (
                frames.attribution.filter(_automation_filter(s.automation_match).fill_null(False))
                .group_by("day")
                .agg(cost)
                .with_columns(pl.lit(s.automation.name).alias("name"))
            )
        if s.user_daily_default is not None or s.user_daily:
            out["user_daily"] = (
                frames.attribution.filter(pl.col("user").is_not_null())
                .group_by("user", "day")
                .agg(cost)
            )
        return out

    def _evaluate(
        self, budget: Budget, series: pl.DataFrame | None, frames: Frames
    ) -> dict[str, Any]:
        s = frames.settings
        daily: list[tuple[date, Decimal]] = []
        if series is not None and series.height:
            mine = series.filter(pl.col("name") == budget.name).sort("day")
            daily = [(row["day"], to_decimal(row["cost_usd"])) for row in mine.to_dicts()]
        spent = sum((amount for _, amount in daily), Decimal(0))
        crossed_on = None
        running = Decimal(0)
        for day, amount in daily:
            running += amount
            if running > budget.limit_usd:
                crossed_on = day.isoformat()
                break
        month = frames.month
        elapsed = (min(frames.now, month.end) - month.start).total_seconds() / 86400
        total_days = len(month.days())
        in_progress = 0 < elapsed < total_days
        forecast = spent * Decimal(total_days) / Decimal(str(elapsed)) if in_progress else None
        return {
            "scope": budget.scope,
            "name": budget.name,
            "limit_usd": json_number(budget.limit_usd),
            "spent_usd": json_number(spent),
            "share": round(float(spent / budget.limit_usd), 4) if budget.limit_usd else None,
            "status": status_of(spent, budget.limit_usd, s.warn_at),
            "crossed_on": crossed_on,
            "forecast_usd": json_number(forecast) if forecast is not None else None,
            "forecast_status": (
                status_of(forecast, budget.limit_usd, s.warn_at) if forecast is not None else None
            ),
        }

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
        s = frames.settings
        items = [self._evaluate(b, results.get(b.scope), frames) for b in s.monthly]
        if s.automation is not None:
            items.append(self._evaluate(s.automation, results.get("automation"), frames))
        caps: list[dict[str, Any]] = []
        if "user_daily" in results:
            for user, rows in (
                results["user_daily"].sort("user", "day").group_by("user", maintain_order=True)
            ):
                name = str(user[0])
                cap = s.user_daily.get(name, s.user_daily_default)
                if cap is None:
                    continue
                over = [
                    (r["day"], to_decimal(r["cost_usd"]))
                    for r in rows.to_dicts()
                    if to_decimal(r["cost_usd"]) > cap
                ]
                if not over:
                    continue
                worst_day, worst = max(over, key=lambda item: (item[1], item[0]))
                caps.append(
                    {
                        "user": name,
                        "cap_usd": json_number(cap),
                        "days_over": len(over),
                        "over_days": [
                            {"day": d.isoformat(), "spent_usd": json_number(a)} for d, a in over
                        ],
                        "worst_day": worst_day.isoformat(),
                        "worst_usd": json_number(worst),
                    }
                )
        report.sections["budgets"] = {
            "warn_at": float(s.warn_at),
            "items": items,
            "user_daily_caps": sorted(caps, key=lambda c: (-c["days_over"], c["user"])),
            "user_daily_default_usd": json_number(s.user_daily_default)
            if s.user_daily_default is not None
            else None,
        }
