"""Helpers shared by the detectors that compare a request with its peers or its group."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence

import polars as pl

from audit.detectors.base import POSITION
from audit.detectors.where import FIELDS, field_expr, row_field
from audit.errors import ConfigError


def group_label(
    fields: list[str], *, path: str, line: int | None, rows: pl.LazyFrame | None = None
) -> pl.Expr:
    """A readable label for a peer group (``support-bot · summarize``); nulls show as ``-``.

    With ``rows``, a field they carry ready made is read from its column (see
    :func:`~audit.detectors.where.row_field`).
    """
    for name in fields:
        if name not in FIELDS and not name.startswith("tags."):
            raise ConfigError(f"params.group_by: unknown field {name!r}", path=path, line=line)
    if not fields:
        return pl.lit("all requests")
    read = field_expr if rows is None else (lambda name: row_field(rows, name))
    parts = [read(name).cast(pl.String).fill_null("-") for name in fields]
    return pl.concat_str(parts, separator=" · ")


def robust_limit(value: pl.Expr, group: str, *, factor: float, mad_k: float) -> pl.Expr:
    """The size above which a value is an outlier in its group: both ``factor`` x the median
    and ``mad_k`` robust standard deviations (1.4826 x MAD) above it.

    The median/MAD pair is not dragged by the outliers themselves (a mean would be), and the
    MAD term keeps naturally wide distributions (free-form chat) from flagging their tail.
    """
    median = value.median().over(group)
    mad = (value - median).abs().median().over(group) * 1.4826
    return pl.max_horizontal(median * factor, median + mad * mad_k)


def outliers(
    frame: pl.LazyFrame,
    value: str,
    typical: str,
    *,
    factor: float,
    mad_k: float,
    least: int,
    min_group: int,
) -> pl.LazyFrame:
    """The rows of ``frame`` (:data:`POSITION`, ``subject``, ``value``) whose value is at
    least ``least`` and above :func:`robust_limit` in their ``subject`` group of at least
    ``min_group`` rows, with ``typical``, the group's median rounded to an integer.

    The same figures as the windows of :func:`robust_limit` over every row, from one
    aggregation per group (a few dozen rows) joined to the rows large enough to qualify:
    the norm is computed once per group, not broadcast to millions of rows.
    """
    v = pl.col(value)
    median = v.median()
    mad = (v - median).abs().median() * 1.4826
    stats = (
        frame.group_by("subject")
        .agg(
            median.round(0).cast(pl.Int64).alias(typical),
            pl.max_horizontal(median * factor, median + mad * mad_k).alias("_limit"),
            pl.len().alias("_group_size"),
        )
        .filter(pl.col("_group_size") >= min_group)
    )
    large = frame.filter(v >= least).join(stats, on="subject", maintain_order="left")
    return large.filter(v > pl.col("_limit")).select(POSITION, "subject", value, typical)


PROMPT_TOKENS = (
    pl.col("input_tokens").fill_null(0)
    + pl.col("cached_input_tokens").fill_null(0)
    + pl.col("cache_write_tokens").fill_null(0)
)


def shared_groups(frame: pl.LazyFrame, group: Sequence[str]) -> pl.LazyFrame:
    """The rows of ``frame`` whose group (their values of the ``group`` columns, a null being
    a value) has more than one row, and possibly a few whose group has not.

    A detector comparing a request with the one before it in its group can flag nothing in
    a group of one, and grouped by prompt nearly every group is one request. Numbering ten
    million prompts (a table of their distinct texts) costs seconds; here each row's group
    is hashed instead, the hashes sorted to find those seen twice, and the rows with those
    hashes kept: every row of a shared group, since equal groups hash alike. Two groups
    whose hashes happen to coincide keep their rows too, and the detector compares each
    row with its real group afterwards, so that costs time, never exactness.
    """
    hashed = frame.with_columns(_group_hash(group).alias("_hash"))
    hashes = hashed.select(pl.col("_hash").sort())
    seen = pl.col("_hash")
    repeated = hashes.filter((seen == seen.shift(1)) | (seen == seen.shift(-1))).unique()
    return hashed.join(repeated, on="_hash", how="semi", maintain_order="left").drop("_hash")


def _group_hash(group: Sequence[str]) -> pl.Expr:
    """A 64-bit hash of each row's ``group`` values: each column hashed with its own seed
    (so that ``(x, y)`` and ``(y, x)`` differ), combined."""
    parts = [pl.col(name).hash(seed=index + 1) for index, name in enumerate(group)]
    return functools.reduce(operator.xor, parts)


def in_sequence(
    frame: pl.LazyFrame,
    group: Sequence[str],
    order: str,
    derive: Callable[[pl.Expr, pl.Expr], dict[str, pl.Expr]],
    *,
    keep: bool = False,
) -> pl.LazyFrame:
    """``frame`` (narrow, with :data:`POSITION`) with each group's rows together in
    ``order`` and the columns ``derive`` computes over them, as :func:`in_group_order`
    describes; in that order, not ``frame``'s. ``_group`` is the group's number; the group
    columns themselves are dropped before the sort unless ``keep``.

    For a detector that keeps only some rows and names them by position: nothing is put
    back in the input order.
    """
    names = list(group)
    numbered = _numbered(frame, names, frame.collect_schema(), keep=keep)
    ordered = numbered.sort(["_group", order, POSITION])
    same = pl.col("_group") == pl.col("_group").shift(1)
    derived = derive(same.fill_null(False), pl.col("_group"))
    return ordered.with_columns(expr.alias(name) for name, expr in derived.items())


def in_group_order(
    frame: pl.LazyFrame,
    group: Sequence[str],
    order: str,
    values: dict[str, pl.Expr],
    derive: Callable[[pl.Expr, pl.Expr], dict[str, pl.Expr]],
) -> pl.LazyFrame:
    """``frame`` plus the columns ``derive`` computes over each group's rows in ``order``.

    ``values`` are the row values ``derive`` reads; ``derive(same, number)`` gets ``same``,
    true where a row's previous row (in the ordering) is of its group, and ``number``, the
    group's number (an integer: a window over it costs less than over text), and returns
    ``name: expr`` over those rows in that ordering. ``pl.col(v).shift(1)`` under ``same`` is
    the previous row's value, exactly ``shift(1).over(group, order_by=order)``;
    ``expr.cum_sum().over(number)`` is a running total in order, ``expr.min().over(number)``
    the group's minimum.

    A window ordered per group costs a sort per group, which with hundreds of thousands of
    small groups (one caller's one prompt) is most of a detector's time; sorting by the
    group's text instead compares long strings (prompt hashes) millions of times. Here each
    distinct group gets a number (:func:`_numbered`), and one sort of a narrow frame by
    (number, order, position) puts every group's rows together in order; the rest are
    shifts and comparisons of neighbours. The position, last, keeps ties in input order as
    the window does; nulls sort first, as in the window, and a null in the group is a value
    of its own, as in the window. The results go back beside their rows.
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
