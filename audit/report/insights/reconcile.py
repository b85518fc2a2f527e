"""Reconciliation: does our accounting from request logs match the provider's bill?

For each provider with both a billing/usage export and request logs in the month, compare
per model and day: what the bill says, what the logs say they cost, and what our price
tables make of the logged tokens. The headline is coverage ("logs explain 94% of Anthropic's
billed spend"); the largest differences are listed with their most likely cause.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import polars as pl

from audit.money import json_number, to_decimal
from audit.report.insights import Frames

if TYPE_CHECKING:
    from audit.report.model import Report

MAX_LISTED = 10
TOKENS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
NO_MODEL = "(no model)"


def _cells(frame: pl.LazyFrame) -> pl.LazyFrame:
    model = pl.coalesce(pl.col("model"), pl.col("model_raw")).fill_null(NO_MODEL)
    return frame.group_by("provider", "day", model.alias("model")).agg(
        pl.coalesce(pl.col("reported_cost_usd"), pl.col("calculated_cost_usd")).sum().alias("usd"),
        pl.col("calculated_cost_usd").sum().alias("calculated_usd"),
        pl.col("requests").fill_null(0).sum().alias("requests"),
        *[pl.col(c).fill_null(0).sum().alias(c) for c in TOKENS],
    )


def likely_cause(billed: dict[str, Any] | None, logged: dict[str, Any] | None) -> str:
    """The most plausible reason a (model, day) cell of the bill and the logs disagree."""
    if logged is None:
        if billed is not None and billed["model"] == NO_MODEL:
            return "a charge without a model (tools, web search, storage): not from requests"
        return "unlogged traffic: the bill has this model and day, the request logs do not"
    if billed is None:
        return "logged traffic missing from the bill: billed elsewhere, or an incomplete export"
    billed_tokens = sum(int(billed[c]) for c in TOKENS)
    logged_tokens = sum(int(logged[c]) for c in TOKENS)
    if billed_tokens and logged_tokens < billed_tokens * 0.95:
        share = logged_tokens / billed_tokens
        return f"unlogged traffic: the logs hold {share:.0%} of the billed tokens"
    if int(billed["cached_input_tokens"]) > 0 and int(logged["cached_input_tokens"]) == 0:
        return "cache tokens missing from the logs"
    if billed_tokens and logged_tokens > billed_tokens * 1.05:
        return (
            "the logs hold more tokens than the bill: duplicate logging or traffic billed elsewhere"
        )
    return "price table out of date, or a discount/uplift the tables do not model"


class Reconciliation:
    name = "reconciliation"

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]:
        return {
            # Counts-only rows from a usage export beside a cost export add the bill's
            # tokens (never dollars), so unlogged traffic shows in tokens too.
            "billed": _cells(frames.spend.filter(pl.col("granularity") == "aggregate")),
            "logged": _cells(frames.priced.filter(pl.col("granularity") == "request")),
        }

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
        billed = {(r["provider"], r["day"], r["model"]): r for r in results["billed"].to_dicts()}
        logged = {(r["provider"], r["day"], r["model"]): r for r in results["logged"].to_dicts()}
        providers = sorted({k[0] for k in billed} & {k[0] for k in logged})
        blocks: list[dict[str, Any]] = []
        for provider in providers:
            keys = sorted(
                {k for k in billed if k[0] == provider} | {k for k in logged if k[0] == provider}
            )
            bill_days = {k[1] for k in keys if k in billed}
            billed_usd = sum(
                (to_decimal(billed[k]["usd"]) for k in keys if k in billed), Decimal(0)
            )
            # Logs count against the bill only on days the bill covers, so a partial billing
            # export does not show up as "logs exceed the bill".
            on_billed_days = [k for k in keys if k in logged and k[1] in bill_days]
            logged_usd = sum((to_decimal(logged[k]["usd"]) for k in on_billed_days), Decimal(0))
            calculated_usd = sum(
                (to_decimal(logged[k]["calculated_usd"]) for k in on_billed_days), Decimal(0)
            )
            differences = []
            for key in keys:
                if key[1] not in bill_days:
                    continue
                b, g = billed.get(key), logged.get(key)
                amount_billed = to_decimal(b["usd"]) if b else Decimal(0)
                amount_logged = to_decimal(g["usd"]) if g else Decimal(0)
                diff = amount_billed - amount_logged
                if abs(diff) < max(Decimal("0.01"), amount_billed * Decimal("0.01")):
                    continue
                differences.append(
                    {
                        "day": key[1].isoformat(),
                        "model": key[2],
                        "billed_usd": json_number(amount_billed),
                        "logged_usd": json_number(amount_logged),
                        "difference_usd": json_number(diff),
                        "likely_cause": likely_cause(b, g),
                        "_abs": abs(diff),
                    }
                )
            differences.sort(key=lambda d: (-d["_abs"], d["day"], d["model"]))
            for item in differences:
                item.pop("_abs")
            coverage = float(logged_usd / billed_usd) if billed_usd else None
            blocks.append(
                {
                    "provider": provider,
                    "billed_usd": json_number(billed_usd),
                    "logged_usd": json_number(logged_usd),
                    "calculated_usd": json_number(calculated_usd),
                    "coverage": round(coverage, 4) if coverage is not None else None,
                    "difference_usd": json_number(billed_usd - logged_usd),
                    "summary": (
                        f"logs explain {coverage:.0%} of {provider}'s billed spend"
                        if coverage is not None
                        else f"{provider} billed nothing on the days its logs cover"
                    ),
                    "discrepancies": differences[:MAX_LISTED],
                    "discrepancy_count": len(differences),
                }
            )
        report.sections["reconciliation"] = blocks
