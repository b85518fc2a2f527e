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
from audit.detectors.base import POSITION, DetectContext, Detector, Param, Rule, key_label
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

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        return {"savings_usd": pl.col("cost_usd")}

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
        """Each key's traffic summed once (one row per key), its requests' positions
        alongside, so the flagged keys' requests come out without a second pass."""
        p = rule.params
        pattern = "(?i)" + "|".join(f"(?:{glob_to_regex(g)})" for g in p["prototype_patterns"])
        owned = pl.any_horizontal([pl.col(f).is_not_null() for f in p["owner_fields"]])
        keyed = rows.select(
            POSITION,
            key_label().alias("subject"),
            owned.alias("_owned"),
            pl.col("ts").dt.date().alias("_day"),
            pl.col("requests").fill_null(1).alias("_requests"),
        ).filter(pl.col("subject").is_not_null())
        per_key = (
            keyed.group_by("subject")
            .agg(
                (~pl.col("_owned").any()).alias("_unowned"),
                pl.col("_day").n_unique().alias("_active_days"),
                pl.col("_requests").sum(),
                pl.col(POSITION),
            )
            .with_columns(
                pl.col("subject").str.contains(pattern).alias("_prototype"),
                (pl.col("_requests") / pl.col("_active_days")).alias("_daily"),
            )
        )
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
        return flagged.with_columns(why.alias("_why")).explode(POSITION)
