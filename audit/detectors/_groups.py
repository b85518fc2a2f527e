"""Helpers shared by the detectors that compare a request with its peers' norm."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

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


PROMPT_TOKENS = (
    pl.col("input_tokens").fill_null(0)
    + pl.col("cached_input_tokens").fill_null(0)
    + pl.col("cache_write_tokens").fill_null(0)
)


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
    ).with_row_index("_position")
    ordered = _numbered(narrow, names, frame.collect_schema()).sort(["_group", order, "_position"])
    same = pl.col("_group") == pl.col("_group").shift(1)
    derived = derive(same.fill_null(False), pl.col("_group"))
    back = ordered.select("_position", *[expr.alias(name) for name, expr in derived.items()]).sort(
        "_position"
    )
    return pl.concat([frame, back.drop("_position")], how="horizontal")


def _numbered(narrow: pl.LazyFrame, names: list[str], schema: pl.Schema) -> pl.LazyFrame:
    """``narrow`` with ``_group``: a number per distinct value of the ``names`` columns
    (instead of them), equal exactly when the values are (a null being a value).

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
        return narrow.with_columns(number.alias("_group")).drop(names)
    numbers = narrow.select(names).unique().with_row_index("_group")
    return narrow.join(numbers, on=names, how="left", nulls_equal=True, maintain_order="left").drop(
        names
    )


def previous_in_group(
    frame: pl.LazyFrame, group: Sequence[str], order: str, values: dict[str, pl.Expr]
) -> pl.LazyFrame:
    """``frame`` plus, for each ``name: expr`` of ``values``, ``expr`` on the row before in the
    row's group (null on a group's first row): ``expr.shift(1).over(group, order_by=order)``,
    computed as :func:`in_group_order` describes."""
    return in_group_order(
        frame,
        group,
        order,
        values,
        lambda same, _: {name: pl.when(same).then(pl.col(name).shift(1)) for name in values},
    )
