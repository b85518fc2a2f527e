"""Helpers shared by the detectors that compare a request with its peers' norm."""

from __future__ import annotations

import polars as pl

from audit.detectors.where import FIELDS, field_expr
from audit.errors import ConfigError


def group_label(fields: list[str], *, path: str, line: int | None) -> pl.Expr:
    """A readable label for a peer group (``support-bot · summarize``); nulls show as ``-``."""
    for name in fields:
        if name not in FIELDS and not name.startswith("tags."):
            raise ConfigError(f"params.group_by: unknown field {name!r}", path=path, line=line)
    if not fields:
        return pl.lit("all requests")
    parts = [field_expr(name).cast(pl.String).fill_null("-") for name in fields]
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
