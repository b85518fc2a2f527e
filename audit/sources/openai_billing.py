"""OpenAI billing and usage exports: the Usage and Costs APIs (JSON) and the dashboard CSVs.

All four are *aggregates*: one row per bucket (1 minute, 1 hour or 1 day, UTC) × the
grouping the user chose, never per request. ``ts`` is the bucket start; ``provider`` is
``openai``.

Token convention (Usage API and Activity CSV): OpenAI's ``input_tokens`` **includes** cached
and cache-write tokens. The canonical ``input_tokens`` is ``input_uncached_tokens`` when the
source states it, else ``input_tokens − input_cached_tokens − input_cache_write_tokens``; a
row whose parts exceed the whole is rejected rather than guessed at.

Record ids are a key of the adapter and the bucket's *raw* dimensions (start, end, and every
group-by field), so a re-export of an overlapping date range with the same grouping
collapses onto the rows already stored. Within one CSV file, rows with identical keys are
parts of one bucket (a column the grouping dropped, or a split line) and are **summed**
before they are emitted, so the bucket's id and amount do not depend on how the export split
it. Within one JSON file identical keys can only be the same page fetched twice (every
group-by field is part of the key), so the pipeline's id dedup keeps one.

The JSON-page and CSV-summing helpers live in :mod:`audit.sources.aggregates`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from audit.normalize import ERROR_COLUMN, clean_text, gather_errors, parse_columns, tags_json
from audit.sources import source
from audit.sources.aggregates import (
    first_bucket_seconds,
    iso,
    json_results,
    looks_like_json,
    negative,
    plain_decimal,
    positive,
    record_key,
    summed_csv,
)
from audit.sources.base import ReadOptions, Sample, SourceAdapter, header_score
from audit.sources.tables import col

# ------------------------------------------------------------------------------ OpenAI usage

_USAGE_RESULT = "organization.usage.completions.result"
_COSTS_RESULT = "organization.costs.result"
_USAGE_MARK = re.compile(re.escape(_USAGE_RESULT))
_COSTS_MARK = re.compile(re.escape(_COSTS_RESULT))
_BUCKET_MARK = re.compile(r'"object"\s*:\s*"bucket"')
_DAY = 86_400

#: Extra token counts OpenAI reports by modality; informational (tags) when above zero.
_MODALITY_COUNTS = (
    "input_audio_tokens",
    "input_cached_audio_tokens",
    "output_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
)
_USAGE_FIELDS = (
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
    "num_model_requests",
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_uncached_tokens",
    "input_cache_write_tokens",
    *_MODALITY_COUNTS,
)
_USAGE_SUMS = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    *_MODALITY_COUNTS,
)
_USAGE_DIMS = ("ts", "bucket_end", "model_raw", "project", "user", "api_key", "k.batch", "k.tier")


def _openai_tier(tier: pl.Expr, batch: pl.Expr) -> pl.Expr:
    """OpenAI's ``service_tier`` onto ours; ``batch = true`` is the batch tier whatever it says."""
    lowered = tier.str.to_lowercase()
    return (
        pl.when(batch.fill_null(False))
        .then(pl.lit("batch"))
        .when(lowered == "default")
        .then(pl.lit("standard"))
        .otherwise(lowered)
    )


def _openai_usage_rows(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
    """Stages 1–3 for a usage result (API) or activity row (CSV): the same field names."""
    frame = frame.with_columns(
        pl.coalesce(
            clean_text(col(cols, "start_time")), clean_text(col(cols, "start_time_iso"))
        ).alias("r.start"),
        pl.coalesce(clean_text(col(cols, "end_time")), clean_text(col(cols, "end_time_iso"))).alias(
            "r.end"
        ),
        *[col(cols, name).alias(f"r.{name}") for name in _USAGE_FIELDS],
    ).with_columns(
        parse_columns(
            {
                "ts": ("r.start", "ts", "start_time"),
                "bucket_end": ("r.end", "ts", "end_time"),
                "requests": ("r.num_model_requests", "int", "num_model_requests"),
                "p.input": ("r.input_tokens", "int", "input_tokens"),
                "p.uncached": ("r.input_uncached_tokens", "int", "input_uncached_tokens"),
                "cached_input_tokens": ("r.input_cached_tokens", "int", "input_cached_tokens"),
                "cache_write_tokens": (
                    "r.input_cache_write_tokens",
                    "int",
                    "input_cache_write_tokens",
                ),
                "output_tokens": ("r.output_tokens", "int", "output_tokens"),
                "p.batch": ("r.batch", "bool", "batch"),
                **{name: (f"r.{name}", "int", name) for name in _MODALITY_COUNTS},
            }
        )
    )
    cached = pl.col("cached_input_tokens").fill_null(0)
    written = pl.col("cache_write_tokens").fill_null(0)
    parts = pl.col("p.uncached").fill_null(0) + cached + written
    too_many = pl.when(pl.col("p.input").is_not_null() & (parts > pl.col("p.input"))).then(
        pl.concat_str(
            pl.lit("input_uncached_tokens + input_cached_tokens + input_cache_write_tokens ("),
            parts.cast(pl.String),
            pl.lit(") exceed input_tokens ("),
            pl.col("p.input").cast(pl.String),
            pl.lit(")"),
        )
    )
    frame = frame.with_columns(
        pl.coalesce(pl.col("p.uncached"), pl.col("p.input") - cached - written).alias(
            "input_tokens"
        ),
        clean_text(pl.col("r.model")).alias("model_raw"),
        clean_text(pl.col("r.project_id")).alias("project"),
        clean_text(pl.col("r.user_id")).alias("user"),
        clean_text(pl.col("r.api_key_id")).alias("api_key"),
        _openai_tier(clean_text(pl.col("r.service_tier")), pl.col("p.batch")).alias("service_tier"),
        pl.col("p.batch").cast(pl.String).alias("k.batch"),
        clean_text(pl.col("r.service_tier")).alias("k.tier"),
        too_many.alias("_err.~parts"),
    )
    return frame.with_columns(gather_errors(frame.collect_schema().names()))


def _openai_usage_finish(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """Stage 4: tags, the bucket's record id, and exactly the canonical columns."""
    tags = {"bucket_end": iso("bucket_end"), **{c: positive(c) for c in _MODALITY_COUNTS}}
    if "_rows" in frame.collect_schema().names():
        tags["summed_rows"] = pl.when(pl.col("_rows") > 1).then(pl.col("_rows"))
    frame = frame.with_columns(
        pl.lit("openai").alias("provider"),
        tags_json(tags).alias("tags"),
        record_key(
            name, [iso("ts"), iso("bucket_end")] + [pl.col(c) for c in _USAGE_DIMS[2:]]
        ).alias("record_id"),
    )
    return frame.select(
        "record_id", "source_line", "ts", "provider", "model_raw", "service_tier", "api_key",
        "user", "project", "requests", "input_tokens", "cached_input_tokens",
        "cache_write_tokens", "output_tokens", "tags", ERROR_COLUMN,
    )  # fmt: skip


@source
class OpenAIUsageJson(SourceAdapter):
    """Token usage per bucket from the OpenAI Usage API (``/v1/organization/usage/completions``).

    One row per bucket result; ``source_line`` is the result's 1-based position in the file.
    The file holds one response page, a JSON array of pages, or one page per line (JSONL).
    ``project_id``/``user_id``/``api_key_id`` map to project/user/api_key; ``batch: true``
    is service tier ``batch``. No cost: priced by our tables.
    """

    name = "openai-usage-json"
    title = "OpenAI Usage API completions JSON (tokens and requests per bucket)"
    granularity = "aggregate"
    obtain = (
        "GET /v1/organization/usage/completions with an admin key (group_by model, and "
        "project_id/api_key_id/user_id/batch as wanted); save the response page(s)"
    )
    aggregate_rank = 40

    def sniff(self, sample: Sample) -> float:
        if not looks_like_json(sample):
            return 0.0
        text = sample.text
        if _USAGE_MARK.search(text):
            return 0.95
        if _COSTS_MARK.search(text) or not _BUCKET_MARK.search(text) or '"results"' not in text:
            return 0.0
        # Buckets with no usage have no results; only usage buckets can be shorter than a day.
        width = first_bucket_seconds(text)
        return 0.6 if width is not None and 0 < width < _DAY else 0.0

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        frame = json_results(
            path,
            bucket_fields={"start_time": "start_time", "end_time": "end_time"},
            result_fields={name: (name,) for name in _USAGE_FIELDS},
            result_object=_USAGE_RESULT,
            what="a usage",
        )
        mapped = _openai_usage_rows(frame.lazy(), set(frame.columns))
        yield _openai_usage_finish(mapped, self.name)


_ACTIVITY_TIME = {"start_time", "end_time", "start_time_iso", "end_time_iso"}
_ACTIVITY_REQUIRED = {"start_time", "num_model_requests", "input_tokens", "output_tokens"}
_ACTIVITY_OPTIONAL = frozenset(
    {
        "end_time",
        "start_time_iso",
        "end_time_iso",
        "project_id",
        "user_id",
        "api_key_id",
        "model",
        "batch",
        "service_tier",
        "input_cached_tokens",
        "input_uncached_tokens",
        "input_text_tokens",
        "output_text_tokens",
    }
)


@source
class OpenAIActivityCsv(SourceAdapter):
    """Token usage per bucket from the OpenAI dashboard's Activity CSV (``completions_usage_*``).

    Token counts may be written as floats (``10.0``) and ``batch`` as ``FALSE``/``true``.
    An export holding only the four time columns means "no usage" and loads zero rows, as do
    lines whose usage cells are all blank. Lines with the same bucket key are summed.
    """

    name = "openai-activity-csv"
    title = "OpenAI usage dashboard Activity CSV (tokens and requests per bucket)"
    granularity = "aggregate"
    obtain = "platform.openai.com/usage → Activity → Export (completions_usage_<from>_<to>.csv)"
    aggregate_rank = 40

    def sniff(self, sample: Sample) -> float:
        header = sample.csv_header
        if not header:
            return 0.0
        names = {name.strip().lower() for name in header}
        if names == _ACTIVITY_TIME:
            return 0.6  # the documented "no data" export
        if "amount_value" in names:
            return 0.0
        return header_score(header, _ACTIVITY_REQUIRED, _ACTIVITY_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        frame = summed_csv(
            path, options, self._rows, dims=_USAGE_DIMS, sums=_USAGE_SUMS, carried=("service_tier",)
        )
        if frame is not None:
            yield _openai_usage_finish(frame.lazy(), self.name)

    @staticmethod
    def _rows(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
        measures = [
            "num_model_requests",
            "input_tokens",
            "output_tokens",
            "input_cached_tokens",
            "input_uncached_tokens",
        ]
        present = [clean_text(pl.col(m)).is_not_null() for m in measures if m in cols]
        # a bucket line with every usage cell blank carries no usage: not a row, not a reject
        # (an export with only the four time columns is the documented "no data" file)
        frame = frame.filter(pl.any_horizontal(present) if present else pl.lit(False))
        mapped = _openai_usage_rows(frame, cols)
        return mapped.with_columns(
            pl.coalesce(pl.col(ERROR_COLUMN), *negative(_USAGE_SUMS)).alias(ERROR_COLUMN)
        )


# ------------------------------------------------------------------------------ OpenAI costs

_COST_DIMS = (
    "ts",
    "bucket_end",
    "k.line_item",
    "project",
    "user",
    "api_key",
    "k.organization_id",
    "k.api_source",
    "k.currency",
)
_COST_CARRIED = ("r.project_name", "r.organization_name", "r.user_email", "r.quantity_unit")


def _openai_cost_rows(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
    """Stages 1–3 for a Costs API result or a cost CSV line (flattened to the same names)."""
    frame = frame.with_columns(
        pl.coalesce(
            clean_text(col(cols, "start_time")), clean_text(col(cols, "start_time_iso"))
        ).alias("r.start"),
        pl.coalesce(clean_text(col(cols, "end_time")), clean_text(col(cols, "end_time_iso"))).alias(
            "r.end"
        ),
        col(cols, "amount_value").alias("r.amount"),
        clean_text(col(cols, "amount_currency")).alias("k.currency"),
        col(cols, "quantity").alias("r.quantity"),
        clean_text(col(cols, "quantity_unit")).alias("r.quantity_unit"),
        clean_text(col(cols, "line_item")).alias("k.line_item"),
        clean_text(col(cols, "project_id")).alias("project"),
        clean_text(col(cols, "user_id")).alias("user"),
        clean_text(col(cols, "api_key_id")).alias("api_key"),
        clean_text(col(cols, "organization_id")).alias("k.organization_id"),
        clean_text(col(cols, "api_source")).alias("k.api_source"),
        clean_text(col(cols, "project_name")).alias("r.project_name"),
        clean_text(col(cols, "organization_name")).alias("r.organization_name"),
        clean_text(col(cols, "user_email")).alias("r.user_email"),
    ).with_columns(
        parse_columns(
            {
                "ts": ("r.start", "ts", "start_time"),
                "bucket_end": ("r.end", "ts", "end_time"),
                "reported_cost_usd": ("r.amount", "usd", "amount"),
                # exact decimal, not money: kind usd is simply an exact decimal parser
                "quantity": ("r.quantity", "usd", "quantity"),
            }
        )
    )
    currency = pl.col("k.currency").str.to_lowercase()
    not_usd = pl.when(currency.is_not_null() & (currency != "usd")).then(
        pl.concat_str(pl.lit("amount currency '"), pl.col("k.currency"), pl.lit("' is not usd"))
    )
    frame = frame.with_columns(not_usd.alias("_err.~currency"))
    return frame.with_columns(gather_errors(frame.collect_schema().names()))


def _openai_cost_finish(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """Stage 4: model and charge type from the line item, tags, record id, canonical columns."""
    line_item = pl.col("k.line_item")
    has_model = line_item.str.contains(",")
    frame = frame.with_columns(
        pl.when(has_model)
        .then(clean_text(line_item.str.splitn(",", 2).struct.field("field_0")))
        .alias("model_raw"),
        pl.when(has_model)
        .then(clean_text(line_item.str.splitn(",", 2).struct.field("field_1")))
        .alias("t.token_type"),
    )
    tags = {
        "bucket_end": iso("bucket_end"),
        "line_item": line_item,
        "token_type": pl.col("t.token_type"),
        "quantity": plain_decimal("quantity"),
        "quantity_unit": pl.col("r.quantity_unit"),
        "project_name": pl.col("r.project_name"),
        "organization_id": pl.col("k.organization_id"),
        "organization_name": pl.col("r.organization_name"),
        "user_email": pl.col("r.user_email"),
        "api_source": pl.col("k.api_source"),
    }
    if "_rows" in frame.collect_schema().names():
        tags["summed_rows"] = pl.when(pl.col("_rows") > 1).then(pl.col("_rows"))
    frame = frame.with_columns(
        pl.lit("openai").alias("provider"),
        tags_json(tags).alias("tags"),
        record_key(
            name, [iso("ts"), iso("bucket_end")] + [pl.col(c) for c in _COST_DIMS[2:]]
        ).alias("record_id"),
    )
    return frame.select(
        "record_id", "source_line", "ts", "provider", "model_raw", "api_key", "user", "project",
        "reported_cost_usd", "tags", ERROR_COLUMN,
    )  # fmt: skip


@source
class OpenAICostsJson(SourceAdapter):
    """Billed cost per day from the OpenAI Costs API (``/v1/organization/costs``).

    One row per bucket result, cost only (no tokens): ``amount.value`` USD is exact (read
    from its JSON text); ``line_item`` ``"gpt-4o-2024-08-06, input"`` gives the model (before
    the comma) and ``tags.token_type`` (after it). ``source_line`` is the result's 1-based
    position in the file; one page, an array of pages, or one page per line.
    """

    name = "openai-costs-json"
    title = "OpenAI Costs API JSON (billed USD per day × line item)"
    granularity = "aggregate"
    obtain = (
        "GET /v1/organization/costs with an admin key, group_by line_item (and project_id, "
        "api_key_id); save the response page(s)"
    )
    aggregate_rank = 20

    def sniff(self, sample: Sample) -> float:
        if not looks_like_json(sample) or _USAGE_MARK.search(sample.text):
            return 0.0
        return 0.95 if _COSTS_MARK.search(sample.text) else 0.0

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        frame = json_results(
            path,
            bucket_fields={"start_time": "start_time", "end_time": "end_time"},
            result_fields={
                "amount_value": ("amount", "value"),
                "amount_currency": ("amount", "currency"),
                "line_item": ("line_item",),
                "project_id": ("project_id",),
                "api_key_id": ("api_key_id",),
                "quantity": ("quantity",),
                "quantity_unit": ("quantity_unit",),
            },
            result_object=_COSTS_RESULT,
            what="a costs",
        )
        mapped = _openai_cost_rows(frame.lazy(), set(frame.columns))
        yield _openai_cost_finish(mapped, self.name)


_COST_CSV_REQUIRED = {"start_time", "end_time", "amount_value"}
_COST_CSV_OPTIONAL = frozenset(
    {
        "start_time_iso",
        "end_time_iso",
        "amount_currency",
        "quantity",
        "quantity_unit",
        "line_item",
        "user_id",
        "api_key_id",
        "project_id",
        "organization_id",
        "project_name",
        "organization_name",
        "user_email",
        "api_source",
    }
)


@source
class OpenAICostCsv(SourceAdapter):
    """Billed cost per day from the OpenAI dashboard's Cost export (``cost_<from>_<to>.csv``).

    ``amount_value`` is a long decimal string (exact); ``line_item`` (quoted, with a comma)
    gives the model and ``tags.token_type``. A bucket with a blank amount is not a charge: it
    is neither loaded (no $0 row) nor rejected. Lines with the same bucket key are summed.
    """

    name = "openai-cost-csv"
    title = "OpenAI usage dashboard Cost CSV (billed USD per day × line item)"
    granularity = "aggregate"
    obtain = "platform.openai.com/usage → Cost → Export (cost_<from>_<to>.csv)"
    aggregate_rank = 20

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _COST_CSV_REQUIRED, _COST_CSV_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        frame = summed_csv(
            path,
            options,
            self._rows,
            dims=_COST_DIMS,
            sums=("reported_cost_usd", "quantity"),
            carried=_COST_CARRIED,
        )
        if frame is not None:
            yield _openai_cost_finish(frame.lazy(), self.name)

    @staticmethod
    def _rows(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
        frame = frame.filter(clean_text(col(cols, "amount_value")).is_not_null())
        return _openai_cost_rows(frame, cols)
