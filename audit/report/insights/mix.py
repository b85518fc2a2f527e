"""Model mix: spend by model class (premium / standard / economy), the share on premium."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl

from audit.money import json_number, to_decimal
from audit.report.insights import Frames

if TYPE_CHECKING:
    from audit.report.model import Report

ORDER = ("premium", "standard", "economy", "unclassified")


class ModelMix:
    name = "model_mix"

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]:
        return {
            "classes": frames.spend.group_by(
                pl.col("model_class").fill_null("unclassified").alias("class")
            ).agg(pl.col("cost_usd").sum(), pl.col("requests").sum())
        }

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
        rows = {r["class"]: r for r in results["classes"].to_dicts()}
        total = report.totals.cost_usd
        by_class = []
        for name in ORDER:
            if name not in rows:
                continue
            cost = to_decimal(rows[name]["cost_usd"])
            by_class.append(
                {
                    "class": name,
                    "cost_usd": json_number(cost),
                    "share": round(float(cost / total), 4) if total else 0.0,
                    "requests": int(rows[name]["requests"] or 0),
                }
            )
        premium = (
            to_decimal(rows.get("premium", {}).get("cost_usd")) if "premium" in rows else Decimal(0)
        )
        report.sections["model_mix"] = {
            "premium_share": round(float(premium / total), 4) if total else 0.0,
            "by_class": by_class,
        }
