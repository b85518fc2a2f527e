"""``stale-key``: API keys that look abandoned but keep spending.

A key is suspicious when nobody owns it (no user, team or project on any of its requests)
or its name says it was a prototype (``*proto*``, ``*experiment*``, …), *and* its traffic is
a steady trickle — a few requests a day on many days, the signature of a forgotten cron job
or integration rather than a product. The saving is the key's whole spend for the month:
revoking it stops all of it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import field_keys, first_position, with_values
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
        """Each key's traffic summed once, per combination of its name's and id's
        :func:`~audit.detectors._groups.field_keys` (a row per key, not per request); only
        the flagged keys' requests are read again. When two combinations show as one key
        (a name equal to another key's id), the traffic is summed per shown key instead."""
        p = rule.params
        pattern = "(?i)" + "|".join(f"(?:{glob_to_regex(g)})" for g in p["prototype_patterns"])
        owned = pl.any_horizontal([pl.col(f).is_not_null() for f in p["owner_fields"]])
        keys, names = field_keys(rows, ["key_name", "api_key"]), ["_key0", "_key1"]
        keyed = rows.filter(key_label().is_not_null())
        traffic = [
            (~owned.any()).alias("_unowned"),
            pl.col("ts").dt.date().n_unique().alias("_active_days"),
            pl.col("requests").fill_null(1).sum().alias("_requests"),
        ]
        per_key = with_values(
            keyed,
            keyed.group_by(keys).agg(*traffic, first_position()),
            [key_label().alias("subject")],
        )
        if per_key.get_column("subject").is_unique().all():
            flagged = _stale(per_key.lazy(), pattern, p)
            joined = keyed.select(POSITION, *keys).join(flagged, on=names, nulls_equal=True)
            return joined.drop(names)
        per_label = keyed.group_by(key_label().alias("subject")).agg(*traffic)
        flagged = _stale(per_label, pattern, p)
        return keyed.select(POSITION, key_label().alias("subject")).join(flagged, on="subject")


def _stale(per_key: pl.LazyFrame, pattern: str, p: dict[str, Any]) -> pl.LazyFrame:
    """The keys (one row each, with their traffic) that look abandoned, and why."""
    why = (
        pl.when(pl.col("_unowned") & pl.col("_prototype"))
        .then(pl.lit("no owner and a prototype name"))
        .when(pl.col("_unowned"))
        .then(pl.lit("no owner"))
        .otherwise(pl.lit("a prototype name"))
    )
    return (
        per_key.with_columns(
            pl.col("subject").str.contains(pattern).alias("_prototype"),
            (pl.col("_requests") / pl.col("_active_days")).alias("_daily"),
        )
        .filter(
            (pl.col("_unowned") | pl.col("_prototype"))
            & (pl.col("_active_days") >= p["min_active_days"])
            & (pl.col("_daily") <= float(p["max_daily_requests"]))
        )
        .with_columns(why.alias("_why"))
    )
