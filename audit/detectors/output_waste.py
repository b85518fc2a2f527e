"""``output-waste``: answers far longer than their peers' for the same job.

Like ``context-bloat`` but for output: a response more than ``factor`` times its peer
group's median output, and ``mad_k`` robust deviations above it (and longer than
``min_output_tokens``), is verbose; the tokens above the median, at the request's output
price, are the saving.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import outliers
from audit.detectors.base import DetectContext, Detector, Param, Rule, field_columns


@detector
class OutputWaste(Detector):
    """Outputs far above their peer group's median length."""

    name = "output-waste"
    summary = "outputs far above their peers' median; saving = the excess tokens at output price"
    params: ClassVar[dict[str, Param]] = {
        "group_by": Param("list[str]", ["app", "purpose"], "fields defining the peer group"),
        "factor": Param("float", 4.0, "flag outputs longer than factor x the group median"),
        "min_output_tokens": Param("int", 500, "ignore outputs shorter than this"),
        "min_group": Param("int", 20, "groups with fewer requests have no reliable norm"),
        "mad_k": Param("float", 6.0, "also require this many robust deviations above the median"),
    }
    evidence = ("output_tokens", "typical_output_tokens")

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "typical_output_tokens": pl.col("typical_output_tokens").first(),
            "longest_output_tokens": pl.col("output_tokens").max(),
        }

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        excess = pl.col("output_tokens").fill_null(0) - pl.col("typical_output_tokens")
        return {"savings_usd": excess.cast(pl.Decimal(38, 0)) * pl.col("rate_output")}

    def columns(self, rule: Rule) -> set[str] | None:
        return field_columns(*rule.params["group_by"]) | {"output_tokens", "rate_output"}

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        p = rule.params
        found = outliers(
            rows,
            p["group_by"],
            pl.col("output_tokens").fill_null(0),
            "typical_output_tokens",
            path=rule.path,
            line=rule.line,
            factor=float(p["factor"]),
            mad_k=float(p["mad_k"]),
            least=p["min_output_tokens"],
            min_group=p["min_group"],
        )
        return found.drop("_value")
