"""Langfuse observations: blob-storage exports (JSONL, JSON, CSV) and the public API's JSON.

An observation of type ``GENERATION`` is one LLM call. The blob-storage export
(``{project_id}/observations_v2/{timestamp}.jsonl|json|csv``, optionally gzipped) uses the
snake_case fields (``start_time``, ``usage_details``, ``provided_model_name``, ``total_cost``,
…); ``GET /api/public/v2/observations`` returns ``{"data": [...], "meta": …}`` with the same
fields in camelCase (``startTime``, ``usageDetails``, ``providedModelName``, ``totalCost``);
the legacy v1 API's ``model``, ``usage.input``/``usage.output`` and ``calculatedTotalCost``
are read as fallbacks. JSON documents (an array or an API page) are read whole and
``source_line`` is then the observation's 1-based position; JSONL is streamed.

The CSV adapter reads the blob export's CSV (same column names as the JSONL; objects and
arrays as JSON text, null as an empty cell). The UI's "Export → CSV" of a table may use
other headers (UNVERIFIED); it is only recognised when it has the blob export's columns.

Other observation types (``SPAN``, ``EVENT``, ``AGENT``, ``TOOL``, …) are not requests:
they are skipped silently when they carry no usage and no cost, and loaded like a
generation when they do (e.g. ``EMBEDDING``).

**Tokens.** ``usage_details`` buckets are mutually exclusive: Langfuse subtracts the
``prompt_tokens_details`` / ``completion_tokens_details`` parts from ``input`` / ``output``
when it maps an OpenAI-shaped usage, and ``total`` is their sum. So ``input`` is the
uncached input as is; cache reads are ``input_cached_tokens`` (OpenAI), ``input_cache_read``
or ``cache_read_input_tokens`` (Anthropic integrations; the first present wins, they are
never added); cache writes are ``input_cache_creation`` or ``cache_creation_input_tokens``;
``output_reasoning_tokens`` is the reasoning, which is *added* to ``output`` because the
canonical output includes reasoning. ``total`` goes to ``tags.total_tokens``; other buckets
(audio, images) are not mapped.

**Ids, time, status.** ``record_id`` is the observation ``id`` (Langfuse does not export the
provider's response id). ``ts`` is ``start_time`` (UTC). ``latency_ms`` is ``end_time`` −
``start_time``, else ``latency`` × 1000 (``latency`` is in seconds; the docs say older
integrations wrote milliseconds, which the timestamps side-step). ``level == ERROR`` is an
error; ``status_message`` only classifies it (rate limit, timeout) and is never stored.

**Cost.** ``total_cost`` (else ``cost_details.total``) is USD. A cost of exactly 0 with an
empty ``cost_details`` on an observation with tokens means Langfuse had no price for the
model: it is treated as unknown (the price tables decide; ``tags.reported_cost`` keeps it).

**Attribution.** ``user_id``, ``session_id`` and ``environment`` are mapped; ``metadata`` keys
that ``tokaudit.yaml``'s ``attribution`` names fill team, project, purpose, app, … (and the
three above when the observation has none); other plain metadata values, ``tags`` and the
trace/prompt names go to ``tags``. ``input`` / ``output`` hold prompt and completion content
and are never read. Langfuse does not say which provider served a call: ``provider`` is left
to the price tables.
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
    json_field,
    json_record_lines,
    json_string_list,
    metadata_fields,
    object_error,
    records_score,
)
from audit.sources.jsonlines import DOC, LINE, decode_objects
from audit.sources.tables import col, iter_csv

S = pl.String

#: Raw column -> (blob-export name, API name(s)); the first present wins.
_FIELDS: dict[str, tuple[str, ...]] = {
    "r.id": ("id",),
    "r.trace_id": ("trace_id", "traceId"),
    "r.type": ("type",),
    "r.start": ("start_time", "startTime"),
    "r.end": ("end_time", "endTime"),
    "r.name": ("name",),
    "r.level": ("level",),
    "r.status_message": ("status_message", "statusMessage"),
    "r.model": ("provided_model_name", "providedModelName", "model"),
    "r.model_id": ("model_id", "internalModelId", "modelId"),
    "r.total_cost": ("total_cost", "totalCost", "calculatedTotalCost"),
    "r.latency": ("latency",),
    "r.ttft": ("time_to_first_token", "timeToFirstToken"),
    "r.user": ("user_id", "userId"),
    "r.session": ("session_id", "sessionId"),
    "r.trace_name": ("trace_name", "traceName"),
    "r.environment": ("environment",),
    "r.release": ("release",),
    "r.version": ("version",),
    "r.project_id": ("project_id", "projectId"),
    "r.prompt_name": ("prompt_name", "promptName"),
    "r.prompt_version": ("prompt_version", "promptVersion"),
}
#: Object- or array-valued fields, read as JSON text.
_OBJECTS: dict[str, tuple[str, ...]] = {
    "usage": ("usage_details", "usageDetails"),
    "usage_v1": ("usage",),
    "cost_details": ("cost_details", "costDetails"),
    "meta": ("metadata",),
    "r.tags": ("tags",),
}
_ROW = pl.Struct({name: S for names in _FIELDS.values() for name in names})

_SNAKE_REQUIRED = {"id", "trace_id", "type", "start_time"}
_SNAKE_OPTIONAL = frozenset(
    {
        "end_time",
        "provided_model_name",
        "usage_details",
        "cost_details",
        "total_cost",
        "level",
        "latency",
        "user_id",
        "session_id",
        "environment",
        "project_id",
        "metadata",
    }
)
_CAMEL_REQUIRED = {"id", "traceId", "type", "startTime"}
_CAMEL_OPTIONAL = frozenset(
    {
        "endTime",
        "providedModelName",
        "usageDetails",
        "costDetails",
        "totalCost",
        "level",
        "latency",
        "userId",
        "sessionId",
        "environment",
        "metadata",
    }
)
_CSV_REQUIRED = {"id", "trace_id", "type", "start_time", "usage_details"}
_TAG_NAMES = frozenset(
    {
        "tags",
        "trace_id",
        "name",
        "trace_name",
        "release",
        "version",
        "project_id",
        "model_id",
        "prompt_name",
        "prompt_version",
        "observation_type",
        "level",
        "time_to_first_token_s",
        "total_tokens",
        "reported_cost",
    }
)
#: usage_details keys: parsed column -> key (its label is ``usage_details.<key>``).
_USAGE_KEYS = {
    "u_input": "input",
    "u_output": "output",
    "u_total": "total",
    "u_cached": "input_cached_tokens",
    "u_cache_read": "input_cache_read",
    "u_cache_read_input": "cache_read_input_tokens",
    "u_creation": "input_cache_creation",
    "u_creation_input": "cache_creation_input_tokens",
    "reasoning_tokens": "output_reasoning_tokens",
}
_ATTRIBUTION = ("key_name", "team", "project", "purpose", "app")


def _score(sample: Sample) -> float:
    records = head_records(sample)
    return max(
        records_score(records, _SNAKE_REQUIRED, _SNAKE_OPTIONAL),
        records_score(records, _CAMEL_REQUIRED, _CAMEL_OPTIONAL),
    )


@source
class LangfuseObservationsJson(SourceAdapter):
    """Langfuse observations as JSONL / JSON: blob-storage export or public API pages."""

    name = "langfuse-observations-json"
    title = "Langfuse observations, JSONL or JSON (blob-storage export, public API)"
    granularity = "request"
    obtain = (
        "Langfuse → Settings → Integrations → Blob storage export (JSONL or JSON): "
        "<project>/observations_v2/*.jsonl; or GET /api/public/v2/observations pages"
    )

    def sniff(self, sample: Sample) -> float:
        return _score(sample)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        line = pl.col(LINE)
        for lines in json_record_lines(path, options):
            decoded = decode_objects(lines, _ROW)
            doc = pl.col(DOC).struct
            raw = decoded.select(
                "source_line",
                ERROR_COLUMN,
                *[
                    pl.coalesce([clean_text(doc.field(name)) for name in names]).alias(out)
                    for out, names in _FIELDS.items()
                ],
                *[
                    pl.coalesce([json_field(line, name) for name in names]).alias(out)
                    for out, names in _OBJECTS.items()
                ],
            )
            yield _map(raw, options)


@source
class LangfuseObservationsCsv(SourceAdapter):
    """Langfuse observations from the blob-storage export in CSV (objects as JSON text)."""

    name = "langfuse-observations-csv"
    title = "Langfuse observations, CSV (blob-storage export)"
    granularity = "request"
    obtain = (
        "Langfuse → Settings → Integrations → Blob storage export, format CSV: "
        "<project>/observations_v2/*.csv"
    )

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _CSV_REQUIRED, _SNAKE_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for batch in iter_csv(path, options.chunk_lines):
            cols = set(batch.columns)
            raw = batch.select(
                "source_line",
                pl.lit(None, dtype=pl.String).alias(ERROR_COLUMN),
                *[clean_text(col(cols, *names)).alias(out) for out, names in _FIELDS.items()],
                *[clean_text(col(cols, *names)).alias(out) for out, names in _OBJECTS.items()],
            )
            yield _map(raw, options)


def _map(raw: pl.DataFrame, options: ReadOptions) -> pl.LazyFrame:
    """Both formats' raw text columns onto the canonical columns (generations only)."""
    usage = pl.col("usage")
    # Stage 1b: the usage and cost values, as text.
    raw = raw.with_columns(
        *[json_field(usage, key).alias(f"t.{out}") for out, key in _USAGE_KEYS.items()],
        json_field(pl.col("usage_v1"), "input").alias("t.v1_input"),
        json_field(pl.col("usage_v1"), "output").alias("t.v1_output"),
        json_field(pl.col("cost_details"), "total").alias("t.cost_total"),
    )
    attrs, meta_tags = metadata_fields(
        discover_keys(raw.get_column("meta")),
        pl.col("meta"),
        options.config.attribution_lookup(),
        reserved=_TAG_NAMES,
    )
    # Stage 2: parse.
    specs = {out: (f"t.{out}", "int", f"usage_details.{key}") for out, key in _USAGE_KEYS.items()}
    specs |= {
        "ts": ("r.start", "ts", "start_time"),
        "end": ("r.end", "ts", "end_time"),
        "v1_input": ("t.v1_input", "int", "usage.input"),
        "v1_output": ("t.v1_output", "int", "usage.output"),
        "total_cost": ("r.total_cost", "usd", "total_cost"),
        "detail_cost": ("t.cost_total", "usd", "cost_details.total"),
        "latency_s": ("r.latency", "float", "latency"),
    }
    frame = raw.lazy().with_columns(
        *parse_columns(specs),
        object_error(usage, "usage_details").alias("_err.~usage"),
        object_error(pl.col("cost_details"), "cost_details").alias("_err.~cost_details"),
        object_error(pl.col("meta"), "metadata").alias("_err.~meta"),
        clean_text(pl.col("r.type")).str.to_uppercase().alias("type"),
    )
    # Stage 3: buckets onto canonical tokens, and which observations are requests.
    frame = frame.with_columns(
        pl.coalesce("u_input", "v1_input").alias("input_tokens"),
        pl.coalesce("u_cached", "u_cache_read", "u_cache_read_input").alias("cached_input_tokens"),
        pl.coalesce("u_creation", "u_creation_input").alias("cache_write_tokens"),
        pl.coalesce("u_output", "v1_output").alias("output_base"),
        pl.coalesce("total_cost", "detail_cost").alias("cost"),
    )
    token_columns = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_base")
    buckets = [pl.col(c).fill_null(0) for c in (*token_columns, "reasoning_tokens", "u_total")]
    usage_errors = [pl.col(f"_err.{c}") for c in (*_USAGE_KEYS, "v1_input", "v1_output")]
    usage_errors += [pl.col(f"_err.{c}") for c in ("total_cost", "detail_cost", "~usage")]
    cost_details = clean_text(pl.col("cost_details")).str.replace_all(r"\s", "")
    frame = frame.with_columns(
        pl.when(pl.col("reasoning_tokens").is_not_null())
        .then(pl.col("output_base").fill_null(0) + pl.col("reasoning_tokens"))
        .otherwise(pl.col("output_base"))
        .alias("output_tokens"),
        (
            pl.col("type").is_null()
            | (pl.col("type") == "GENERATION")
            | (pl.sum_horizontal(buckets) > 0)
            | (pl.col("cost").fill_null(0) > 0)
            | pl.any_horizontal([e.is_not_null() for e in usage_errors])
        ).alias("is_request"),
        (
            (pl.col("cost") == 0)
            & (pl.sum_horizontal(buckets) > 0)
            & (cost_details.is_null() | (cost_details == "{}"))
        )
        .fill_null(False)
        .alias("zero_cost"),
    )
    # Stage 4: canonical columns.
    is_error = clean_text(pl.col("r.level")).str.to_uppercase() == "ERROR"
    message = pl.col("r.status_message")
    frame = frame.filter(pl.col("is_request")).with_columns(
        clean_text(pl.col("r.id")).alias("record_id"),
        clean_text(pl.col("r.model")).alias("model_raw"),
        attributed(attrs, "user", pl.col("r.user")).alias("user"),
        attributed(attrs, "session_id", pl.col("r.session")).alias("session_id"),
        attributed(attrs, "environment", pl.col("r.environment")).alias("environment"),
        *[attributed(attrs, name).alias(name) for name in _ATTRIBUTION],
        pl.when(is_error).then(pl.lit("error")).otherwise(pl.lit("ok")).alias("status"),
        pl.when(is_error)
        .then(
            pl.when(message.str.contains(r"(?i)rate.?limit|\b429\b"))
            .then(pl.lit("rate_limit"))
            .when(message.str.contains(r"(?i)time.?out|timed out"))
            .then(pl.lit("timeout"))
        )
        .alias("error_type"),
        pl.coalesce(
            (pl.col("end") - pl.col("ts")).dt.total_microseconds() / 1000,
            pl.col("latency_s") * 1000,
        ).alias("latency_ms"),
        pl.when(pl.col("zero_cost"))
        .then(None)
        .otherwise(pl.col("cost"))
        .alias("reported_cost_usd"),
        tags_json(
            {
                **meta_tags,
                "tags": json_string_list(clean_text(pl.col("r.tags"))),
                "trace_id": pl.col("r.trace_id"),
                "name": pl.col("r.name"),
                "trace_name": pl.col("r.trace_name"),
                "release": pl.col("r.release"),
                "version": pl.col("r.version"),
                "project_id": pl.col("r.project_id"),
                "model_id": pl.col("r.model_id"),
                "prompt_name": pl.col("r.prompt_name"),
                "prompt_version": pl.col("r.prompt_version"),
                "observation_type": pl.when(pl.col("type") != "GENERATION").then(pl.col("type")),
                "level": pl.when(
                    clean_text(pl.col("r.level")).str.to_uppercase() == "WARNING"
                ).then(pl.lit("WARNING")),
                "time_to_first_token_s": pl.col("r.ttft"),
                "total_tokens": clean_text(pl.col("t.u_total")),
                "reported_cost": pl.when(pl.col("zero_cost")).then(
                    pl.coalesce(clean_text(pl.col("r.total_cost")), pl.col("t.cost_total"))
                ),
            }
        ).alias("tags"),
    )
    frame = frame.with_columns(gather_errors(frame.collect_schema().names()))
    return frame.select(
        "record_id", "source_line", "ts", "model_raw", "user", "session_id", "environment",
        *_ATTRIBUTION, "status", "error_type", "latency_ms", "input_tokens",
        "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
        "reported_cost_usd", "tags", ERROR_COLUMN,
    )  # fmt: skip
