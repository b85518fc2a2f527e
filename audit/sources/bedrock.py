"""AWS Bedrock model invocation logs: one record per request (S3 ``.json.gz`` objects, CloudWatch).

Records arrive one JSON object per line (S3 log objects, gzip-compressed — decompressed
transparently) or, for a file saved by hand, as one pretty-printed object (or an array of
them); then ``source_line`` is the record's 1-based position in the file.

Mapping:

* ``record_id`` = ``requestId``; ``ts`` = ``timestamp``; ``model_raw`` = ``modelId`` exactly
  as logged (cross-region profiles such as ``us.anthropic.claude-…-v1:0`` are resolved, with
  their regional multiplier, by the price tables); ``provider`` = ``bedrock``.
* Tokens: ``input.inputTokenCount`` **excludes** cache reads and writes, so it is the
  canonical ``input_tokens`` as is; ``input.cacheReadInputTokenCount`` →
  ``cached_input_tokens``; ``input.cacheWriteInputTokenCount`` → ``cache_write_tokens``;
  ``output.outputTokenCount`` → ``output_tokens``. The 1-hour part of the cache writes only
  exists inside an Anthropic ``InvokeModel`` response body
  (``usage.cache_creation.ephemeral_1h_input_tokens``) and is used when it fits.
* ``user`` = the metadata's user key if any, else the principal of ``identity.arn`` without
  its type: ``assumed-role/app-role/alice`` → ``app-role/alice`` (role and session name),
  ``user/bob`` → ``bob``. The whole ARN is kept in ``tags.identity_arn``.
* ``requestMetadata`` (the caller's key/value map) → attribution columns through
  tokaudit.yaml's ``attribution`` keys; the other keys go to ``tags``.
* ``region``, ``inferenceRegion``, ``operation``, ``accountId`` → tags.
* Errors: the field is not documented (UNVERIFIED); a top-level ``errorCode`` or ``error``
  (a string, or an object with ``code``/``errorCode``/``type``) makes the row ``error`` and
  its code-like value the ``error_type``. Error messages are not kept.
* ``latency_ms`` from ``output.outputBodyJson.metrics.latencyMs`` (Converse) when present.

Privacy and robustness: ``inputBodyJson`` and ``outputBodyJson`` hold the prompt and the
answer and are never decoded. The decode schema has no body in it, and the few numbers
read from inside the output body (latency, stop reason, the 1-hour cache split) are picked
by path from the raw line: a body of an unexpected shape (a list of stream events, a
string) yields null there and never rejects the row. The raw line is dropped right after
extraction. Bedrock logs carry no cost: rows are priced by the price tables.
"""

from __future__ import annotations

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
    json_lines_or_records,
    split_metadata,
    starts_pretty_document,
)
from audit.sources.jsonlines import DOC, LINE, decode_objects

S = pl.String

#: Only what is mapped. No body: see the module docstring.
RECORD = pl.Struct(
    {
        "schemaVersion": S,
        "timestamp": S,
        "accountId": S,
        "identity": pl.Struct({"arn": S}),
        "region": S,
        "requestId": S,
        "operation": S,
        "modelId": S,
        "input": pl.Struct(
            {"inputTokenCount": S, "cacheReadInputTokenCount": S, "cacheWriteInputTokenCount": S}
        ),
        "output": pl.Struct({"outputTokenCount": S}),
        "inferenceRegion": S,
    }
)
_REQUIRED = {"requestId", "modelId", "timestamp"}
_SCHEMA_TYPE = re.compile(r'"schemaType"\s*:\s*"ModelInvocationLog"')
_CODE = r"^[A-Za-z][A-Za-z0-9_.:\-]{0,63}$"
_ERROR_KEYS = ("code", "errorCode", "type", "name")
_ARN_PRINCIPAL = r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:(?:[^/]*/)?(.+)$"
_TAGS = ("region", "inference_region", "operation", "account_id", "identity_arn", "stop_reason")


def _is_record(obj: Any) -> bool:
    if not isinstance(obj, dict) or not set(obj) >= _REQUIRED:
        return False
    return obj.get("schemaType") == "ModelInvocationLog" or "input" in obj or "output" in obj


@source
class BedrockInvocationLog(SourceAdapter):
    """One row per model invocation from Bedrock's model invocation logging (S3 or CloudWatch)."""

    name = "bedrock-invocation-log"
    title = "AWS Bedrock model invocation logs (JSON lines, .json.gz from S3)"
    granularity = "request"
    obtain = (
        "Bedrock console → Settings → Model invocation logging to S3; download the objects under "
        "AWSLogs/<account>/BedrockModelInvocationLogs/ (the .json.gz files as they are)"
    )

    def sniff(self, sample: Sample) -> float:
        document = sample.json_document  # first: a pretty record's inner lines are not records
        objects: list[Any] = as_list(document) if document is not None else sample.json_lines
        score = 0.95 * sum(_is_record(o) for o in objects) / len(objects) if objects else 0.0
        # A pretty-printed record or a log line larger than the sniff window: the head
        # still names the schema.
        if score < MIN_SCORE and not sample.json_lines and _SCHEMA_TYPE.search(sample.text):
            return 0.8
        if (
            score < MIN_SCORE
            and starts_pretty_document(sample)
            and _SCHEMA_TYPE.search(sample.text)
        ):
            return 0.8
        return score

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        lookup = options.config.attribution_lookup()
        for lines in json_lines_or_records(path, options.chunk_bytes, as_list):
            yield _map(decode_objects(lines, RECORD), lookup)


def _extract(decoded: pl.DataFrame) -> pl.DataFrame:
    """Stage 1: raw text of every mapped value; the line (with its bodies) is dropped here."""
    doc = pl.col(DOC).struct
    line = pl.col(LINE).str
    body = "$.output.outputBodyJson"
    return decoded.select(
        "source_line",
        ERROR_COLUMN,
        doc.field("requestId").alias("r.id"),
        doc.field("timestamp").alias("r.ts"),
        doc.field("modelId").alias("r.model"),
        doc.field("identity").struct.field("arn").alias("r.arn"),
        doc.field("region").alias("r.region"),
        doc.field("inferenceRegion").alias("r.inference_region"),
        doc.field("operation").alias("r.operation"),
        doc.field("accountId").alias("r.account"),
        doc.field("input").struct.field("inputTokenCount").alias("r.in"),
        doc.field("input").struct.field("cacheReadInputTokenCount").alias("r.cache_read"),
        doc.field("input").struct.field("cacheWriteInputTokenCount").alias("r.cache_write"),
        doc.field("output").struct.field("outputTokenCount").alias("r.out"),
        line.json_path_match("$.requestMetadata").alias("r.meta"),
        line.json_path_match("$.errorCode").alias("r.error_code"),
        line.json_path_match("$.error").alias("r.error"),
        line.json_path_match(f"{body}.metrics.latencyMs").alias("r.latency"),
        pl.coalesce(
            line.json_path_match(f"{body}.stopReason"), line.json_path_match(f"{body}.stop_reason")
        ).alias("r.stop"),
        line.json_path_match(f"{body}.usage.cache_creation.ephemeral_1h_input_tokens").alias(
            "r.1h"
        ),
    )


def _code(text: pl.Expr) -> pl.Expr:
    """A code-like value (``ThrottlingException``), else null: never free text."""
    value = clean_text(text)
    return pl.when(value.str.contains(_CODE)).then(value)


def _map(decoded: pl.DataFrame, lookup: dict[str, str]) -> pl.LazyFrame:
    frame = split_metadata(_extract(decoded), "r.meta", lookup, reserved=_TAGS)
    lazy = (
        frame.lazy()
        .with_columns(
            parse_columns(
                {
                    "ts": ("r.ts", "ts", "timestamp"),
                    "input_tokens": ("r.in", "int", "input.inputTokenCount"),
                    "cached_input_tokens": (
                        "r.cache_read",
                        "int",
                        "input.cacheReadInputTokenCount",
                    ),
                    "cache_write_tokens": (
                        "r.cache_write",
                        "int",
                        "input.cacheWriteInputTokenCount",
                    ),
                    "output_tokens": ("r.out", "int", "output.outputTokenCount"),
                    "p.latency": ("r.latency", "float", "latencyMs"),
                    "p.1h": ("r.1h", "int", "ephemeral_1h_input_tokens"),
                }
            )
        )
        .drop("_err.p.latency", "_err.p.1h")
    )  # from inside a body: best effort, never a reject
    error_object = pl.col("r.error").str.starts_with("{")
    error_code = pl.coalesce(
        _code(pl.col("r.error_code")),
        pl.when(error_object).then(
            pl.coalesce(
                *[_code(pl.col("r.error").str.json_path_match(f"$.{k}")) for k in _ERROR_KEYS]
            )
        ),
        pl.when(~error_object).then(_code(pl.col("r.error"))),
    )
    failed = pl.col("r.error_code").is_not_null() | (
        pl.col("r.error").is_not_null() & ~pl.col("r.error").is_in(["false", "null", ""])
    )
    principal = clean_text(pl.col("r.arn"))
    one_hour = pl.col("p.1h")

    def meta(target: str) -> pl.Expr:
        return pl.col(f"meta.{target}")

    lazy = lazy.with_columns(
        clean_text(pl.col("r.id")).alias("record_id"),
        pl.lit("bedrock").alias("provider"),
        clean_text(pl.col("r.model")).alias("model_raw"),
        pl.coalesce(meta("user"), principal.str.extract(_ARN_PRINCIPAL, 1), principal).alias(
            "user"
        ),
        *[
            meta(t).alias(t)
            for t in ("team", "project", "environment", "purpose", "app", "key_name", "session_id")
        ],
        pl.when(failed).then(pl.lit("error")).alias("status"),
        error_code.alias("error_type"),
        pl.col("p.latency").alias("latency_ms"),
        pl.when(one_hour <= pl.col("cache_write_tokens"))
        .then(one_hour)
        .alias("cache_write_1h_tokens"),
        tags_json(
            {
                "region": clean_text(pl.col("r.region")),
                "inference_region": clean_text(pl.col("r.inference_region")),
                "operation": clean_text(pl.col("r.operation")),
                "account_id": clean_text(pl.col("r.account")),
                "identity_arn": principal,
                "stop_reason": _code(pl.col("r.stop")),
            },
            extra_json=pl.col("meta.rest"),
        ).alias("tags"),
    )
    lazy = lazy.with_columns(gather_errors(lazy.collect_schema().names()))
    return lazy.select(
        "record_id", "source_line", "ts", "provider", "model_raw", "user", "team", "project",
        "environment", "purpose", "app", "key_name", "session_id", "status", "error_type",
        "latency_ms", "input_tokens", "cached_input_tokens", "cache_write_tokens",
        "cache_write_1h_tokens", "output_tokens", "tags", ERROR_COLUMN,
    )  # fmt: skip
