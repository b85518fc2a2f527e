"""Report insights beyond "what was spent": each a small section over the same lazy frames.

A section contributes lazy queries to the report's single ``collect_all`` and, once they
are collected, writes a JSON-ready block into ``report.sections``. Sections run in order,
so the checklist, which summarises the others, comes last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import polars as pl

from audit.insights_config import InsightSettings
from audit.period import Month
from audit.pricing import PriceBook
from audit.store import Manifest, Store

if TYPE_CHECKING:
    from audit.report.model import Report


@dataclass(frozen=True)
class Frames:
    """The lazy inputs every section may use."""

    store: Store
    manifest: Manifest
    month: Month
    now: datetime
    settings: InsightSettings
    book: PriceBook
    # The month pre-aggregated (audit.report.model._cube): one row per distinct value of the
    # report's columns (_CUBE_KEYS), sums of tokens and cost_usd, and `_rows` (the request
    # rows behind it). Sections sum and group; counting must use `_rows`, and a statistic
    # over single requests (a median) needs row-level data, not this frame.
    priced: pl.LazyFrame
    spend: pl.LazyFrame  # billed where billing exists, logs otherwise
    attribution: pl.LazyFrame  # logs plus the unattributed remainder of billed days
    previous_priced: pl.LazyFrame
    previous_spend: pl.LazyFrame
    previous_attribution: pl.LazyFrame


class Section(Protocol):
    name: str

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]: ...

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None: ...


def _sections() -> list[Section]:
    from audit.report.insights import alerts, anomalies, budgets, checklist, compare, mix, reconcile

    return [
        compare.Comparison(),
        mix.ModelMix(),
        budgets.Budgets(),
        alerts.Alerts(),
        anomalies.Anomalies(),
        reconcile.Reconciliation(),
        checklist.Checklist(),
    ]


def section_queries(frames: Frames) -> dict[str, pl.LazyFrame]:
    """Every section's queries, keys prefixed with the section's name."""
    out: dict[str, pl.LazyFrame] = {}
    for section in _sections():
        for key, query in section.queries(frames).items():
            out[f"{section.name}:{key}"] = query
    return out


def run_sections(frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
    """Let each section read its collected results and fill its block of the report."""
    for section in _sections():
        prefix = f"{section.name}:"
        own = {k[len(prefix) :]: v for k, v in results.items() if k.startswith(prefix)}
        section.finish(frames, own, report)
