"""The canonical usage frame: the one contract every source adapter maps onto.

Everything downstream (store, pricing, detectors, reports) reads only these columns,
so a new export format is supported by mapping it here and nowhere else. The
column list is documented in the README; ``tests/test_schema.py`` keeps the two in sync.

Token columns follow one convention whatever the source says: ``input_tokens`` is the
*uncached* input only, cache reads and cache writes are their own columns, and
``output_tokens`` includes reasoning. No token is ever counted or priced twice.
"""

from __future__ import annotations

import polars as pl

from audit.money import MONEY

GRANULARITY = pl.Enum(["request", "aggregate"])
STATUS = pl.Enum(["ok", "error", "cancelled"])
OUTCOME = pl.Enum(["accepted", "rejected", "regenerated", "unknown"])
TS = pl.Datetime("us", "UTC")

#: Column name -> dtype, in storage order. Every column is nullable where a source does not know.
CANONICAL: dict[str, pl.DataType] = {
    # identity and provenance
    "record_id": pl.String(),  # the source's request/generation id, else a content key
    "source": pl.String(),  # adapter name, e.g. "openrouter-generations-csv"
    "source_file": pl.String(),
    "source_line": pl.Int64(),  # 1-based physical line where the row starts
    "granularity": GRANULARITY,  # request (one call) | aggregate (a billing/usage bucket)
    "ts": TS,  # request time, or bucket start for aggregates
    # what was called
    "provider": pl.String(),  # who served/billed the call: openai, anthropic, openrouter, ...
    "model": pl.String(),  # canonical model id (price-table id when known)
    "model_raw": pl.String(),  # the model exactly as the source wrote it
    "service_tier": pl.String(),  # standard | batch | flex | priority (null = standard)
    # who called it
    "api_key": pl.String(),  # key id or masked key; never a full secret
    "key_name": pl.String(),
    "user": pl.String(),
    "team": pl.String(),
    "project": pl.String(),
    "environment": pl.String(),
    "purpose": pl.String(),
    "app": pl.String(),
    "session_id": pl.String(),
    "prompt_hash": pl.String(),  # a hash of the prompt; prompt text is never stored
    # how it went
    "status": STATUS,
    "http_status": pl.Int32(),
    "error_type": pl.String(),
    "latency_ms": pl.Float64(),
    "outcome": OUTCOME,
    # tokens (see module docstring for the convention)
    "input_tokens": pl.Int64(),
    "cached_input_tokens": pl.Int64(),
    "cache_write_tokens": pl.Int64(),
    "cache_write_1h_tokens": pl.Int64(),  # the part of cache_write_tokens with a 1-hour TTL
    "output_tokens": pl.Int64(),
    "reasoning_tokens": pl.Int64(),  # informational: already inside output_tokens
    "requests": pl.Int64(),  # 1 for a request row, the bucket's count for an aggregate
    "reported_cost_usd": MONEY,  # what the source says it cost, if it says
    "tags": pl.String(),  # JSON object of any other metadata (sorted keys)
}

TOKEN_COLUMNS: tuple[str, ...] = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)

#: Attribution dimensions a report can break spend down by.
DIMENSIONS: tuple[str, ...] = (
    "provider",
    "model",
    "api_key",
    "key_name",
    "user",
    "team",
    "project",
    "environment",
    "purpose",
    "app",
)

#: A rejected input row: where it was and why; the row's content is deliberately not kept
#: (it may hold prompt text or secrets), the file and line are enough to find it.
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "source": pl.String(),
    "reason": pl.String(),
}


def canonical_schema() -> pl.Schema:
    """The canonical columns as a Polars schema (a fresh object; callers may not mutate ours)."""
    return pl.Schema(CANONICAL)


def conform(frame: pl.LazyFrame, *, keep: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Select exactly the canonical columns, in order, adding absent ones as typed nulls.

    Adapters only produce the columns their source knows; this is the single place that
    fills the rest, so no adapter can drift from the contract. ``keep`` names working
    columns (such as the reject reason) to carry along after the canonical ones.
    """
    present = set(frame.collect_schema().names())
    return frame.select(
        [
            (pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in CANONICAL.items()
        ]
        + [pl.col(name) for name in keep]
    )


def empty_frame() -> pl.DataFrame:
    """A zero-row canonical frame, used where a month or a file has no rows."""
    return pl.DataFrame(schema=canonical_schema())


def empty_rejects() -> pl.DataFrame:
    """A zero-row reject frame."""
    return pl.DataFrame(schema=pl.Schema(REJECT_SCHEMA))
