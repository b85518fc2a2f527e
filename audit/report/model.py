"""The report model: every fact a report shows, computed once, rendered by any format.

Spend comes in two layers that are never added together for the same provider and day:
*aggregate* rows (billing and usage exports) are what the provider billed, *request* rows
(logs) say who spent it. For each (provider, day) the billed layer is the spend when it
exists, the logs otherwise. Attribution (key, user, team, project, …) always comes from the
logs where there are any; the part of a billed day the logs do not explain appears as
"(unattributed)", so every breakdown still sums to the total.

The store is read once per month, pricing every row once (see :func:`_month`). What the
report shows is then computed from the month *summed per distinct combination of every
column it reads* (:func:`_cube`): tens of thousands of rows rather than millions, so some
thirty aggregations, the insight sections and both layers cost next to nothing and memory
does not grow with the number of requests. Only the waste detectors need single requests;
they get the month's request rows with just the columns their rules read, compactly, and
run one after another, before the previous month is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from audit.detectors.base import (
    POSITION,
    DetectContext,
    Rule,
    code_of,
    hash_of,
    stored_hash,
)
from audit.detectors.run import (
    RulePlan,
    collected,
    findings_from,
    input_columns,
    plan,
    rank,
    savings_total,
)
from audit.detectors.where import field_expr
from audit.insights_config import InsightSettings
from audit.money import MONEY, to_decimal
from audit.period import Month
from audit.pricing import RATE_CODE, RATE_COLUMNS, PriceBook, price_rows
from audit.schema import TOKEN_COLUMNS
from audit.store import Manifest, Store

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

REPORT_SCHEMA = "tokaudit.report/1"
UNATTRIBUTED = "(unattributed)"
COST_MODES = ("auto", "calculate", "reported")
#: Breakdowns computed on the spend layer (billing rows carry these).
SPEND_DIMENSIONS = ("provider", "model", "day")
#: Breakdowns computed on the attribution layer (logs, plus the unexplained remainder).
ATTRIBUTION_DIMENSIONS = ("api_key", "user", "team", "project", "environment", "purpose", "app")
_SUMMED = ("requests", *TOKEN_COLUMNS)
_CACHE_COUNTS = ("cached_input_tokens", "cache_write_tokens")


@dataclass(frozen=True)
class ReportOptions:
    """What to report, how to cost it, which waste rules to run, and budgets/alert settings."""

    month: Month
    generated_at: datetime
    cost_mode: str = "auto"
    rules: tuple[Rule, ...] = ()
    insights: InsightSettings = field(default_factory=InsightSettings)


@dataclass
class Totals:
    cost_usd: Decimal
    calculated_cost_usd: Decimal
    reported_cost_usd: Decimal
    requests: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    unpriced_requests: int
    cost_by_basis: dict[str, Decimal] = field(default_factory=dict)
    savings_usd: Decimal = Decimal(0)


@dataclass
class BreakdownRow:
    key: str
    cost_usd: Decimal
    share: float
    requests: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """Everything a format needs; formats never query the store themselves."""

    month: str
    timezone: str
    period_start: datetime
    period_end: datetime
    generated_at: datetime
    cost_mode: str
    store: str
    totals: Totals
    breakdowns: dict[str, list[BreakdownRow]]
    unpriced: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    price_tables: list[dict[str, str]]
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: Insight blocks (previous, model_mix, budgets, alerts, anomalies, reconciliation,
    #: checklist), JSON-ready, filled by :mod:`audit.report.insights`.
    sections: dict[str, Any] = field(default_factory=dict)
    schema: str = REPORT_SCHEMA

    @property
    def is_empty(self) -> bool:
        return self.totals.requests == 0 and self.totals.cost_usd == 0


COST_BASES = ("billed", "reported", "calculated")


def _cost_exprs(mode: str) -> list[pl.Expr]:
    """A row's spend under the cost mode, and where that figure came from.

    ``billed``: a billing/usage export's own amount; ``reported``: the cost a request log
    states; ``calculated``: our price tables. The headline shows this composition, so
    nobody mistakes an estimate for an invoice line.
    """
    calculated, reported = pl.col("calculated_cost_usd"), pl.col("reported_cost_usd")
    use_reported = pl.lit(mode != "calculate") & reported.is_not_null()
    if mode == "calculate":
        cost = calculated
    elif mode == "reported":
        cost = reported
    else:
        cost = pl.coalesce(reported, calculated)
    basis = (
        pl.when(cost.is_null())
        .then(None)
        .when(use_reported & (pl.col("granularity") == "aggregate"))
        .then(pl.lit("billed"))
        .when(use_reported)
        .then(pl.lit("reported"))
        .otherwise(pl.lit("calculated"))
    )
    return [cost.alias("cost_usd"), basis.alias("cost_basis")]


def _sums() -> list[pl.Expr]:
    return [
        pl.col("cost_usd").sum().alias("cost_usd"),
        *[pl.col(c).fill_null(0).sum().alias(c) for c in _SUMMED],
    ]


def priced_month(
    store: Store, manifest: Manifest, book: PriceBook, options: ReportOptions
) -> pl.LazyFrame:
    """The month's rows with prices, spend (per cost mode) and the local day."""
    priced, rates = _priced_rows(store, manifest, book, options)
    rate = [pl.lit(rates.get_column(c)).gather(pl.col(RATE_CODE)) for c in RATE_COLUMNS.values()]
    return priced.with_columns(rate).drop(RATE_CODE)


def _stored_rows(
    store: Store, manifest: Manifest, month: Month, *, positions: bool = False
) -> pl.LazyFrame:
    """The month's rows as stored (only its parts are read); with ``positions``, each
    numbered by its place among those parts (:data:`POSITION`, see ``Store.scan``)."""
    rows = store.scan(month.storage_months(), manifest, row_index=POSITION if positions else None)
    return rows.filter((pl.col("ts") >= month.start) & (pl.col("ts") < month.end))


def _priced_rows(
    store: Store,
    manifest: Manifest,
    book: PriceBook,
    options: ReportOptions,
    *,
    positions: bool = False,
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """:func:`priced_month` with each row's rates as a code into the table beside
    (see :func:`~audit.pricing.price_rows`)."""
    month = options.month
    rows = _stored_rows(store, manifest, month, positions=positions)
    raws = rows.select("model_raw").unique().collect().get_column("model_raw").to_list()
    priced, rates = price_rows(rows, book, book.model_map(raws), keep=[POSITION])
    priced = priced.with_columns(
        *_cost_exprs(options.cost_mode),
        pl.col("ts").dt.convert_time_zone(month.timezone).dt.date().alias("day"),
        pl.col("provider").fill_null("(unknown)"),
    )
    return priced, rates


#: What the month is summed by (see :func:`_cube`): every column the layers, the
#: breakdowns and the insight sections group or filter on.
_CUBE_KEYS = (
    "provider",
    "model",
    "model_raw",
    "day",
    "granularity",
    "source",
    "source_file",
    "cost_basis",
    "model_class",
    "price_entry",
    "unpriced_reason",
    "outcome",
    "api_key",
    "key_name",
    *ATTRIBUTION_DIMENSIONS[1:],
)
#: What the month's cube sums.
_CUBE_SUMS = ("cost_usd", "calculated_cost_usd", "reported_cost_usd", *_SUMMED)
#: Text columns with few distinct values: the month's rows hold them as categoricals, then
#: as codes of a byte or two (see :func:`_month`), never as a string per row; the cube and
#: the detectors get text back.
_COMPACT = frozenset(
    {
        "source",
        "source_file",
        "provider",
        "model",
        "model_raw",
        "service_tier",
        "api_key",
        "key_name",
        "user",
        "team",
        "project",
        "environment",
        "purpose",
        "app",
        "error_type",
        "model_class",
        "price_table",
        "price_entry",
        "price_match",
        "unpriced_reason",
        "cost_basis",
    }
)


def _cube(priced: pl.LazyFrame) -> pl.LazyFrame:
    """The month's rows summed per distinct value of every column the report reads.

    Everything the report computes from the month (the layers, breakdowns, budgets,
    anomalies, reconciliation) is a sum, or an any / all / distinct count, over groups of
    these columns, so it comes out the same from the sums as from the rows. Two details keep
    it exact: a summed value is null only when all its rows' are (a row's null count stays
    null, as ``is_not_null().any()`` in the layers expects), and rows with and without a
    reported cost never share a group (the reconciliation coalesces it with the calculated
    one row by row). ``_rows`` counts the rows. A request row without a request count
    (normalisation always sets one; a hand-made store might not) stays a group of its own,
    ``_solo``, since the checklist counts such a row as one request.
    """
    solo = pl.when((pl.col("granularity") == "request") & pl.col("requests").is_null())
    keys = [
        *_CUBE_KEYS,
        pl.col("reported_cost_usd").is_null().alias("_no_reported"),
        solo.then(pl.col("_row")).alias("_solo"),
    ]
    summed = (
        priced.with_row_index("_row")
        .group_by(keys)
        .agg(
            pl.len().alias("_rows"),
            *[pl.col(c).sum() for c in _CUBE_SUMS],
            *[pl.col(c).count().alias(f"_n_{c}") for c in _CUBE_SUMS],
        )
    )
    return summed.select(
        *[_text(c) if c in _COMPACT else pl.col(c) for c in _CUBE_KEYS],
        "_no_reported",
        "_solo",
        "_rows",
        *[pl.when(pl.col(f"_n_{c}") > 0).then(pl.col(c)).alias(c) for c in _CUBE_SUMS],
    )


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


@dataclass
class _Rows:
    """The month's rows as the detectors read them, held compactly (see :func:`_month`)."""

    frame: pl.DataFrame
    #: Columns the frame holds as codes: name -> (value by code, code column). Text with
    #: few distinct values, ``tags`` and the rates (see :func:`_month`).
    lookups: dict[str, tuple[pl.Series, str]] = field(default_factory=dict)
    #: Integer columns held in a narrower type: name -> their own type.
    narrowed: dict[str, pl.DataType] = field(default_factory=dict)
    #: The columns left in the store, by position (see ``DetectContext.stored``).
    stored: pl.LazyFrame | None = None

    def requests(self) -> pl.LazyFrame:
        """The request rows, every column as the detectors expect it (lazily: a query
        restores only the columns it reads), and each looked-up column's code as
        :func:`~audit.detectors.base.code_of` names it, for detectors that group by it."""
        wide = [pl.col(name).cast(dtype) for name, dtype in self.narrowed.items()]
        looked_up = [
            pl.lit(values).gather(pl.col(code)).alias(name)
            for name, (values, code) in self.lookups.items()
        ]
        keys = [pl.col(code).alias(code_of(name)) for name, (_, code) in self.lookups.items()]
        codes = {code for _, code in self.lookups.values()}
        requests = self.frame.lazy().filter(pl.col("granularity") == "request")
        return requests.with_columns(*wide, *looked_up, *keys).drop(codes)


#: The widths a month's text columns are first coded in, narrowest first. Each column gets
#: a dictionary of its own, so two bytes hold 65,536 distinct values of it (users, keys,
#: files), more than a month has; a month that has more is read again with four.
_CODE_WIDTHS: tuple[PolarsDataType, ...] = (pl.UInt16, pl.UInt32)


def _month(
    store: Store, manifest: Manifest, book: PriceBook, options: ReportOptions
) -> tuple[pl.DataFrame, _Rows | None]:
    """The month's cube (:func:`_cube`) and, when rules run, the rows they read.

    One pass over the store (only the month's parts, only the columns needed), pricing
    each row once, on the streaming engine. Without rules nothing per row is kept. With
    rules, the rows hold the cube's columns and the rules' (:func:`input_columns`)
    compactly: text with few distinct values as a one- or two-byte code into its
    dictionary, integers in the smallest type their values fit, the rates as a code into
    the month's few distinct rates (all restored as the detectors read them). The pass
    itself already emits two-byte codes and the narrow integers (their bounds are read
    from the stored columns first, a fraction of a second for ten million rows), so the
    month is never held wide: that is what bounds the report's memory. The cube's own
    columns are dropped as soon as the cube is summed. When the rules read only some keys
    of ``tags``, the rows hold a code per distinct ``tags`` value; those keys are read
    from each distinct value once (:func:`_tag_lookups`), not from millions of rows.

    Text that differs on nearly every request (``record_id``, ``prompt_hash``) took more
    than half of what the rows held, and more of the memory its pass peaked at: when the
    rules allow (``RuleInputs.stored``), it is not held at all. The rows are numbered by
    their place in the store's parts (:data:`POSITION`), and the few rows that need such
    text (the flagged ones, the prompts sent more than once) read it from the store by
    that number; a detector that groups by it gets a 64-bit hash of it instead.
    """
    if not options.rules:
        priced, _ = _priced_rows(store, manifest, book, options)
        return _cube(priced).collect(engine="streaming"), None
    priced, rates = _priced_rows(store, manifest, book, options, positions=True)
    wide = priced.collect_schema()
    available = [c for c in wide.names() if c not in (RATE_CODE, POSITION)]
    inputs = input_columns(options.rules, [*available, *RATE_COLUMNS.values()])
    for_rules = list(dict.fromkeys(["granularity", *inputs.columns]))
    rate_columns = [c for c in for_rules if c in RATE_COLUMNS.values()]
    whole = [c for c in for_rules if c not in rate_columns and c not in inputs.stored]
    cube_only = [c for c in [*_CUBE_KEYS, *_CUBE_SUMS] if c not in whole]
    as_stored = _stored_rows(store, manifest, options.month)
    stored_names = set(as_stored.collect_schema().names())
    integers = [c for c in [*whole, *cube_only] if wide[c].is_integer() and c in stored_names]
    narrow_integers = _narrowest(as_stored, integers)
    lookups: dict[str, tuple[pl.Series, str]] = {
        c: (rates.get_column(c), RATE_CODE) for c in rate_columns
    }
    # Each request's position, a column of its own: the detectors name the requests they
    # flag by it, a filter on it reads the flagged rows before anything is restored, and
    # the columns left in the store are read back by it.
    extra = [pl.col(POSITION)]
    extra += [stored_hash(pl.col(name)).alias(hash_of(name)) for name in inputs.hashed]
    if rate_columns:
        extra.append(pl.col(RATE_CODE))
    if inputs.tag_keys and "tags" not in whole:
        # The distinct tags alone, numbered from 0.
        # Only tags that can hold a key read get a code; the others read null for every key.
        readable = pl.when(_may_hold(inputs.tag_keys)).then(pl.col("tags"))
        extra.append(readable.cast(pl.Categorical(pl.Categories.random())).alias("_tags"))
    rows = _held_rows(priced, [*whole, *cube_only], narrow_integers, extra)
    widened = [pl.col(c).cast(wide[c]) for c in narrow_integers]
    cube = _cube(rows.lazy().with_columns(widened)).collect(engine="streaming")
    if "_tags" in rows.columns:
        tags = rows.get_column("_tags")
        rows = rows.with_columns(tags.to_physical())
        lookups |= _tag_lookups(_dictionary(tags), inputs.tag_keys, "_tags")
    codes = list(dict.fromkeys(code for _, code in lookups.values()))
    names = [POSITION, *whole, *[hash_of(name) for name in inputs.hashed], *codes]
    schema = rows.schema
    for name in whole:
        dtype = schema[name]
        if isinstance(dtype, pl.Categorical):
            # Held as its code (below), read by this dictionary.
            lookups[name] = (dtype.categories.to_series().alias(name), f"_{name}")
    narrow = _narrowest(
        rows, [name for name in names if name not in narrow_integers and name != POSITION]
    )
    narrowed = {
        name: wide[name]
        for name in whole
        if name in narrow_integers
        or (name in narrow and not isinstance(schema[name], pl.Categorical))
    }
    # Picked column by column: selecting from a frame of many chunks would copy them all.
    columns = []
    for name in names:
        column = rows.get_column(name)
        if name in narrow:
            # Wrapping: no overflow checks (7 times faster), none needed, the values fit.
            code = column.to_physical().cast(narrow[name], wrap_numerical=True)
            column = code.alias(f"_{name}") if name in lookups else code
        columns.append(column)
    frame = pl.DataFrame(columns)
    stored = None
    if inputs.stored:
        # Read by position: the same parts, in the same order, numbered the same way.
        scan = store.scan(options.month.storage_months(), manifest, row_index=POSITION)
        stored = scan.select(POSITION, *inputs.stored)
    return cube, _Rows(frame, lookups, narrowed, stored)


def _held_rows(
    priced: pl.LazyFrame,
    names: Sequence[str],
    integers: dict[str, PolarsDataType],
    extra: Sequence[pl.Expr],
) -> pl.DataFrame:
    """The month's ``names`` (and ``extra``) as the pass emits them: the text columns of
    :data:`_COMPACT` coded in the first of :data:`_CODE_WIDTHS` that holds them all, the
    ``integers`` cast to their narrow types (which hold every value: no check fails)."""
    for width in _CODE_WIDTHS:
        held = [
            pl.col(name).cast(pl.Categorical(pl.Categories.random(physical=width)))
            if name in _COMPACT
            else pl.col(name).cast(integers[name])
            if name in integers
            else pl.col(name)
            for name in names
        ]
        try:
            return priced.select(*held, *extra).collect(engine="streaming")
        except pl.exceptions.ComputeError as error:
            if width == _CODE_WIDTHS[-1] or "more categories than the maximum" not in str(error):
                raise
    raise AssertionError("unreachable: the last width re-raises")


_SIGNED = (pl.Int8, pl.Int16, pl.Int32, pl.Int64)
_UNSIGNED = (pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def _narrowest(
    rows: pl.DataFrame | pl.LazyFrame, names: Sequence[str]
) -> dict[str, PolarsDataType]:
    """The integer columns among ``names`` (categoricals as their codes, and the codes of
    ``tags`` and rates) whose values fit a narrower type, with that type: the fewest bytes
    holding their smallest and largest value, signed as they are. One query for all."""
    lazy = rows.lazy()
    schema = lazy.collect_schema()
    numbers = [
        name
        for name in names
        if isinstance(schema[name], pl.Categorical) or schema[name].is_integer()
    ]
    if not numbers:
        return {}
    physical = [pl.col(name).to_physical() for name in numbers]
    types = lazy.select(physical).collect_schema().dtypes()
    bounds = (
        lazy.select(
            *[column.min().alias(f"{index}<") for index, column in enumerate(physical)],
            *[column.max().alias(f"{index}>") for index, column in enumerate(physical)],
        )
        .collect(engine="streaming")
        .row(0, named=True)
    )
    narrow: dict[str, PolarsDataType] = {}
    for index, name in enumerate(numbers):
        dtype = types[index]
        least, most = bounds[f"{index}<"] or 0, bounds[f"{index}>"] or 0
        signed = dtype.is_signed_integer()
        for bits, candidate in zip((8, 16, 32, 64), _SIGNED if signed else _UNSIGNED, strict=True):
            low, high = (
                (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
            )
            if low <= least and most <= high:
                if candidate != dtype or isinstance(schema[name], pl.Categorical):
                    narrow[name] = candidate
                break
    return narrow


def _dictionary(distinct: pl.Series) -> pl.Series:
    """A categorical's dictionary (its values by code, as text), from the values it holds.

    In one query: listing its categories one by one from Python costs a second per million
    distinct ``tags``.
    """
    distinct = distinct.unique().drop_nulls()
    codes = distinct.to_physical()
    top = codes.max()
    size = top + 1 if isinstance(top, int) else 0
    values = pl.repeat(None, size, dtype=pl.String, eager=True).alias(distinct.name)
    if len(codes):
        values = values.scatter(codes, distinct.cast(pl.String))
    return values


def _may_hold(keys: Sequence[str]) -> pl.Expr:
    """Whether ``tags`` text may hold one of ``keys``: it names one, or escapes a character
    (a key may be spelt with ``\\u`` escapes). Text that does not reads null for every
    one of them, so it is never parsed, nor even coded, for them (most ``tags`` name
    none of the keys rules read: run ids, gateway details)."""
    text = pl.col("tags")
    named = [text.str.contains(key, literal=True) for key in keys]
    return pl.any_horizontal(*named, text.str.contains("\\", literal=True))


def _tag_lookups(
    values: pl.Series, keys: Sequence[str], code: str
) -> dict[str, tuple[pl.Series, str]]:
    """What the rules read of ``tags``, per distinct ``tags`` value (``values``, by code).

    ``tags.<key>`` (the very value that field reads), and ``tags`` itself reduced to those
    keys: a JSON object of just them, which reads back exactly the same through
    ``tags.<key>`` for every key the rules read.
    """
    distinct = pl.DataFrame({"tags": values}, schema={"tags": pl.String}).with_row_index("_code")
    fields = [field_expr(f"tags.{key}").alias(key) for key in keys]
    some = distinct.filter(_may_hold(keys))
    parsed = some.select("_code", pl.struct(fields).alias("_read")).unnest("_read")
    read = distinct.select("_code").join(parsed, on="_code", how="left", maintain_order="left")
    read = read.drop("_code")
    slim = read.select(pl.struct(list(keys)).struct.json_encode().alias("tags"))
    lookups = {"tags": (slim.get_column("tags"), code)}
    for key in keys:
        lookups[f"tags.{key}"] = (read.get_column(key).alias(f"tags.{key}"), code)
    return lookups


def _detect(rows: _Rows | None, options: ReportOptions, book: PriceBook) -> list[RulePlan]:
    """Every rule's flagged requests, computed one rule at a time (so one detector's working
    memory at a time), as plans whose findings and records read those few rows only."""
    if rows is None:
        return []
    plans = plan(rows.requests(), options.rules, DetectContext(book=book, stored=rows.stored))
    return collected(plans)


def _source_ranks() -> pl.LazyFrame:
    """Each aggregate source's precedence (see ``SourceAdapter.aggregate_rank``)."""
    from audit.sources import SOURCES

    names = SOURCES.names()
    return pl.LazyFrame(
        {"source": names, "_rank": [SOURCES.get(n).aggregate_rank for n in names]},
        schema={"source": pl.String, "_rank": pl.Int64},
    )


def _one_billing_source(priced: pl.LazyFrame) -> pl.LazyFrame:
    """Drop aggregate rows of every billing source but the best one per provider and day.

    Two exports of the same bill (a vendor's cost API and its dashboard CSV, or a cost and a
    usage export) are the same money; only the best-ranked source, then the first by name,
    counts. Request rows pass through untouched.
    """
    is_agg = pl.col("granularity") == "aggregate"
    ranked = _ranked(priced)
    best = (
        ranked.filter(is_agg)
        .group_by("provider", "day")
        .agg(pl.col("source").sort_by("_rank", "source").first().alias("_best_source"))
    )
    kept = ranked.join(best, on=["provider", "day"], how="left").filter(
        ~is_agg | (pl.col("source") == pl.col("_best_source"))
    )
    return kept.drop("_rank", "_best_source")


def _ranked(priced: pl.LazyFrame) -> pl.LazyFrame:
    return priced.join(_source_ranks(), on="source", how="left").with_columns(
        pl.col("_rank").fill_null(50)
    )


def _count_rows(priced: pl.LazyFrame) -> pl.LazyFrame:
    """Request and token counts for billed days whose winning bill does not state them.

    A cost export states dollars only. Its day's counts then come from the best-ranked other
    export that states them (a usage export), else from the logs, so the headline never
    says "0 requests" beside a bill. The rows carry ``cost_usd`` 0 and ``_counts_only``, so
    they add counts and never money; the best bill's own stated counts are never replaced
    (it outranks every other source, so it is also the best one stating them).
    """
    is_agg = pl.col("granularity") == "aggregate"
    ranked = _ranked(priced)
    billed = ranked.filter(is_agg)
    stated = billed.group_by("provider", "day", "source", "_rank").agg(
        [pl.col(c).is_not_null().any() for c in _SUMMED]
    )
    winner = (
        stated.sort("_rank", "source")
        .group_by("provider", "day", maintain_order=True)
        .first()
        .select("provider", "day", *[pl.col(c).alias(f"_won_{c}") for c in _SUMMED])
    )
    logs = ranked.filter(~is_agg)
    cells = ["provider", "day"]
    input_billed = stated.filter(pl.col("input_tokens")).select(cells).unique()
    parts: list[pl.LazyFrame] = []
    for column in _SUMMED:
        missing = winner.filter(~pl.col(f"_won_{column}")).select(cells)
        best = (
            stated.filter(pl.col(column))
            .sort("_rank", "source")
            .group_by(cells, maintain_order=True)
            .first()
            .select(*cells, pl.col("source").alias("_count_source"))
            .join(missing, on=cells, how="semi")
        )
        from_bill = billed.join(best, on=cells).filter(pl.col("source") == pl.col("_count_source"))
        from_logs = logs.join(missing, on=cells, how="semi").join(best, on=cells, how="anti")
        if column in _CACHE_COUNTS:
            # A bill's input count without a cache split (OpenRouter's activity) already
            # holds the cache tokens: the logs' cache counts would count them twice.
            from_logs = from_logs.join(input_billed, on=cells, how="anti")
        for part in (from_bill, from_logs):
            parts.append(
                part.drop("_count_source", strict=False).with_columns(
                    *[pl.lit(None, dtype=pl.Int64).alias(c) for c in _SUMMED if c != column]
                )
            )
    counts = pl.concat(parts, how="diagonal_relaxed").drop("_rank")
    return counts.with_columns(
        pl.lit(0).cast(MONEY).alias("cost_usd"),
        pl.lit(None, dtype=MONEY).alias("calculated_cost_usd"),
        pl.lit(None, dtype=MONEY).alias("reported_cost_usd"),
        pl.lit(None, dtype=pl.String).alias("cost_basis"),
        pl.lit(None, dtype=pl.String).alias("price_entry"),
        pl.lit(True).alias("_counts_only"),
    )


def _layers(priced: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The spend layer and the attribution layer (see the module docstring)."""
    is_agg = pl.col("granularity") == "aggregate"
    counts = _count_rows(priced)
    priced = _one_billing_source(priced)
    cells = priced.group_by("provider", "day").agg(
        is_agg.any().alias("_billed"), (~is_agg).any().alias("_logged")
    )
    tagged = priced.join(cells, on=["provider", "day"], how="left")
    spend_tagged = pl.concat(
        [
            tagged.filter(is_agg == pl.col("_billed")).with_columns(
                pl.lit(False).alias("_counts_only")
            ),
            counts.join(cells, on=["provider", "day"], how="left"),
        ],
        how="diagonal_relaxed",
    )
    spend = spend_tagged.drop("_billed", "_logged")
    logs = tagged.filter(~is_agg)
    billing_only = tagged.filter(is_agg & ~pl.col("_logged"))
    # A count no bill states came from the logs themselves, so its remainder is zero; a
    # stated one (by the winning bill, or a usage export beside a cost export) is compared.
    billed_cells = (
        spend_tagged.filter(pl.col("_billed") & pl.col("_logged"))
        .group_by("provider", "day")
        .agg(
            *_sums(),
            *[(is_agg & pl.col(c).is_not_null()).any().alias(f"{c}_stated") for c in _SUMMED],
        )
    )
    logged_cells = logs.filter(pl.col("_billed")).group_by("provider", "day").agg(_sums())
    residual = billed_cells.join(
        logged_cells, on=["provider", "day"], how="left", suffix="_logged"
    ).select(
        "provider",
        "day",
        (pl.col("cost_usd").fill_null(0) - pl.col("cost_usd_logged").fill_null(0)).alias(
            "cost_usd"
        ),
        *[
            pl.when(pl.col(f"{c}_stated"))
            .then(pl.col(c) - pl.col(f"{c}_logged").fill_null(0))
            .otherwise(0)
            .alias(c)
            for c in _SUMMED
            if c != "input_tokens"
        ],
        # A bill that does not split cache reads out of input (OpenRouter's activity export)
        # is compared with the logs' whole prompt, so no cached token shows up as unexplained.
        pl.when(pl.col("input_tokens_stated"))
        .then(
            pl.col("input_tokens")
            - pl.col("input_tokens_logged").fill_null(0)
            - pl.when(pl.col("cached_input_tokens_stated"))
            .then(0)
            .otherwise(
                pl.col("cached_input_tokens_logged").fill_null(0)
                + pl.col("cache_write_tokens_logged").fill_null(0)
            )
        )
        .otherwise(0)
        .alias("input_tokens"),
    )
    keep = [
        "provider",
        "day",
        "cost_usd",
        *_SUMMED,
        "api_key",
        "key_name",
        *ATTRIBUTION_DIMENSIONS[1:],
    ]
    attribution = pl.concat(
        [logs.select(keep), billing_only.select(keep), residual], how="diagonal_relaxed"
    )
    return spend, attribution


def _materialised(frames: tuple[pl.LazyFrame, pl.LazyFrame]) -> tuple[pl.LazyFrame, ...]:
    """The layers computed once: every breakdown and section reads them.

    On the in-memory engine: the layers are a few joins and group-bys of the cubes (small,
    in memory), where the streaming engine's start-up per query costs more than the work.
    """
    return tuple(frame.lazy() for frame in pl.collect_all(list(frames), engine="in-memory"))


def _breakdown(
    frame: pl.LazyFrame, key: pl.Expr, extra: list[pl.Expr] | None = None
) -> pl.LazyFrame:
    return (
        frame.group_by(key.fill_null(UNATTRIBUTED).alias("key"))
        .agg(_sums() + (extra or []))
        .sort(["cost_usd", "key"], descending=[True, False], nulls_last=True)
    )


def _key_label() -> pl.Expr:
    """A key shows as its name with its masked id when both are known."""
    name, key = pl.col("key_name"), pl.col("api_key")
    return (
        pl.when(name.is_not_null() & key.is_not_null())
        .then(pl.concat_str(name, pl.lit(" ("), key, pl.lit(")")))
        .otherwise(pl.coalesce(name, key))
    )


def _rows(frame: pl.DataFrame, total: Decimal) -> list[BreakdownRow]:
    rows: list[BreakdownRow] = []
    for record in frame.to_dicts():
        cost = to_decimal(record.pop("cost_usd"))
        key = record.pop("key")
        share = float(cost / total) if total else 0.0
        values = {c: int(record.pop(c) or 0) for c in _SUMMED}
        rows.append(BreakdownRow(str(key), cost, share, **values, extra=record))
    return rows


def breakdown_keys() -> dict[str, tuple[str, pl.Expr]]:
    """Each breakdown's layer (spend or attribution) and key, shared with month-over-month."""
    keys: dict[str, tuple[str, pl.Expr]] = {
        "provider": ("spend", pl.col("provider")),
        "model": ("spend", pl.coalesce(pl.col("model"), pl.col("model_raw"))),
        "api_key": ("attribution", _key_label()),
    }
    keys.update({dim: ("attribution", pl.col(dim)) for dim in ATTRIBUTION_DIMENSIONS[1:]})
    return keys


def build_report(store: Store, book: PriceBook, options: ReportOptions) -> Report:
    """Compute the whole report for one month in one pass over the store."""
    from audit.report.insights import Frames, run_sections, section_queries

    manifest = store.manifest()
    month = options.month
    # Each month is read once (see _month); the detectors run on this month's rows before
    # the previous month is read, so only one month's rows are ever in memory. Everything
    # else reads the cubes and the layers built from them, which are small.
    cube, rows = _month(store, manifest, book, options)
    plans = _detect(rows, options, book)
    del rows
    previous_options = ReportOptions(month.previous(), options.generated_at, options.cost_mode)
    previous_cube, _ = _month(store, manifest, book, previous_options)
    priced, previous_priced = cube.lazy(), previous_cube.lazy()
    spend, attribution = _materialised(_layers(priced))
    previous_spend, previous_attribution = _materialised(_layers(previous_priced))
    frames = Frames(
        store=store,
        manifest=manifest,
        month=month,
        now=options.generated_at,
        settings=options.insights,
        book=book,
        priced=priced,
        spend=spend,
        attribution=attribution,
        previous_priced=previous_priced,
        previous_spend=previous_spend,
        previous_attribution=previous_attribution,
    )
    money = pl.col("granularity").filter(~pl.col("_counts_only"))
    basis = (
        pl.when(money.eq("aggregate").all())
        .then(pl.lit("billed"))
        .when(money.eq("request").all())
        .then(pl.lit("logged"))
        .otherwise(pl.lit("mixed"))
        .alias("basis")
    )
    queries: dict[str, pl.LazyFrame] = {
        "totals": spend.select(
            *_sums(),
            pl.col("calculated_cost_usd").sum().alias("calculated_cost_usd"),
            pl.col("reported_cost_usd").sum().alias("reported_cost_usd"),
            pl.col("requests")
            .filter(pl.col("cost_usd").is_null())
            .fill_null(0)
            .sum()
            .alias("unpriced_requests"),
        ),
        "basis": spend.filter(~pl.col("_counts_only"))
        .group_by("cost_basis")
        .agg(pl.col("cost_usd").sum()),
        "day": spend.group_by("day").agg(_sums()),
        "unpriced": spend.filter(pl.col("cost_usd").is_null())
        .group_by(pl.col("model_raw").fill_null("(none)"), pl.col("unpriced_reason"))
        .agg(
            pl.col("requests").sum(),
            pl.sum_horizontal([pl.col(c).fill_null(0) for c in TOKEN_COLUMNS[:4]])
            .sum()
            .alias("tokens"),
        )
        .sort(["requests", "model_raw"], descending=[True, False]),
        "sources": priced.group_by("source", "granularity")
        .agg(
            pl.col("_rows").sum().alias("rows"),
            pl.col("requests").sum(),
            pl.col("source_file").n_unique().alias("files"),
        )
        .sort("source", "granularity"),
    }
    extras: dict[str, list[pl.Expr]] = {
        "provider": [basis],
        "model": [pl.col("price_entry").drop_nulls().unique().sort().alias("price_entries")],
    }
    for name, (layer, key) in breakdown_keys().items():
        queries[name] = _breakdown(
            spend if layer == "spend" else attribution, key, extras.get(name)
        )
    queries.update(section_queries(frames))
    for index, rule_plan in enumerate(plans):
        queries[f"findings:{index}"] = rule_plan.findings
    queries["savings"] = savings_total(plans)
    # Most queries read the small cubes, layers or flagged requests; the checklist's scans
    # the whole store for its keys, which the streaming engine reads in parallel (measured
    # faster overall on 1M and 10M).
    collected = pl.collect_all(list(queries.values()), engine="streaming")
    results = dict(zip(queries, collected, strict=True))

    totals_row = results["totals"].to_dicts()[0]
    total_cost = to_decimal(totals_row["cost_usd"])
    totals = Totals(
        cost_usd=total_cost,
        calculated_cost_usd=to_decimal(totals_row["calculated_cost_usd"]),
        reported_cost_usd=to_decimal(totals_row["reported_cost_usd"]),
        requests=int(totals_row["requests"] or 0),
        input_tokens=int(totals_row["input_tokens"] or 0),
        cached_input_tokens=int(totals_row["cached_input_tokens"] or 0),
        cache_write_tokens=int(totals_row["cache_write_tokens"] or 0),
        output_tokens=int(totals_row["output_tokens"] or 0),
        reasoning_tokens=int(totals_row["reasoning_tokens"] or 0),
        unpriced_requests=int(totals_row["unpriced_requests"] or 0),
        cost_by_basis={name: Decimal(0) for name in COST_BASES},
    )
    totals.savings_usd = to_decimal(results["savings"].item(0, 0))
    findings = [
        finding
        for index, rule_plan in enumerate(plans)
        for finding in findings_from(rule_plan, results[f"findings:{index}"])
    ]
    for record in results["basis"].to_dicts():
        if record["cost_basis"] is not None:
            totals.cost_by_basis[record["cost_basis"]] = to_decimal(record["cost_usd"])
    days = pl.DataFrame({"day": month.days()}, schema={"day": pl.Date})
    per_day = (
        days.join(results["day"], on="day", how="left")
        .with_columns(
            pl.col("cost_usd").fill_null(pl.lit(0).cast(MONEY)),
            *[pl.col(c).fill_null(0) for c in _SUMMED],
        )
        .with_columns(pl.col("day").cast(pl.String).alias("key"))
        .drop("day")
    )
    breakdowns = {name: _rows(results[name], total_cost) for name in ("provider", "model")}
    breakdowns["day"] = _rows(per_day, total_cost)
    for name in ATTRIBUTION_DIMENSIONS:
        breakdowns[name] = _rows(results[name], total_cost)
    total_requests = totals.requests or 1
    unpriced = [
        {
            "model_raw": row["model_raw"],
            "reason": row["unpriced_reason"],
            "requests": int(row["requests"]),
            "tokens": int(row["tokens"]),
            "share": int(row["requests"]) / total_requests,
        }
        for row in results["unpriced"].to_dicts()
    ]
    report = Report(
        month=month.label,
        timezone=month.timezone,
        period_start=month.start,
        period_end=month.end,
        generated_at=options.generated_at,
        cost_mode=options.cost_mode,
        store=str(store.root),
        totals=totals,
        breakdowns=breakdowns,
        unpriced=unpriced,
        sources=[dict(row) for row in results["sources"].to_dicts()],
        rejected=_rejected(manifest, month.label),
        problems=sorted(manifest.problems.values(), key=lambda p: str(p.get("path"))),
        price_tables=book.tables,
        findings=rank(findings),
    )
    run_sections(frames, results, report)
    return report


def _rejected(manifest: Manifest, month: str) -> list[dict[str, Any]]:
    """Files with rejected rows that may belong to this month (or to no month we could tell)."""
    out = []
    for record in manifest.files.values():
        if not record.get("rows_rejected"):
            continue
        months = record.get("months") or []
        if months and month not in months:
            continue
        out.append(
            {
                "file": record["path"],
                "format": record.get("format"),
                "rows": int(record["rows_rejected"]),
                "reasons": record.get("reasons", []),
            }
        )
    return sorted(out, key=lambda item: item["file"])
