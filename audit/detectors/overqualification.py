"""``overqualification``: premium models doing work a cheaper model handles.

Flags requests on models of the configured classes (the price tables' ``class``) that the
rule's ``where`` calls simple (short outputs, small inputs, simple purposes). The saving is
what the request cost minus what the *same tokens* would cost on the suggested model at the
same date, from the price tables — so it is exact arithmetic, not a guess at a ratio.
"""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors.base import (
    CALLER_COLUMNS,
    POSITION,
    DetectContext,
    Detector,
    Param,
    Rule,
    caller,
)
from audit.pricing import REPRICE_COLUMNS, reprice


@detector
class Overqualification(Detector):
    """Premium models on simple work; saving priced on the suggested cheaper model."""

    name = "overqualification"
    summary = (
        "premium models on simple work; saving = cost minus the same tokens on a cheaper model"
    )
    params: ClassVar[dict[str, Param]] = {
        "classes": Param("list[str]", ["premium"], "model classes considered overqualified"),
        "suggestions": Param("dict[str,str]", {}, "canonical model -> cheaper model to suggest"),
        "by_vendor": Param(
            "dict[str,str]", {}, "model vendor -> cheaper model, when not listed above"
        ),
        "min_saving_share": Param(
            "float", 0.2, "flag only when the cheaper model saves this share"
        ),
    }
    evidence = (
        "purpose",
        "input_tokens",
        "output_tokens",
        "suggested_model",
        "alternative_cost_usd",
    )

    def details(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "suggested_model": pl.col("suggested_model").first(),
            "purposes": pl.col("purpose").drop_nulls().unique().sort(),
            "alternative_cost": pl.col("alternative_cost_usd").sum(),
            "model": pl.col("model").first(),
        }

    def finish(self, rule: Rule) -> dict[str, pl.Expr]:
        return {
            "subject": pl.concat_str(caller(), pl.lit(" · "), pl.col("model")),
            "savings_usd": pl.col("calculated_cost_usd") - pl.col("alternative_cost_usd"),
        }

    def columns(self, rule: Rule) -> set[str] | None:
        return {
            *CALLER_COLUMNS,
            *REPRICE_COLUMNS,
            "model",
            "model_class",
            "calculated_cost_usd",
            "purpose",
        }

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        suggestions = {k.lower(): v for k, v in rule.params["suggestions"].items()}
        by_vendor = rule.params["by_vendor"]
        mapping = {
            model.id: suggestions.get(model.id) or by_vendor.get(model.vendor)
            for model in ctx.book.models.values()
        }
        table = pl.LazyFrame(
            {"model": list(mapping), "suggested_model": list(mapping.values())},
            schema={"model": pl.String, "suggested_model": pl.String},
        )
        narrow = rows.filter(pl.col("model_class").is_in(rule.params["classes"])).select(
            POSITION, "model", "calculated_cost_usd", *REPRICE_COLUMNS
        )
        candidates = narrow.join(table, on="model", how="inner").filter(
            pl.col("suggested_model").is_not_null() & (pl.col("suggested_model") != pl.col("model"))
        )
        priced = reprice(candidates, ctx.book, "suggested_model", "alternative_cost_usd")
        saving = pl.col("calculated_cost_usd") - pl.col("alternative_cost_usd")
        share = float(rule.params["min_saving_share"])
        return priced.filter(
            pl.col("alternative_cost_usd").is_not_null()
            & pl.col("calculated_cost_usd").is_not_null()
            & (saving > pl.col("calculated_cost_usd") * share)
        ).select(POSITION, "suggested_model", "alternative_cost_usd")
