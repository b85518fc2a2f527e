"""Helicone request exports from ``npx @helicone/export``: JSONL / JSON records and the CSV.

The JSONL and JSON outputs carry one ``query-clickhouse`` row (``HeliconeRequest``) per
request; the CSV carries a fixed subset of its columns (``response_id``, timestamps,
``response_status``, ``request_properties``, ``request_user_id``, ``model``, token counts,
``latency`` and ``cost`` — ``cost_usd`` in one version of the tool).

**Token convention.** Helicone stores ``prompt_tokens`` next to ``prompt_cache_read_tokens``
and ``prompt_cache_write_tokens``. What ``prompt_tokens`` holds depends on the provider and on
Helicone's version, so the facts are ambiguous:

* Anthropic (and Claude on Bedrock/Vertex, Anthropic-shaped usage): ``prompt_tokens`` is the
  response's ``input_tokens``, which *excludes* cache reads and writes (Helicone's
  ``AnthropicBodyProcessor``) — the canonical uncached input as is.
* OpenAI-shaped providers (OpenAI, Azure, OpenRouter, Groq, …): current Helicone subtracts
  ``cached_tokens`` from ``prompt_tokens`` before storing it (``ModelUsage.input`` "excluding
  cached", and the later ``OpenAIBodyProcessor``), but earlier processors stored OpenAI's raw
  ``prompt_tokens``, which *includes* cache reads. A row does not say which code wrote it.

This module therefore never counts a token twice: for OpenAI-shaped providers it treats
``prompt_tokens`` as including the cache reads and writes and subtracts them, *unless* the
row proves otherwise — the cache counts exceed ``prompt_tokens`` (they cannot be part of
it), or ``total_tokens`` equals prompt + cache + completion (the legacy processor that
subtracted cached tokens kept OpenAI's ``total_tokens``). In the remaining ambiguous case a
row written by current Helicone loses its cache-read count from the uncached input — an
undercount of full-price input, never a double count; ``cost`` (Helicone's own figure) is
exact either way. Helicone has no reasoning-token field; ``completion_tokens`` is output.

**Ids.** ``record_id`` is ``response_id`` (Helicone's response UUID, the one id the CSV has
too, so the same request exported as CSV and as JSONL is counted once), else ``request_id``
(``Helicone-Request-Id``, kept in ``tags.helicone_request_id``). The provider's own response
id lives only inside ``response_body`` and is not read.

**Status.** ``response_status`` is the HTTP code; ``-1`` and ``0`` (pending / timed out,
UNVERIFIED meaning) are errors with ``error_type`` ``no_response``.

**Attribution.** Custom properties (``Helicone-Property-<Name>`` headers → ``request_properties``,
keys lower-cased) are matched case-insensitively against ``tokaudit.yaml``'s ``attribution``
keys; ``helicone-session-id`` is a session id; the other properties go to ``tags``.
``request_user_id`` (``Helicone-User-Id``) is the user. ``request_body`` / ``response_body``
(prompt and completion text) are never read.

**Cost.** ``cost`` is USD (``costUSD`` in legacy rows). A cost of exactly 0 on a request with
tokens means Helicone had no price for the model, so it is treated as unknown (the price
tables decide, and ``tags.reported_cost`` keeps the 0).

The JSON format (``--format json``) is one array written record by record — older versions
of the tool leave a trailing comma before the closing bracket, which is tolerated. Such a
file is read whole (it is an API dump, not a growing log) and ``source_line`` is then the
record's 1-based position in the array. The CSV writer of some versions doubles the quotes
inside JSON-valued cells a second time (``{""env"":""prod""}`` after CSV unquoting); that
is undone before ``request_properties`` is read.

This module also holds the helpers the other gateway adapters (LiteLLM, Langfuse, Portkey)
share: JSON-document reading, head sniffing of big documents, and metadata attribution.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from audit.normalize import ERROR_COLUMN, clean_text, gather_errors, parse_columns, tags_json
from audit.sources import source
from audit.sources.base import (
    ReadOptions,
    Sample,
    SourceAdapter,
    header_score,
    key_score,
    open_binary,
)
from audit.sources.generic_jsonl import CONTENT_KEYS
from audit.sources.jsonlines import DOC, LINE, decode_objects, iter_lines
from audit.sources.tables import col, iter_csv

S = pl.String

# --------------------------------------------------------------------------------------------
# Shared helpers (also used by audit.sources.litellm, .langfuse and .portkey).
# --------------------------------------------------------------------------------------------

#: At most this many distinct metadata keys per chunk become expressions (attribution + tags).
MAX_METADATA_KEYS = 50
#: Keys usable in a JSON path ``$['key']`` (no quotes, no backslashes).
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_\-. /@:]{1,64}$")
_KEY_TOKEN = r'"[^"\\]{1,64}"\s*:'
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_HEAD_RECORDS = 20
_WS = " \t\r\n\ufeff"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _scan_keys(text: str, start: int) -> dict[str, int]:
    """Top-level keys of the JSON object opening at ``text[start]``, with their values' offsets.

    A cheap character scan (strings and nesting only) that tolerates a truncated object, so
    the first record of a document bigger than the sniff window still shows its keys.
    """
    keys: dict[str, int] = {}
    depth = 0
    pos = start
    expect_key = False
    pending: str | None = None
    while pos < len(text):
        char = text[pos]
        if char == '"':
            string = _STRING.match(text, pos)
            if string is None:  # cut by the sniff window
                break
            if depth == 1 and expect_key:
                pending = string.group()[1:-1]
                expect_key = False
            pos = string.end()
            continue
        if char == ":" and depth == 1 and pending is not None:
            keys[pending] = _skip_ws(text, pos + 1)
            pending = None
        elif char in "{[":
            depth += 1
            if depth == 1:
                expect_key = char == "{"
        elif char in "}]":
            depth -= 1
            if depth <= 0:
                break
        elif char == "," and depth == 1:
            expect_key = True
        pos += 1
    return keys


def _first_record_keys(text: str) -> set[str]:
    """Keys of the first record of a JSON array, or of ``{"data": [...]}``, or of one object."""
    pos = _skip_ws(text, 0)
    if text.startswith("[", pos):
        pos = _skip_ws(text, pos + 1)
        return set(_scan_keys(text, pos)) if text.startswith("{", pos) else set()
    if not text.startswith("{", pos):
        return set()
    keys = _scan_keys(text, pos)
    if "data" in keys:
        inner = keys["data"]
        if text.startswith("[", inner):
            inner = _skip_ws(text, inner + 1)
            return set(_scan_keys(text, inner)) if text.startswith("{", inner) else set()
    return set(keys)


def _records_of(document: Any) -> list[Any]:
    """The records of a parsed document: an array, ``{"data": [...]}``, or one record."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        data = document.get("data")
        return data if isinstance(data, list) else [document]
    return []


def _first_line_object(text: str) -> dict[str, Any] | None:
    first = text.lstrip(_WS).split("\n", 1)[0].strip()
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_wrapper(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("data"), list)


def head_records(sample: Sample) -> list[dict[str, Any]]:
    """The first records of a JSONL file or a JSON document, for sniffing.

    A JSON array or an API page (``{"data": [...], "meta": ...}``) that does not fit the
    sniff window is recognised from its first record's keys (values unknown, ``None``).
    """
    text = sample.text
    stripped = text.lstrip(_WS)
    first = _first_line_object(stripped)
    if first is not None and not _is_wrapper(first):
        return sample.json_lines
    if not stripped.startswith(("[", "{")):
        return []
    document = sample.json_document
    if document is not None:
        return [r for r in _records_of(document)[:_HEAD_RECORDS] if isinstance(r, dict)]
    keys = _first_record_keys(stripped)
    return [dict.fromkeys(keys)] if keys else []


def records_score(
    records: Sequence[Mapping[str, Any]],
    required: set[str],
    optional: frozenset[str] | set[str] = frozenset(),
) -> float:
    """The mean :func:`key_score` of the head records (0 when there are none)."""
    if not records:
        return 0.0
    return sum(key_score(set(r), required, optional) for r in records) / len(records)


def _first_line(path: Path, limit: int = 64 * 1024 * 1024) -> str:
    """The file's first non-blank line, whole (a JSONL record may exceed the sniff window)."""
    data = b""
    with open_binary(path) as handle:
        while len(data) < limit:
            block = handle.read(1 << 20)
            if not block:
                break
            data += block
            if b"\n" in data.lstrip():
                break
    text = data.decode("utf-8-sig", errors="replace").lstrip(_WS)
    return text.split("\n", 1)[0].strip()


def is_json_document(path: Path) -> bool:
    """True for a JSON array / single document, False for JSON lines (from the first line)."""
    first = _first_line(path)
    if first.startswith("["):
        return True
    if not first.startswith("{"):
        return False
    try:
        value = json.loads(first)
    except (ValueError, RecursionError):
        # A pretty-printed object spans lines; a broken JSONL line still ends with its brace.
        return not first.endswith("}")
    return isinstance(value, dict) and _is_wrapper(value)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _array_records(text: str, start: int) -> tuple[list[Any], str | None]:
    """Records of a JSON array, one by one: a trailing comma is tolerated, damage stops it."""
    decoder = json.JSONDecoder()
    records: list[Any] = []
    pos = start + 1
    while True:
        pos = _skip_ws(text, pos)
        while pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        if pos >= len(text):
            return records, "JSON array ends early (truncated file?)"
        if text[pos] == "]":
            return records, None
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            return records, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        except RecursionError:
            return records, "JSON nested too deeply"
        records.append(value)


def document_lines(path: Path) -> pl.DataFrame:
    """A whole JSON document as a lines frame: one JSON-object line per record.

    ``source_line`` is the record's 1-based position; a record that is not an object, or
    the damage that ends a broken array, is a rejected row with its reason. The frame then
    goes through :func:`audit.sources.jsonlines.decode_objects` like a JSONL chunk.
    """
    with open_binary(path) as handle:
        data = handle.read()
        broken = getattr(handle, "error", None)
    positions: list[int] = []
    lines: list[str | None] = []
    errors: list[str | None] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = ""
        positions, lines, errors = [1], [None], [f"invalid UTF-8 at byte {exc.start}"]
    start = _skip_ws(text, 0)
    records: list[Any] = []
    damage: str | None = None
    if text.startswith("[", start):
        records, damage = _array_records(text, start)
    elif text:
        try:
            records = _records_of(json.loads(text))
        except ValueError as exc:
            msg = getattr(exc, "msg", str(exc))
            line = getattr(exc, "lineno", None)
            damage = f"invalid JSON at line {line}: {msg}" if line else f"invalid JSON: {msg}"
        except RecursionError:
            damage = "JSON nested too deeply"
    for number, record in enumerate(records, start=1):
        positions.append(number)
        if isinstance(record, dict):
            lines.append(json.dumps(record, ensure_ascii=False))
            errors.append(None)
        else:
            lines.append(None)
            errors.append(f"record is {_kind(record)}, expected a JSON object")
    damage = damage or broken
    if damage:
        positions.append(len(records) + 1)
        lines.append(None)
        errors.append(damage)
    return pl.DataFrame(
        {"source_line": positions, LINE: lines, ERROR_COLUMN: errors},
        schema={"source_line": pl.Int64, LINE: pl.String, ERROR_COLUMN: pl.String},
    )


def json_record_lines(path: Path, options: ReadOptions) -> Iterator[pl.DataFrame]:
    """Lines frames for a JSONL file (streamed in chunks) or a JSON document (read whole)."""
    if is_json_document(path):
        yield document_lines(path)
    else:
        yield from iter_lines(path, options.chunk_bytes)


def json_field(text: pl.Expr, *keys: str) -> pl.Expr:
    """A value inside a JSON text by key path (``$['a']['b']``); null when absent or invalid."""
    path = "$" + "".join(f"['{key}']" for key in keys)
    return text.str.json_path_match(path)


def plain(value: pl.Expr) -> pl.Expr:
    """A scalar JSON value as trimmed text; objects, arrays and blanks become null."""
    text = clean_text(value)
    return pl.when(~text.str.starts_with("{") & ~text.str.starts_with("[")).then(text)


def object_error(text: pl.Expr, label: str) -> pl.Expr:
    """A reason when a JSON-object field (metadata, properties, usage) holds something else."""
    bad = text.is_not_null() & (
        ~text.str.strip_chars().str.starts_with("{") | text.str.json_path_match("$").is_null()
    )
    return pl.when(bad).then(
        pl.concat_str(
            pl.lit(f"{label}: '"), text.str.slice(0, 40), pl.lit("' is not a JSON object")
        )
    )


def discover_keys(texts: pl.Series) -> list[str]:
    """The key names used in a column of JSON-object texts (any depth), most frequent first.

    Capped at :data:`MAX_METADATA_KEYS`; keys that cannot be addressed in a JSON path are
    skipped. Nested keys are harmless: they are read at the top level, where they are null.
    """
    found = (
        texts.drop_nulls()
        .str.extract_all(_KEY_TOKEN)
        .explode()
        .drop_nulls()
        .str.replace(r'"\s*:$', "")
        .str.slice(1)
    )
    if found.is_empty():
        return []
    counts = found.value_counts()
    pairs = sorted(zip(counts[:, 0].to_list(), counts[:, 1].to_list(), strict=True), key=_by_count)
    keys = [name for name, _count in pairs if _SAFE_KEY.match(name)]
    return sorted(keys[:MAX_METADATA_KEYS])


def _by_count(pair: tuple[str, int]) -> tuple[int, str]:
    return (-pair[1], pair[0])


def metadata_fields(
    keys: Iterable[str],
    meta: pl.Expr,
    lookup: Mapping[str, str],
    *,
    fallback: Mapping[str, Sequence[str]] | None = None,
    reserved: Iterable[str] = (),
) -> tuple[dict[str, pl.Expr], dict[str, pl.Expr]]:
    """Attribution columns and tag fields from a metadata / properties JSON object.

    ``lookup`` is ``Config.attribution_lookup()`` (key → canonical column, case-insensitive);
    ``fallback`` adds source-specific keys after the configured ones (``helicone-session-id``).
    Only plain values attribute; every other key with a plain value becomes a tag, except
    content-bearing keys (``prompt``, ``messages``, …) and names in ``reserved``.
    """
    order = {key: rank for rank, key in enumerate(lookup)}
    extra = {
        key.lower(): (column, len(order) + rank)
        for column, names in (fallback or {}).items()
        for rank, key in enumerate(names)
    }
    ranked: dict[str, list[tuple[int, str, pl.Expr]]] = {}
    tags: dict[str, pl.Expr] = {}
    taken = {name.lower() for name in reserved}
    for key in keys:
        low = key.lower()
        value = plain(json_field(meta, key))
        if low in lookup:
            ranked.setdefault(lookup[low], []).append((order[low], key, value))
        elif low in extra:
            column, rank = extra[low]
            ranked.setdefault(column, []).append((rank, key, value))
        elif low not in CONTENT_KEYS and low not in taken:
            tags[key] = value
    columns = {
        column: pl.coalesce([value for _rank, _key, value in sorted(items, key=_rank_key)])
        for column, items in ranked.items()
    }
    return columns, tags


def _rank_key(item: tuple[int, str, pl.Expr]) -> tuple[int, str]:
    return (item[0], item[1])


def attributed(columns: Mapping[str, pl.Expr], name: str, *first: pl.Expr) -> pl.Expr:
    """``name`` from the source's own fields (``first``), else from the metadata lookup."""
    found = [clean_text(expr) for expr in first]
    if name in columns:
        found.append(columns[name])
    return pl.coalesce(found) if found else pl.lit(None, dtype=pl.String)


def http_error_type(code: pl.Expr) -> pl.Expr:
    """A short error class from an HTTP status (null below 400)."""
    return (
        pl.when(code == 429)
        .then(pl.lit("rate_limit"))
        .when(code.is_in([408, 504, 524]))
        .then(pl.lit("timeout"))
        .when(code.is_in([401, 403]))
        .then(pl.lit("auth"))
        .when(code.is_in([400, 404, 413, 422]))
        .then(pl.lit("invalid_request"))
        .when(code >= 500)
        .then(pl.lit("server_error"))
        .when(code >= 400)
        .then(pl.lit("client_error"))
    )


def vocabulary(raw: pl.Expr, mapping: Mapping[str, str]) -> pl.Expr:
    """A source's provider spelling (case-insensitive) onto tokaudit's provider vocabulary."""
    return (
        clean_text(raw)
        .str.to_lowercase()
        .replace_strict(dict(mapping), default=None, return_dtype=pl.String)
    )


def json_string_list(text: pl.Expr) -> pl.Expr:
    """A JSON array of strings (``["a","b"]``) as ``a,b``; other values pass through as text."""
    items = text.str.extract_all(r'"(?:[^"\\]|\\.)*"').list.eval(
        pl.element().str.slice(1, pl.element().str.len_chars() - 2)
    )
    return clean_text(
        pl.when(text.str.strip_chars().str.starts_with("["))
        .then(items.list.join(","))
        .otherwise(text)
    )


# --------------------------------------------------------------------------------------------
# Helicone
# --------------------------------------------------------------------------------------------

#: Helicone's provider enum (and AI-gateway provider names) onto tokaudit's vocabulary.
PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure",
    "openrouter": "openrouter",
    "bedrock": "bedrock",
    "aws": "bedrock",
    "google": "google",
    "google-ai-studio": "google",
    "gemini": "google",
    "vertex": "vertex",
    "groq": "groq",
    "together": "together",
    "fireworks": "fireworks",
    "cohere": "cohere",
    "mistral": "mistral",
    "deepseek": "deepseek",
    "x": "xai",
    "xai": "xai",
    "local": "self-hosted",
}
#: Providers whose ``prompt_tokens`` is Anthropic-shaped (cache reads and writes excluded).
_EXCLUSIVE = ("anthropic", "bedrock")
#: Helicone's response-cache marker: a request served from its cache has a non-default id.
_NO_CACHE_REFERENCE = "00000000-0000-0000-0000-000000000000"

_RECORD_FIELDS = (
    "request_id",
    "response_id",
    "request_created_at",
    "response_created_at",
    "response_status",
    "provider",
    "model",
    "request_model",
    "response_model",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_cache_read_tokens",
    "prompt_cache_write_tokens",
    "cost",
    "costUSD",
    "delay_ms",
    "time_to_first_token",
    "request_user_id",
    "country_code",
    "cache_reference_id",
)
_RECORD = pl.Struct({name: S for name in _RECORD_FIELDS})

_JSON_REQUIRED = {"request_id", "request_created_at", "response_status"}
_JSON_OPTIONAL = frozenset(
    {
        "response_id",
        "response_created_at",
        "provider",
        "request_model",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_cache_read_tokens",
        "prompt_cache_write_tokens",
        "cost",
        "delay_ms",
        "request_user_id",
        "request_properties",
    }
)
_CSV_REQUIRED = {
    "response_id",
    "response_created_at",
    "response_status",
    "request_created_at",
    "prompt_tokens",
}
_CSV_OPTIONAL = frozenset(
    {
        "request_body",
        "request_properties",
        "request_user_id",
        "model",
        "completion_tokens",
        "latency",
        "cost",
        "cost_usd",
    }
)
_TAG_NAMES = frozenset(
    {
        "helicone_request_id",
        "helicone_provider",
        "country_code",
        "time_to_first_token_ms",
        "total_tokens",
        "cache_hit",
        "reported_cost",
    }
)
#: Attribution columns: ``request_user_id`` and the properties matched by the lookup.
_ATTRIBUTION = (
    "user",
    "key_name",
    "team",
    "project",
    "environment",
    "purpose",
    "app",
    "session_id",
)


@source
class HeliconeJson(SourceAdapter):
    """Helicone request records (``@helicone/export --format jsonl|json``), one per request."""

    name = "helicone-json"
    title = "Helicone request export, JSONL or JSON (@helicone/export)"
    granularity = "request"
    obtain = "HELICONE_API_KEY=… npx @helicone/export --format jsonl (or json)"

    def sniff(self, sample: Sample) -> float:
        return records_score(head_records(sample), _JSON_REQUIRED, _JSON_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for lines in json_record_lines(path, options):
            decoded = decode_objects(lines, _RECORD)
            doc = pl.col(DOC).struct
            properties = pl.coalesce(
                json_field(pl.col(LINE), "request_properties"),
                json_field(pl.col(LINE), "properties"),
            )
            raw = decoded.select(
                "source_line",
                ERROR_COLUMN,
                doc.field("response_id").alias("r.response_id"),
                doc.field("request_id").alias("r.request_id"),
                doc.field("request_created_at").alias("r.ts"),
                doc.field("response_status").alias("r.status"),
                doc.field("provider").alias("r.provider"),
                pl.coalesce(
                    clean_text(doc.field("model")),
                    clean_text(doc.field("request_model")),
                    clean_text(doc.field("response_model")),
                ).alias("r.model"),
                doc.field("prompt_tokens").alias("r.prompt"),
                doc.field("completion_tokens").alias("r.completion"),
                doc.field("total_tokens").alias("r.total"),
                doc.field("prompt_cache_read_tokens").alias("r.read"),
                doc.field("prompt_cache_write_tokens").alias("r.write"),
                pl.coalesce(clean_text(doc.field("cost")), clean_text(doc.field("costUSD"))).alias(
                    "r.cost"
                ),
                doc.field("delay_ms").alias("r.latency"),
                doc.field("time_to_first_token").alias("r.ttft"),
                doc.field("request_user_id").alias("r.user"),
                doc.field("country_code").alias("r.country"),
                doc.field("cache_reference_id").alias("r.cache_ref"),
                properties.alias("meta"),
            )
            yield _map(raw, options, cost_label="cost", latency_label="delay_ms")


@source
class HeliconeCsv(SourceAdapter):
    """Helicone request rows from ``@helicone/export --format csv`` (a subset of the record)."""

    name = "helicone-csv"
    title = "Helicone request export, CSV (@helicone/export --format csv)"
    granularity = "request"
    obtain = "HELICONE_API_KEY=… npx @helicone/export --format csv"

    def sniff(self, sample: Sample) -> float:
        return header_score(sample.csv_header, _CSV_REQUIRED, _CSV_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        for batch in iter_csv(path, options.chunk_lines):
            cols = set(batch.columns)
            properties = clean_text(col(cols, "request_properties"))
            properties = (
                pl.when(properties.str.starts_with('{""'))
                .then(properties.str.replace_all('""', '"', literal=True))
                .otherwise(properties)
            )
            none = pl.lit(None, dtype=pl.String)
            raw = batch.select(
                "source_line",
                none.alias(ERROR_COLUMN),
                col(cols, "response_id").alias("r.response_id"),
                none.alias("r.request_id"),
                col(cols, "request_created_at").alias("r.ts"),
                col(cols, "response_status").alias("r.status"),
                none.alias("r.provider"),
                clean_text(col(cols, "model")).alias("r.model"),
                col(cols, "prompt_tokens").alias("r.prompt"),
                col(cols, "completion_tokens").alias("r.completion"),
                none.alias("r.total"),
                none.alias("r.read"),
                none.alias("r.write"),
                col(cols, "cost", "cost_usd").alias("r.cost"),
                col(cols, "latency").alias("r.latency"),
                none.alias("r.ttft"),
                col(cols, "request_user_id").alias("r.user"),
                none.alias("r.country"),
                none.alias("r.cache_ref"),
                properties.alias("meta"),
            )
            cost_label = "cost_usd" if "cost_usd" in cols and "cost" not in cols else "cost"
            yield _map(raw, options, cost_label=cost_label, latency_label="latency")


def _map(
    raw: pl.DataFrame, options: ReadOptions, *, cost_label: str, latency_label: str
) -> pl.LazyFrame:
    """Both formats' raw text columns (:data:`_RAW`) onto the canonical columns."""
    keys = discover_keys(raw.get_column("meta"))
    attrs, meta_tags = metadata_fields(
        keys,
        pl.col("meta"),
        options.config.attribution_lookup(),
        fallback={"session_id": ("helicone-session-id",)},
        reserved=_TAG_NAMES,
    )
    # Stage 2: parse.
    frame = raw.lazy().with_columns(
        *parse_columns(
            {
                "ts": ("r.ts", "ts", "request_created_at"),
                "code": ("r.status", "int", "response_status"),
                "prompt": ("r.prompt", "int", "prompt_tokens"),
                "output_tokens": ("r.completion", "int", "completion_tokens"),
                "total": ("r.total", "int", "total_tokens"),
                "read": ("r.read", "int", "prompt_cache_read_tokens"),
                "write": ("r.write", "int", "prompt_cache_write_tokens"),
                "cost": ("r.cost", "usd", cost_label),
                "latency_ms": ("r.latency", "float", latency_label),
            }
        ),
        vocabulary(pl.col("r.provider"), PROVIDERS).alias("provider"),
        clean_text(pl.col("r.model")).alias("model_raw"),
        clean_text(pl.col("r.cache_ref")).alias("cache_ref"),
        object_error(pl.col("meta"), "request_properties").alias("_err.~meta"),
    )
    # Stage 3: which token convention the row uses (module docstring), cache hits.
    cache = pl.col("read").fill_null(0) + pl.col("write").fill_null(0)
    anthropic_shaped = pl.col("provider").is_in(_EXCLUSIVE) | (
        (pl.col("provider") == "vertex") & pl.col("model_raw").str.contains("(?i)claude")
    )
    proven_exclusive = (cache > 0) & (
        pl.col("total") == pl.col("prompt") + cache + pl.col("output_tokens").fill_null(0)
    )
    tokens = pl.sum_horizontal(
        pl.col("prompt").fill_null(0), pl.col("output_tokens").fill_null(0), cache
    )
    cache_hit = pl.col("cache_ref").is_not_null() & (pl.col("cache_ref") != _NO_CACHE_REFERENCE)
    frame = frame.with_columns(
        (
            anthropic_shaped.fill_null(False)
            | (cache > pl.col("prompt")).fill_null(False)
            | proven_exclusive.fill_null(False)
        ).alias("exclusive"),
        cache.alias("cache"),
        cache_hit.alias("cache_hit"),
        ((pl.col("cost") == 0) & (tokens > 0) & ~cache_hit).fill_null(False).alias("zero_cost"),
    )
    # Stage 4: canonical columns.
    code = pl.col("code")
    frame = frame.with_columns(
        pl.coalesce(clean_text(pl.col("r.response_id")), clean_text(pl.col("r.request_id"))).alias(
            "record_id"
        ),
        pl.when(pl.col("exclusive"))
        .then(pl.col("prompt"))
        .otherwise(pl.col("prompt") - pl.col("cache"))
        .alias("input_tokens"),
        pl.col("read").alias("cached_input_tokens"),
        pl.col("write").alias("cache_write_tokens"),
        pl.when(pl.col("zero_cost"))
        .then(None)
        .otherwise(pl.col("cost"))
        .alias("reported_cost_usd"),
        attributed(attrs, "user", pl.col("r.user")).alias("user"),
        *[attributed(attrs, name).alias(name) for name in _ATTRIBUTION if name != "user"],
        pl.when(code.is_null())
        .then(None)
        .when((code <= 0) | (code >= 400))
        .then(pl.lit("error"))
        .otherwise(pl.lit("ok"))
        .alias("status"),
        pl.when(code > 0).then(code).alias("http_status"),
        pl.when(code <= 0)
        .then(pl.lit("no_response"))
        .otherwise(http_error_type(code))
        .alias("error_type"),
        tags_json(
            {
                **meta_tags,
                "helicone_request_id": clean_text(pl.col("r.request_id")),
                "helicone_provider": pl.when(pl.col("provider").is_null()).then(
                    clean_text(pl.col("r.provider"))
                ),
                "country_code": clean_text(pl.col("r.country")),
                "time_to_first_token_ms": clean_text(pl.col("r.ttft")),
                "total_tokens": clean_text(pl.col("r.total")),
                "cache_hit": pl.when(pl.col("cache_hit")).then(pl.lit("true")),
                "reported_cost": pl.when(pl.col("zero_cost")).then(clean_text(pl.col("r.cost"))),
            }
        ).alias("tags"),
    )
    frame = frame.with_columns(gather_errors(frame.collect_schema().names()))
    return frame.select(
        "record_id", "source_line", "ts", "provider", "model_raw", *_ATTRIBUTION, "status",
        "http_status", "error_type", "latency_ms", "input_tokens", "cached_input_tokens",
        "cache_write_tokens", "output_tokens", "reported_cost_usd", "tags", ERROR_COLUMN,
    )  # fmt: skip
