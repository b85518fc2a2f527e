"""The report's large-month machinery gives exactly what the plain row-by-row queries give.

A month of millions of requests is summed into a cube, held compactly for the detectors
(codes, narrow integers, only the columns and ``tags`` keys the rules read), and the
detectors' ordered windows run on one sort in time order. None of that may change a
single figure: these tests compare each shortcut with the straightforward query it replaces.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from audit.cli import app
from audit.detectors import DETECTORS
from audit.detectors._groups import in_group_order
from audit.detectors.base import POSITION, DetectContext, Rule, code_of, hash_of, stored_hash
from audit.detectors.run import collected, findings_from, input_columns, plan, rank
from audit.detectors.spec import load_rules, parse_rule
from audit.detectors.where import field_expr
from audit.money import MONEY
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report import model
from audit.report.model import (
    _CUBE_KEYS,
    _CUBE_SUMS,
    ReportOptions,
    _cube,
    _dictionary,
    _month,
    _narrowest,
    _tag_lookups,
    priced_month,
)
from audit.store import Store

REPO = Path(__file__).resolve().parents[1]
CLOCK = datetime(2026, 7, 1, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("scale") / "store"
    result = CliRunner().invoke(app, ["ingest", str(REPO / "sample_exports"), "--store", str(root)])
    assert result.exit_code == 0, result.output
    return Store(root)


# ----------------------------------------------------------------------------------- cube


def _money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _cube_input() -> pl.DataFrame:
    """Rows exercising what sums hide: null counts, a group mixing null and stated counts,
    reported and calculated costs side by side, and a request without a request count."""
    base: dict[str, Any] = {key: "x" for key in _CUBE_KEYS}
    base |= {"day": datetime(2026, 6, 1).date(), "granularity": "request", "outcome": "unknown"}
    rows = []
    specs = [
        # provider, granularity, reported, calculated, requests, input, cached, outcome
        ("a", "request", "0.5", "0.4", 1, 100, None, "accepted"),
        ("a", "request", None, "0.25", 1, 50, 7, "accepted"),
        ("a", "request", None, None, None, None, None, "rejected"),
        ("a", "request", None, None, None, 3, None, "rejected"),
        ("a", "aggregate", "9", None, None, 1000, None, "unknown"),
        ("a", "aggregate", "1", None, 40, None, None, "unknown"),
        ("b", "aggregate", None, "2", 5, 10, 0, "unknown"),
        ("b", "request", "0.125", None, 1, 0, 0, "regenerated"),
    ]
    for provider, gran, reported, calculated, requests, input_tokens, cached, outcome in specs:
        cost = _money(reported) if reported is not None else _money(calculated)
        rows.append(
            base
            | {
                "provider": provider,
                "granularity": gran,
                "outcome": outcome,
                "reported_cost_usd": _money(reported),
                "calculated_cost_usd": _money(calculated),
                "cost_usd": cost,
                "requests": requests,
                "input_tokens": input_tokens,
                "cached_input_tokens": cached,
                "cache_write_tokens": None,
                "output_tokens": 1,
                "reasoning_tokens": None,
            }
        )
    money = {c: MONEY for c in ("reported_cost_usd", "calculated_cost_usd", "cost_usd")}
    return pl.DataFrame(
        rows,
        schema_overrides={
            **money,
            "granularity": pl.Enum(["request", "aggregate"]),
            "outcome": pl.Enum(["accepted", "rejected", "regenerated", "unknown"]),
        },
    )


# Aggregations of the kinds the layers, breakdowns and insight sections take of the month,
# as they read on rows; on the cube ``pl.len()`` reads ``_rows``.
_AGGREGATES = {
    "sums": lambda rows: [
        pl.col("cost_usd").sum(),
        pl.col("requests").sum(),
        pl.col("input_tokens").fill_null(0).sum(),
        pl.col("calculated_cost_usd").sum(),
    ],
    "stated": lambda rows: [
        pl.col(c).is_not_null().any().alias(c)
        for c in ("requests", "input_tokens", "cached_input_tokens", "cache_write_tokens")
    ],
    "unpriced": lambda rows: [pl.col("requests").filter(pl.col("cost_usd").is_null()).sum()],
    "reconciled": lambda rows: [
        pl.coalesce(pl.col("reported_cost_usd"), pl.col("calculated_cost_usd")).sum()
    ],
    "counted": lambda rows: [(pl.len() if rows else pl.col("_rows").sum()).alias("rows")],
}


@pytest.mark.parametrize("aggregate", list(_AGGREGATES))
def test_cube_gives_every_aggregate_the_rows_give(aggregate: str) -> None:
    rows = _cube_input()
    cube = _cube(rows.lazy()).collect()
    assert cube.height < rows.height
    exprs = _AGGREGATES[aggregate]
    by = ["provider", "granularity"]
    expected = rows.group_by(by).agg(exprs(True)).sort(by)
    assert_frame_equal(cube.group_by(by).agg(exprs(False)).sort(by), expected, check_dtypes=False)


def test_cube_keeps_a_request_without_a_count_as_one_request() -> None:
    """The checklist counts such a request as one (``fill_null(1)``); summed with another
    it would count once for both."""
    rows = _cube_input()
    ones = pl.col("requests").fill_null(1).sum()
    expected = rows.filter(pl.col("granularity") == "request").group_by("outcome").agg(ones)
    cube = _cube(rows.lazy()).collect().filter(pl.col("granularity") == "request")
    assert_frame_equal(cube.group_by("outcome").agg(ones).sort("outcome"), expected.sort("outcome"))


# ------------------------------------------------------------------------- ordered groups


def _random_frame(seed: int, n: int) -> pl.DataFrame:
    rng = random.Random(seed)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    return pl.DataFrame(
        {
            "a": [rng.choice([None, "x", "y", "x · y"]) for _ in range(n)],
            "b": [rng.choice([None, "p", f"h{rng.randrange(20)}"]) for _ in range(n)],
            "c": [rng.choice([None, 1, 2]) for _ in range(n)],
            "ts": [
                None if rng.random() < 0.05 else start + timedelta(seconds=rng.randrange(25))
                for _ in range(n)
            ],
            "v": [rng.randrange(-5, 50) for _ in range(n)],
            "f": [rng.random() < 0.5 for _ in range(n)],
        },
        schema={
            "a": pl.String,
            "b": pl.String,
            "c": pl.Int64,
            "ts": pl.Datetime("us", "UTC"),
            "v": pl.Int64,
            "f": pl.Boolean,
        },
    )


@pytest.mark.parametrize("group", [["a"], ["a", "b"], ["a", "b", "c"], ["c"]])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_grouped_order_gives_what_ordered_windows_give(group: list[str], seed: int) -> None:
    """Ties in time keep input order, nulls sort first and form their own group, exactly as
    ``over(group, order_by=ts)`` does (one or two text columns, and the general case)."""
    frame = _random_frame(seed, 3000)
    expected = frame.with_columns(
        pl.col("ts").shift(1).over(group, order_by="ts").alias("previous"),
        pl.col("f").cast(pl.Int64).cum_sum().over(group, order_by="ts").alias("running"),
        pl.col("v").min().over(group).alias("least"),
    )
    got = in_group_order(
        frame.lazy(),
        group,
        "ts",
        {"_f": pl.col("f"), "_v": pl.col("v")},
        lambda previous, number: {
            "previous": previous(pl.col("ts")),
            "running": pl.col("_f").cast(pl.Int64).cum_sum().over(number),
            "least": pl.col("_v").min().over(number),
        },
    ).collect()
    assert_frame_equal(got, expected)


# ---------------------------------------------------------------------------- slim tags


def test_tags_reduced_to_the_keys_read_read_back_exactly() -> None:
    values = pl.Series(
        [
            '{"k":"abc","x":1}',
            '{"k":1.50,"x":true}',
            '{"k":{"a":[1,null]}}',
            '{"k":null}',
            '{"x":"only x"}',
            '{"k":"caf\\u00e9 \\"q\\" \\\\"}',
            '{"k1":"a","k":"dup","k":"dup2"}',
            '{"\\u006b":"a key spelt with an escape"}',
            '{"y":"names neither key"}',
            "not json",
            "[1,2]",
            None,
        ]
    )
    lookups = _tag_lookups(values, ["k", "x"], "_code")
    original = pl.DataFrame({"tags": values})
    slim = pl.DataFrame({"tags": lookups["tags"][0]})
    for key in ("k", "x"):
        read = field_expr(f"tags.{key}")
        expected = original.select(read).to_series()
        assert slim.select(read).to_series().to_list() == expected.to_list()
        assert lookups[f"tags.{key}"][0].to_list() == expected.to_list()


def test_integers_are_held_in_the_fewest_bytes_that_hold_them() -> None:
    frame = pl.DataFrame(
        {
            "small": [0, 5, None],
            "negative": [-129, 0, 1],
            "nulls": pl.Series([None, None, None], dtype=pl.Int64),
            "wide": [0, 1, 2**40],
            "codes": pl.Series([0, 300, 1], dtype=pl.UInt32),
            "text": ["a", "b", "c"],
        }
    )
    names = frame.columns
    narrow = _narrowest(frame, names)
    assert narrow == {
        "small": pl.Int8,
        "negative": pl.Int16,
        "nulls": pl.Int8,
        "codes": pl.UInt16,
    }
    edges = pl.DataFrame(
        {
            "signed": [-128, 127, None],
            "unsigned": pl.Series([0, 255, 7], dtype=pl.UInt32),
            "wider": [-32769, 0, 32768],
        }
    )
    for name, dtype in _narrowest(edges, edges.columns).items():
        # Held with a wrapping cast (no checks): exact because the values fit.
        column = edges.get_column(name)
        assert column.cast(dtype, wrap_numerical=True).cast(column.dtype).equals(column)


def test_a_categorical_reads_back_as_its_dictionary() -> None:
    column = pl.Series("c", ["b", None, "a", "b", "c", None]).cast(
        pl.Categorical(pl.Categories.random())
    )
    values = _dictionary(column)
    read = pl.select(pl.lit(values).gather(column.to_physical())).to_series()
    assert read.to_list() == column.cast(pl.String).to_list()
    assert _dictionary(column.clear()).is_empty()


# ------------------------------------------------------------------ rules on compact rows


def _rule(doc: dict[str, Any]) -> Rule:
    base = {"title": "t", "severity": "low", "recommendation": "{subject} {records}"}
    return parse_rule(base | doc, REPO / "rules" / f"{doc['id']}.yaml", DETECTORS)


def _rules() -> list[Rule]:
    """The bundled rules and variants that read tags, derived fields and other params."""
    variants = [
        {
            "id": "tag-filter",
            "detector": "filter",
            "where": [{"field": "tags.region", "op": "present"}],
            "params": {
                "savings": "max(prompt_tokens - 500, 0) * rate_input",
                "subject": "tags.gateway",
            },
        },
        {
            "id": "tag-bloat",
            "detector": "context-bloat",
            "where": [{"field": "hour", "op": "ge", "value": 1}],
            "params": {
                "group_by": ["user", "tags.region"],
                "factor": 1.5,
                "min_prompt_tokens": 10,
                "min_group": 3,
                "mad_k": 1,
            },
        },
        {
            "id": "session-cache",
            "detector": "cache-miss",
            "params": {"prefix_field": "session_id", "window_minutes": 60, "min_prefix_tokens": 1},
        },
        {
            "id": "size-regeneration",
            "detector": "regeneration",
            "params": {"window_minutes": 600, "match_size_without_hash": True},
        },
        {
            "id": "loose-retry",
            "detector": "retry-storm",
            "params": {"max_gap_seconds": 3600, "min_failures": 2},
        },
        {
            "id": "team-stale",
            "detector": "stale-key",
            "params": {"min_active_days": 1, "max_daily_requests": 1e9, "owner_fields": ["team"]},
        },
    ]
    return [*load_rules([]), *[_rule(doc) for doc in variants]]


def _findings(
    requests: pl.LazyFrame,
    rules: list[Rule],
    book: PriceBook,
    stored: pl.LazyFrame | None = None,
    *,
    first: bool = False,
) -> list[dict[str, Any]]:
    """The findings, lazily, or ``first`` computing the flagged requests as the report does."""
    plans = plan(requests, rules, DetectContext(book=book, stored=stored))
    if first:
        plans = collected(plans)
    frames = pl.collect_all([p.findings for p in plans])
    return rank(
        [f for p, frame in zip(plans, frames, strict=True) for f in findings_from(p, frame)]
    )


@pytest.mark.parametrize("timezone", ["UTC", "America/Los_Angeles"])
def test_rules_on_the_compact_rows_find_what_they_find_on_priced_rows(
    sample_store: Store, book: PriceBook, timezone: str
) -> None:
    rules = _rules()
    options = ReportOptions(
        parse_month("2026-06", now=CLOCK, timezone=timezone), CLOCK, rules=tuple(rules)
    )
    manifest = sample_store.manifest()
    priced = priced_month(sample_store, manifest, book, options)
    full = priced.filter(pl.col("granularity") == "request")
    _, held = _month(sample_store, manifest, book, options)
    assert held is not None
    compact = held.requests()
    # Only what the rules read is held, and it reads back with the types of the priced rows.
    schema, full_schema = compact.collect_schema(), full.collect_schema()
    assert "source_file" not in schema
    assert "latency_ms" not in schema
    # The text that differs on every request stays in the store, read back by position;
    # the prompt hash regeneration groups by is held as a hash of it.
    assert held.stored is not None
    assert set(held.stored.collect_schema().names()) == {POSITION, "record_id", "prompt_hash"}
    assert "record_id" not in schema
    assert "prompt_hash" not in schema
    for name, dtype in schema.items():
        if name == POSITION:
            continue
        if name.startswith("_hash:"):
            field = name.removeprefix("_hash:")
            assert hash_of(field) == name
            hashed = full.select(stored_hash(pl.col(field))).collect().to_series()
            assert compact.select(name).collect().to_series().equals(hashed.alias(name))
            continue
        if name.startswith("_code:"):
            # Codes of a looked-up column: equal codes, equal values.
            field = name.removeprefix("_code:")
            assert code_of(field) == name
            assert dtype.is_integer()
            pairs = compact.select(pl.col(name), pl.col(field)).unique().collect()
            assert pairs.get_column(name).is_unique().all()
            continue
        if name not in full_schema:
            assert name.startswith("tags.")
        else:
            assert dtype == full_schema[name], name
    expected = _findings(full, rules, book)
    assert {f["rule"] for f in expected} >= {r.id for r in rules[:7]}  # every bundled rule fires
    assert _findings(compact, rules, book, held.stored) == expected
    assert _findings(compact, rules, book, held.stored, first=True) == expected
    columns = [name for name in schema if name in full_schema and name != "tags"]
    positions = compact.select(POSITION).collect().to_series()
    assert positions.is_unique().all()
    assert_frame_equal(compact.select(columns).collect(), full.select(columns).collect())
    # Every row's stored text, read by its position, is its own.
    back = compact.select(POSITION).join(
        held.stored, on=POSITION, how="left", maintain_order="left"
    )
    assert_frame_equal(
        back.drop(POSITION).collect(), full.select("record_id", "prompt_hash").collect()
    )


def test_the_cube_is_the_same_whether_rules_run_or_not(
    sample_store: Store, book: PriceBook
) -> None:
    # With rules the cube is summed from the held rows (narrow integers, codes), without
    # from the priced rows themselves.
    month = parse_month("2026-06", now=CLOCK, timezone="America/Los_Angeles")
    manifest = sample_store.manifest()
    plain, _ = _month(sample_store, manifest, book, ReportOptions(month, CLOCK))
    held, _ = _month(
        sample_store, manifest, book, ReportOptions(month, CLOCK, rules=tuple(_rules()))
    )
    order = [c for c in plain.columns if c not in _CUBE_SUMS and c != "_rows"]
    assert plain.height > 100
    assert_frame_equal(held.sort(order, nulls_last=True), plain.sort(order, nulls_last=True))


def test_a_month_with_more_values_than_the_narrowest_code_holds_is_read_again(
    tmp_path: Path, book: PriceBook, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = "timestamp,model,input_tokens,output_tokens,user,app,request_id,prompt_hash"
    lines = [
        f"2026-06-{1 + i % 28:02d}T10:00:00Z,gpt-4o-mini,{100 + i},{10 + i % 7},"
        f"user-{i:03d},app-{i % 3},req-{i},sha256:{i % 40:064x}"
        for i in range(300)
    ]
    (tmp_path / "calls.csv").write_text("\n".join([header, *lines]) + "\n")
    store = Store(tmp_path / "store")
    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "calls.csv"), "--store", str(store.root)]
    )
    assert result.exit_code == 0, result.output
    rules = load_rules([])
    options = ReportOptions(parse_month("2026-06", now=CLOCK), CLOCK, rules=tuple(rules))
    manifest = store.manifest()
    # 300 users do not fit one byte's codes: the first pass fails and is run again wider.
    monkeypatch.setattr(model, "_CODE_WIDTHS", (pl.UInt8,))
    with pytest.raises(pl.exceptions.ComputeError, match="more categories than the maximum"):
        _month(store, manifest, book, options)
    monkeypatch.setattr(model, "_CODE_WIDTHS", (pl.UInt8, pl.UInt32))
    cube, held = _month(store, manifest, book, options)
    assert held is not None
    columns = ["record_id", "user", "app", "input_tokens", "output_tokens", "prompt_hash"]
    full = priced_month(store, manifest, book, options).select(columns).collect()
    rows = held.requests().join(held.stored, on=POSITION, how="left", maintain_order="left")
    assert_frame_equal(rows.select(columns).collect(), full)
    assert full.get_column("user").n_unique() == 300
    assert held.frame.get_column("input_tokens").dtype == pl.Int16  # 100..399
    assert cube.get_column("_rows").sum() == 300


def test_text_stays_in_the_store_unless_a_rule_reads_it_for_every_request() -> None:
    available = ["record_id", "ts", "model", "cost_usd", "prompt_hash", "user", "outcome"]
    bundled = load_rules([])
    inputs = input_columns(bundled, available)
    # Regeneration groups by prompt hash through a hash of it; ids are the framework's.
    assert (inputs.stored, inputs.hashed) == (("record_id", "prompt_hash"), ("prompt_hash",))
    assert {"record_id", "prompt_hash"} <= set(inputs.columns)
    by_where = _rule(
        {
            "id": "with-a-prompt",
            "detector": "filter",
            "where": [{"field": "prompt_hash", "op": "present"}],
            "params": {"savings": "cost_usd"},
        }
    )
    assert input_columns([*bundled, by_where], available).stored == ("record_id",)
    by_subject = _rule(
        {"id": "per-id", "detector": "filter", "params": {"savings": "0", "subject": "record_id"}}
    )
    inputs = input_columns([*bundled, by_subject], available)
    assert (inputs.stored, inputs.hashed) == (("prompt_hash",), ("prompt_hash",))
    nothing = input_columns([by_subject], available)
    assert (nothing.stored, nothing.hashed) == ((), ())


def test_a_detector_that_does_not_say_what_it_reads_gets_every_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rules = load_rules([])
    available = ["record_id", "ts", "model", "cost_usd", "latency_ms", "tags", "source_file"]
    assert "latency_ms" not in input_columns(rules, available).columns
    monkeypatch.setattr(type(DETECTORS.get("stale-key")), "columns", lambda self, rule: None)
    assert input_columns(rules, available).columns == available
