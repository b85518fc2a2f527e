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
    first_error,
    parse_bool,
    parse_float,
    parse_int,
    parse_ts,
    parse_usd,
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
        prompt = parse_int(col(cols, "tokens_prompt"), "tokens_prompt")
        completion = parse_int(col(cols, "tokens_completion"), "tokens_completion")
        reasoning = parse_int(col(cols, "tokens_reasoning"), "tokens_reasoning")
        cached = parse_int(col(cols, "tokens_cached"), "tokens_cached")
        created = parse_ts(col(cols, "created_at"), "created_at")
        cost = parse_usd(col(cols, "cost_total"), "cost_total")
        latency = parse_float(col(cols, "generation_time_ms"), "generation_time_ms")
        cancelled = parse_bool(col(cols, "cancelled"), "cancelled")
        finish = clean_text(col(cols, "finish_reason_normalized")).str.to_lowercase()
        variant = clean_text(col(cols, "variant")).str.to_lowercase()
        slug = clean_text(col(cols, "model_permaslug", "model"))
        with_variant = (
            pl.when(variant.is_not_null() & ~variant.is_in(["standard", "default"]))
            .then(pl.concat_str(slug, pl.lit(":"), variant))
            .otherwise(slug)
        )
        cached_value = cached.value.fill_null(0)
        too_many_cached = pl.when(cached_value > prompt.value).then(
            pl.concat_str(
                pl.lit("tokens_cached ("),
                cached_value.cast(pl.String),
                pl.lit(") exceeds tokens_prompt ("),
                prompt.value.cast(pl.String),
                pl.lit(")"),
            )
        )
        return frame.select(
            clean_text(col(cols, "generation_id")).alias("record_id"),
            pl.col("source_line"),
            created.value.alias("ts"),
            pl.lit("openrouter").alias("provider"),
            with_variant.alias("model_raw"),
            clean_text(col(cols, "api_key_name")).alias("key_name"),
            clean_text(col(cols, "user")).alias("user"),
            clean_text(col(cols, "app_name")).alias("app"),
            pl.when(cancelled.value.fill_null(False))
            .then(pl.lit("cancelled"))
            .when(finish == "error")
            .then(pl.lit("error"))
            .otherwise(pl.lit("ok"))
            .alias("status"),
            pl.when(finish == "error")
            .then(clean_text(col(cols, "finish_reason_raw")).fill_null("error"))
            .alias("error_type"),
            latency.value.alias("latency_ms"),
            (prompt.value - cached_value).alias("input_tokens"),
            cached.value.alias("cached_input_tokens"),
            completion.value.alias("output_tokens"),
            reasoning.value.alias("reasoning_tokens"),
            cost.value.alias("reported_cost_usd"),
            tags_json(
                {
                    "upstream_provider": clean_text(col(cols, "provider_name")),
                    "finish_reason": clean_text(col(cols, "finish_reason_raw")),
                    "streamed": clean_text(col(cols, "streamed")),
                    "time_to_first_token_ms": clean_text(col(cols, "time_to_first_token_ms")),
                    "api_key_disabled": clean_text(col(cols, "api_key_disabled")),
                    "byok_usage_inference": clean_text(col(cols, "byok_usage_inference")),
                }
            ).alias("tags"),
            first_error(
                prompt.error,
                completion.error,
                reasoning.error,
                cached.error,
                created.error,
                cost.error,
                latency.error,
                cancelled.error,
                too_many_cached,
            ).alias(ERROR_COLUMN),
        )


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

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _ACTIVITY_REQUIRED, _ACTIVITY_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for batch in iter_csv(path, options.chunk_lines):
            yield self._map(batch.lazy(), set(batch.columns))

    @staticmethod
    def _map(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
        date = parse_ts(col(cols, "date"), "Date")
        usage = parse_usd(col(cols, "usage"), "Usage")
        byok = parse_usd(col(cols, "byok usage"), "BYOK Usage")
        requests = parse_int(col(cols, "requests"), "Requests")
        prompt = parse_int(col(cols, "prompt tokens"), "Prompt Tokens")
        completion = parse_int(col(cols, "completion tokens"), "Completion Tokens")
        reasoning = parse_int(col(cols, "reasoning tokens"), "Reasoning Tokens")
        slug = clean_text(col(cols, "slug", "model"))
        frame = frame.select(
            pl.col("source_line"),
            date.value.alias("ts"),
            pl.lit("openrouter").alias("provider"),
            slug.alias("model_raw"),
            clean_text(col(cols, "api key", "key", "api_key")).alias("key_name"),
            clean_text(col(cols, "creator", "member", "user")).alias("user"),
            requests.value.alias("requests"),
            # The activity export does not split cached tokens out of prompt tokens, so all
            # prompt tokens count as uncached input here; the billed Usage is exact regardless.
            prompt.value.alias("input_tokens"),
            completion.value.alias("output_tokens"),
            reasoning.value.alias("reasoning_tokens"),
            # BYOK usage was billed by the upstream on the user's own key, not by OpenRouter;
            # counting it here would double-count that provider's own bill, so it is a tag.
            usage.value.alias("reported_cost_usd"),
            tags_json({"byok_usage": clean_text(col(cols, "byok usage"))}).alias("tags"),
            first_error(
                date.error,
                usage.error,
                byok.error,
                requests.error,
                prompt.error,
                completion.error,
                reasoning.error,
            ).alias(ERROR_COLUMN),
        )
        return frame.with_columns(
            pl.concat_str(
                pl.lit("openrouter-activity|"),
                pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S"),
                pl.lit("|"),
                pl.col("model_raw").fill_null(""),
                pl.lit("|"),
                pl.col("key_name").fill_null(""),
                pl.lit("|"),
                pl.col("user").fill_null(""),
            ).alias("record_id")
        )
