"""The 30-minute monthly audit as a checklist: each item ok / warn / alert / info / unknown.

Spend vs budget, model mix, top callers, rejection rate (share of answered requests whose
outcome was rejected or regenerated), keys idle for 30+ days, and data quality. It sums up
the other sections, so it runs last.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from audit.money import format_usd
from audit.report.insights import Frames

if TYPE_CHECKING:
    from audit.report.model import Report

PREMIUM_WARN = 0.5
TOP_CALLER_WARN = 0.4
REJECTION_WARN = 0.1
IDLE_DAYS = 30


def _item(item_id: str, title: str, status: str, detail: str) -> dict[str, Any]:
    return {"id": item_id, "title": title, "status": status, "detail": detail}


class Checklist:
    name = "checklist"

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]:
        from audit.report.model import _key_label

        everything = frames.store.scan(None, frames.manifest).filter(
            pl.col("granularity") == "request"
        )
        return {
            "outcomes": frames.priced.filter(pl.col("granularity") == "request")
            .group_by("outcome")
            .agg(pl.col("requests").fill_null(1).sum()),
            "keys": everything.filter(_key_label().is_not_null())
            .group_by(_key_label().alias("key"))
            .agg(pl.col("ts").max().alias("last_seen"), pl.col("ts").min().alias("first_seen")),
        }

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
        items = [self._budget(report), self._mix(report), self._callers(report)]
        items.append(self._rejections(results["outcomes"]))
        items.append(self._idle_keys(frames, results["keys"]))
        items.append(self._quality(report))
        report.sections["checklist"] = items

    @staticmethod
    def _budget(report: Report) -> dict[str, Any]:
        budgets = report.sections.get("budgets") or {}
        total = next((b for b in budgets.get("items", []) if b["scope"] == "total"), None)
        if total is None:
            return _item(
                "spend-vs-budget", "Spend vs budget", "unknown", "no organisation budget configured"
            )
        status = {"ok": "ok", "warn": "warn", "over": "alert"}[total["status"]]
        detail = f"${total['spent_usd']:,.2f} of ${total['limit_usd']:,.2f} ({total['share']:.0%})"
        if total["crossed_on"]:
            detail += f"; crossed on {total['crossed_on']}"
        if total["forecast_usd"] is not None:
            detail += f"; month-end forecast ${total['forecast_usd']:,.2f}"
        over = [
            b for b in budgets.get("items", []) if b["scope"] != "total" and b["status"] == "over"
        ]
        if over:
            status = "alert"
            detail += f"; {len(over)} other budget(s) exceeded"
        return _item("spend-vs-budget", "Spend vs budget", status, detail)

    @staticmethod
    def _mix(report: Report) -> dict[str, Any]:
        mix = report.sections.get("model_mix") or {}
        share = float(mix.get("premium_share", 0.0))
        status = "warn" if share > PREMIUM_WARN else "ok"
        parts = ", ".join(f"{c['class']} {c['share']:.0%}" for c in mix.get("by_class", []))
        return _item(
            "model-mix", "Model mix", status, f"premium models take {share:.0%} of spend ({parts})"
        )

    @staticmethod
    def _callers(report: Report) -> dict[str, Any]:
        callers = [r for r in report.breakdowns.get("user", []) if r.key != "(unattributed)"][:5]
        if not callers:
            return _item("top-callers", "Top callers", "unknown", "no user attribution in the logs")
        top = callers[0]
        status = "warn" if top.share > TOP_CALLER_WARN else "info"
        listing = "; ".join(f"{r.key} {format_usd(r.cost_usd)} ({r.share:.0%})" for r in callers)
        return _item("top-callers", "Top callers", status, listing)

    @staticmethod
    def _rejections(outcomes: pl.DataFrame) -> dict[str, Any]:
        counts = {r["outcome"]: int(r["requests"] or 0) for r in outcomes.to_dicts()}
        known = sum(v for k, v in counts.items() if k in {"accepted", "rejected", "regenerated"})
        if not known:
            return _item(
                "rejection-rate", "Rejection rate", "unknown", "no request logs record an outcome"
            )
        bad = counts.get("rejected", 0) + counts.get("regenerated", 0)
        rate = bad / known
        status = "warn" if rate > REJECTION_WARN else "ok"
        return _item(
            "rejection-rate",
            "Rejection rate",
            status,
            f"{rate:.1%} of {known:,} answers with a recorded outcome were rejected or regenerated",
        )

    @staticmethod
    def _idle_keys(frames: Frames, keys: pl.DataFrame) -> dict[str, Any]:
        cutoff = frames.month.end - timedelta(days=IDLE_DAYS)
        idle = keys.filter(pl.col("last_seen") < cutoff).sort("last_seen")
        if not keys.height:
            return _item(
                "unused-keys",
                "Keys unused for 30+ days",
                "unknown",
                "no key attribution in the logs",
            )
        if not idle.height:
            return _item(
                "unused-keys",
                "Keys unused for 30+ days",
                "ok",
                f"all {keys.height} known keys were used",
            )
        names = ", ".join(
            f"{r['key']} (last {r['last_seen']:%Y-%m-%d})" for r in idle.head(10).to_dicts()
        )
        return _item(
            "unused-keys",
            "Keys unused for 30+ days",
            "warn",
            f"{idle.height} idle: {names} — revoke them",
        )

    @staticmethod
    def _quality(report: Report) -> dict[str, Any]:
        rejected = sum(int(item["rows"]) for item in report.rejected)
        unpriced = report.totals.unpriced_requests
        share = unpriced / report.totals.requests if report.totals.requests else 0.0
        status = "warn" if rejected or share > 0.01 or report.problems else "ok"
        return _item(
            "data-quality",
            "Data quality",
            status,
            f"{rejected:,} rejected rows, {len(report.problems)} files not ingested, "
            f"{unpriced:,} unpriced requests ({share:.1%})",
        )
