"""LiteLLM proxy spend logs (``LiteLLM_SpendLogs``): the ``/spend/logs`` JSON and a DB CSV export.

One row per request through the proxy. JSON comes from ``GET /spend/logs`` (a JSON array of
rows, or ``{"data": [...]}``, read whole; ``source_line`` is then the row's 1-based position)
or as JSON lines (one row per line, streamed). CSV is a table export of the Postgres table
(``\\copy "LiteLLM_SpendLogs" TO … CSV HEADER``): JSON columns are JSON text in their cells.

**Tokens.** LiteLLM standardises usage to OpenAI's shape: ``prompt_tokens`` *includes* cached
tokens. Cache reads come from ``metadata.usage_object.cache_read_input_tokens`` (Anthropic
style), else ``metadata.usage_object.prompt_tokens_details.cached_tokens``; cache writes from
``metadata.usage_object.cache_creation_input_tokens``. For Anthropic, LiteLLM has added cache
writes to ``prompt_tokens`` in some versions and not in others (its
``AnthropicConfig.calculate_usage``), so the writes are subtracted too unless that would make
the uncached input negative — never a double count. ``completion_tokens`` includes reasoning
(``completion_tokens_details.reasoning_tokens``); a reasoning count larger than the completion
can only have been reported apart and is added.

**Ids and attribution.** ``record_id`` is ``request_id`` (the provider's response id, e.g.
``chatcmpl-…``, when LiteLLM had one). ``api_key`` is the hashed virtual key (a sha256 hex
digest, not a secret), shortened to its first 12 digits plus ``…`` so reports stay readable,
and ``metadata.user_api_key_alias`` its name. ``team`` is the key's team
alias, else ``team_id``; ``user`` is ``user``, else ``end_user``. ``request_tags`` and the
caller's ``metadata.spend_logs_metadata`` go to ``tags``; keys in ``spend_logs_metadata`` that
``tokaudit.yaml``'s ``attribution`` names (``team``, ``project``, …) fill those columns.
``messages``, ``response`` and ``proxy_server_request`` hold prompt and completion content and
are never read.

**Cost and status.** ``spend`` is USD. A spend of exactly 0 on a request with tokens that was
not a cache hit means LiteLLM had no price for the model: it is treated as unknown (the price
tables decide; ``tags.reported_cost`` keeps the 0). ``status`` is ``success``/``failure``
(``metadata.status`` in older rows); ``metadata.error_information.error_code`` gives the HTTP
status of a failure. ``custom_llm_provider`` is mapped onto tokaudit's provider vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from audit.normalize import ERROR_COLUMN, clean_text, gather_errors, parse_columns, tags_json
from audit.sources import source
from audit.sources.base import ReadOptions, Sample, SourceAdapter, header_score
from audit.sources.helicone import (
    attributed,
    discover_keys,
    head_records,
    http_error_type,
    json_field,
    json_record_lines,
    json_string_list,
    metadata_fields,
    object_error,
    records_score,
    vocabulary,
)
from audit.sources.jsonlines import DOC, LINE, decode_objects
from audit.sources.tables import col, iter_csv

S = pl.String

#: ``custom_llm_provider`` values onto tokaudit's provider vocabulary.
PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure",
    "azure_ai": "azure",
    "azure_text": "azure",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "bedrock": "bedrock",
    "vertex_ai": "vertex",
    "vertex_ai_beta": "vertex",
    "gemini": "google",
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "mistral": "mistral",
    "codestral": "mistral",
    "xai": "xai",
    "groq": "groq",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "hosted_vllm": "self-hosted",
    "vllm": "self-hosted",
    "ollama": "self-hosted",
    "ollama_chat": "self-hosted",
    "lm_studio": "self-hosted",
    "llamafile": "self-hosted",
}
#: Scalar columns of a spend-log row (JSON keys; the CSV has them lower-cased).
_FIELDS = (
    "request_id",
    "call_type",
    "api_key",
    "spend",
    "prompt_tokens",
    "completion_tokens",
    "startTime",
    "endTime",
    "request_duration_ms",
    "model",
    "model_group",
    "custom_llm_provider",
    "user",
    "cache_hit",
    "team_id",
    "organization_id",
    "end_user",
    "session_id",
    "status",
)
_ROW = pl.Struct({name: S for name in _FIELDS})
_REQUIRED = {"request_id", "call_type", "spend", "startTime"}
_OPTIONAL = frozenset(
    {
        "api_key",
        "total_tokens",
        "prompt_tokens",
        "completion_tokens",
        "endTime",
        "model",
        "model_group",
        "custom_llm_provider",
        "metadata",
        "user",
        "team_id",
        "end_user",
        "status",
        "cache_hit",
        "request_tags",
    }
)
_TAG_NAMES = frozenset(
    {
        "call_type",
        "model_group",
        "custom_llm_provider",
        "cache_hit",
        "team_id",
        "organization_id",
        "end_user",
        "request_tags",
        "error_class",
        "reported_cost",
    }
)
_ATTRIBUTION = ("project", "environment", "purpose", "app")
#: LiteLLM exception classes onto short error types (when no HTTP code says more).
_ERROR_CLASSES = (
    ("RateLimit", "rate_limit"),
    ("Timeout", "timeout"),
    ("Authentication", "auth"),
    ("PermissionDenied", "auth"),
    ("ContextWindowExceeded", "context_window"),
    ("BadRequest", "invalid_request"),
    ("NotFound", "invalid_request"),
    ("UnprocessableEntity", "invalid_request"),
    ("ServiceUnavailable", "server_error"),
    ("InternalServer", "server_error"),
    ("APIConnection", "server_error"),
)


def _raw_name(name: str) -> str:
    return f"r.{name.lower()}"


@source
class LiteLLMSpendLogsJson(SourceAdapter):
    """LiteLLM proxy ``/spend/logs`` rows: a JSON array (read whole) or JSON lines."""

    name = "litellm-spendlogs-json"
    title = "LiteLLM proxy spend logs, JSON or JSONL (/spend/logs, LiteLLM_SpendLogs)"
    granularity = "request"
    obtain = (
        "curl -H 'Authorization: Bearer $LITELLM_MASTER_KEY' "
        "'$PROXY/spend/logs?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD' > spend_logs.json"
    )

    def sniff(self, sample: Sample) -> float:
        return records_score(head_records(sample), _REQUIRED, _OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for lines in json_record_lines(path, options):
            decoded = decode_objects(lines, _ROW)
            doc = pl.col(DOC).struct
            raw = decoded.select(
                "source_line",
                ERROR_COLUMN,
                *[doc.field(name).alias(_raw_name(name)) for name in _FIELDS],
                json_field(pl.col(LINE), "metadata").alias("meta"),
                json_field(pl.col(LINE), "request_tags").alias("r.request_tags"),
            )
            yield _map(raw, options)


@source
class LiteLLMSpendLogsCsv(SourceAdapter):
    """A CSV export of the proxy's ``LiteLLM_SpendLogs`` table (JSON columns as JSON text)."""

    name = "litellm-spendlogs-csv"
    title = "LiteLLM proxy spend logs, CSV export of the LiteLLM_SpendLogs table"
    granularity = "request"
    obtain = (
        "psql $DATABASE_URL -c "
        "'\\copy (SELECT * FROM \"LiteLLM_SpendLogs\") TO spend_logs.csv CSV HEADER'"
    )

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _REQUIRED, _OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for batch in iter_csv(path, options.chunk_lines):
            cols = set(batch.columns)
            raw = batch.select(
                "source_line",
                pl.lit(None, dtype=pl.String).alias(ERROR_COLUMN),
                *[col(cols, name).alias(_raw_name(name)) for name in _FIELDS],
                clean_text(col(cols, "metadata")).alias("meta"),
                clean_text(col(cols, "request_tags")).alias("r.request_tags"),
            )
            yield _map(raw, options)


def _usage(*path: str) -> pl.Expr:
    return json_field(pl.col("meta"), "usage_object", *path)


def _map(raw: pl.DataFrame, options: ReadOptions) -> pl.LazyFrame:
    """Both formats' raw text columns onto the canonical columns."""
    meta = pl.col("meta")
    # Stage 1b: the values nested in metadata, as text.
    raw = raw.with_columns(
        json_field(meta, "user_api_key_alias").alias("m.alias"),
        json_field(meta, "user_api_key_team_alias").alias("m.team_alias"),
        json_field(meta, "user_api_key_team_id").alias("m.team_id"),
        json_field(meta, "user_api_key_user_id").alias("m.user_id"),
        json_field(meta, "status").alias("m.status"),
        json_field(meta, "error_information", "error_code").alias("m.error_code"),
        json_field(meta, "error_information", "error_class").alias("m.error_class"),
        _usage("prompt_tokens").alias("u.prompt"),
        _usage("completion_tokens").alias("u.completion"),
        _usage("prompt_tokens_details", "cached_tokens").alias("u.cached"),
        _usage("cache_read_input_tokens").alias("u.read"),
        _usage("cache_creation_input_tokens").alias("u.write"),
        _usage("completion_tokens_details", "reasoning_tokens").alias("u.reasoning"),
        json_field(meta, "spend_logs_metadata").alias("slm"),
    )
    attrs, slm_tags = metadata_fields(
        discover_keys(raw.get_column("slm")),
        pl.col("slm"),
        options.config.attribution_lookup(),
        reserved=_TAG_NAMES,
    )
    error_code = clean_text(pl.col("m.error_code"))
    # Stage 2: parse (status and error code picked from two places first).
    frame = raw.lazy().with_columns(
        pl.coalesce(clean_text(pl.col("r.status")), clean_text(pl.col("m.status"))).alias(
            "status_text"
        ),
        pl.when(error_code.str.contains(r"^\d{3}$")).then(error_code).alias("code_text"),
        (clean_text(pl.col("r.cache_hit")).str.to_lowercase() == "true")
        .fill_null(False)
        .alias("cache_hit"),
        object_error(meta, "metadata").alias("_err.~meta"),
    )
    frame = frame.with_columns(
        *parse_columns(
            {
                "ts": ("r.starttime", "ts", "startTime"),
                "end": ("r.endtime", "ts", "endTime"),
                "prompt_col": ("r.prompt_tokens", "int", "prompt_tokens"),
                "completion_col": ("r.completion_tokens", "int", "completion_tokens"),
                "u_prompt": ("u.prompt", "int", "metadata.usage_object.prompt_tokens"),
                "u_completion": ("u.completion", "int", "metadata.usage_object.completion_tokens"),
                "u_cached": (
                    "u.cached",
                    "int",
                    "metadata.usage_object.prompt_tokens_details.cached_tokens",
                ),
                "u_read": ("u.read", "int", "metadata.usage_object.cache_read_input_tokens"),
                "u_write": ("u.write", "int", "metadata.usage_object.cache_creation_input_tokens"),
                "reasoning_tokens": (
                    "u.reasoning",
                    "int",
                    "metadata.usage_object.completion_tokens_details.reasoning_tokens",
                ),
                "cost": ("r.spend", "usd", "spend"),
                "duration": ("r.request_duration_ms", "float", "request_duration_ms"),
                "status_given": ("status_text", "status", "status"),
                "code": ("code_text", "int", "metadata.error_information.error_code"),
            }
        )
    )
    # Stage 3: combine the top-level counts with the usage object.
    frame = frame.with_columns(
        pl.coalesce("prompt_col", "u_prompt").alias("prompt"),
        pl.coalesce("completion_col", "u_completion").alias("completion"),
        pl.coalesce("u_read", "u_cached").alias("cached_input_tokens"),
        pl.col("u_write").alias("cache_write_tokens"),
    )
    read = pl.col("cached_input_tokens").fill_null(0)
    write = pl.col("cache_write_tokens").fill_null(0)
    uncached = pl.col("prompt") - read - write
    tokens = pl.sum_horizontal(
        pl.col("prompt").fill_null(0), pl.col("completion").fill_null(0), write
    )
    frame = frame.with_columns(
        pl.when(uncached >= 0)
        .then(uncached)
        .otherwise(pl.col("prompt") - read)
        .alias("input_tokens"),
        pl.when(pl.col("reasoning_tokens") > pl.col("completion"))
        .then(pl.col("completion") + pl.col("reasoning_tokens"))
        .otherwise(pl.col("completion"))
        .alias("output_tokens"),
        ((pl.col("cost") == 0) & (tokens > 0) & ~pl.col("cache_hit"))
        .fill_null(False)
        .alias("zero_cost"),
        pl.when(read > pl.col("prompt"))
        .then(
            pl.concat_str(
                pl.lit("cache read tokens ("),
                read.cast(pl.String),
                pl.lit(") exceed prompt_tokens ("),
                pl.col("prompt").cast(pl.String),
                pl.lit(")"),
            )
        )
        .alias("_err.~cached"),
    )
    # Stage 4: canonical columns.
    code = pl.col("code")
    error_class = clean_text(pl.col("m.error_class"))
    user_col = clean_text(pl.col("r.user"))
    is_error = pl.col("status") == "error"
    frame = frame.with_columns(
        pl.coalesce("status_given", pl.when(code >= 400).then(pl.lit("error"))).alias("status"),
        vocabulary(pl.col("r.custom_llm_provider"), PROVIDERS).alias("provider"),
    ).with_columns(
        clean_text(pl.col("r.request_id")).alias("record_id"),
        clean_text(pl.col("r.model")).alias("model_raw"),
        _short_hash(clean_text(pl.col("r.api_key"))).alias("api_key"),
        attributed(attrs, "key_name", pl.col("m.alias")).alias("key_name"),
        attributed(
            attrs, "team", pl.col("m.team_alias"), pl.col("r.team_id"), pl.col("m.team_id")
        ).alias("team"),
        attributed(
            attrs, "user", pl.col("r.user"), pl.col("r.end_user"), pl.col("m.user_id")
        ).alias("user"),
        attributed(attrs, "session_id", pl.col("r.session_id")).alias("session_id"),
        *[attributed(attrs, name).alias(name) for name in _ATTRIBUTION],
        pl.when(is_error).then(code).alias("http_status"),
        pl.when(is_error)
        .then(pl.coalesce(http_error_type(code), _class_type(error_class), error_class))
        .alias("error_type"),
        pl.coalesce(
            "duration", (pl.col("end") - pl.col("ts")).dt.total_microseconds() / 1000
        ).alias("latency_ms"),
        pl.when(pl.col("zero_cost"))
        .then(None)
        .otherwise(pl.col("cost"))
        .alias("reported_cost_usd"),
        tags_json(
            {
                **slm_tags,
                "call_type": clean_text(pl.col("r.call_type")),
                "model_group": clean_text(pl.col("r.model_group")),
                "custom_llm_provider": clean_text(pl.col("r.custom_llm_provider")),
                "cache_hit": pl.when(pl.col("cache_hit")).then(pl.lit("true")),
                "team_id": clean_text(pl.col("r.team_id")),
                "organization_id": clean_text(pl.col("r.organization_id")),
                "end_user": pl.when(user_col.is_not_null()).then(clean_text(pl.col("r.end_user"))),
                "request_tags": json_string_list(clean_text(pl.col("r.request_tags"))),
                "error_class": error_class,
                "reported_cost": pl.when(pl.col("zero_cost")).then(clean_text(pl.col("r.spend"))),
            }
        ).alias("tags"),
    )
    frame = frame.with_columns(gather_errors(frame.collect_schema().names()))
    return frame.select(
        "record_id", "source_line", "ts", "provider", "model_raw", "api_key", "key_name", "user",
        "team", *_ATTRIBUTION, "session_id", "status", "http_status", "error_type", "latency_ms",
        "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
        "reasoning_tokens", "reported_cost_usd", "tags", ERROR_COLUMN,
    )  # fmt: skip


def _short_hash(key: pl.Expr) -> pl.Expr:
    """A sha256 key hash is 64 digits; 12 tell keys apart and fit in a report column."""
    is_digest = key.str.contains(r"^[0-9a-fA-F]{64}$")
    return pl.when(is_digest).then(key.str.slice(0, 12) + pl.lit("…")).otherwise(key)


def _class_type(error_class: pl.Expr) -> pl.Expr:
    """A short error type from a LiteLLM exception class name (null when unknown)."""
    return pl.coalesce(
        [
            pl.when(error_class.str.contains(needle, literal=True)).then(pl.lit(kind))
            for needle, kind in _ERROR_CLASSES
        ]
    )
