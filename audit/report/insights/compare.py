"""Month over month: the previous month's total, and beside every breakdown row its spend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from audit.money import json_number, to_decimal
from audit.report.insights import Frames

if TYPE_CHECKING:
    from audit.report.model import Report


class Comparison:
    name = "previous"

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]:
        from audit.report.model import UNATTRIBUTED, breakdown_keys

        out = {
            "total": frames.previous_spend.select(
                pl.col("cost_usd").sum(), pl.col("requests").sum()
            )
        }
        for name, (layer, key) in breakdown_keys().items():
            frame = frames.previous_spend if layer == "spend" else frames.previous_attribution
            out[name] = frame.group_by(key.fill_null(UNATTRIBUTED).alias("key")).agg(
                pl.col("cost_usd").sum()
            )
        return out

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
        total = results["total"]
        had_data = total.height and total.item(0, "requests") not in (None, 0)
        if not had_data:
            report.sections["previous"] = None
            return
        before = to_decimal(total.item(0, "cost_usd"))
        now = report.totals.cost_usd
        report.sections["previous"] = {
            "month": frames.month.previous().label,
            "cost_usd": json_number(before),
            "requests": int(total.item(0, "requests")),
            "change_usd": json_number(now - before),
            "change_share": round(float((now - before) / before), 4) if before else None,
        }
        for name, rows in report.breakdowns.items():
            if name not in results:
                continue
            previous = {r["key"]: to_decimal(r["cost_usd"]) for r in results[name].to_dicts()}
            for row in rows:
                prior = previous.get(row.key)
                row.extra["previous_cost_usd"] = json_number(prior) if prior is not None else None
                row.extra["change_usd"] = json_number(row.cost_usd - (prior or 0))
