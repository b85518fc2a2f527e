"""``stale-key``: API keys that look abandoned but keep spending.

A key is suspicious when nobody owns it (no user, team or project on any of its requests)
or its name says it was a prototype (``*proto*``, ``*experiment*``, …), *and* its traffic is
a steady trickle — a few requests a day on many days, the signature of a forgotten cron job
or integration rather than a product. The saving is the key's whole spend for the month:
revoking it stops all of it.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors.base import DetectContext, Detector, Param, Rule, key_label
from audit.detectors.where import glob_to_regex


@detector
class StaleKey(Detector):
    """Unowned or prototype-named keys with a steady trickle of traffic."""

    name = "stale-key"
    summary = (
        "unowned or prototype-named keys with a steady trickle of spend; saving = the key's spend"
    )
    params: ClassVar[dict[str, Param]] = {
        "prototype_patterns": Param(
            "list[str]",
            ["*proto*", "*experiment*", "*poc*", "*sandbox*", "*demo*", "*tmp*", "*temp*", "*old*"],
            "key-name globs that mark prototypes (case-insensitive)",
        ),
        "owner_fields": Param(
            "list[str]", ["user", "team", "project"], "a key with none of these is unowned"
        ),
        "min_active_days": Param("int", 10, "days with traffic needed to call it a trickle"),
        "max_daily_requests": Param(
            "float", 20.0, "above this many requests per active day it is a product"
        ),
    }
    evidence = ("app",)

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "active_days": pl.col("_active_days").first(),
            "daily_requests": pl.col("_daily").first().round(1),
            "why": pl.col("_why").first(),
        }

    def columns(self, rule: Rule) -> set[str] | None:
        return set(rule.params["owner_fields"]) | {
            "key_name",
            "api_key",
            "ts",
            "requests",
            "cost_usd",
            "app",
        }

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        p = rule.params
        pattern = "(?i)" + "|".join(f"(?:{glob_to_regex(g)})" for g in p["prototype_patterns"])
        owned = pl.any_horizontal([pl.col(f).is_not_null() for f in p["owner_fields"]])
        keyed = rows.with_columns(key_label().alias("subject")).filter(
            pl.col("subject").is_not_null()
        )
        per_key = keyed.with_columns(
            (~owned.any().over("subject")).alias("_unowned"),
            pl.col("subject").str.contains(pattern).alias("_prototype"),
            pl.col("ts").dt.date().n_unique().over("subject").alias("_active_days"),
            pl.col("requests").fill_null(1).sum().over("subject").alias("_requests"),
        ).with_columns((pl.col("_requests") / pl.col("_active_days")).alias("_daily"))
        why = (
            pl.when(pl.col("_unowned") & pl.col("_prototype"))
            .then(pl.lit("no owner and a prototype name"))
            .when(pl.col("_unowned"))
            .then(pl.lit("no owner"))
            .otherwise(pl.lit("a prototype name"))
        )
        flagged = per_key.filter(
            (pl.col("_unowned") | pl.col("_prototype"))
            & (pl.col("_active_days") >= p["min_active_days"])
            & (pl.col("_daily") <= float(p["max_daily_requests"]))
        )
        return flagged.with_columns(why.alias("_why"), pl.col("cost_usd").alias("savings_usd"))
