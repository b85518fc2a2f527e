"""Helpers shared by the detectors that compare a request with its peers or its group.

A month can hold ten million requests, and what a detector flags is a few thousand of them.
These helpers keep the work on the few columns a decision reads, and narrow the rows early
(:func:`in_shared_groups`); some of them compute a small intermediate result (hashes, a
group's figures) to choose what to read next, which is why they collect.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from typing import Final

import polars as pl

from audit.detectors.base import POSITION, DetectContext, code_of, read_stored
from audit.detectors.where import FIELDS, field_expr, row_field
from audit.errors import ConfigError

#: ``derive(previous, number)`` for :func:`in_sequence`: ``previous(expr)`` is ``expr`` on
#: the row before in the row's group (null on the group's first row), ``number`` the
#: group's number; it returns ``name: expr`` computed over each group's rows in order.
Derive = Callable[[Callable[[pl.Expr], pl.Expr], pl.Expr], dict[str, pl.Expr]]

#: The engine a detector's own queries over the month's rows run on: the streaming engine
#: spreads their row-wise work over every core (measured faster, and lighter, on 1M and 10M).
ENGINE: Final = "streaming"


def group_label(
    fields: list[str], *, path: str, line: int | None, rows: pl.LazyFrame | None = None
) -> pl.Expr:
    """A readable label for a peer group (``support-bot · summarize``); nulls show as ``-``.

    With ``rows``, a field they carry ready made is read from its column (see
    :func:`~audit.detectors.where.row_field`).
    """
    _check_fields(fields, path=path, line=line)
    if not fields:
        return pl.lit("all requests")
    read = field_expr if rows is None else (lambda name: row_field(rows, name))
    return _label([read(name) for name in fields])


def _check_fields(fields: list[str], *, path: str, line: int | None) -> None:
    for name in fields:
        if name not in FIELDS and not name.startswith("tags."):
            raise ConfigError(f"params.group_by: unknown field {name!r}", path=path, line=line)


def _label(parts: list[pl.Expr]) -> pl.Expr:
    return pl.concat_str([part.cast(pl.String).fill_null("-") for part in parts], separator=" · ")


def robust_limit(value: pl.Expr, group: str, *, factor: float, mad_k: float) -> pl.Expr:
    """The size above which a value is an outlier in its group: both ``factor`` x the median
    and ``mad_k`` robust standard deviations (1.4826 x MAD) above it.

    The median/MAD pair is not dragged by the outliers themselves (a mean would be), and the
    MAD term keeps naturally wide distributions (free-form chat) from flagging their tail.
    """
    median = value.median().over(group)
    mad = (value - median).abs().median().over(group) * 1.4826
    return pl.max_horizontal(median * factor, median + mad * mad_k)


def _spread(value: pl.Expr) -> list[pl.Expr]:
    """A group's median, median absolute deviation and size, as aggregations: what
    :func:`_norms` reads, aggregated once each (each figure written out once per group)."""
    median = value.median()
    return [
        median.alias("_median"),
        (value - median).abs().median().alias("_mad"),
        pl.len().alias("_group_size"),
    ]


def _norms(typical: str, *, factor: float, mad_k: float) -> list[pl.Expr]:
    """:func:`robust_limit` and the rounded median of a group from its :func:`_spread`:
    the same figures the windows give every row of it."""
    median, mad = pl.col("_median"), pl.col("_mad") * 1.4826
    return [
        median.round(0).cast(pl.Int64).alias(typical),
        pl.max_horizontal(median * factor, median + mad * mad_k).alias("_limit"),
    ]


def outliers(
    rows: pl.LazyFrame,
    fields: list[str],
    value: pl.Expr,
    typical: str,
    *,
    path: str,
    line: int | None,
    factor: float,
    mad_k: float,
    least: int,
    min_group: int,
) -> pl.LazyFrame:
    """The rows whose ``value`` is at least ``least`` and above :func:`robust_limit` in their
    peer group (the requests with the same :func:`group_label` of ``fields``) of at least
    ``min_group`` rows: :data:`POSITION`, ``subject`` (the label), ``_value`` and
    ``typical``, the group's median rounded to an integer.

    The norms are aggregated per distinct combination of the fields' :func:`field_keys`
    (a few dozen), not written out as a label and broadcast to every one of millions of
    rows; the labels are made for those combinations. Two combinations that read as the
    same label (a value containing `` · ``, a ``-`` beside a missing value, two codes of
    one value) form one group: then, as for fields of floats, the label is made per row
    and the norms aggregated per label; the same figures either way.
    """
    _check_fields(fields, path=path, line=line)
    spread = _spread(pl.col("_value"))
    norms = _norms(typical, factor=factor, mad_k=mad_k)
    keys, names = field_keys(rows, fields), [f"_key{index}" for index in range(len(fields))]
    values = [row_field(rows, name).alias(f"_field{index}") for index, name in enumerate(fields)]
    schema = rows.select(values).collect_schema()
    # Not for floats: two values of one group (0.0 and -0.0) could print apart.
    if fields and not any(dtype.is_float() for dtype in schema.values()):
        narrow = rows.select(POSITION, *keys, value.alias("_value"))
        per_key = with_values(rows, narrow.group_by(names).agg(*spread, first_position()), values)
        labelled = per_key.with_columns(
            *norms, _label([pl.col(c) for c in schema]).alias("subject")
        )
        if labelled.get_column("subject").is_unique().all():
            kept = labelled.filter(pl.col("_group_size") >= min_group).drop(*schema)
            large = rows.filter(value >= least).select(POSITION, *keys, value.alias("_value"))
            joined = large.join(kept.lazy(), on=names, nulls_equal=True)
            return joined.filter(pl.col("_value") > pl.col("_limit")).select(
                POSITION, "subject", "_value", typical
            )
    label = group_label(fields, path=path, line=line, rows=rows)
    labelled_rows = rows.select(POSITION, label.alias("subject"), value.alias("_value"))
    per_label = labelled_rows.group_by("subject").agg(spread).with_columns(norms)
    qualified = per_label.filter(pl.col("_group_size") >= min_group)
    large = labelled_rows.filter(pl.col("_value") >= least).join(qualified, on="subject")
    return large.filter(pl.col("_value") > pl.col("_limit")).select(
        POSITION, "subject", "_value", typical
    )


def first_position() -> pl.Expr:
    """Per group, the position of its first row, ``_first`` (see :func:`with_values`)."""
    return pl.col(POSITION).first().alias("_first")


def with_values(rows: pl.LazyFrame, per_key: pl.LazyFrame, values: list[pl.Expr]) -> pl.DataFrame:
    """``per_key`` (one row per combination of keys, with ``_first``, the position of one
    of its rows) computed, with ``values`` read from that row: the same for every row of
    the combination when they read only the keyed fields. Read from one row per
    combination rather than restored for millions and aggregated."""
    found = per_key.collect(engine=ENGINE)
    read = at_positions(rows, found.get_column("_first")).select(POSITION, *values)
    return found.join(read.collect(), left_on="_first", right_on=POSITION).drop("_first")


def field_keys(rows: pl.LazyFrame, fields: Sequence[str]) -> list[pl.Expr]:
    """What to group ``rows`` by for each field (``_key0``, ``_key1``, …): its codes when
    the rows carry them (:func:`~audit.detectors.base.code_of`), else its values. Rows
    with equal keys have equal values; rows with equal values may have different keys
    only through codes, so a group's value is read once per key and groups are merged by
    value afterwards."""
    names = set(rows.collect_schema().names())
    return [
        (pl.col(code_of(name)) if code_of(name) in names else row_field(rows, name)).alias(
            f"_key{index}"
        )
        for index, name in enumerate(fields)
    ]


PROMPT_TOKENS = (
    pl.col("input_tokens").fill_null(0)
    + pl.col("cached_input_tokens").fill_null(0)
    + pl.col("cache_write_tokens").fill_null(0)
)


def at_positions(rows: pl.LazyFrame, positions: pl.Series) -> pl.LazyFrame:
    """The rows at ``positions``: on the report's rows a filter on a column of the frame
    they are held in, so nothing else of the other rows is read or restored."""
    return rows.filter(pl.col(POSITION).is_in(positions.implode()))


def with_stored(rows: pl.LazyFrame, ctx: DetectContext, names: Sequence[str]) -> pl.LazyFrame:
    """``rows`` with the columns ``names``: as they are when they carry them, else computed
    now and completed with those columns read from the store (:attr:`DetectContext.stored`)
    for these rows only. For the few rows a detector compares by text it groups by hash."""
    have = set(rows.collect_schema().names())
    wanted = [name for name in names if name not in have]
    if not wanted:
        return rows
    if ctx.stored is None:
        raise AssertionError(f"the rows carry neither {wanted} nor a store to read them from")
    found = rows.collect(engine=ENGINE)
    read = read_stored(ctx.stored, found.get_column(POSITION), wanted)
    return found.join(read, on=POSITION, how="left", maintain_order="left").lazy()


def in_shared_groups(rows: pl.LazyFrame, group: Sequence[pl.Expr]) -> pl.LazyFrame:
    """``rows`` narrowed to those whose group (their values of ``group``, a null being a
    value) has another row, and possibly a few whose group has not.

    A detector comparing a request with the one before it in its group can flag nothing in
    a group of one, and grouped by prompt nearly every group is one request. Numbering ten
    million prompts (a table of their distinct texts) costs seconds; here each row's group
    is hashed instead (one narrow pass, collected now), the hashes sorted to find those seen
    twice, and only the rows with those hashes are read afterwards: every row of a shared
    group, since equal groups hash alike. Groups whose hashes happen to coincide keep their
    rows too, and the detector compares each row with its real group, so a coincidence
    costs time, never exactness. When most rows share their group, the rows are kept as
    they are (reading them again costs less than picking most of them out).
    """
    hashed = rows.select(POSITION, _group_hash(group).alias("_hash")).collect(engine=ENGINE)
    hashes = hashed.get_column("_hash").sort()
    repeated = hashes.filter((hashes == hashes.shift(1)) | (hashes == hashes.shift(-1))).unique()
    positions = hashed.filter(pl.col("_hash").is_in(repeated.implode())).get_column(POSITION)
    if 2 * positions.len() > hashed.height:
        return rows
    return at_positions(rows, positions)


def _group_hash(group: Sequence[pl.Expr]) -> pl.Expr:
    """A 64-bit hash of each row's ``group`` values: each hashed with its own seed (so that
    ``(x, y)`` and ``(y, x)`` differ), combined."""
    parts = [expr.hash(seed=index + 1) for index, expr in enumerate(group)]
    return functools.reduce(operator.xor, parts)


def in_sequence(
    frame: pl.LazyFrame, group: Sequence[str], order: str, derive: Derive, *, keep: bool = False
) -> pl.LazyFrame:
    """``frame`` (narrow, with :data:`POSITION`) with the columns ``derive`` computes over
    each group's rows in ``order`` (see :data:`Derive`), in ``order`` rather than
    ``frame``'s; ``_group`` is the group's number, and the ``group`` columns are dropped
    before the sort unless ``keep``.

    The rows are sorted by (``order``, position): the position keeps ties in input order,
    nulls sort first, as ``over(group, order_by=order)`` does; a month's logs come nearly in
    time order, which such a sort handles fast. Each group's rows are then in order among
    the others, and a window over the group's number (an integer: see :func:`_numbered`)
    reads the row before in the group, ``shift(1).over(number)``. Sorting by the group
    first would put them side by side, but a sort keyed on a few groups and then on time
    costs several times more on millions of rows. Groups of millions of distinct values
    (prompts) are narrowed first (:func:`in_shared_groups`): a window over that many groups
    costs more than the sort.
    """
    names = list(group)
    return in_order(_numbered(frame, names, frame.collect_schema(), keep=keep), order, derive)


def in_order(frame: pl.LazyFrame, order: str, derive: Derive) -> pl.LazyFrame:
    """:func:`in_sequence` of a ``frame`` whose groups are already numbered (``_group``)."""
    ordered = frame.sort([order, POSITION])
    number = pl.col("_group")
    derived = derive(lambda expr: expr.shift(1).over(number), number)
    return ordered.with_columns(expr.alias(name) for name, expr in derived.items())


def in_group_order(
    frame: pl.LazyFrame,
    group: Sequence[str],
    order: str,
    values: dict[str, pl.Expr],
    derive: Derive,
) -> pl.LazyFrame:
    """``frame`` plus the columns ``derive`` computes over each group's rows in ``order``
    (see :data:`Derive` and :func:`in_sequence`), beside their rows.

    ``values`` are the row values ``derive`` reads. ``previous(pl.col(v))`` is exactly
    ``shift(1).over(group, order_by=order)``; ``expr.cum_sum().over(number)`` is a running
    total in order, ``expr.min().over(number)`` the group's minimum. A null in the group is
    a value of its own, as in the window.
    """
    names = list(group)
    narrow = frame.select(
        *names, pl.col(order), *[expr.alias(name) for name, expr in values.items()]
    ).with_row_index(POSITION)
    ordered = in_sequence(narrow, names, order, derive)
    derived = [name for name in ordered.collect_schema().names() if name not in values]
    back = ordered.select(derived).drop(order, "_group").sort(POSITION)
    return pl.concat([frame, back.drop(POSITION)], how="horizontal")


def _numbered(
    narrow: pl.LazyFrame, names: list[str], schema: pl.Schema, *, keep: bool = False
) -> pl.LazyFrame:
    """``narrow`` with ``_group``: a number per distinct value of the ``names`` columns
    (instead of them, unless ``keep``), equal exactly when the values are (a null being a
    value).

    One or two text columns (every bundled detector's case) are coded through categoricals
    with their own dictionaries: a hash lookup with equality checks per row, and the two
    codes side by side in one 64-bit number. Other groups are numbered by their distinct
    values joined back, which costs a second pass.
    """
    if len(names) <= 2 and all(schema[name] == pl.String for name in names):
        number = pl.lit(0, dtype=pl.UInt64)
        for name in names:
            code = pl.col(name).cast(pl.Categorical(pl.Categories.random())).to_physical()
            # 0 for null, code + 1 otherwise: each fits 32 bits (fewer distinct values than rows).
            number = number * (1 << 32) + (code.cast(pl.UInt64) + 1).fill_null(0)
        numbered = narrow.with_columns(number.alias("_group"))
        return numbered if keep else numbered.drop(names)
    numbers = narrow.select(names).unique().with_row_index("_group")
    numbered = narrow.join(numbers, on=names, how="left", nulls_equal=True, maintain_order="left")
    return numbered if keep else numbered.drop(names)
