"""``retry-storm``: chains of failed requests fired without backoff.

For each caller, consecutive failed requests less than ``max_gap_seconds`` apart form a
chain; chains of at least ``min_failures`` are storms — automated retries hammering an
endpoint that keeps failing. Every failed attempt in a storm is flagged; the saving is what
those attempts cost (often input tokens burned on requests that never succeeded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import ENGINE, in_sequence
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
        return {
            "subject": caller(),
            "savings_usd": pl.col("calculated_cost_usd").fill_null(pl.col("cost_usd")),
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
        """Chains are followed over each caller's requests in time order, but only for the
        callers that can have a storm at all.

        A storm's failures follow each other among the caller's failures alone, with the
        same gaps, so a caller whose failures alone (a few percent of the requests, put in
        order first) never make a chain of ``min_failures`` has none; the other callers'
        requests are never put in order.
        """
        p = rule.params
        failed = pl.col("status") == "error"

        def chains(
            previous: Callable[[pl.Expr], pl.Expr], caller_number: pl.Expr
        ) -> dict[str, pl.Expr]:
            # Over each caller's requests in time order (see in_sequence).
            prev_ts = previous(pl.col("ts"))
            prev_failed = previous(pl.col("_failed")).fill_null(False)
            gap = (pl.col("ts") - prev_ts).dt.total_seconds(fractional=True)
            starts = (
                ~pl.col("_failed") | ~prev_failed | (gap > p["max_gap_seconds"]) | prev_ts.is_null()
            )
            return {
                "_gap_s": gap,
                "_chain_no": starts.cast(pl.Int64).cum_sum().over(caller_number),
            }

        def long_chains(frame: pl.LazyFrame, *, keep: bool) -> pl.LazyFrame:
            narrow = frame.select(
                POSITION, "ts", caller().alias("subject"), failed.alias("_failed")
            )
            chained = in_sequence(narrow, ["subject"], "ts", chains, keep=keep).filter("_failed")
            # A chain's number is unique within its caller's; with the caller's, in the month.
            chain = pl.col("_group") * (1 << 32) + pl.col("_chain_no").cast(pl.UInt64)
            labelled = chained.with_columns(chain.alias("_chain")).with_columns(
                pl.len().over("_chain").alias("_chain_len")
            )
            return labelled.filter(pl.col("_chain_len") >= p["min_failures"])

        candidates = long_chains(rows.filter(failed), keep=True).select("subject").unique()
        possible = candidates.collect(engine=ENGINE).get_column("subject")
        callers = rows.filter(caller().is_in(possible.implode())) if len(possible) else rows.clear()
        return long_chains(callers, keep=False).select(POSITION, "_chain", "_chain_len", "_gap_s")
