"""Portkey log exports: the JSONL file of ``POST /v1/logs/exports`` (Logs → Export).

One JSON object per request with the fields chosen in ``requested_data``: ``id``,
``trace_id``, ``created_at``, ``is_success``, ``ai_org``, ``ai_model``, ``req_units``,
``res_units``, ``cost``, ``cost_currency``, ``response_time``, ``response_status_code``,
``metadata``, and in older exports ``cache_status``, ``virtual_key``, ``retry_success_count``….

**Tokens.** ``req_units`` / ``res_units`` are the request's prompt and completion tokens.
Portkey documents no cache or reasoning split (UNVERIFIED whether ``req_units`` includes
cache reads), so all of ``req_units`` is counted as uncached input; the reported cost is
exact regardless.

**Cost.** ``cost`` is in **cents** (Portkey's analytics and pricing data use cents; for the
export field this is partly UNVERIFIED) and becomes USD exactly. A ``cost_currency`` other
than USD cannot be a USD figure: the cost is then left unknown and kept in ``tags``. A cost
of exactly 0 on a request with tokens that was not a cache hit means Portkey had no price
for the model: it is treated as unknown too (``tags.reported_cost`` keeps it).

**Ids and attribution.** ``record_id`` is Portkey's log ``id``; the provider's response id is
only inside ``response`` and is not read. ``trace_id`` is the session. ``virtual_key`` is a
slug naming the provider key (not a secret) → ``key_name``. ``metadata._user`` (the OpenAI
``user`` parameter) is the user; other metadata keys that ``tokaudit.yaml``'s
``attribution`` names fill team, project, environment, …; the rest, ``cache_status`` and the
mode go to ``tags``. ``request`` / ``response`` hold prompt and completion content and are
never read.

**Provider and status.** ``ai_org`` (Portkey's provider slug: ``openai``, ``azure-openai``,
``vertex-ai``, …) is mapped onto tokaudit's vocabulary. ``is_success`` (1/0 or a boolean)
and ``response_status_code`` give the status; ``response_time`` is in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from audit.normalize import ERROR_COLUMN, clean_text, gather_errors, parse_columns, tags_json
from audit.sources import source
from audit.sources.base import ReadOptions, Sample, SourceAdapter
from audit.sources.helicone import (
    attributed,
    discover_keys,
    http_error_type,
    json_field,
    metadata_fields,
    object_error,
    plain,
    records_score,
    vocabulary,
)
from audit.sources.jsonlines import DOC, LINE, decode_objects, iter_lines

S = pl.String

#: Portkey provider slugs (``ai_org``) onto tokaudit's provider vocabulary.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure-openai": "azure",
    "azure-ai": "azure",
    "azure-ai-inference": "azure",
    "bedrock": "bedrock",
    "aws-bedrock": "bedrock",
    "vertex-ai": "vertex",
    "google": "google",
    "gemini": "google",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "mistral-ai": "mistral",
    "mistral": "mistral",
    "x-ai": "xai",
    "xai": "xai",
    "groq": "groq",
    "together-ai": "together",
    "fireworks-ai": "fireworks",
    "cohere": "cohere",
    "ollama": "self-hosted",
}
_FIELDS = (
    "id",
    "trace_id",
    "created_at",
    "is_success",
    "ai_org",
    "ai_model",
    "req_units",
    "res_units",
    "total_units",
    "cost",
    "cost_currency",
    "response_time",
    "response_status_code",
    "mode",
    "cache_status",
    "cache_type",
    "retry_success_count",
    "virtual_key",
    "prompt_slug",
)
_LINE = pl.Struct({name: S for name in _FIELDS})
_REQUIRED = {"req_units", "res_units"}
_OPTIONAL = frozenset(
    {
        "id",
        "trace_id",
        "created_at",
        "is_success",
        "ai_org",
        "ai_model",
        "total_units",
        "cost",
        "cost_currency",
        "response_time",
        "response_status_code",
        "metadata",
    }
)
_TAG_NAMES = frozenset(
    {
        "mode",
        "cache_status",
        "cache_type",
        "retry_success_count",
        "prompt_slug",
        "total_units",
        "ai_org",
        "cost",
        "cost_currency",
        "reported_cost",
    }
)
_ATTRIBUTION = ("team", "project", "environment", "purpose", "app")
_CACHE_HITS = ("HIT", "SEMANTIC HIT", "SEMANTIC_HIT")


@source
class PortkeyLogsJsonl(SourceAdapter):
    """Portkey request logs from a log export (JSONL, one request per line)."""

    name = "portkey-logs-jsonl"
    title = "Portkey log export, JSONL (Logs → Export / POST /v1/logs/exports)"
    granularity = "request"
    obtain = (
        "app.portkey.ai → Logs → Export (or POST /v1/logs/exports, …/start, …/download) "
        "with requested_data including created_at, ai_org, ai_model, req_units, res_units, cost"
    )

    def sniff(self, sample: Sample) -> float:
        return records_score(sample.json_lines, _REQUIRED, _OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for lines in iter_lines(path, options.chunk_bytes):
            decoded = decode_objects(lines, _LINE)
            doc = pl.col(DOC).struct
            raw = decoded.select(
                "source_line",
                ERROR_COLUMN,
                *[doc.field(name).alias(f"r.{name}") for name in _FIELDS],
                json_field(pl.col(LINE), "metadata").alias("meta"),
            )
            yield _map(raw, options)


def _map(raw: pl.DataFrame, options: ReadOptions) -> pl.LazyFrame:
    meta = pl.col("meta")
    attrs, meta_tags = metadata_fields(
        discover_keys(raw.get_column("meta")),
        meta,
        options.config.attribution_lookup(),
        reserved=_TAG_NAMES,
    )
    currency = clean_text(pl.col("r.cost_currency")).str.to_uppercase()
    cache_status = clean_text(pl.col("r.cache_status"))
    # Stage 2: parse.
    frame = raw.lazy().with_columns(
        *parse_columns(
            {
                "ts": ("r.created_at", "ts", "created_at"),
                "input_tokens": ("r.req_units", "int", "req_units"),
                "output_tokens": ("r.res_units", "int", "res_units"),
                "cost": ("r.cost", "usd_cents", "cost"),
                "latency_ms": ("r.response_time", "float", "response_time"),
                "code": ("r.response_status_code", "int", "response_status_code"),
                "success": ("r.is_success", "bool", "is_success"),
            }
        ),
        (currency.is_not_null() & (currency != "USD")).fill_null(False).alias("foreign"),
        cache_status.str.to_uppercase().is_in(_CACHE_HITS).fill_null(False).alias("cache_hit"),
        object_error(meta, "metadata").alias("_err.~meta"),
    )
    # Stage 3: status and which costs are known.
    code = pl.col("code")
    tokens = pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)
    frame = frame.with_columns(
        pl.when(~pl.col("success") | (code >= 400))
        .then(pl.lit("error"))
        .otherwise(pl.lit("ok"))
        .alias("status"),
        (
            pl.col("foreign")
            | ((pl.col("cost") == 0) & (tokens > 0) & ~pl.col("cache_hit")).fill_null(False)
        ).alias("unknown_cost"),
    )
    # Stage 4: canonical columns.
    frame = frame.with_columns(
        clean_text(pl.col("r.id")).alias("record_id"),
        vocabulary(pl.col("r.ai_org"), PROVIDERS).alias("provider"),
        clean_text(pl.col("r.ai_model")).alias("model_raw"),
        attributed(attrs, "key_name", pl.col("r.virtual_key")).alias("key_name"),
        attributed(attrs, "user", plain(json_field(meta, "_user"))).alias("user"),
        attributed(attrs, "session_id", pl.col("r.trace_id")).alias("session_id"),
        *[attributed(attrs, name).alias(name) for name in _ATTRIBUTION],
        pl.when(code > 0).then(code).alias("http_status"),
        pl.when(pl.col("status") == "error").then(http_error_type(code)).alias("error_type"),
        pl.when(pl.col("unknown_cost"))
        .then(None)
        .otherwise(pl.col("cost"))
        .alias("reported_cost_usd"),
        tags_json(
            {
                **meta_tags,
                "mode": clean_text(pl.col("r.mode")),
                "cache_status": cache_status,
                "cache_type": clean_text(pl.col("r.cache_type")),
                "retry_success_count": clean_text(pl.col("r.retry_success_count")),
                "prompt_slug": clean_text(pl.col("r.prompt_slug")),
                "total_units": clean_text(pl.col("r.total_units")),
                "ai_org": pl.when(vocabulary(pl.col("r.ai_org"), PROVIDERS).is_null()).then(
                    clean_text(pl.col("r.ai_org"))
                ),
                "cost": pl.when(pl.col("foreign")).then(clean_text(pl.col("r.cost"))),
                "cost_currency": pl.when(pl.col("foreign")).then(currency),
                "reported_cost": pl.when(pl.col("unknown_cost") & ~pl.col("foreign")).then(
                    clean_text(pl.col("r.cost"))
                ),
            }
        ).alias("tags"),
    )
    frame = frame.with_columns(gather_errors(frame.collect_schema().names()))
    return frame.select(
        "record_id", "source_line", "ts", "provider", "model_raw", "key_name", "user",
        "session_id", *_ATTRIBUTION, "status", "http_status", "error_type", "latency_ms",
        "input_tokens", "output_tokens", "reported_cost_usd", "tags", ERROR_COLUMN,
    )  # fmt: skip
