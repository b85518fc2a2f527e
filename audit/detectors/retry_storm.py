"""``retry-storm``: chains of failed requests fired without backoff.

For each caller, consecutive failed requests less than ``max_gap_seconds`` apart form a
chain; chains of at least ``min_failures`` are storms — automated retries hammering an
endpoint that keeps failing. Every failed attempt in a storm is flagged; the saving is what
those attempts cost (often input tokens burned on requests that never succeeded).
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import in_group_order
from audit.detectors.base import CALLER_COLUMNS, DetectContext, Detector, Param, Rule, caller


@detector
class RetryStorm(Detector):
    """Bursts of consecutive failures from one caller with no backoff."""

    name = "retry-storm"
    summary = "chains of failures from one caller seconds apart; saving = the failed attempts' cost"
    params: ClassVar[dict[str, Param]] = {
        "max_gap_seconds": Param("int", 60, "failures closer than this belong to one chain"),
        "min_failures": Param("int", 5, "a chain this long is a storm"),
    }
    evidence = ("error_type", "http_status", "session_id")

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "storms": pl.col("_chain").n_unique(),
            "longest_storm": pl.col("_chain_len").max(),
            "error_types": pl.col("error_type").drop_nulls().unique().sort(),
            "median_gap_seconds": pl.col("_gap_s").median().round(1),
        }

    def columns(self, rule: Rule) -> set[str] | None:
        return {
            *CALLER_COLUMNS,
            "status",
            "ts",
            "error_type",
            "http_status",
            "session_id",
            "cost_usd",
            "calculated_cost_usd",
        }

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        p = rule.params
        failed = pl.col("status") == "error"
        subject = rows.with_columns(caller().alias("subject"))

        def chains(same: pl.Expr, caller_number: pl.Expr) -> dict[str, pl.Expr]:
            # Over each caller's requests in time order (see in_group_order).
            prev_ts = pl.when(same).then(pl.col("ts").shift(1))
            prev_failed = pl.when(same).then(pl.col("_failed").shift(1)).fill_null(False)
            gap = (pl.col("ts") - prev_ts).dt.total_seconds(fractional=True)
            starts = (
                ~pl.col("_failed") | ~prev_failed | (gap > p["max_gap_seconds"]) | prev_ts.is_null()
            )
            return {
                "_gap_s": gap,
                "_chain_no": starts.cast(pl.Int64).cum_sum().over(caller_number),
            }

        chained = in_group_order(subject, ["subject"], "ts", {"_failed": failed}, chains)
        storms = chained.filter(failed).with_columns(
            pl.concat_str(
                pl.col("subject"), pl.lit("#"), pl.col("_chain_no").cast(pl.String)
            ).alias("_chain")
        )
        storms = storms.with_columns(pl.len().over("_chain").alias("_chain_len"))
        return storms.filter(pl.col("_chain_len") >= p["min_failures"]).with_columns(
            pl.col("calculated_cost_usd").fill_null(pl.col("cost_usd")).alias("savings_usd")
        )
