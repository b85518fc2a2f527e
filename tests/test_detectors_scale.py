"""The detectors' large-month shortcuts flag exactly what the straightforward windows flag.

A detector works on the few columns its decision reads, narrows the rows early (hashing
groups, chaining only failures, aggregating norms per combination of codes) and names the
flagged requests by position for the framework to complete. Each test below runs a rule on
random requests (ties in time, missing times and fields, repeated prompts and prefixes,
failures in bursts) and compares the flagged requests, their savings and the figures the
findings read with a reference: the ordered windows over every request, as the detectors
computed them before.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import audit.detectors._groups as groups_module
import audit.detectors.base as base_module
import audit.detectors.retry_storm as retry_storm_module
import audit.detectors.run as run_module
from audit.detectors._groups import PROMPT_TOKENS, group_label, robust_limit
from audit.detectors.base import (
    POSITION,
    DetectContext,
    Rule,
    caller,
    code_of,
    hash_of,
    key_label,
    stored_hash,
)
from audit.detectors.regeneration import _prompt_key
from audit.detectors.run import Flagged, collected, input_columns, plan
from audit.detectors.where import glob_to_regex, row_field
from audit.errors import StoreError
from audit.money import MONEY
from audit.pricing import PriceBook

from conftest import bundled, priced

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
MODELS = ["claude-sonnet-4-6", "gpt-4o-mini", "claude-opus-4-8", "mystery-model"]


def requests(seed: int, n: int = 600, *, repeats: float = 0.8) -> list[dict[str, Any]]:
    """Random requests exercising what the shortcuts must keep: equal times, missing
    times, fields and prompts, text that reads as another label (``x · y``, ``-``), a key
    name equal to a user, bursts of failures from few callers. ``repeats`` is the share of
    prompts drawn from a few (the rest are unique)."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        ts = None if rng.random() < 0.04 else T0 + timedelta(seconds=rng.randrange(0, 900))
        prefix = rng.choice([None, "p1", "p2", "p3"])
        tags = rng.choice(
            [
                None,
                json.dumps({"prefix_hash": prefix}),
                json.dumps({"run_id": f"r{index}"}),
                '{"prefix\\u005fhash": "p1"}',
            ]
        )
        cached = rng.choice([0, 0, 0, None, rng.randrange(1, 3000)])
        rows.append(
            {
                "record_id": f"r{index:05d}",
                "granularity": "request",
                "ts": ts,
                "status": rng.choice(["ok", "ok", "ok", "error", "error", "cancelled"]),
                "model_raw": rng.choice(MODELS),
                "user": rng.choice([None, None, "ann", "bob", "x · y"]),
                "key_name": rng.choice([None, "ann", "ci", "proto-bot", "legacy"]),
                "api_key": rng.choice([None, "sk-1", "sk-2"]),
                "app": rng.choice([None, "x", "x · y", "-", "reviewer"]),
                "team": rng.choice([None, None, "web"]),
                "purpose": rng.choice([None, "chat", "y", "summarize"]),
                "prompt_hash": rng.choice([None, "h1", "h2", "h3"])
                if rng.random() < repeats
                else f"u{index}",
                "outcome": rng.choice(["accepted", "rejected", "regenerated", "unknown"]),
                "tags": tags,
                "latency_ms": rng.choice([0.0, -0.0, 1.5, None]),
                "input_tokens": rng.choice([rng.randrange(0, 3000), rng.randrange(0, 60000)]),
                "cached_input_tokens": cached,
                "cache_write_tokens": rng.choice([None, 0, 500]),
                "output_tokens": rng.choice([None, rng.randrange(0, 400), rng.randrange(0, 9000)]),
                "requests": 1,
            }
        )
    return rows


def flagged(
    book: PriceBook,
    frame: pl.LazyFrame,
    the_rule: Rule,
    *,
    eager: bool,
    stored: pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """What the framework makes of the detector's output: the flagged requests, complete."""
    [rule_plan] = plan(frame, [the_rule], DetectContext(book=book, stored=stored))
    assert isinstance(rule_plan.flagged, Flagged)
    out = rule_plan.flagged.computed() if eager else rule_plan.flagged.lazy().collect()
    return out.sort("record_id")


def capped(frame: pl.LazyFrame) -> pl.LazyFrame:
    """The framework's cap on a saving: never more than the request cost."""
    cost = pl.col("cost_usd").cast(MONEY)
    savings = pl.col("savings_usd").cast(MONEY).fill_null(0)
    return frame.with_columns(
        pl.when(cost.is_not_null() & (savings > cost))
        .then(cost)
        .otherwise(savings)
        .alias("savings_usd")
    )


def assert_same(got: pl.DataFrame, expected: pl.LazyFrame, columns: list[str]) -> None:
    want = capped(expected).collect().sort("record_id")
    assert want.height > 0, "the random month should trip the rule"
    assert_frame_equal(got.select(columns), want.select(columns), check_dtypes=False)


def partition(frame: pl.DataFrame, by: str) -> set[frozenset[str]]:
    """The flagged requests grouped by ``by`` (chain, prefix…), whatever its values."""
    grouped = frame.group_by(by).agg(pl.col("record_id"))
    return {frozenset(ids) for ids in grouped.get_column("record_id").to_list()}


# ----------------------------------------------------------------------------- references


def ref_regeneration(rows: pl.LazyFrame, the_rule: Rule) -> pl.LazyFrame:
    p = the_rule.params
    keyed = rows.filter(the_rule.where).with_columns(
        caller().alias("subject"), _prompt_key(the_rule).alias("_prompt_key")
    )
    previous = pl.col("ts").shift(1).over(["subject", "_prompt_key"], order_by="ts")
    repeat = (
        pl.col("_prompt_key").is_not_null()
        & previous.is_not_null()
        & (pl.col("ts") - previous <= pl.duration(minutes=p["window_minutes"]))
    )
    if p["count_marked_outcome"]:
        repeat = repeat | (pl.col("outcome") == "regenerated")
    return keyed.filter(repeat).with_columns(pl.col("cost_usd").alias("savings_usd"))


def ref_retry_storm(rows: pl.LazyFrame, the_rule: Rule) -> pl.LazyFrame:
    p = the_rule.params
    failed = pl.col("status") == "error"
    keyed = rows.filter(the_rule.where).with_columns(caller().alias("subject"))

    def ordered(expr: pl.Expr) -> pl.Expr:
        return expr.over("subject", order_by="ts")

    prev_ts = ordered(pl.col("ts").shift(1))
    prev_failed = ordered(failed.shift(1)).fill_null(False)
    gap = (pl.col("ts") - prev_ts).dt.total_seconds(fractional=True)
    starts = ~failed | ~prev_failed | (gap > p["max_gap_seconds"]) | prev_ts.is_null()
    chained = keyed.with_columns(
        gap.alias("_gap_s"), ordered(starts.cast(pl.Int64).cum_sum()).alias("_no")
    ).filter(failed)
    chained = chained.with_columns(
        pl.concat_str("subject", pl.lit("#"), pl.col("_no").cast(pl.String)).alias("_chain")
    ).with_columns(pl.len().over("_chain").alias("_chain_len"))
    storms = chained.filter(pl.col("_chain_len") >= p["min_failures"])
    return storms.with_columns(
        pl.col("calculated_cost_usd").fill_null(pl.col("cost_usd")).alias("savings_usd")
    )


def ref_cache_miss(rows: pl.LazyFrame, the_rule: Rule) -> pl.LazyFrame:
    p = the_rule.params
    rows = rows.filter(the_rule.where)
    keyed = rows.with_columns(
        row_field(rows, p["prefix_field"]).cast(pl.String).alias("_prefix"),
        PROMPT_TOKENS.alias("prompt_tokens"),
        caller().alias("subject"),
    ).filter(
        pl.col("_prefix").is_not_null()
        & pl.col("model").is_not_null()
        & (pl.col("prompt_tokens") > 0)
    )
    group = ["_prefix", "model"]
    previous = pl.col("ts").shift(1).over(group, order_by="ts")
    window = pl.duration(minutes=p["window_minutes"])
    scored = keyed.with_columns(
        pl.col("prompt_tokens").min().over(group).alias("prefix_tokens"),
        (pl.col("ts") - previous <= window).fill_null(False).alias("_repeat"),
    )
    flagged = scored.filter(
        pl.col("_repeat")
        & (pl.col("cached_input_tokens").fill_null(0) == 0)
        & (pl.col("rate_cached_input") < pl.col("rate_input"))
        & (pl.col("prefix_tokens") >= p["min_prefix_tokens"])
    )
    spread = pl.col("rate_input") - pl.col("rate_cached_input")
    return flagged.with_columns(
        (pl.col("prefix_tokens").cast(pl.Decimal(38, 0)) * spread).alias("savings_usd")
    )


def ref_outliers(
    rows: pl.LazyFrame, the_rule: Rule, value: pl.Expr, name: str, typical: str, rate: str
) -> pl.LazyFrame:
    p = the_rule.params
    rows = rows.filter(the_rule.where)
    label = group_label(p["group_by"], path=the_rule.path, line=the_rule.line, rows=rows)
    scored = rows.with_columns(label.alias("subject"), value.alias(name))
    v = pl.col(name)
    limit = robust_limit(v, "subject", factor=float(p["factor"]), mad_k=float(p["mad_k"]))
    scored = scored.with_columns(
        v.median().over("subject").round(0).cast(pl.Int64).alias(typical),
        pl.len().over("subject").alias("_group_size"),
        limit.alias("_limit"),
    )
    least = p["min_prompt_tokens"] if "min_prompt_tokens" in p else p["min_output_tokens"]
    flagged = scored.filter(
        (pl.col("_group_size") >= p["min_group"]) & (v >= least) & (v > pl.col("_limit"))
    )
    excess = (v - pl.col(typical)).cast(pl.Decimal(38, 0))
    return flagged.with_columns((excess * pl.col(rate)).alias("savings_usd"))


def ref_stale_key(rows: pl.LazyFrame, the_rule: Rule) -> pl.LazyFrame:
    p = the_rule.params
    pattern = "(?i)" + "|".join(f"(?:{glob_to_regex(g)})" for g in p["prototype_patterns"])
    owned = pl.any_horizontal([pl.col(f).is_not_null() for f in p["owner_fields"]])
    keyed = rows.filter(the_rule.where).with_columns(key_label().alias("subject"))
    keyed = keyed.filter(pl.col("subject").is_not_null())
    per_key = keyed.with_columns(
        (~owned.any().over("subject")).alias("_unowned"),
        pl.col("subject").str.contains(pattern).alias("_prototype"),
        pl.col("ts").dt.date().n_unique().over("subject").alias("_active_days"),
        pl.col("requests").fill_null(1).sum().over("subject").alias("_requests"),
    ).with_columns((pl.col("_requests") / pl.col("_active_days")).alias("_daily"))
    flagged = per_key.filter(
        (pl.col("_unowned") | pl.col("_prototype"))
        & (pl.col("_active_days") >= p["min_active_days"])
        & (pl.col("_daily") <= float(p["max_daily_requests"]))
    )
    why = (
        pl.when(pl.col("_unowned") & pl.col("_prototype"))
        .then(pl.lit("no owner and a prototype name"))
        .when(pl.col("_unowned"))
        .then(pl.lit("no owner"))
        .otherwise(pl.lit("a prototype name"))
    )
    return flagged.with_columns(why.alias("_why"), pl.col("cost_usd").alias("savings_usd"))


def ref_output_waste(rows: pl.LazyFrame, r: Rule) -> pl.LazyFrame:
    """The reference outliers for output-waste (whatever its grouping)."""
    return ref_outliers(
        rows,
        r,
        pl.col("output_tokens").fill_null(0),
        "_output",
        "typical_output_tokens",
        "rate_output",
    )


CASES: dict[str, tuple[Rule, Any, list[str]]] = {
    "regeneration": (
        bundled("regeneration", window_minutes=3),
        ref_regeneration,
        ["record_id", "subject", "_prompt_key", "savings_usd"],
    ),
    "regeneration-by-size": (
        bundled("regeneration", window_minutes=5, match_size_without_hash=True),
        ref_regeneration,
        ["record_id", "subject", "_prompt_key", "savings_usd"],
    ),
    "retry-storm": (
        bundled("retry-storm", max_gap_seconds=40, min_failures=3),
        ref_retry_storm,
        ["record_id", "subject", "_gap_s", "_chain_len", "savings_usd"],
    ),
    "cache-miss": (
        bundled("cache-miss", window_minutes=2, min_prefix_tokens=0),
        ref_cache_miss,
        ["record_id", "subject", "_prefix", "prefix_tokens", "savings_usd"],
    ),
    "context-bloat": (
        bundled("context-bloat", factor=1.5, mad_k=0.5, min_prompt_tokens=100, min_group=3),
        lambda rows, r: ref_outliers(
            rows, r, PROMPT_TOKENS, "prompt_tokens", "typical_prompt_tokens", "rate_input"
        ),
        ["record_id", "subject", "prompt_tokens", "typical_prompt_tokens", "savings_usd"],
    ),
    "context-bloat-by-purpose": (
        bundled(
            "context-bloat",
            group_by=["purpose", "model"],
            factor=1.5,
            mad_k=0.5,
            min_prompt_tokens=100,
            min_group=3,
        ),
        lambda rows, r: ref_outliers(
            rows, r, PROMPT_TOKENS, "prompt_tokens", "typical_prompt_tokens", "rate_input"
        ),
        ["record_id", "subject", "prompt_tokens", "typical_prompt_tokens", "savings_usd"],
    ),
    "output-waste": (
        bundled("output-waste", factor=1.5, mad_k=0.5, min_output_tokens=10, min_group=3),
        ref_output_waste,
        ["record_id", "subject", "typical_output_tokens", "savings_usd"],
    ),
    "output-waste-by-latency": (
        bundled("output-waste", group_by=["latency_ms"], factor=1.2, mad_k=0.1, min_group=2),
        ref_output_waste,
        ["record_id", "subject", "typical_output_tokens", "savings_usd"],
    ),
    "stale-key": (
        bundled("stale-key", min_active_days=1, max_daily_requests=1e9),
        ref_stale_key,
        ["record_id", "subject", "_active_days", "_daily", "_why", "savings_usd"],
    ),
}


@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "computed"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_detectors_flag_what_the_windows_flag(
    book: PriceBook, case: str, seed: int, eager: bool
) -> None:
    the_rule, reference, columns = CASES[case]
    rows = priced(book, requests(seed))
    got = flagged(book, rows, the_rule, eager=eager)
    expected = reference(rows, the_rule)
    assert_same(got, expected, columns)
    if case == "retry-storm":
        assert partition(got, "_chain") == partition(expected.collect(), "_chain")


def test_regeneration_orders_only_the_repeated_prompts(book: PriceBook) -> None:
    """Most prompts unique, as in a real month: only the repeated ones are read again."""
    the_rule, reference, columns = CASES["regeneration"]
    rows = priced(book, requests(10, repeats=0.1))
    got = flagged(book, rows, the_rule, eager=True)
    assert_same(got, reference(rows, the_rule), columns)


# ------------------------------------------------------------------ codes and collisions


def with_codes(rows: pl.LazyFrame, seed: int) -> pl.LazyFrame:
    """``rows`` with codes as the report's rows carry them (:func:`code_of`), but coarse the
    other way: each value gets one of two codes at random. Equal codes still mean equal
    values, and the findings must not change."""
    rng = random.Random(seed)
    frame = rows.collect()
    codes = []
    for name in ("user", "key_name", "api_key", "app", "purpose", "model"):
        values = frame.get_column(name)
        rank = values.rank("dense").cast(pl.Int64)
        twin = pl.Series([rng.randrange(2) for _ in range(frame.height)])
        codes.append((rank * 2 + twin).cast(pl.UInt16).alias(code_of(name)))
    prefix = frame.select(row_field(rows, "tags.prefix_hash")).to_series()
    codes.append(
        (prefix.rank("dense").cast(pl.Int64) * 3 + pl.Series([rng.randrange(3) for _ in prefix]))
        .cast(pl.UInt32)
        .alias(code_of("tags.prefix_hash"))
    )
    return frame.with_columns(codes).lazy()


@pytest.mark.parametrize("case", list(CASES))
def test_codes_that_split_a_value_change_nothing(book: PriceBook, case: str) -> None:
    the_rule, _, columns = CASES[case]
    rows = priced(book, requests(4))
    plain = flagged(book, rows, the_rule, eager=True)
    coded = flagged(book, with_codes(rows, 4), the_rule, eager=True)
    assert plain.height > 0
    assert_frame_equal(coded.select(columns), plain.select(columns))


@pytest.mark.parametrize("case", ["regeneration", "cache-miss"])
def test_groups_whose_hashes_collide_are_still_told_apart(
    book: PriceBook, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    the_rule, _, columns = CASES[case]
    rows = priced(book, requests(5))
    expected = flagged(book, rows, the_rule, eager=True)
    # Every group hashes alike: every row is kept as possibly shared.
    monkeypatch.setattr(groups_module, "_group_hash", lambda group: pl.lit(7, dtype=pl.UInt64))
    assert_frame_equal(
        flagged(book, rows, the_rule, eager=True).select(columns), expected.select(columns)
    )


def in_store(
    rows: pl.LazyFrame, names: Sequence[str], hashed: Sequence[str]
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """``rows`` as the report hands them when it leaves ``names`` in the store: without
    them (a hash of the ``hashed`` ones in their place), and the store they are read from
    by position."""
    frame = rows.collect().with_row_index(POSITION)
    hashes = [stored_hash(pl.col(name)).alias(hash_of(name)) for name in hashed]
    # The store in another order than the rows: it is read by position, never by order.
    stored = frame.select(POSITION, *names).reverse().lazy()
    return frame.with_columns(hashes).drop(names).lazy(), stored


@pytest.mark.parametrize("collide", [False, True], ids=["hashes", "colliding"])
@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "computed"])
@pytest.mark.parametrize("case", list(CASES))
def test_columns_left_in_the_store_change_nothing(
    book: PriceBook, case: str, eager: bool, collide: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    the_rule, _, columns = CASES[case]
    rows = priced(book, requests(7))
    expected = flagged(book, rows, the_rule, eager=True)
    inputs = input_columns([the_rule], rows.collect_schema().names())
    assert inputs.stored == (
        ("record_id", "prompt_hash") if the_rule.detector == "regeneration" else ("record_id",)
    )
    held, stored = in_store(rows, inputs.stored, inputs.hashed)
    if collide:
        # Every prompt hashes alike: the text read from the store tells them apart.
        monkeypatch.setattr(groups_module, "_group_hash", lambda group: pl.lit(7, dtype=pl.UInt64))
    got = flagged(book, held, the_rule, eager=eager, stored=stored)
    assert expected.height > 0
    assert_frame_equal(got.select(columns), expected.select(columns))


@pytest.mark.parametrize("size", [False, True], ids=["hash", "hash-or-size"])
@pytest.mark.parametrize("marked", [True, False], ids=["marked", "unmarked"])
def test_regeneration_reads_prompt_hashes_from_the_store_once(
    book: PriceBook, marked: bool, size: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once while it plans, for the repeats and the marked requests together; the findings
    show the hashes it returns instead of the framework reading the column again."""
    the_rule = bundled(
        "regeneration",
        window_minutes=3,
        count_marked_outcome=marked,
        match_size_without_hash=size,
    )
    rows = priced(book, requests(8))
    expected = flagged(book, rows, the_rule, eager=True)
    inputs = input_columns([the_rule], rows.collect_schema().names())
    held, stored = in_store(rows, inputs.stored, inputs.hashed)
    reads: list[list[str]] = []
    original = base_module.read_stored

    def spy(stored: pl.LazyFrame, positions: pl.Series, names: Sequence[str]) -> pl.DataFrame:
        reads.append(list(names))
        return original(stored, positions, names)

    monkeypatch.setattr(groups_module, "read_stored", spy)
    monkeypatch.setattr(run_module, "read_stored", spy)
    got = flagged(book, held, the_rule, eager=True, stored=stored)
    assert reads == [["prompt_hash"], ["record_id"]]
    columns = ["record_id", "prompt_hash", "outcome", "_prompt_key", "savings_usd"]
    assert expected.get_column("prompt_hash").null_count() < expected.height
    if marked:  # some requests are flagged only for their outcome: their hashes too
        unmarked = bundled("regeneration", window_minutes=3, match_size_without_hash=size)
        unmarked.params["count_marked_outcome"] = False
        assert flagged(book, rows, unmarked, eager=True).height < expected.height
    assert_frame_equal(got.select(columns), expected.select(columns))


@pytest.mark.parametrize("case", ["regeneration", "stale-key"])
def test_rows_gone_from_the_store_stop_the_report_rather_than_lose_ids(
    book: PriceBook, case: str
) -> None:
    the_rule, _, _ = CASES[case]
    rows = priced(book, requests(7))
    inputs = input_columns([the_rule], rows.collect_schema().names())
    held, stored = in_store(rows, inputs.stored, inputs.hashed)
    gone = stored.filter(pl.col(POSITION) % 2 == 0)
    with pytest.raises(StoreError, match="vanished from the store while the report read it"):
        flagged(book, held, the_rule, eager=True, stored=gone)
    with pytest.raises(StoreError, match="vanished from the store"):
        # Regeneration reads prompts while it plans, the framework ids when it collects.
        collected(plan(held, [the_rule], DetectContext(book=book, stored=gone)))


def test_retry_storm_without_room_for_places_follows_windows(
    book: PriceBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    the_rule, reference, columns = CASES["retry-storm"]
    rows = priced(book, requests(6))
    monkeypatch.setattr(retry_storm_module, "PLACE_BITS", 2)
    got = flagged(book, rows, the_rule, eager=True)
    expected = reference(rows, the_rule)
    assert_same(got, expected, columns)
    assert partition(got, "_chain") == partition(expected.collect(), "_chain")


def test_retry_storm_counts_requests_at_the_same_moment_by_position(book: PriceBook) -> None:
    """Failures and successes sharing one microsecond: the request before a failure is the
    one just before it in the log."""
    base = {"granularity": "request", "model_raw": "gpt-4o-mini", "key_name": "ci"}
    statuses = ["error", "ok", "error", "error", "error", "ok", "error", "error", "error"]
    rows = [
        base
        | {"record_id": f"t{i}", "ts": T0 + timedelta(seconds=i // 3), "status": s}
        | {"input_tokens": 10, "output_tokens": 0, "requests": 1}
        for i, s in enumerate(statuses)
    ]
    the_rule = bundled("retry-storm", max_gap_seconds=5, min_failures=3)
    frame = priced(book, rows)
    got = flagged(book, frame, the_rule, eager=True)
    expected = ref_retry_storm(frame, the_rule).collect()
    assert (
        set(got["record_id"]) == set(expected["record_id"]) == {"t2", "t3", "t4", "t6", "t7", "t8"}
    )
    assert partition(got, "_chain") == partition(expected, "_chain")


# -------------------------------------------------------------------- nothing to flag


@pytest.mark.parametrize("case", list(CASES))
def test_an_empty_month_flags_nothing(book: PriceBook, case: str) -> None:
    the_rule = CASES[case][0]
    rows = priced(book, requests(7)).clear()
    assert flagged(book, rows, the_rule, eager=True).is_empty()
    assert flagged(book, rows, the_rule, eager=False).is_empty()


@pytest.mark.parametrize("case", list(CASES))
def test_a_where_that_matches_nothing_flags_nothing(book: PriceBook, case: str) -> None:
    the_rule = CASES[case][0]
    nothing = Rule(**{**the_rule.__dict__, "where": pl.lit(False)})
    rows = priced(book, requests(8))
    assert flagged(book, rows, nothing, eager=True).is_empty()


def test_positions_name_the_rows_the_framework_completes(book: PriceBook) -> None:
    """Rows that already carry positions (the report's) are completed from those, even
    when they are not 0, 1, 2…"""
    the_rule, _, columns = CASES["regeneration"]
    rows = priced(book, requests(9))
    expected = flagged(book, rows, the_rule, eager=True)
    shuffled = rows.with_row_index(POSITION).with_columns(pl.col(POSITION) * 7 + 3)
    assert_frame_equal(
        flagged(book, shuffled, the_rule, eager=True).select(columns), expected.select(columns)
    )
