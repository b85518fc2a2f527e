"""OpenRouter exports: the per-generation CSV (requests) and the Activity CSV (daily aggregates).

OpenRouter bills the upstream list price, so its rows' ``provider`` is ``openrouter`` (who
you pay) and the upstream that served the call goes to ``tags.upstream_provider``.
``tokens_prompt`` *includes* cached tokens, and ``tokens_completion`` includes reasoning.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from audit.normalize import (
    ERROR_COLUMN,
    clean_text,
    gather_errors,
    parse_columns,
    parse_frame,
    tags_json,
)
from audit.sources import source
from audit.sources.base import ReadOptions, Sample, SourceAdapter, header_score
from audit.sources.tables import col, iter_csv

_GENERATION_REQUIRED = {"generation_id", "created_at", "tokens_prompt", "tokens_completion"}
_GENERATION_OPTIONAL = frozenset(
    {
        "cost_total",
        "model_permaslug",
        "provider_name",
        "tokens_reasoning",
        "tokens_cached",
        "cancelled",
        "api_key_name",
        "app_name",
        "finish_reason_normalized",
        "generation_time_ms",
    }
)


@source
class OpenRouterGenerationsCsv(SourceAdapter):
    """One row per generation, downloaded from openrouter.ai Activity → Logs → export."""

    name = "openrouter-generations-csv"
    title = "OpenRouter per-generation (logs) CSV export"
    granularity = "request"
    obtain = "openrouter.ai → Activity → Logs → Export CSV (one row per generation)"

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _GENERATION_REQUIRED, _GENERATION_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for batch in iter_csv(path, options.chunk_lines):
            yield self._map(batch.lazy(), set(batch.columns))

    @staticmethod
    def _map(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
        frame = frame.with_columns(
            col(cols, "tokens_prompt").alias("r.prompt"),
            col(cols, "tokens_completion").alias("r.completion"),
            col(cols, "tokens_reasoning").alias("r.reasoning"),
            col(cols, "tokens_cached").alias("r.cached"),
            col(cols, "created_at").alias("r.created"),
            col(cols, "cost_total").alias("r.cost"),
            col(cols, "generation_time_ms").alias("r.latency"),
            col(cols, "cancelled").alias("r.cancelled"),
        )
        frame = parse_frame(
            frame,
            {
                "prompt": ("r.prompt", "int", "tokens_prompt"),
                "output_tokens": ("r.completion", "int", "tokens_completion"),
                "reasoning_tokens": ("r.reasoning", "int", "tokens_reasoning"),
                "cached_input_tokens": ("r.cached", "int", "tokens_cached"),
                "ts": ("r.created", "ts", "created_at"),
                "reported_cost_usd": ("r.cost", "usd", "cost_total"),
                "latency_ms": ("r.latency", "float", "generation_time_ms"),
                "cancelled": ("r.cancelled", "bool", "cancelled"),
            },
        )
        # Clean texts bound to columns once: every use below re-evaluates an expression.
        texts = {
            "finish_reason_normalized": ("finish_reason_normalized",),
            "variant": ("variant",),
            "slug": ("model_permaslug", "model"),
            "provider_name": ("provider_name",),
            "finish_reason_raw": ("finish_reason_raw",),
            "streamed": ("streamed",),
            "time_to_first_token_ms": ("time_to_first_token_ms",),
            "api_key_disabled": ("api_key_disabled",),
            "byok_usage_inference": ("byok_usage_inference",),
        }
        frame = frame.with_columns(
            clean_text(col(cols, *names)).alias(f"t.{name}") for name, names in texts.items()
        )
        finish_reason = pl.col("t.finish_reason_normalized").str.to_lowercase()
        variant = pl.col("t.variant").str.to_lowercase()
        slug = pl.col("t.slug")
        cached = pl.col("cached_input_tokens").fill_null(0)
        too_many_cached = pl.when(cached > pl.col("prompt")).then(
            pl.concat_str(
                pl.lit("tokens_cached ("),
                cached.cast(pl.String),
                pl.lit(") exceeds tokens_prompt ("),
                pl.col("prompt").cast(pl.String),
                pl.lit(")"),
            )
        )
        frame = frame.with_columns(
            clean_text(col(cols, "generation_id")).alias("record_id"),
            pl.lit("openrouter").alias("provider"),
            pl.when(variant.is_not_null() & ~variant.is_in(["standard", "default"]))
            .then(pl.concat_str(slug, pl.lit(":"), variant))
            .otherwise(slug)
            .alias("model_raw"),
            clean_text(col(cols, "api_key_name")).alias("key_name"),
            clean_text(col(cols, "user")).alias("user"),
            clean_text(col(cols, "app_name")).alias("app"),
            pl.when(pl.col("cancelled").fill_null(False))
            .then(pl.lit("cancelled"))
            .when(finish_reason == "error")
            .then(pl.lit("error"))
            .otherwise(pl.lit("ok"))
            .alias("status"),
            pl.when(finish_reason == "error")
            .then(pl.col("t.finish_reason_raw").fill_null("error"))
            .alias("error_type"),
            (pl.col("prompt") - cached).alias("input_tokens"),
            tags_json(
                {
                    "upstream_provider": pl.col("t.provider_name"),
                    "finish_reason": pl.col("t.finish_reason_raw"),
                    "streamed": pl.col("t.streamed"),
                    "time_to_first_token_ms": pl.col("t.time_to_first_token_ms"),
                    "api_key_disabled": pl.col("t.api_key_disabled"),
                    "byok_usage_inference": pl.col("t.byok_usage_inference"),
                }
            ).alias("tags"),
            too_many_cached.alias("_err.~cached"),
        )
        return frame.with_columns(gather_errors(frame.collect_schema().names())).select(
            "record_id", "source_line", "ts", "provider", "model_raw", "key_name", "user", "app",
            "status", "error_type", "latency_ms", "input_tokens", "cached_input_tokens",
            "output_tokens", "reasoning_tokens", "reported_cost_usd", "tags", ERROR_COLUMN,
        )  # fmt: skip


_ACTIVITY_REQUIRED = {"date", "usage", "requests"}
_ACTIVITY_OPTIONAL = frozenset(
    {"slug", "byok usage", "prompt tokens", "completion tokens", "reasoning tokens"}
)


@source
class OpenRouterActivityCsv(SourceAdapter):
    """Spend per period and model (or key/member) from the Activity page's CSV export."""

    name = "openrouter-activity-csv"
    title = "OpenRouter Activity CSV export (spend and tokens per day × model)"
    granularity = "aggregate"
    obtain = "openrouter.ai/activity → choose period, group by Model → ⋯ → Export to CSV"
    aggregate_rank = 30

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _ACTIVITY_REQUIRED, _ACTIVITY_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for batch in iter_csv(path, options.chunk_lines):
            yield self._map(batch.lazy(), set(batch.columns))

    @staticmethod
    def _map(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
        frame = frame.with_columns(
            col(cols, "date").alias("r.date"),
            col(cols, "usage").alias("r.usage"),
            col(cols, "byok usage").alias("r.byok"),
            col(cols, "requests").alias("r.requests"),
            col(cols, "prompt tokens").alias("r.prompt"),
            col(cols, "completion tokens").alias("r.completion"),
            col(cols, "reasoning tokens").alias("r.reasoning"),
        ).with_columns(
            parse_columns(
                {
                    "ts": ("r.date", "ts", "Date"),
                    # BYOK usage was billed by the upstream on the user's own key, not by
                    # OpenRouter; counting it here would double-count that provider's bill.
                    "reported_cost_usd": ("r.usage", "usd", "Usage"),
                    "byok": ("r.byok", "usd", "BYOK Usage"),
                    "requests": ("r.requests", "int", "Requests"),
                    # The export does not split cached tokens out of prompt tokens, so all prompt
                    # tokens count as uncached input here; the billed Usage is exact regardless.
                    "input_tokens": ("r.prompt", "int", "Prompt Tokens"),
                    "output_tokens": ("r.completion", "int", "Completion Tokens"),
                    "reasoning_tokens": ("r.reasoning", "int", "Reasoning Tokens"),
                }
            )
        )
        frame = frame.with_columns(
            pl.lit("openrouter").alias("provider"),
            clean_text(col(cols, "slug", "model")).alias("model_raw"),
            clean_text(col(cols, "api key", "key", "api_key")).alias("key_name"),
            clean_text(col(cols, "creator", "member", "user")).alias("user"),
            tags_json({"byok_usage": clean_text(pl.col("r.byok"))}).alias("tags"),
        )
        frame = frame.with_columns(
            gather_errors(frame.collect_schema().names()),
            pl.concat_str(
                pl.lit("openrouter-activity|"),
                pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S"),
                pl.lit("|"),
                pl.col("model_raw").fill_null(""),
                pl.lit("|"),
                pl.col("key_name").fill_null(""),
                pl.lit("|"),
                pl.col("user").fill_null(""),
            ).alias("record_id"),
        )
        return frame.select(
            "record_id", "source_line", "ts", "provider", "model_raw", "key_name", "user",
            "requests", "input_tokens", "output_tokens", "reasoning_tokens", "reported_cost_usd",
            "tags", ERROR_COLUMN,
        )  # fmt: skip
