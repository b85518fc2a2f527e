"""``context-bloat``: prompts far larger than what their peers send for the same job.

Requests are compared with their peer group (by default: same app and purpose). When a
prompt is more than ``factor`` times the group's median, ``mad_k`` robust deviations above
it, and larger than ``min_prompt_tokens``, the tokens above the median are the bloat; the
saving is those tokens at the request's own input price. Groups too small to have a
reliable norm are left alone.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors._groups import PROMPT_TOKENS, outliers
from audit.detectors.base import DetectContext, Detector, Param, Rule, field_columns


@detector
class ContextBloat(Detector):
    """Prompts far above their peer group's median size."""

    name = "context-bloat"
    summary = "prompts far above their peers' median; saving = the excess tokens at input price"
    params: ClassVar[dict[str, Param]] = {
        "group_by": Param("list[str]", ["app", "purpose"], "fields defining the peer group"),
        "factor": Param("float", 5.0, "flag prompts larger than factor x the group median"),
        "min_prompt_tokens": Param("int", 20000, "ignore prompts smaller than this"),
        "min_group": Param("int", 20, "groups with fewer requests have no reliable norm"),
        "mad_k": Param("float", 6.0, "also require this many robust deviations above the median"),
    }
    evidence = ("prompt_tokens", "typical_prompt_tokens", "output_tokens")

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "typical_prompt_tokens": pl.col("typical_prompt_tokens").first(),
            "largest_prompt_tokens": pl.col("prompt_tokens").max(),
        }

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        excess = pl.col("prompt_tokens") - pl.col("typical_prompt_tokens")
        return {"savings_usd": excess.cast(pl.Decimal(38, 0)) * pl.col("rate_input")}

    def columns(self, rule: Rule) -> set[str] | None:
        return field_columns(*rule.params["group_by"], "prompt_tokens") | {
            "rate_input",
            "output_tokens",
        }

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        p = rule.params
        found = outliers(
            rows,
            p["group_by"],
            PROMPT_TOKENS,
            "typical_prompt_tokens",
            path=rule.path,
            line=rule.line,
            factor=float(p["factor"]),
            mad_k=float(p["mad_k"]),
            least=p["min_prompt_tokens"],
            min_group=p["min_group"],
        )
        return found.rename({"_value": "prompt_tokens"})
