"""What a user might run instead of tokaudit: the same token totals from the raw files.

* ``polars``: a bare Polars lazy scan (``scan_ndjson`` / ``scan_csv`` with a fixed schema)
  and one group-by per model, then the grand totals: the practical floor for our stack (no
  validation, no store, no pricing, no report).
* ``duckdb``: the same totals in DuckDB SQL (``read_json`` / ``read_csv``); for OpenRouter
  also the dollars, summing ``cost_total`` as DECIMAL.

Both apply each source's token conventions, so their totals are comparable with tokaudit's
canonical ones: ``input_tokens`` uncached, cache reads and writes apart, output including
reasoning. Claude Code lines are deduplicated on (``message.id``, ``requestId``) keeping the
largest usage, as ccusage does. Prints one JSON object::

    python bench/baselines.py polars --kind jsonl bench/data/jsonl-1M/logs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

TOKENS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def files_of(root: Path, suffix: str) -> list[str]:
    """Every export file under ``root`` (recursively, sorted); hidden entries skipped."""
    return sorted(
        str(p)
        for p in root.rglob(f"*{suffix}")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


# ----------------------------------------------------------------------------- Polars


def polars_totals(kind: str, root: Path) -> dict[str, object]:
    import polars as pl

    integer = pl.Int64
    if kind == "jsonl":
        usage = pl.Struct(
            {
                "prompt_tokens": integer,
                "completion_tokens": integer,
                "prompt_tokens_details": pl.Struct(
                    {"cached_tokens": integer, "cache_write_tokens": integer}
                ),
                "completion_tokens_details": pl.Struct({"reasoning_tokens": integer}),
                "input_tokens": integer,
                "output_tokens": integer,
                "input_tokens_details": pl.Struct({"cached_tokens": integer}),
                "output_tokens_details": pl.Struct({"reasoning_tokens": integer}),
                "cache_read_input_tokens": integer,
                "cache_creation_input_tokens": integer,
            }
        )
        schema: dict[str, Any] = {
            "model": pl.String,
            **{name: integer for name in TOKENS},
            "response": pl.Struct(
                {"object": pl.String, "type": pl.String, "model": pl.String, "usage": usage}
            ),
        }
        frame = pl.scan_ndjson(files_of(root, ".jsonl"), schema=schema)
        u = pl.col("response").struct.field("usage").struct
        chat = u.field("prompt_tokens").is_not_null()
        resp = pl.col("response").struct.field("object") == "response"
        flat = pl.col("input_tokens").is_not_null() | pl.col("output_tokens").is_not_null()
        chat_cached = u.field("prompt_tokens_details").struct.field("cached_tokens").fill_null(0)
        chat_cw = u.field("prompt_tokens_details").struct.field("cache_write_tokens").fill_null(0)
        resp_cached = u.field("input_tokens_details").struct.field("cached_tokens").fill_null(0)

        def pick(f: pl.Expr, c: pl.Expr | None, r: pl.Expr | None, a: pl.Expr | None) -> pl.Expr:
            return pl.when(flat).then(f).when(chat).then(c).when(resp).then(r).otherwise(a)

        canonical = frame.select(
            pl.coalesce(pl.col("model"), pl.col("response").struct.field("model")).alias("model"),
            pick(
                pl.col("input_tokens"),
                u.field("prompt_tokens") - chat_cached - chat_cw,
                u.field("input_tokens") - resp_cached,
                u.field("input_tokens"),
            ).alias("input_tokens"),
            pick(
                pl.col("cached_input_tokens"),
                chat_cached,
                resp_cached,
                u.field("cache_read_input_tokens"),
            ).alias("cached_input_tokens"),
            pick(
                pl.col("cache_write_tokens"), chat_cw, None, u.field("cache_creation_input_tokens")
            ).alias("cache_write_tokens"),
            pick(
                pl.col("output_tokens"),
                u.field("completion_tokens"),
                u.field("output_tokens"),
                u.field("output_tokens"),
            ).alias("output_tokens"),
            pick(
                pl.col("reasoning_tokens"),
                u.field("completion_tokens_details").struct.field("reasoning_tokens"),
                u.field("output_tokens_details").struct.field("reasoning_tokens"),
                None,
            ).alias("reasoning_tokens"),
        )
        cost = None
    elif kind == "openrouter":
        frame = pl.scan_csv(
            files_of(root, ".csv"),
            schema_overrides={
                "cost_total": pl.Decimal(38, 12),
                "tokens_prompt": integer,
                "tokens_completion": integer,
                "tokens_reasoning": integer,
                "tokens_cached": integer,
            },
        )
        canonical = frame.select(
            pl.col("model_permaslug").alias("model"),
            (pl.col("tokens_prompt") - pl.col("tokens_cached").fill_null(0)).alias("input_tokens"),
            pl.col("tokens_cached").alias("cached_input_tokens"),
            pl.lit(0, integer).alias("cache_write_tokens"),
            pl.col("tokens_completion").alias("output_tokens"),
            pl.col("tokens_reasoning").alias("reasoning_tokens"),
            pl.col("cost_total"),
        )
        cost = pl.col("cost_total").sum().alias("cost_usd")
    elif kind == "claude-code":
        usage = pl.Struct(
            {
                "input_tokens": integer,
                "output_tokens": integer,
                "cache_creation_input_tokens": integer,
                "cache_read_input_tokens": integer,
            }
        )
        schema = {
            "type": pl.String,
            "requestId": pl.String,
            "message": pl.Struct({"id": pl.String, "model": pl.String, "usage": usage}),
        }
        frame = pl.scan_ndjson(files_of(root, ".jsonl"), schema=schema)
        m = pl.col("message").struct
        u = m.field("usage").struct
        lines = frame.filter(
            (pl.col("type") == "assistant") & m.field("usage").is_not_null()
        ).select(
            m.field("id").alias("message_id"),
            pl.col("requestId"),
            m.field("model").alias("model"),
            u.field("input_tokens").alias("input_tokens"),
            u.field("cache_read_input_tokens").alias("cached_input_tokens"),
            u.field("cache_creation_input_tokens").alias("cache_write_tokens"),
            u.field("output_tokens").alias("output_tokens"),
            pl.lit(0, integer).alias("reasoning_tokens"),
        )
        canonical = lines.group_by("message_id", "requestId").agg(
            pl.col("model").first(), *[pl.col(c).max() for c in TOKENS]
        )
        cost = None
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    aggs = [pl.len().alias("requests"), *[pl.col(c).fill_null(0).sum() for c in TOKENS]]
    if cost is not None:
        aggs.append(cost)
    per_model = canonical.group_by("model").agg(aggs).collect()
    totals: dict[str, object] = {
        "requests": int(per_model["requests"].sum()),
        **{c: int(per_model[c].sum()) for c in TOKENS},
    }
    if cost is not None:
        totals["cost_usd"] = str(per_model["cost_usd"].sum())
    return {"totals": totals, "models": per_model.height}


# ----------------------------------------------------------------------------- DuckDB

_JSONL_COLUMNS = {
    "model": "VARCHAR",
    **{name: "BIGINT" for name in TOKENS},
    "response": "STRUCT(object VARCHAR, type VARCHAR, model VARCHAR, usage STRUCT("
    "prompt_tokens BIGINT, completion_tokens BIGINT, "
    "prompt_tokens_details STRUCT(cached_tokens BIGINT, cache_write_tokens BIGINT), "
    "completion_tokens_details STRUCT(reasoning_tokens BIGINT), "
    "input_tokens BIGINT, output_tokens BIGINT, "
    "input_tokens_details STRUCT(cached_tokens BIGINT), "
    "output_tokens_details STRUCT(reasoning_tokens BIGINT), "
    "cache_read_input_tokens BIGINT, cache_creation_input_tokens BIGINT))",
}
_JSONL_SQL = """
WITH raw AS (
  SELECT * FROM read_json({files}, format = 'newline_delimited', columns = {columns})
), shaped AS (
  SELECT coalesce(model, response.model) AS model,
         input_tokens IS NOT NULL OR output_tokens IS NOT NULL AS is_flat,
         response.usage.prompt_tokens IS NOT NULL AS is_chat,
         coalesce(response.object = 'response', false) AS is_resp,
         input_tokens AS f_in, cached_input_tokens AS f_cached, cache_write_tokens AS f_cw,
         output_tokens AS f_out, reasoning_tokens AS f_reason,
         response.usage AS u
  FROM raw
), canonical AS (
  SELECT model,
    CASE WHEN is_flat THEN f_in
         WHEN is_chat THEN u.prompt_tokens - coalesce(u.prompt_tokens_details.cached_tokens, 0)
                           - coalesce(u.prompt_tokens_details.cache_write_tokens, 0)
         WHEN is_resp THEN u.input_tokens - coalesce(u.input_tokens_details.cached_tokens, 0)
         ELSE u.input_tokens END AS input_tokens,
    CASE WHEN is_flat THEN f_cached
         WHEN is_chat THEN u.prompt_tokens_details.cached_tokens
         WHEN is_resp THEN u.input_tokens_details.cached_tokens
         ELSE u.cache_read_input_tokens END AS cached_input_tokens,
    CASE WHEN is_flat THEN f_cw
         WHEN is_chat THEN u.prompt_tokens_details.cache_write_tokens
         WHEN is_resp THEN NULL
         ELSE u.cache_creation_input_tokens END AS cache_write_tokens,
    CASE WHEN is_flat THEN f_out
         WHEN is_chat THEN u.completion_tokens
         ELSE u.output_tokens END AS output_tokens,
    CASE WHEN is_flat THEN f_reason
         WHEN is_chat THEN u.completion_tokens_details.reasoning_tokens
         WHEN is_resp THEN u.output_tokens_details.reasoning_tokens
         ELSE NULL END AS reasoning_tokens
  FROM shaped
)
SELECT model, count(*) AS requests, {sums} FROM canonical GROUP BY model
"""
_OPENROUTER_SQL = """
SELECT model_permaslug AS model, count(*) AS requests,
  sum(tokens_prompt - coalesce(tokens_cached, 0)) AS input_tokens,
  sum(coalesce(tokens_cached, 0)) AS cached_input_tokens,
  0 AS cache_write_tokens,
  sum(coalesce(tokens_completion, 0)) AS output_tokens,
  sum(coalesce(tokens_reasoning, 0)) AS reasoning_tokens,
  sum(cost_total) AS cost_usd
FROM read_csv({files}, header = true, types = {{'cost_total': 'DECIMAL(38,12)',
  'tokens_prompt': 'BIGINT', 'tokens_completion': 'BIGINT', 'tokens_reasoning': 'BIGINT',
  'tokens_cached': 'BIGINT'}})
GROUP BY model
"""
_CLAUDE_SQL = """
WITH lines AS (
  SELECT message.id AS message_id, requestId AS request_id, message.model AS model,
         message.usage AS u
  FROM read_json({files}, format = 'newline_delimited', columns = {{
    'type': 'VARCHAR', 'requestId': 'VARCHAR',
    'message': 'STRUCT(id VARCHAR, model VARCHAR, usage STRUCT(input_tokens BIGINT,
       output_tokens BIGINT, cache_creation_input_tokens BIGINT,
       cache_read_input_tokens BIGINT))'}})
  WHERE type = 'assistant' AND message.usage IS NOT NULL
), messages AS (
  SELECT any_value(model) AS model,
         max(u.input_tokens) AS input_tokens,
         max(u.cache_read_input_tokens) AS cached_input_tokens,
         max(u.cache_creation_input_tokens) AS cache_write_tokens,
         max(u.output_tokens) AS output_tokens,
         0 AS reasoning_tokens
  FROM lines GROUP BY message_id, request_id
)
SELECT model, count(*) AS requests, {sums} FROM messages GROUP BY model
"""


def duckdb_totals(kind: str, root: Path) -> dict[str, object]:
    import duckdb

    sums = ", ".join(f"sum(coalesce({c}, 0)) AS {c}" for c in TOKENS)
    if kind == "jsonl":
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in _JSONL_COLUMNS.items()) + "}"
        sql = _JSONL_SQL.format(files=files_of(root, ".jsonl"), columns=columns, sums=sums)
    elif kind == "openrouter":
        sql = _OPENROUTER_SQL.format(files=files_of(root, ".csv"))
    elif kind == "claude-code":
        sql = _CLAUDE_SQL.format(files=files_of(root, ".jsonl"), sums=sums)
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    con = duckdb.connect()
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    totals: dict[str, object] = {
        "requests": sum(int(r["requests"]) for r in rows),
        **{c: sum(int(r[c] or 0) for r in rows) for c in TOKENS},
    }
    if kind == "openrouter":
        totals["cost_usd"] = str(sum((Decimal(r["cost_usd"] or 0) for r in rows), Decimal(0)))
    return {"totals": totals, "models": len(rows)}


TOOLS = {"polars": polars_totals, "duckdb": duckdb_totals}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("--kind", required=True, choices=("jsonl", "openrouter", "claude-code"))
    parser.add_argument("root", type=Path, help="the export folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = TOOLS[args.tool](args.kind, args.root)
    result = {"tool": args.tool, "kind": args.kind, **result}
    result["seconds"] = round(time.perf_counter() - started, 3)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
