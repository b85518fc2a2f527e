"""``retry-storm``: chains of failed requests fired without backoff.

For each caller, consecutive failed requests less than ``max_gap_seconds`` apart form a
chain; chains of at least ``min_failures`` are storms — automated retries hammering an
endpoint that keeps failing. Every failed attempt in a storm is flagged; the saving is what
those attempts cost (often input tokens burned on requests that never succeeded).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import polars as pl
import polars.selectors as cs

from audit.detectors import detector
from audit.detectors._groups import ENGINE, field_keys, first_position, in_order, with_values
from audit.detectors.base import (
    CALLER_COLUMNS,
    POSITION,
    DetectContext,
    Detector,
    Param,
    Rule,
    caller,
)

if TYPE_CHECKING:
    from polars._typing import TimeUnit


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
        """Only the failures are put in order; the other requests count, as numbers.

        A failure continues a chain when the caller's request just before it failed too and
        came at most ``max_gap_seconds`` earlier. Each request gets one integer, its
        *place*: its caller's number, then its time (see :func:`_places`). Sorted, the
        places say how many of a caller's requests come before any failure: two failures
        are next to each other exactly when they are one request apart, and the request
        before a failure is the place just below its own. So the few failures are chained
        by looking up numbers in one sorted column, and the millions of other requests are
        never put in order or compared. Callers are numbered per combination of their
        columns' :func:`~audit.detectors._groups.field_keys` (callers named alike share a
        number).
        """
        p = rule.params
        keys, names = field_keys(rows, CALLER_COLUMNS), [f"_key{i}" for i in range(4)]
        per_key = with_values(
            rows, rows.group_by(keys).agg(first_position()), [caller().alias("_caller")]
        )
        numbers = per_key.select(
            *names, pl.col("_caller").rank("dense").cast(pl.Int64).alias("_group")
        )
        numbered = rows.select(
            POSITION, "ts", *keys, (pl.col("status") == "error").alias("_failed")
        ).join(numbers.lazy(), on=names, nulls_equal=True)
        placed = _places(rows, numbered, groups=numbers.height)
        if placed is None:
            chained = _chains_in_windows(numbered, float(p["max_gap_seconds"]))
        else:
            chained = _chains(*placed, max_gap=float(p["max_gap_seconds"])).lazy()
        storms = chained.with_columns(pl.len().over("_chain").alias("_chain_len"))
        return storms.filter(pl.col("_chain_len") >= p["min_failures"]).select(
            POSITION, "_chain", "_chain_len", "_gap_s"
        )


#: The bits a request's place (see :func:`_places`) may take.
PLACE_BITS = 62


def _places(
    rows: pl.LazyFrame, numbered: pl.LazyFrame, *, groups: int
) -> tuple[pl.DataFrame, pl.DataFrame, int, TimeUnit] | None:
    """Every request's place and whether it failed, the failures sorted by place and
    position, the bits of time in a place and the time's unit; None when a place would not
    fit in :data:`PLACE_BITS`.

    A place is ``caller << bits | (time - earliest + 1)``, 0 for a missing time: sorted, a
    caller's requests come together, in time order, a missing time first, as an ordered
    window puts them. Requests at the same time are put in order by position apart (see
    :func:`_earlier_alike`).
    """
    time_type = rows.collect_schema()["ts"]
    unit: TimeUnit = time_type.time_unit if isinstance(time_type, pl.Datetime) else "us"
    ticks = pl.col("ts").to_physical()
    first, last = rows.select(ticks.min(), ticks.max().alias("_last")).collect().row(0)
    bits = 1 if first is None else (last - first + 1).bit_length()
    if bits + groups.bit_length() > PLACE_BITS:
        return None
    tick = (ticks - (first or 0) + 1).fill_null(0)
    place = (pl.col("_group") * (1 << bits) + tick).alias("_place")
    coded = numbered.select(POSITION, place, "_failed").collect(engine=ENGINE)
    failures = coded.filter("_failed").drop("_failed").sort("_place", POSITION)
    return coded.drop("_failed"), failures, bits, unit


def _chains(
    coded: pl.DataFrame, failures: pl.DataFrame, bits: int, unit: TimeUnit, *, max_gap: float
) -> pl.DataFrame:
    """``failures`` with ``_gap_s``, the seconds since the caller's request before (any),
    and ``_chain``, a number per chain (see :meth:`RetryStorm.detect`)."""
    places = coded.get_column("_place").sort()
    size = 1 << bits
    below = places.search_sorted(failures.get_column("_place"), side="left")
    counted = failures.with_columns(
        (below.cast(pl.Int64) + _earlier_alike(coded, failures, places, below)).alias("_rank")
    )
    rank, caller = pl.col("_rank"), pl.col("_place") // size
    before = pl.lit(places).gather(pl.when(rank > 0).then(rank - 1))
    # The caller's request just before: its time, when it is the caller's and has one.
    earlier = pl.when((before // size == caller) & (before % size > 0)).then(before % size)
    now = pl.when(pl.col("_place") % size > 0).then(pl.col("_place") % size)
    gap = (now - earlier).cast(pl.Duration(unit)).dt.total_seconds(fractional=True)
    next_to = ((caller == caller.shift(1)) & (rank - rank.shift(1) == 1)).fill_null(False)
    starts = ~next_to | (gap > max_gap) | earlier.is_null()
    return counted.with_columns(
        gap.alias("_gap_s"), starts.cast(pl.Int64).cum_sum().alias("_chain")
    )


def _earlier_alike(
    coded: pl.DataFrame, failures: pl.DataFrame, places: pl.Series, below: pl.Series
) -> pl.Series:
    """For each failure, the caller's requests at the very same time and lower position
    (0 but for the rare request sharing its tick with another)."""
    alike = places.search_sorted(failures.get_column("_place"), side="right") - below
    shared = failures.filter(alike > 1)
    zero = pl.repeat(0, failures.height, dtype=pl.Int64, eager=True)
    if shared.is_empty():
        return zero
    peers = coded.filter(pl.col("_place").is_in(shared.get_column("_place").implode()))
    earlier = (
        shared.join(peers, on="_place", suffix="_peer")
        .filter(pl.col(f"{POSITION}_peer") < pl.col(POSITION))
        .group_by(POSITION)
        .len()
    )
    counts = failures.join(earlier, on=POSITION, how="left", maintain_order="left")
    return counts.get_column("len").fill_null(0).cast(pl.Int64).rename("")


def _chains_in_windows(numbered: pl.LazyFrame, max_gap: float) -> pl.LazyFrame:
    """:func:`_chains` by ordered windows over every request (for times too far apart to
    make places of): the failures with ``_gap_s`` and ``_chain``."""

    def chains(previous: Callable[[pl.Expr], pl.Expr], caller: pl.Expr) -> dict[str, pl.Expr]:
        prev_ts = previous(pl.col("ts"))
        prev_failed = previous(pl.col("_failed")).fill_null(False)
        gap = (pl.col("ts") - prev_ts).dt.total_seconds(fractional=True)
        starts = ~pl.col("_failed") | ~prev_failed | (gap > max_gap) | prev_ts.is_null()
        chain = starts.cast(pl.Int64).cum_sum().over(caller).cast(pl.UInt64)
        # A chain's number is unique within its caller's; with the caller's, in the month.
        return {"_gap_s": gap, "_chain": caller.cast(pl.UInt64) * (1 << 32) + chain}

    return in_order(numbered.drop(cs.starts_with("_key")), "ts", chains).filter("_failed")
