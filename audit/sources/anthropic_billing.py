"""Anthropic billing and usage exports: the Admin usage and cost reports (JSON), the Console CSVs.

All four are *aggregates* (one row per bucket × grouping, never per request); ``ts`` is the
bucket start and ``provider`` is ``anthropic``.

Token convention: Anthropic's uncached input **excludes** cache reads and writes, so it is
the canonical ``input_tokens`` as is; cache reads go to ``cached_input_tokens``, the 5-minute
plus 1-hour cache writes to ``cache_write_tokens`` and the 1-hour part also to
``cache_write_1h_tokens``. Thinking tokens are inside ``output_tokens``.

Attribution: a workspace is Anthropic's counterpart of an OpenAI project, so it maps to
``project`` (the Console CSVs give its name, the Admin API its id). In the Admin API a null
``workspace_id`` means the default workspace *when the report was grouped by workspace*
(some result in the file has a workspace id): such rows get ``project = "Default"``, the
name the Console gives it. Otherwise null stays null (not grouped: no claim). API key ids
map to ``api_key``, the Console's key names to ``key_name``.

Record ids are a key of the adapter and the bucket's raw dimensions (never derived values
such as the inferred default workspace), so a re-export of an overlapping range with the
same grouping dedups. Console CSV lines with identical keys are parts of one bucket and are
**summed** (the cost CSV documents such lines); see :mod:`audit.sources.openai_billing`.
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
    record_key,
    summed_csv,
)
from audit.sources.base import ReadOptions, Sample, SourceAdapter, header_score
from audit.sources.tables import col

_DAY = 86_400
_STARTING_AT = re.compile(r'"starting_at"\s*:')
_RESULTS = re.compile(r'"results"\s*:')
# Keys (followed by a colon), not values: the cost report names token types in its values.
_USAGE_KEYS = re.compile(r'"(uncached_input_tokens|cache_read_input_tokens)"\s*:')
_COST_AMOUNT = re.compile(r'"amount"\s*:\s*["\d-]')
_CURRENCY = re.compile(r'"currency"\s*:')
DEFAULT_WORKSPACE = "Default"


def _is_report(sample: Sample) -> bool:
    text = sample.text
    return (
        looks_like_json(sample) and bool(_STARTING_AT.search(text)) and bool(_RESULTS.search(text))
    )


def _tier(usage_type: pl.Expr) -> pl.Expr:
    """An Anthropic service tier / usage type onto ours (anything naming a batch is batch)."""
    lowered = usage_type.str.to_lowercase()
    return pl.when(lowered.str.contains("batch")).then(pl.lit("batch")).otherwise(lowered)


def _workspace(workspace_id: pl.Expr, grouped: bool) -> pl.Expr:
    """``project`` from a workspace id; null is the default workspace when grouped by it."""
    if grouped:
        return workspace_id.fill_null(pl.lit(DEFAULT_WORKSPACE))
    return workspace_id


def _summed_tag(frame: pl.LazyFrame) -> dict[str, pl.Expr]:
    if "_rows" in frame.collect_schema().names():
        return {"summed_rows": pl.when(pl.col("_rows") > 1).then(pl.col("_rows"))}
    return {}


# ------------------------------------------------------------------------------ usage report

_USAGE_RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "uncached_input_tokens": ("uncached_input_tokens",),
    "cache_5m": ("cache_creation", "ephemeral_5m_input_tokens"),
    "cache_1h": ("cache_creation", "ephemeral_1h_input_tokens"),
    "cache_read_input_tokens": ("cache_read_input_tokens",),
    "output_tokens": ("output_tokens",),
    "web_search_requests": ("server_tool_use", "web_search_requests"),
    "api_key_id": ("api_key_id",),
    "workspace_id": ("workspace_id",),
    "model": ("model",),
    "service_tier": ("service_tier",),
    "context_window": ("context_window",),
    "inference_geo": ("inference_geo",),
    "speed": ("speed",),
    "account_id": ("account_id",),
    "service_account_id": ("service_account_id",),
}
_USAGE_KEY = (
    "k.model",
    "k.api_key_id",
    "k.workspace_id",
    "k.service_tier",
    "k.context_window",
    "k.inference_geo",
    "k.speed",
    "k.account_id",
    "k.service_account_id",
)


@source
class AnthropicUsageJson(SourceAdapter):
    """Token usage per bucket from the Admin API usage report (``…/usage_report/messages``).

    One row per bucket result; ``source_line`` is the result's 1-based position in the file
    (one response page, a JSON array of pages, or one page per line). No cost and no request
    count (``requests`` stays null): priced by our tables. ``service_tier: batch`` is the batch
    tier; context window, inference geo, speed and web-search requests go to tags.
    """

    name = "anthropic-usage-json"
    title = "Anthropic Admin API usage report JSON (tokens per bucket)"
    granularity = "aggregate"
    obtain = (
        "GET /v1/organizations/usage_report/messages with an admin key (group_by model, and "
        "api_key_id/workspace_id/service_tier as wanted); save the response page(s)"
    )
    aggregate_rank = 40

    def sniff(self, sample: Sample) -> float:
        if not _is_report(sample):
            return 0.0
        text = sample.text
        if _USAGE_KEYS.search(text):
            return 0.95
        if _COST_AMOUNT.search(text):
            return 0.0
        # Buckets with no usage have no results; only usage buckets can be shorter than a day.
        width = first_bucket_seconds(text)
        return 0.6 if width is not None and 0 < width < _DAY else 0.0

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        raw = json_results(
            path,
            bucket_fields={"starting_at": "starting_at", "ending_at": "ending_at"},
            result_fields=_USAGE_RESULT_FIELDS,
            what="a usage report",
        )
        grouped = raw.get_column("workspace_id").drop_nulls().len() > 0
        frame = raw.lazy().with_columns(
            *parse_columns(
                {
                    "ts": ("starting_at", "ts", "starting_at"),
                    "bucket_end": ("ending_at", "ts", "ending_at"),
                    "input_tokens": ("uncached_input_tokens", "int", "uncached_input_tokens"),
                    "p.5m": ("cache_5m", "int", "cache_creation.ephemeral_5m_input_tokens"),
                    "cache_write_1h_tokens": (
                        "cache_1h",
                        "int",
                        "cache_creation.ephemeral_1h_input_tokens",
                    ),
                    "cached_input_tokens": (
                        "cache_read_input_tokens",
                        "int",
                        "cache_read_input_tokens",
                    ),
                    "output_tokens": ("output_tokens", "int", "output_tokens"),
                    "web_search": ("web_search_requests", "int", "web_search_requests"),
                }
            ),
            *[clean_text(pl.col(k.removeprefix("k."))).alias(k) for k in _USAGE_KEY],
        )
        no_writes = pl.col("p.5m").is_null() & pl.col("cache_write_1h_tokens").is_null()
        frame = frame.with_columns(
            pl.when(no_writes)
            .then(None)
            .otherwise(pl.col("p.5m").fill_null(0) + pl.col("cache_write_1h_tokens").fill_null(0))
            .alias("cache_write_tokens"),
            pl.lit("anthropic").alias("provider"),
            pl.col("k.model").alias("model_raw"),
            pl.col("k.api_key_id").alias("api_key"),
            _workspace(pl.col("k.workspace_id"), grouped).alias("project"),
            _tier(pl.col("k.service_tier")).alias("service_tier"),
            tags_json(
                {
                    "bucket_end": iso("bucket_end"),
                    "context_window": pl.col("k.context_window"),
                    "inference_geo": pl.col("k.inference_geo"),
                    "speed": pl.col("k.speed"),
                    "web_search_requests": pl.when(pl.col("web_search") > 0).then(
                        pl.col("web_search")
                    ),
                    "account_id": pl.col("k.account_id"),
                    "service_account_id": pl.col("k.service_account_id"),
                }
            ).alias("tags"),
            record_key(
                self.name, [iso("ts"), iso("bucket_end")] + [pl.col(k) for k in _USAGE_KEY]
            ).alias("record_id"),
        )
        frame = frame.with_columns(gather_errors(frame.collect_schema().names()))
        yield frame.select(
            "record_id", "source_line", "ts", "provider", "model_raw", "service_tier", "api_key",
            "project", "input_tokens", "cached_input_tokens", "cache_write_tokens",
            "cache_write_1h_tokens", "output_tokens", "tags", ERROR_COLUMN,
        )  # fmt: skip


# ------------------------------------------------------------------------------ cost report

_COST_RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    name: (name,)
    for name in (
        "currency",
        "amount",
        "workspace_id",
        "description",
        "cost_type",
        "context_window",
        "model",
        "service_tier",
        "token_type",
        "inference_geo",
    )
}
_COST_KEY = tuple(f"k.{name}" for name in _COST_RESULT_FIELDS if name != "amount")


@source
class AnthropicCostJson(SourceAdapter):
    """Billed cost per day from the Admin API cost report (``/v1/organizations/cost_report``).

    ``amount`` is a decimal string in **cents** (``"123.45"`` = $1.2345), read exactly. One
    row per bucket result, cost only; ``source_line`` is the result's 1-based position in the
    file. Web search and code execution results are real spend with no model; ``cost_type``,
    ``token_type`` and ``description`` go to tags. Priority Tier spend is not in this report.
    """

    name = "anthropic-cost-json"
    title = "Anthropic Admin API cost report JSON (billed USD per day)"
    granularity = "aggregate"
    obtain = (
        "GET /v1/organizations/cost_report with an admin key (group_by description and "
        "workspace_id); save the response page(s)"
    )
    aggregate_rank = 20

    def sniff(self, sample: Sample) -> float:
        if not _is_report(sample) or _USAGE_KEYS.search(sample.text):
            return 0.0
        text = sample.text
        return 0.95 if _COST_AMOUNT.search(text) and _CURRENCY.search(text) else 0.0

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        raw = json_results(
            path,
            bucket_fields={"starting_at": "starting_at", "ending_at": "ending_at"},
            result_fields=_COST_RESULT_FIELDS,
            what="a cost report",
        )
        grouped = raw.get_column("workspace_id").drop_nulls().len() > 0
        frame = raw.lazy().with_columns(
            *parse_columns(
                {
                    "ts": ("starting_at", "ts", "starting_at"),
                    "bucket_end": ("ending_at", "ts", "ending_at"),
                    "reported_cost_usd": ("amount", "usd_cents", "amount"),
                }
            ),
            *[clean_text(pl.col(k.removeprefix("k."))).alias(k) for k in _COST_KEY],
        )
        currency = pl.col("k.currency").str.to_lowercase()
        frame = frame.with_columns(
            pl.when(currency.is_not_null() & (currency != "usd"))
            .then(pl.concat_str(pl.lit("currency '"), pl.col("k.currency"), pl.lit("' is not USD")))
            .alias("_err.~currency"),
            pl.lit("anthropic").alias("provider"),
            pl.col("k.model").alias("model_raw"),
            _workspace(pl.col("k.workspace_id"), grouped).alias("project"),
            _tier(pl.col("k.service_tier")).alias("service_tier"),
            tags_json(
                {
                    "bucket_end": iso("bucket_end"),
                    "description": pl.col("k.description"),
                    "cost_type": pl.col("k.cost_type"),
                    "token_type": pl.col("k.token_type"),
                    "context_window": pl.col("k.context_window"),
                    "inference_geo": pl.col("k.inference_geo"),
                }
            ).alias("tags"),
            record_key(
                self.name, [iso("ts"), iso("bucket_end")] + [pl.col(k) for k in _COST_KEY]
            ).alias("record_id"),
        )
        frame = frame.with_columns(gather_errors(frame.collect_schema().names()))
        yield frame.select(
            "record_id", "source_line", "ts", "provider", "model_raw", "service_tier", "project",
            "reported_cost_usd", "tags", ERROR_COLUMN,
        )  # fmt: skip


# ------------------------------------------------------------------------------ Console usage CSV

_USAGE_CSV_REQUIRED = {"usage_date_utc", "model_version", "usage_input_tokens_no_cache"}
_USAGE_CSV_OPTIONAL = frozenset(
    {
        "api_key",
        "workspace",
        "usage_type",
        "context_window",
        "usage_input_tokens_cache_write_5m",
        "usage_input_tokens_cache_write_1h",
        "usage_input_tokens_cache_read",
        "usage_output_tokens",
        "web_search_count",
        "inference_geo",
        "speed",
    }
)
_USAGE_CSV_DIMS = (
    "ts",
    "k.width",
    "model_raw",
    "key_name",
    "project",
    "k.usage_type",
    "k.context_window",
    "k.inference_geo",
    "k.speed",
)
_USAGE_CSV_SUMS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "web_search",
)


@source
class AnthropicUsageCsv(SourceAdapter):
    """Token usage per day or hour from the Claude Console usage export (``claude_api_tokens_*``).

    ``usage_date_utc`` is ``YYYY-MM-DD`` (daily) or ``YYYY-MM-DD HH:MM`` (hourly), UTC;
    ``model_version`` is the API id; ``api_key`` is the key's *name* (``key_name``);
    ``workspace`` is the workspace name (``project``); ``usage_type`` is the service tier.
    No cost and no request count (``requests`` stays null). Lines with the same key are summed.
    """

    name = "anthropic-usage-csv"
    title = "Claude Console usage CSV (tokens per day or hour × model × key)"
    granularity = "aggregate"
    obtain = "platform.claude.com → Usage → Export (claude_api_tokens_<date>.csv)"
    aggregate_rank = 40

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _USAGE_CSV_REQUIRED, _USAGE_CSV_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        frame = summed_csv(
            path,
            options,
            self._rows,
            dims=_USAGE_CSV_DIMS,
            sums=_USAGE_CSV_SUMS,
            carried=("service_tier",),
        )
        if frame is None:
            return
        lazy = frame.lazy()
        lazy = lazy.with_columns(
            pl.lit("anthropic").alias("provider"),
            tags_json(
                {
                    "bucket": pl.col("k.width"),
                    "usage_type": pl.col("k.usage_type"),
                    "context_window": pl.col("k.context_window"),
                    "inference_geo": pl.col("k.inference_geo"),
                    "speed": pl.col("k.speed"),
                    "web_search_count": pl.when(pl.col("web_search") > 0).then(
                        pl.col("web_search")
                    ),
                    **_summed_tag(lazy),
                }
            ).alias("tags"),
            record_key(self.name, [iso("ts"), *[pl.col(c) for c in _USAGE_CSV_DIMS[1:]]]).alias(
                "record_id"
            ),
        )
        yield lazy.select(
            "record_id", "source_line", "ts", "provider", "model_raw", "service_tier", "key_name",
            "project", "input_tokens", "cached_input_tokens", "cache_write_tokens",
            "cache_write_1h_tokens", "output_tokens", "tags", ERROR_COLUMN,
        )  # fmt: skip

    @staticmethod
    def _rows(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
        frame = frame.with_columns(
            clean_text(col(cols, "usage_date_utc")).alias("r.date"),
            col(cols, "usage_input_tokens_no_cache").alias("r.input"),
            col(cols, "usage_input_tokens_cache_write_5m").alias("r.5m"),
            col(cols, "usage_input_tokens_cache_write_1h").alias("r.1h"),
            col(cols, "usage_input_tokens_cache_read").alias("r.read"),
            col(cols, "usage_output_tokens").alias("r.output"),
            col(cols, "web_search_count").alias("r.web"),
        ).with_columns(
            parse_columns(
                {
                    "ts": ("r.date", "ts", "usage_date_utc"),
                    "input_tokens": ("r.input", "int", "usage_input_tokens_no_cache"),
                    "p.5m": ("r.5m", "int", "usage_input_tokens_cache_write_5m"),
                    "cache_write_1h_tokens": ("r.1h", "int", "usage_input_tokens_cache_write_1h"),
                    "cached_input_tokens": ("r.read", "int", "usage_input_tokens_cache_read"),
                    "output_tokens": ("r.output", "int", "usage_output_tokens"),
                    "web_search": ("r.web", "int", "web_search_count"),
                }
            )
        )
        no_writes = pl.col("p.5m").is_null() & pl.col("cache_write_1h_tokens").is_null()
        usage_type = clean_text(col(cols, "usage_type"))
        frame = frame.with_columns(
            pl.when(no_writes)
            .then(None)
            .otherwise(pl.col("p.5m").fill_null(0) + pl.col("cache_write_1h_tokens").fill_null(0))
            .alias("cache_write_tokens"),
            pl.when(pl.col("r.date").str.contains(r"\d[T ]\d"))
            .then(pl.lit("hour"))
            .otherwise(pl.lit("day"))
            .alias("k.width"),
            clean_text(col(cols, "model_version")).alias("model_raw"),
            clean_text(col(cols, "api_key")).alias("key_name"),
            clean_text(col(cols, "workspace")).alias("project"),
            usage_type.alias("k.usage_type"),
            _tier(usage_type).alias("service_tier"),
            clean_text(col(cols, "context_window")).alias("k.context_window"),
            clean_text(col(cols, "inference_geo")).alias("k.inference_geo"),
            clean_text(col(cols, "speed")).alias("k.speed"),
        )
        frame = frame.with_columns(gather_errors(frame.collect_schema().names()))
        return frame.with_columns(
            pl.coalesce(pl.col(ERROR_COLUMN), *negative(_USAGE_CSV_SUMS)).alias(ERROR_COLUMN)
        )


# ------------------------------------------------------------------------------ Console cost CSV

_COST_CSV_REQUIRED = {"usage_date_utc", "model", "token_type", "cost_usd"}
_COST_CSV_OPTIONAL = frozenset(
    {
        "workspace",
        "api_key",
        "usage_type",
        "context_window",
        "list_price_usd",
        "cost_type",
        "inference_geo",
        "speed",
        "api_key_id",
        "api_key_status",
    }
)
_COST_CSV_DIMS = (
    "ts",
    "k.model",
    "project",
    "key_name",
    "api_key",
    "k.usage_type",
    "k.context_window",
    "k.token_type",
    "k.cost_type",
    "k.inference_geo",
    "k.speed",
)
_PLACEHOLDER = "--"
_NOT_ID = re.compile(r"[^a-z0-9._-]+")


def display_name_to_id(name: pl.Expr) -> pl.Expr:
    """A Console display name as an API-style id the price tables resolve.

    ``Claude Haiku 4.5`` → ``claude-haiku-4.5`` (the resolver maps dots to dashes, giving
    ``claude-haiku-4-5``); ``Claude 3.7 Sonnet 2025-02-19`` → ``claude-3.7-sonnet-2025-02-19``
    (resolved after stripping the date). A name that is already an id passes unchanged.
    """
    lowered = name.str.to_lowercase().str.strip_chars()
    dashed = lowered.str.replace_all(r"\s+", "-").str.replace_all(_NOT_ID.pattern, "")
    return dashed.str.replace_all(r"-{2,}", "-").str.strip_chars("-")


def _not_placeholder(raw: pl.Expr) -> pl.Expr:
    """Cell text, with the Console's ``--`` placeholder (and blanks) as null."""
    text = clean_text(raw)
    return pl.when(text == _PLACEHOLDER).then(None).otherwise(text)


@source
class AnthropicCostCsv(SourceAdapter):
    """Billed cost per day × model × key × token type from the Claude Console cost export.

    ``model`` is a display name (``Claude Haiku 4.5``); ``model_raw`` holds it converted to an
    API-style id (``claude-haiku-4.5``) so the price tables resolve it, and ``tags.model`` keeps
    the name as written. ``--`` is a placeholder (null); web-search and code-execution lines
    are real spend with no model (``tags.cost_type``). ``cost_usd`` (2 decimals) is exact.
    Lines with identical keys are split parts of one charge and are **summed** into one row.
    """

    name = "anthropic-cost-csv"
    title = "Claude Console cost CSV (billed USD per day × model × key × token type)"
    granularity = "aggregate"
    obtain = "platform.claude.com → Cost → Export (claude_api_cost_<from>_to_<to>.csv)"
    # Each line is rounded to the cent, so the exact Admin API cost report outranks it.
    aggregate_rank = 25

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _COST_CSV_REQUIRED, _COST_CSV_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        frame = summed_csv(
            path,
            options,
            self._rows,
            dims=_COST_CSV_DIMS,
            sums=("reported_cost_usd", "list_price"),
            carried=("k.api_key_status",),
        )
        if frame is None:
            return
        lazy = frame.lazy()
        lazy = lazy.with_columns(
            pl.lit("anthropic").alias("provider"),
            display_name_to_id(pl.col("k.model")).alias("model_raw"),
            pl.when(pl.col("k.usage_type").str.to_lowercase().str.contains("batch"))
            .then(pl.lit("batch"))
            .when(pl.col("k.usage_type").str.to_lowercase() == "priority")
            .then(pl.lit("priority"))
            .alias("service_tier"),
            tags_json(
                {
                    "model": pl.col("k.model"),
                    "usage_type": pl.col("k.usage_type"),
                    "context_window": pl.col("k.context_window"),
                    "token_type": pl.col("k.token_type"),
                    "cost_type": pl.col("k.cost_type"),
                    "inference_geo": pl.col("k.inference_geo"),
                    "speed": pl.col("k.speed"),
                    "list_price_usd": plain_decimal("list_price"),
                    "api_key_status": pl.col("k.api_key_status"),
                    **_summed_tag(lazy),
                }
            ).alias("tags"),
            record_key(self.name, [iso("ts"), *[pl.col(c) for c in _COST_CSV_DIMS[1:]]]).alias(
                "record_id"
            ),
        )
        yield lazy.select(
            "record_id", "source_line", "ts", "provider", "model_raw", "service_tier", "api_key",
            "key_name", "project", "reported_cost_usd", "tags", ERROR_COLUMN,
        )  # fmt: skip

    @staticmethod
    def _rows(frame: pl.LazyFrame, cols: set[str]) -> pl.LazyFrame:
        frame = frame.with_columns(
            clean_text(col(cols, "usage_date_utc")).alias("r.date"),
            col(cols, "cost_usd").alias("r.cost"),
            _not_placeholder(col(cols, "list_price_usd")).alias("r.list"),
        ).with_columns(
            parse_columns(
                {
                    "ts": ("r.date", "ts", "usage_date_utc"),
                    "reported_cost_usd": ("r.cost", "usd", "cost_usd"),
                    "list_price": ("r.list", "usd", "list_price_usd"),
                }
            )
        )
        missing_cost = pl.when(
            pl.col("reported_cost_usd").is_null() & pl.col("_err.reported_cost_usd").is_null()
        ).then(pl.lit("cost_usd is blank"))
        frame = frame.with_columns(
            _not_placeholder(col(cols, "model")).alias("k.model"),
            _not_placeholder(col(cols, "workspace")).alias("project"),
            _not_placeholder(col(cols, "api_key")).alias("key_name"),
            _not_placeholder(col(cols, "api_key_id")).alias("api_key"),
            _not_placeholder(col(cols, "usage_type")).alias("k.usage_type"),
            _not_placeholder(col(cols, "context_window")).alias("k.context_window"),
            _not_placeholder(col(cols, "token_type")).alias("k.token_type"),
            _not_placeholder(col(cols, "cost_type")).alias("k.cost_type"),
            _not_placeholder(col(cols, "inference_geo")).alias("k.inference_geo"),
            _not_placeholder(col(cols, "speed")).alias("k.speed"),
            _not_placeholder(col(cols, "api_key_status")).alias("k.api_key_status"),
            missing_cost.alias("_err.~cost"),
        )
        return frame.with_columns(gather_errors(frame.collect_schema().names()))
