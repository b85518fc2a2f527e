"""Anomalies: sudden jumps in a key's, model's or user's daily spend or token mix.

Each subject's days are compared with that subject's own typical day using robust
statistics — the median and the median absolute deviation (MAD) — so one wild day cannot
hide itself by inflating the baseline the way it would inflate a mean and a standard
deviation. A day is an anomaly when its robust z-score ``(value - median) / (1.4826 x MAD)``
reaches ``anomalies.threshold`` (and, for spend, the jump is at least ``min_change_usd``).
Token mix watches the output share of tokens, which moves when prompts or max_tokens change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from audit.report.insights import Frames

if TYPE_CHECKING:
    from audit.report.model import Report

MAX_LISTED = 50
#: Floors for the robust scale, so a perfectly flat series does not turn noise into infinity.
SPEND_FLOOR_SHARE = 0.1
SPEND_FLOOR_USD = 0.01
SHARE_FLOOR = 0.02
MIN_DAY_TOKENS = 1000


def _robust(value: pl.Expr, group: str, floor: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    median = value.median().over(group)
    mad = (value - median).abs().median().over(group) * 1.4826
    return median, (value - median) / pl.max_horizontal(mad, floor)


class Anomalies:
    name = "anomalies"

    def queries(self, frames: Frames) -> dict[str, pl.LazyFrame]:
        from audit.report.model import _key_label

        s = frames.settings
        tokens = (
            pl.col("input_tokens").fill_null(0)
            + pl.col("cached_input_tokens").fill_null(0)
            + pl.col("cache_write_tokens").fill_null(0)
            + pl.col("output_tokens").fill_null(0)
        )
        dims = {
            "api_key": (frames.attribution, _key_label()),
            "model": (frames.spend, pl.coalesce(pl.col("model"), pl.col("model_raw"))),
            "user": (frames.attribution, pl.col("user")),
        }
        out: dict[str, pl.LazyFrame] = {}
        for name, (frame, key) in dims.items():
            daily = (
                frame.filter(key.is_not_null())
                .group_by(key.alias("subject"), "day")
                .agg(
                    pl.col("cost_usd").sum().cast(pl.Float64).alias("spend"),
                    pl.col("output_tokens").fill_null(0).sum().alias("output"),
                    tokens.sum().alias("tokens"),
                )
                .with_columns(pl.len().over("subject").alias("days"))
                .filter(pl.col("days") >= s.anomaly_min_days)
            )
            spend_median, spend_z = _robust(
                pl.col("spend"),
                "subject",
                pl.max_horizontal(
                    pl.col("spend").median().over("subject") * SPEND_FLOOR_SHARE,
                    pl.lit(SPEND_FLOOR_USD),
                ),
            )
            share = pl.when(pl.col("tokens") >= MIN_DAY_TOKENS).then(
                pl.col("output") / pl.col("tokens")
            )
            share_median, share_z = _robust(share, "subject", pl.lit(SHARE_FLOOR))
            scored = daily.with_columns(
                spend_median.alias("spend_baseline"),
                spend_z.alias("spend_z"),
                share.alias("output_share"),
                share_median.alias("share_baseline"),
                share_z.alias("share_z"),
            )
            out[name] = scored.filter(
                (
                    (pl.col("spend_z") >= s.anomaly_threshold)
                    & (
                        pl.col("spend") - pl.col("spend_baseline")
                        >= float(s.anomaly_min_change_usd)
                    )
                )
                | (pl.col("share_z").abs() >= s.anomaly_threshold)
            ).with_columns(pl.lit(name).alias("dimension"))
        return out

    def finish(self, frames: Frames, results: dict[str, pl.DataFrame], report: Report) -> None:
        s = frames.settings
        found: list[dict[str, Any]] = []
        for frame in results.values():
            for row in frame.to_dicts():
                base = {
                    "dimension": row["dimension"],
                    "subject": str(row["subject"]),
                    "day": row["day"].isoformat(),
                }
                jump = row["spend"] - row["spend_baseline"]
                if row["spend_z"] >= s.anomaly_threshold and jump >= float(
                    s.anomaly_min_change_usd
                ):
                    found.append(
                        base
                        | {
                            "metric": "daily spend (USD)",
                            "value": round(row["spend"], 6),
                            "baseline": round(row["spend_baseline"], 6),
                            "robust_z": round(row["spend_z"], 2),
                            "change": round(jump, 6),
                        }
                    )
                if row["share_z"] is not None and abs(row["share_z"]) >= s.anomaly_threshold:
                    found.append(
                        base
                        | {
                            "metric": "output share of tokens",
                            "value": round(row["output_share"], 4),
                            "baseline": round(row["share_baseline"], 4),
                            "robust_z": round(row["share_z"], 2),
                            "change": round(row["output_share"] - row["share_baseline"], 4),
                        }
                    )
        found.sort(
            key=lambda a: (-abs(a["robust_z"]), a["dimension"], a["subject"], a["day"], a["metric"])
        )
        report.sections["anomalies"] = found[:MAX_LISTED]
