"""OpenRouter API JSON: ``GET /api/v1/generation`` (one request) and ``GET /api/v1/activity``.

Both bill through OpenRouter, so ``provider`` is ``openrouter`` and the upstream that served
the call goes to ``tags.upstream_provider`` (as in :mod:`audit.sources.openrouter`).

A file holds one response (``{"data": …}``, possibly pretty-printed), a JSON array of
responses, or one response per line (JSONL). For a JSON document ``source_line`` is the
record's 1-based position in the file; for JSONL the physical line. The activity reader
always counts positions (items of one page share its line).

**Generation** (request rows):

* ``record_id`` = ``id`` (``gen-…``); ``ts`` = ``created_at``; ``model_raw`` = ``model``.
* Tokens: the ``native_tokens_*`` counts are the provider's own, the ones billed, and are
  preferred over the normalised ``tokens_*`` (GPT-4o tokenizer), which are used only when a
  native count is missing. ``native_tokens_prompt`` *includes* ``native_tokens_cached`` (as
  OpenRouter's prompt counts do everywhere; for the native counts this is UNVERIFIED), so
  ``input_tokens`` = prompt − cached and a cached count above the prompt is rejected.
  ``native_tokens_completion`` includes ``native_tokens_reasoning``. No cache-write count
  exists in this response.
* ``reported_cost_usd`` = ``total_cost`` (else ``usage``), USD, exact. BYOK's
  ``upstream_inference_cost`` was billed by the upstream on the user's own key: tag only.
* ``cancelled`` → ``cancelled``; ``finish_reason: error`` → ``error`` (``error_type`` =
  ``native_finish_reason``); ``external_user`` → ``user``; ``session_id``;
  ``workspace_id`` → ``project``; ``latency`` (else ``generation_time``) → ``latency_ms``.
* ``provider_responses[]`` (every upstream attempt, fallbacks included) → tags
  ``upstream_attempts``, ``upstream_failures`` (attempts whose HTTP status is not 2xx) and
  ``upstream_statuses``; also ``finish_reason``, ``api_type``, ``is_byok``, ``streamed``,
  ``request_id``, … in tags.

**Activity** (aggregate rows, ``aggregate_rank`` 30 like the Activity CSV — the same money):
items are one date × model × provider endpoint. They are **summed per date × model** (and
workspace, when the response was grouped by workspace) because the Activity CSV has one
row per date × model: the sum gets the CSV adapter's record id
(``openrouter-activity|<date>T00:00:00|<model>||``), so the same bucket exported both ways
is stored once (the first ingested wins). Caveat: a response filtered by ``api_key_hash``
or ``user_id`` does not say so; its partial buckets carry the same ids as the unfiltered
ones. ``usage`` (USD) → ``reported_cost_usd``; ``byok_usage_inference`` → tags (BYOK spend
is billed by the upstream); ``prompt_tokens`` → ``input_tokens`` (cached tokens are not
split out, as in the CSV); ``completion_tokens`` → ``output_tokens``;
``reasoning_tokens``; ``requests``. A rejected item is not part of its bucket's sum.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from audit.normalize import ERROR_COLUMN, clean_text, gather_errors, parse_columns, tags_json
from audit.sources import MIN_SCORE, source
from audit.sources.base import ReadOptions, Sample, SourceAdapter
from audit.sources.generic_tabular import (
    as_list,
    is_json_lines,
    json_lines_or_records,
    json_values,
    records_frame,
    starts_pretty_document,
)
from audit.sources.jsonlines import DOC, LINE, decode_objects, iter_lines

S = pl.String

_GEN_FIELDS = (
    "id",
    "created_at",
    "model",
    "provider_name",
    "native_tokens_prompt",
    "native_tokens_completion",
    "native_tokens_cached",
    "native_tokens_reasoning",
    "tokens_prompt",
    "tokens_completion",
    "total_cost",
    "usage",
    "upstream_inference_cost",
    "cancelled",
    "external_user",
    "latency",
    "generation_time",
    "moderation_latency",
    "finish_reason",
    "native_finish_reason",
    "api_type",
    "is_byok",
    "streamed",
    "app_id",
    "http_referer",
    "session_id",
    "workspace_id",
    "service_tier",
    "request_id",
    "upstream_id",
    "data_region",
    "cache_discount",
    "router",
)
GENERATION = pl.Struct({name: S for name in _GEN_FIELDS})
#: A response ``{"data": {...}}`` or a bare generation object.
GENERATION_LINE = pl.Struct({"data": GENERATION, **{name: S for name in _GEN_FIELDS}})
_GEN_KEYS = {"id", "created_at", "model"}
_GEN_TOKENS = {"native_tokens_prompt", "tokens_prompt", "total_cost"}
_GEN_HEAD = (re.compile(r'"native_tokens_prompt"\s*:'), re.compile(r'"created_at"\s*:'))
_STATUS = r'"status"\s*:\s*"?(\d+)'


def _big_document_with(sample: Sample, markers: tuple[re.Pattern[str], ...]) -> bool:
    """A pretty-printed document too big to parse from its head, whose head has the keys."""
    return (
        sample.json_document is None
        and starts_pretty_document(sample)
        and all(m.search(sample.text) for m in markers)
    )


def _generation(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    inner = obj.get("data")
    gen = inner if isinstance(inner, dict) else obj
    keys = set(gen)
    return keys >= _GEN_KEYS and bool(keys & _GEN_TOKENS)


def _sample_objects(sample: Sample) -> list[Any]:
    """The file's records: the whole document when it parses (a pretty-printed document's
    single-line inner objects must not pass for JSON lines), else its first JSON lines."""
    document = sample.json_document
    if document is not None:
        return as_list(document)
    return list(sample.json_lines)


@source
class OpenRouterGenerationJson(SourceAdapter):
    """One row per generation from OpenRouter's ``GET /api/v1/generation`` responses."""

    name = "openrouter-generation-json"
    title = "OpenRouter API generation JSON (GET /api/v1/generation responses)"
    granularity = "request"
    obtain = (
        "GET https://openrouter.ai/api/v1/generation?id=<gen-id> for each generation; save the "
        "responses (one per file, a JSON array, or one per line)"
    )

    def sniff(self, sample: Sample) -> float:
        objects = _sample_objects(sample)
        score = 0.95 * sum(_generation(o) for o in objects) / len(objects) if objects else 0.0
        if score < MIN_SCORE and _big_document_with(sample, _GEN_HEAD):
            return 0.8
        return score

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for lines in json_lines_or_records(path, options.chunk_bytes, as_list):
            yield _map_generation(decode_objects(lines, GENERATION_LINE))


def _map_generation(decoded: pl.DataFrame) -> pl.LazyFrame:
    data = pl.col(DOC).struct.field("data").struct
    bare = pl.col(DOC).struct
    line = pl.col(LINE).str
    attempts = pl.coalesce(
        line.json_path_match("$.data.provider_responses"),
        line.json_path_match("$.provider_responses"),
    )
    frame = decoded.select(
        "source_line",
        ERROR_COLUMN,
        *[pl.coalesce(data.field(n), bare.field(n)).alias(f"r.{n}") for n in _GEN_FIELDS],
        attempts.alias("r.attempts"),
    )
    lazy = frame.lazy().with_columns(
        *parse_columns(
            {
                "ts": ("r.created_at", "ts", "created_at"),
                "p.native_prompt": ("r.native_tokens_prompt", "int", "native_tokens_prompt"),
                "p.native_completion": (
                    "r.native_tokens_completion",
                    "int",
                    "native_tokens_completion",
                ),
                "cached_input_tokens": ("r.native_tokens_cached", "int", "native_tokens_cached"),
                "reasoning_tokens": ("r.native_tokens_reasoning", "int", "native_tokens_reasoning"),
                "p.prompt": ("r.tokens_prompt", "int", "tokens_prompt"),
                "p.completion": ("r.tokens_completion", "int", "tokens_completion"),
                "p.total_cost": ("r.total_cost", "usd", "total_cost"),
                "p.usage": ("r.usage", "usd", "usage"),
                "p.cancelled": ("r.cancelled", "bool", "cancelled"),
                "p.latency": ("r.latency", "float", "latency"),
                "p.generation_time": ("r.generation_time", "float", "generation_time"),
            }
        ),
        pl.col("r.attempts")
        .str.extract_all(_STATUS)
        .list.eval(pl.element().str.extract(r"(\d+)$", 1))
        .alias("_statuses"),
    )
    prompt = pl.coalesce(pl.col("p.native_prompt"), pl.col("p.prompt"))
    cached = pl.col("cached_input_tokens")
    finish = clean_text(pl.col("r.finish_reason")).str.to_lowercase()
    statuses = pl.col("_statuses")
    lazy = lazy.with_columns(
        prompt.alias("_prompt"),
        (prompt - cached.fill_null(0)).alias("input_tokens"),
        pl.coalesce(pl.col("p.native_completion"), pl.col("p.completion")).alias("output_tokens"),
        pl.coalesce(pl.col("p.total_cost"), pl.col("p.usage")).alias("reported_cost_usd"),
        pl.coalesce(pl.col("p.latency"), pl.col("p.generation_time")).alias("latency_ms"),
        clean_text(pl.col("r.id")).alias("record_id"),
        pl.lit("openrouter").alias("provider"),
        clean_text(pl.col("r.model")).alias("model_raw"),
        clean_text(pl.col("r.external_user")).alias("user"),
        clean_text(pl.col("r.session_id")).alias("session_id"),
        clean_text(pl.col("r.workspace_id")).alias("project"),
        clean_text(pl.col("r.service_tier")).str.to_lowercase().alias("service_tier"),
        pl.when(pl.col("p.cancelled").fill_null(False))
        .then(pl.lit("cancelled"))
        .when(finish == "error")
        .then(pl.lit("error"))
        .alias("status"),
        pl.when(finish == "error")
        .then(clean_text(pl.col("r.native_finish_reason")).fill_null("error"))
        .alias("error_type"),
        tags_json(
            {
                "upstream_provider": clean_text(pl.col("r.provider_name")),
                "finish_reason": clean_text(pl.col("r.finish_reason")),
                "native_finish_reason": clean_text(pl.col("r.native_finish_reason")),
                "api_type": clean_text(pl.col("r.api_type")),
                "is_byok": clean_text(pl.col("r.is_byok")),
                "byok_upstream_cost": clean_text(pl.col("r.upstream_inference_cost")),
                "streamed": clean_text(pl.col("r.streamed")),
                "generation_time_ms": clean_text(pl.col("r.generation_time")),
                "moderation_latency_ms": clean_text(pl.col("r.moderation_latency")),
                "app_id": clean_text(pl.col("r.app_id")),
                "http_referer": clean_text(pl.col("r.http_referer")),
                "request_id": clean_text(pl.col("r.request_id")),
                "upstream_id": clean_text(pl.col("r.upstream_id")),
                "data_region": clean_text(pl.col("r.data_region")),
                "cache_discount": clean_text(pl.col("r.cache_discount")),
                "router": clean_text(pl.col("r.router")),
                "upstream_attempts": pl.when(pl.col("r.attempts").is_not_null()).then(
                    statuses.list.len()
                ),
                "upstream_failures": pl.when(pl.col("r.attempts").is_not_null()).then(
                    statuses.list.eval(~pl.element().str.starts_with("2")).list.sum()
                ),
                "upstream_statuses": pl.when(statuses.list.len() > 0).then(statuses.list.join(",")),
            }
        ).alias("tags"),
        pl.when(cached > prompt)
        .then(
            pl.concat_str(
                pl.lit("native_tokens_cached ("),
                cached.cast(S),
                pl.lit(") exceeds native_tokens_prompt ("),
                prompt.cast(S),
                pl.lit(")"),
            )
        )
        .alias("_err.~cached"),
    )
    lazy = lazy.with_columns(gather_errors(lazy.collect_schema().names()))
    return lazy.select(
        "record_id", "source_line", "ts", "provider", "model_raw", "service_tier", "user",
        "project", "session_id", "status", "error_type", "latency_ms", "input_tokens",
        "cached_input_tokens", "output_tokens", "reasoning_tokens", "reported_cost_usd", "tags",
        ERROR_COLUMN,
    )  # fmt: skip


# ------------------------------------------------------------------------------- activity

_ITEM_FIELDS = (
    "date",
    "model",
    "model_permaslug",
    "endpoint_id",
    "provider_name",
    "usage",
    "byok_usage_inference",
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "workspace_id",
)
ITEM = pl.Struct({name: S for name in _ITEM_FIELDS})
_ITEM_KEYS = {"date", "model", "usage", "requests"}
_ACTIVITY_HEAD = (
    re.compile(r'"endpoint_id"\s*:'),
    re.compile(r'"date"\s*:'),
    re.compile(r'"completion_tokens"\s*:'),
)


def _activity_items(value: Any) -> list[Any]:
    """The items of a response page (``{"data": [...]}``), an array of pages, or items."""
    if isinstance(value, list):
        return [item for element in value for item in _activity_items(element)]
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return list(value["data"])
    return [value]


def _is_item(obj: Any) -> bool:
    return isinstance(obj, dict) and set(obj) >= _ITEM_KEYS


@source
class OpenRouterActivityJson(SourceAdapter):
    """Spend and tokens per day × model from OpenRouter's ``GET /api/v1/activity`` response."""

    name = "openrouter-activity-json"
    title = "OpenRouter API activity JSON (GET /api/v1/activity: spend per day × model)"
    granularity = "aggregate"
    obtain = (
        "GET https://openrouter.ai/api/v1/activity with a management key (last 30 completed "
        "UTC days); save the response"
    )
    aggregate_rank = 30

    def sniff(self, sample: Sample) -> float:
        pages = _sample_objects(sample)
        items = [item for page in pages for item in _activity_items(page)]
        score = 0.95 * sum(_is_item(i) for i in items) / len(items) if items else 0.0
        if score < MIN_SCORE and _big_document_with(sample, _ACTIVITY_HEAD):
            return 0.8
        return score

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        items: list[tuple[Any, str | None]] = []
        if is_json_lines(path):
            for lines in iter_lines(path, options.chunk_bytes):
                for text, error in zip(
                    lines.get_column(LINE).to_list(),
                    lines.get_column(ERROR_COLUMN).to_list(),
                    strict=True,
                ):
                    items.extend(_parse_page(text, error))
        else:
            for value, error in json_values(path):
                items.extend(
                    [(None, error)]
                    if error is not None
                    else [(item, None) for item in _activity_items(value)]
                )
        if items:
            yield _map_activity(decode_objects(records_frame(items), ITEM))


def _parse_page(text: str | None, error: str | None) -> list[tuple[Any, str | None]]:
    if error is not None or text is None:
        return [(None, error or "unreadable line")]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return [(None, f"invalid JSON: {getattr(exc, 'msg', exc)}")]
    return [(item, None) for item in _activity_items(value)]


def _map_activity(decoded: pl.DataFrame) -> pl.LazyFrame:
    doc = pl.col(DOC).struct
    frame = decoded.select(
        "source_line", ERROR_COLUMN, *[doc.field(n).alias(f"r.{n}") for n in _ITEM_FIELDS]
    )
    lazy = frame.lazy().with_columns(
        *parse_columns(
            {
                "ts": ("r.date", "ts", "date"),
                "reported_cost_usd": ("r.usage", "usd", "usage"),
                "byok": ("r.byok_usage_inference", "usd", "byok_usage_inference"),
                "requests": ("r.requests", "int", "requests"),
                "input_tokens": ("r.prompt_tokens", "int", "prompt_tokens"),
                "output_tokens": ("r.completion_tokens", "int", "completion_tokens"),
                "reasoning_tokens": ("r.reasoning_tokens", "int", "reasoning_tokens"),
            }
        ),
        clean_text(pl.col("r.model")).alias("model_raw"),
        clean_text(pl.col("r.workspace_id")).alias("project"),
    )
    lazy = lazy.with_columns(
        gather_errors(
            lazy.collect_schema().names(),
            pl.when(pl.col("ts").is_null()).then(pl.lit("missing date")),
        )
    )
    summed = ("reported_cost_usd", "byok", "requests", "input_tokens", "output_tokens",
              "reasoning_tokens")  # fmt: skip

    def total(name: str) -> pl.Expr:
        return pl.when(pl.col(name).count() > 0).then(pl.col(name).sum()).alias(name)

    good = (
        lazy.filter(pl.col(ERROR_COLUMN).is_null())
        .group_by("ts", "model_raw", "project")
        .agg(
            pl.col("source_line").min(),
            *[total(name) for name in summed],
            pl.len().alias("_items"),
            pl.col("r.endpoint_id").drop_nulls().n_unique().alias("_endpoints"),
            pl.col("r.provider_name").drop_nulls().unique().sort().str.join(", ").alias("_up"),
            pl.col("r.model_permaslug").drop_nulls().unique().sort().str.join(", ").alias("_perma"),
        )
    )
    bad = lazy.filter(pl.col(ERROR_COLUMN).is_not_null()).select("source_line", ERROR_COLUMN)
    both = pl.concat([good, bad], how="diagonal_relaxed")
    byok_text = pl.col("byok").cast(S).str.replace(r"0+$", "").str.replace(r"\.$", "")
    both = both.with_columns(
        pl.lit("openrouter").alias("provider"),
        pl.concat_str(
            pl.lit("openrouter-activity|"),
            pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S"),
            pl.lit("|"),
            pl.col("model_raw").fill_null(""),
            pl.lit("||"),
            pl.when(pl.col("project").is_not_null())
            .then(pl.concat_str(pl.lit("||"), pl.col("project")))
            .otherwise(pl.lit("")),
        ).alias("record_id"),
        tags_json(
            {
                "byok_usage": byok_text,
                "upstream_providers": pl.when(pl.col("_up") != "").then(pl.col("_up")),
                "model_permaslug": pl.when(pl.col("_perma") != "").then(pl.col("_perma")),
                "endpoints": pl.when(pl.col("_endpoints") > 0).then(pl.col("_endpoints")),
                "api_items": pl.col("_items"),
            }
        ).alias("tags"),
    )
    return both.sort("source_line").select(
        "record_id", "source_line", "ts", "provider", "model_raw", "project", "requests",
        "input_tokens", "output_tokens", "reasoning_tokens", "reported_cost_usd", "tags",
        ERROR_COLUMN,
    )  # fmt: skip
