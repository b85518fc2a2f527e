"""tokaudit's generic JSONL request log, including lines that wrap raw provider responses.

A line is either our documented flat shape (``input_tokens`` already uncached) or carries a
provider ``usage`` block — at the top level or inside ``response`` — in one of three
conventions, which this module is careful to tell apart because mixing them is the classic
double-count:

* OpenAI Chat Completions: ``prompt_tokens`` *includes* ``prompt_tokens_details.cached_tokens``.
* OpenAI Responses API: ``input_tokens`` *includes* ``input_tokens_details.cached_tokens``.
* Anthropic Messages: ``input_tokens`` *excludes* ``cache_read_input_tokens`` and
  ``cache_creation_input_tokens``.

Whatever the shape, the canonical ``input_tokens`` is the uncached part only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from audit.normalize import (
    ERROR_COLUMN,
    OUTCOME_WORDS,
    STATUS_WORDS,
    Parsed,
    clean_text,
    first_error,
    parse_choice,
    parse_float,
    parse_int,
    parse_ts,
    parse_usd,
    tags_json,
)
from audit.sources import source
from audit.sources.base import ReadOptions, Sample, SourceAdapter
from audit.sources.jsonlines import DOC, LINE, decode_objects, iter_lines

S = pl.String

USAGE = pl.Struct(
    {
        "prompt_tokens": S,
        "completion_tokens": S,
        "prompt_tokens_details": pl.Struct({"cached_tokens": S, "cache_write_tokens": S}),
        "completion_tokens_details": pl.Struct({"reasoning_tokens": S}),
        "input_tokens": S,
        "output_tokens": S,
        "input_tokens_details": pl.Struct({"cached_tokens": S}),
        "output_tokens_details": pl.Struct({"reasoning_tokens": S}),
        "cache_read_input_tokens": S,
        "cache_creation_input_tokens": S,
        "cache_creation": pl.Struct(
            {"ephemeral_5m_input_tokens": S, "ephemeral_1h_input_tokens": S}
        ),
        "cost": S,
    }
)
RESPONSE = pl.Struct(
    {
        "id": S,
        "object": S,
        "type": S,
        "model": S,
        "created": S,
        "created_at": S,
        "service_tier": S,
        "usage": USAGE,
    }
)
FLAT_FIELDS = (
    "request_id",
    "timestamp",
    "ts",
    "created_at",
    "created",
    "id",
    "object",
    "type",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "api_key",
    "key_name",
    "user",
    "team",
    "project",
    "environment",
    "purpose",
    "app",
    "session_id",
    "prompt_hash",
    "status",
    "http_status",
    "error_type",
    "latency_ms",
    "outcome",
    "cost_usd",
    "service_tier",
)
LINE_SCHEMA = pl.Struct({**{name: S for name in FLAT_FIELDS}, "usage": USAGE, "response": RESPONSE})
ATTRIBUTION = (
    "api_key",
    "key_name",
    "user",
    "team",
    "project",
    "environment",
    "purpose",
    "app",
    "session_id",
    "prompt_hash",
)
#: Keys whose values are (or may be) prompt or completion text: never copied into tags.
CONTENT_KEYS = frozenset(
    {
        "prompt",
        "prompts",
        "messages",
        "input",
        "output",
        "completion",
        "completions",
        "choices",
        "content",
        "text",
        "system",
        "instructions",
        "query",
        "answer",
        "body",
        "request",
        "request_body",
        "response_body",
        "metadata",
        "usage",
        "response",
    }
)
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_DISCOVERY_LINES = 1000
_TIMESTAMP_KEYS = {"timestamp", "ts", "created_at", "created"}
_TOKEN_KEYS = {"input_tokens", "output_tokens", "cached_input_tokens", "usage", "response"}


@source
class GenericJsonl(SourceAdapter):
    """Our own request-log format (see README), for home-made logging layers."""

    name = "generic-jsonl"
    title = "tokaudit generic JSONL request log (flat fields or wrapped provider responses)"
    granularity = "request"
    obtain = (
        "write one JSON object per request from your LLM client wrapper (README: Generic JSONL)"
    )

    def sniff(self, sample: Sample) -> float:
        objects = sample.json_lines
        if not objects:
            return 0.0
        hits = 0
        for obj in objects:
            keys = set(obj)
            response = obj.get("response")
            usage = obj.get("usage") or (
                response.get("usage") if isinstance(response, dict) else None
            )
            has_time = bool(keys & _TIMESTAMP_KEYS)
            has_tokens = bool(keys & {"input_tokens", "output_tokens"}) or isinstance(usage, dict)
            has_model = "model" in keys or (isinstance(response, dict) and "model" in response)
            if has_time and has_tokens and has_model:
                hits += 1
        return 0.9 * hits / len(objects)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        extra_keys: list[str] | None = None
        for lines in iter_lines(path, options.chunk_bytes):
            if extra_keys is None:
                extra_keys = _discover_extra_keys(lines)
            decoded = decode_objects(lines, LINE_SCHEMA)
            yield _map(decoded.lazy(), extra_keys)


def _discover_extra_keys(lines: pl.DataFrame) -> list[str]:
    """Top-level keys outside our schema, seen in the file's first lines, to keep as tags.

    Content-bearing keys (prompt, messages, …) are never kept; see :data:`CONTENT_KEYS`.
    """
    found: set[str] = set()
    for text in lines.get_column(LINE).head(_DISCOVERY_LINES).drop_nulls().to_list():
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            found.update(value)
    known = set(FLAT_FIELDS)
    return sorted(
        k for k in found if k not in known and k not in CONTENT_KEYS and _SIMPLE_KEY.match(k)
    )


def _int(expr: pl.Expr, name: str) -> Parsed:
    return parse_int(expr, name)


def _map(frame: pl.LazyFrame, extra_keys: list[str]) -> pl.LazyFrame:
    doc = pl.col(DOC).struct
    response = doc.field("response")
    usage_top = doc.field("usage")
    usage_resp = response.struct.field("usage")
    usage = pl.coalesce(usage_top, usage_resp)
    u = usage.struct

    def flat(name: str) -> pl.Expr:
        return doc.field(name)

    # --- which token convention does this line use? -------------------------------------
    g_in = _int(flat("input_tokens"), "input_tokens")
    g_cached = _int(flat("cached_input_tokens"), "cached_input_tokens")
    g_cw = _int(flat("cache_write_tokens"), "cache_write_tokens")
    g_cw1h = _int(flat("cache_write_1h_tokens"), "cache_write_1h_tokens")
    g_out = _int(flat("output_tokens"), "output_tokens")
    g_reason = _int(flat("reasoning_tokens"), "reasoning_tokens")
    c_prompt = _int(u.field("prompt_tokens"), "usage.prompt_tokens")
    c_comp = _int(u.field("completion_tokens"), "usage.completion_tokens")
    c_cached = _int(
        u.field("prompt_tokens_details").struct.field("cached_tokens"),
        "usage.prompt_tokens_details.cached_tokens",
    )
    c_cw = _int(
        u.field("prompt_tokens_details").struct.field("cache_write_tokens"),
        "usage.prompt_tokens_details.cache_write_tokens",
    )
    c_reason = _int(
        u.field("completion_tokens_details").struct.field("reasoning_tokens"),
        "usage.completion_tokens_details.reasoning_tokens",
    )
    r_in = _int(u.field("input_tokens"), "usage.input_tokens")
    r_out = _int(u.field("output_tokens"), "usage.output_tokens")
    r_cached = _int(
        u.field("input_tokens_details").struct.field("cached_tokens"),
        "usage.input_tokens_details.cached_tokens",
    )
    r_reason = _int(
        u.field("output_tokens_details").struct.field("reasoning_tokens"),
        "usage.output_tokens_details.reasoning_tokens",
    )
    a_read = _int(u.field("cache_read_input_tokens"), "usage.cache_read_input_tokens")
    a_create = _int(u.field("cache_creation_input_tokens"), "usage.cache_creation_input_tokens")
    a_5m = _int(
        u.field("cache_creation").struct.field("ephemeral_5m_input_tokens"),
        "usage.cache_creation.ephemeral_5m_input_tokens",
    )
    a_1h = _int(
        u.field("cache_creation").struct.field("ephemeral_1h_input_tokens"),
        "usage.cache_creation.ephemeral_1h_input_tokens",
    )
    parsed = [
        g_in,
        g_cached,
        g_cw,
        g_cw1h,
        g_out,
        g_reason,
        c_prompt,
        c_comp,
        c_cached,
        c_cw,
        c_reason,
    ]
    parsed += [r_in, r_out, r_cached, r_reason, a_read, a_create, a_5m, a_1h]

    obj_kind = pl.coalesce(flat("object"), response.struct.field("object"))
    msg_type = pl.coalesce(flat("type"), response.struct.field("type"))
    is_flat = g_in.value.is_not_null() | g_out.value.is_not_null()
    is_chat = c_prompt.value.is_not_null() | c_comp.value.is_not_null()
    is_responses = (
        (obj_kind == "response") | r_cached.value.is_not_null() | r_reason.value.is_not_null()
    )
    is_anthropic = (
        (msg_type == "message") | a_read.value.is_not_null() | a_create.value.is_not_null()
    )

    chat_cached = c_cached.value.fill_null(0)
    chat_cw = c_cw.value.fill_null(0)
    resp_cached = r_cached.value.fill_null(0)
    split_known = a_5m.value.is_not_null() | a_1h.value.is_not_null()
    anth_write = pl.coalesce(
        a_create.value, pl.when(split_known).then(a_5m.value.fill_null(0) + a_1h.value.fill_null(0))
    )

    def pick(flat_v: pl.Expr, chat_v: pl.Expr, resp_v: pl.Expr, anth_v: pl.Expr) -> pl.Expr:
        return (
            pl.when(is_flat)
            .then(flat_v)
            .when(is_chat)
            .then(chat_v)
            .when(is_responses)
            .then(resp_v)
            .otherwise(anth_v)
        )

    input_tokens = pick(
        g_in.value,
        c_prompt.value - chat_cached - chat_cw,
        r_in.value - resp_cached,
        r_in.value,
    )
    cached_tokens = pick(g_cached.value, c_cached.value, r_cached.value, a_read.value)
    cache_write = pick(g_cw.value, c_cw.value, pl.lit(None, pl.Int64), anth_write)
    cache_write_1h = pick(g_cw1h.value, pl.lit(None, pl.Int64), pl.lit(None, pl.Int64), a_1h.value)
    output_tokens = pick(g_out.value, c_comp.value, r_out.value, r_out.value)
    reasoning = pick(g_reason.value, c_reason.value, r_reason.value, pl.lit(None, pl.Int64))
    cached_exceeds = (
        pl.when(~is_flat & is_chat & (chat_cached + chat_cw > c_prompt.value))
        .then(pl.lit("usage.prompt_tokens_details.cached_tokens exceeds usage.prompt_tokens"))
        .when(~is_flat & ~is_chat & is_responses & (resp_cached > r_in.value))
        .then(pl.lit("usage.input_tokens_details.cached_tokens exceeds usage.input_tokens"))
    )

    # --- time, identity, attribution ------------------------------------------------------
    ts_text = pl.coalesce(
        clean_text(flat("timestamp")),
        clean_text(flat("ts")),
        clean_text(flat("created_at")),
        clean_text(response.struct.field("created")),
        clean_text(response.struct.field("created_at")),
        clean_text(flat("created")),
    )
    ts = parse_ts(ts_text, "timestamp")
    record_id = pl.coalesce(
        clean_text(flat("request_id")),
        clean_text(response.struct.field("id")),
        clean_text(flat("id")),
    )
    model = pl.coalesce(clean_text(flat("model")), clean_text(response.struct.field("model")))
    metadata = pl.col(LINE).str.json_path_match("$.metadata")
    metadata_is_object = metadata.str.starts_with("{")

    def attributed(name: str) -> pl.Expr:
        # Free-form metadata may nest objects; only a plain value can name a team or user
        # (the nested object itself is still kept in tags).
        value = pl.when(metadata_is_object).then(metadata.str.json_path_match(f"$.{name}"))
        scalar = pl.when(~value.str.starts_with("{") & ~value.str.starts_with("[")).then(value)
        return pl.coalesce(clean_text(flat(name)), clean_text(scalar))

    http = parse_int(flat("http_status"), "http_status")
    error_type = clean_text(flat("error_type"))
    status_given = parse_choice(flat("status"), "status", STATUS_WORDS)
    status = pl.coalesce(
        status_given.value,
        pl.when((http.value >= 400) | error_type.is_not_null()).then(pl.lit("error")),
    )
    outcome = parse_choice(flat("outcome"), "outcome", OUTCOME_WORDS)
    latency = parse_float(flat("latency_ms"), "latency_ms")
    cost = parse_usd(
        pl.coalesce(clean_text(flat("cost_usd")), clean_text(u.field("cost"))), "cost_usd"
    )
    provider_guess = (
        pl.when(record_id.str.starts_with("gen-") | u.field("cost").is_not_null())
        .then(pl.lit("openrouter"))
        .when(~is_flat & (is_chat | is_responses))
        .then(pl.lit("openai"))
        .when(~is_flat & is_anthropic)
        .then(pl.lit("anthropic"))
    )
    provider = pl.coalesce(clean_text(flat("provider")).str.to_lowercase(), provider_guess)
    tier = pl.coalesce(
        clean_text(flat("service_tier")), clean_text(response.struct.field("service_tier"))
    )

    extras = {key: pl.col(LINE).str.json_path_match(f"$.{key}") for key in extra_keys}
    non_object_metadata = pl.when(metadata.is_not_null() & ~metadata_is_object).then(metadata)
    tags = tags_json({**extras, "metadata": non_object_metadata}, extra_json=metadata)

    return frame.select(
        record_id.alias("record_id"),
        pl.col("source_line"),
        ts.value.alias("ts"),
        provider.alias("provider"),
        model.alias("model_raw"),
        tier.str.to_lowercase().alias("service_tier"),
        *[attributed(name).alias(name) for name in ATTRIBUTION],
        status.alias("status"),
        http.value.alias("http_status"),
        error_type.alias("error_type"),
        latency.value.alias("latency_ms"),
        outcome.value.alias("outcome"),
        input_tokens.alias("input_tokens"),
        cached_tokens.alias("cached_input_tokens"),
        cache_write.alias("cache_write_tokens"),
        cache_write_1h.alias("cache_write_1h_tokens"),
        output_tokens.alias("output_tokens"),
        reasoning.alias("reasoning_tokens"),
        cost.value.alias("reported_cost_usd"),
        tags.alias("tags"),
        first_error(
            pl.col(ERROR_COLUMN),
            *[p.error for p in parsed],
            ts.error,
            http.error,
            status_given.error,
            outcome.error,
            latency.error,
            cost.error,
            cached_exceeds,
        ).alias(ERROR_COLUMN),
    )
