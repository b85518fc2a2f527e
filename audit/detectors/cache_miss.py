"""``cache-miss``: the same long prompt prefix resent without prompt caching.

Requests that carry a prefix identity (by default ``tags.prefix_hash``, which gateways often
log) and repeat it within ``window_minutes`` could have read that prefix from the provider's
prompt cache. For each repeat that read nothing from cache, the saving is the prefix's tokens
at the difference between the model's input and cache-read prices. The prefix size is
estimated conservatively as the smallest prompt that carried it (the shared part cannot be
longer), and only models whose cache reads are cheaper than input count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import PROMPT_TOKENS, field_keys, first_position, in_order, with_values
from audit.detectors.base import (
    CALLER_COLUMNS,
    POSITION,
    DetectContext,
    Detector,
    Param,
    Rule,
    caller,
    field_columns,
)
from audit.detectors.where import row_field


@detector
class CacheMiss(Detector):
    """Repeated prompt prefixes that were not read from the provider's cache."""

    name = "cache-miss"
    summary = "a repeated prompt prefix sent uncached; saving = prefix x (input - cache-read price)"
    params: ClassVar[dict[str, Param]] = {
        "prefix_field": Param(
            "str", "tags.prefix_hash", "the field identifying a shared prompt prefix"
        ),
        "window_minutes": Param("int", 5, "a repeat within this would have hit the cache (TTL)"),
        "min_prefix_tokens": Param("int", 1024, "providers only cache prefixes at least this long"),
    }
    evidence = ("prompt_tokens", "cached_input_tokens", "prefix_tokens")

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "prefix_tokens": pl.col("prefix_tokens").max(),
            "prefixes": pl.col("_prefix").n_unique(),
            "models": pl.col("model").drop_nulls().unique().sort(),
        }

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        spread = pl.col("rate_input") - pl.col("rate_cached_input")
        return {
            "subject": caller(),
            "prompt_tokens": PROMPT_TOKENS,
            "savings_usd": pl.col("prefix_tokens").cast(pl.Decimal(38, 0)) * spread,
        }

    def columns(self, rule: Rule) -> set[str] | None:
        return field_columns(rule.params["prefix_field"], "prompt_tokens") | {
            *CALLER_COLUMNS,
            "model",
            "ts",
            "cached_input_tokens",
            "rate_input",
            "rate_cached_input",
        }

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        """Repeats are looked for only where one can be flagged: in the (prefix, model)
        groups whose smallest prompt reaches ``min_prefix_tokens`` and that hold an uncached
        request at a cache discount. Those figures come from one aggregation per
        combination of the two fields' keys (see :func:`~audit.detectors._groups.field_keys`),
        merged by value; the other groups' requests are never put in order."""
        p = rule.params
        prefix = row_field(rows, p["prefix_field"]).cast(pl.String)
        missed = (pl.col("cached_input_tokens").fill_null(0) == 0) & (
            pl.col("rate_cached_input") < pl.col("rate_input")
        )
        keyed = rows.filter(
            # A failed request that sent no prompt says nothing about the prefix's size.
            prefix.is_not_null() & pl.col("model").is_not_null() & (PROMPT_TOKENS > 0)
        )
        keys = field_keys(rows, [p["prefix_field"], "model"])
        names = ["_key0", "_key1"]
        per_key = with_values(
            keyed,
            keyed.group_by(keys).agg(
                PROMPT_TOKENS.min().alias("_smallest"),
                missed.any().alias("_missed"),
                first_position(),
            ),
            [prefix.alias("_prefix"), pl.col("model")],
        )
        groups = (
            per_key.group_by("_prefix", "model")
            .agg(pl.col("_smallest").min(), pl.col("_missed").any())
            .filter((pl.col("_smallest") >= p["min_prefix_tokens"]) & pl.col("_missed"))
            .select("_prefix", "model")
            .with_row_index("_group")
        )
        eligible = per_key.join(groups, on=["_prefix", "model"]).select(*names, "_group", "_prefix")
        candidates = keyed.select(
            POSITION,
            "ts",
            *keys,
            PROMPT_TOKENS.alias("_prompt"),
            missed.alias("_missed"),
        ).join(eligible.lazy(), on=names)
        window = pl.duration(minutes=p["window_minutes"])

        def repeats(previous: Callable[[pl.Expr], pl.Expr], number: pl.Expr) -> dict[str, pl.Expr]:
            # Over each (prefix, model)'s requests in time order (see in_sequence).
            return {
                "prefix_tokens": pl.col("_prompt").min().over(number),
                "_repeat": (pl.col("ts") - previous(pl.col("ts")) <= window).fill_null(False),
            }

        scored = in_order(candidates.drop(names), "ts", repeats)
        flagged = scored.filter(pl.col("_repeat") & pl.col("_missed").fill_null(False))
        return flagged.select(POSITION, "_prefix", "prefix_tokens")
