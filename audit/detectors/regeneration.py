"""``regeneration``: the same prompt sent again after an answer was rejected.

A request is a *repeat* when the same caller sent the same prompt (same ``prompt_hash``;
without a hash, the same model and prompt size, if enabled) within the window after an
earlier attempt, or when the log marks its outcome ``regenerated``. Every repeat is
avoidable spend: the saving is its whole cost. The first attempt is never flagged.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import previous_in_group
from audit.detectors.base import (
    CALLER_COLUMNS,
    DetectContext,
    Detector,
    Param,
    Rule,
    caller,
    field_columns,
)


@detector
class Regeneration(Detector):
    """Repeated identical prompts from one caller within a short window."""

    name = "regeneration"
    summary = (
        "the same prompt sent again within minutes (or marked regenerated); saving = the repeats"
    )
    params: ClassVar[dict[str, Param]] = {
        "window_minutes": Param("int", 10, "a repeat must follow the previous attempt within this"),
        "match_size_without_hash": Param(
            "bool",
            False,
            "without prompt_hash, treat same caller + model + prompt size as the same prompt",
        ),
        "count_marked_outcome": Param(
            "bool", True, "also flag requests whose outcome is 'regenerated'"
        ),
    }
    evidence = ("prompt_hash", "outcome", "session_id")

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "prompts": pl.col("_prompt_key").n_unique(),
            "models": pl.col("model").drop_nulls().unique().sort(),
        }

    def columns(self, rule: Rule) -> set[str] | None:
        size = field_columns("prompt_tokens") if rule.params["match_size_without_hash"] else set()
        return size | {
            *CALLER_COLUMNS,
            "prompt_hash",
            "model",
            "ts",
            "outcome",
            "session_id",
            "cost_usd",
        }

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        prompt = pl.col("prompt_hash")
        if rule.params["match_size_without_hash"]:
            size = (
                pl.col("input_tokens").fill_null(0)
                + pl.col("cached_input_tokens").fill_null(0)
                + pl.col("cache_write_tokens").fill_null(0)
            )
            prompt = pl.coalesce(
                prompt,
                pl.concat_str(pl.lit("size:"), pl.col("model"), pl.lit(":"), size.cast(pl.String)),
            )
        window = pl.duration(minutes=rule.params["window_minutes"])
        keyed = rows.with_columns(caller().alias("subject"), prompt.alias("_prompt_key"))
        keyed = previous_in_group(
            keyed, ["subject", "_prompt_key"], "ts", {"_previous_ts": pl.col("ts")}
        )
        previous = pl.col("_previous_ts")
        repeat = (
            pl.col("_prompt_key").is_not_null()
            & previous.is_not_null()
            & (pl.col("ts") - previous <= window)
        )
        if rule.params["count_marked_outcome"]:
            repeat = repeat | (pl.col("outcome") == "regenerated")
        flagged = keyed.filter(repeat).drop("_previous_ts")
        return flagged.with_columns(pl.col("cost_usd").alias("savings_usd"))
