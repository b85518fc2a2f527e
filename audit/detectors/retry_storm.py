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
from audit.detectors._groups import in_sequence
from audit.detectors.base import (
    CALLER_COLUMNS,
    POSITION,
    DetectContext,
    Detector,
    Param,
    Rule,
    caller,
)


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

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        return {"savings_usd": pl.col("calculated_cost_usd").fill_null(pl.col("cost_usd"))}

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
        """Chains are followed over each caller's requests in time order, but only for the
        callers that can have a storm at all.

        A storm's failures follow each other in the caller's failures alone, with the same
        gaps, so a caller whose failures alone (a few percent of the requests) never make a
        chain of ``min_failures`` has none; the rest of the month is never sorted.
        """
        p = rule.params
        failed = pl.col("status") == "error"

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

        def long_chains(frame: pl.LazyFrame) -> pl.LazyFrame:
            chained = in_sequence(frame, ["subject"], "ts", chains, keep=True).filter("_failed")
            labelled = chained.with_columns(
                pl.concat_str(
                    pl.col("subject"), pl.lit("#"), pl.col("_chain_no").cast(pl.String)
                ).alias("_chain")
            ).with_columns(pl.len().over("_chain").alias("_chain_len"))
            return labelled.filter(pl.col("_chain_len") >= p["min_failures"])

        def narrow(frame: pl.LazyFrame) -> pl.LazyFrame:
            return frame.select(POSITION, "ts", caller().alias("subject"), failed.alias("_failed"))

        possible = long_chains(narrow(rows.filter(failed))).select("subject").unique()
        callers = narrow(rows).join(possible, on="subject", how="semi", maintain_order="left")
        return long_chains(callers).select(POSITION, "subject", "_chain", "_chain_len", "_gap_s")
