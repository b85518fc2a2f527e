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
from collections.abc import Iterator, Mapping
from pathlib import Path

import polars as pl
from polars.exceptions import PolarsError

from audit.normalize import (
    ERROR_COLUMN,
    ERROR_PREFIX,
    clean_text,
    gather_errors,
    parse_frame,
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
#: A JSON ``\u`` escape that can spell a key's letter (so ``"key"`` need not occur
#: in the text) or be a surrogate (``json_path_match`` rejects a lone one, the decode not).
_ESCAPE = r"\\u(?:00[3-7]|[dD][89a-fA-F])"
#: Where a decoded value may have been a JSON number, written differently by the two readers.
_NUMBER_START = "^[-0-9]"
#: Metadata with this many ``{``/``[`` might nest past ``json_path_match``'s depth limit
#: (128), so such rows are read the slow way.
_DEEP = 64
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

    batchable = True

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        return self.read_in_stages(path, options)

    def extract(
        self, path: Path, options: ReadOptions, data: bytes | None = None
    ) -> Iterator[pl.DataFrame]:
        """Decoded lines and their raw values; the extra keys are the file's own (first lines)."""
        extra_keys: list[str] | None = None
        for lines in iter_lines(path, options.chunk_bytes, data):
            if extra_keys is None:
                extra_keys = _discover_extra_keys(lines)
            yield _extract(decode_objects(lines, LINE_SCHEMA), extra_keys)

    def transform(self, frame: pl.DataFrame, options: ReadOptions) -> pl.LazyFrame:
        # A batch holds the union of its files' extra keys; a file without one has nulls.
        extra_keys = sorted(name[2:] for name in frame.columns if name.startswith("x."))
        return _map_extracted(frame, extra_keys, options.config.attribution)


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


#: Raw usage-block fields: output column -> (path inside the usage struct, label in messages).
_USAGE_FIELDS = {
    "c_prompt": (("prompt_tokens",), "usage.prompt_tokens"),
    "c_comp": (("completion_tokens",), "usage.completion_tokens"),
    "c_cached": (
        ("prompt_tokens_details", "cached_tokens"),
        "usage.prompt_tokens_details.cached_tokens",
    ),
    "c_cw": (
        ("prompt_tokens_details", "cache_write_tokens"),
        "usage.prompt_tokens_details.cache_write_tokens",
    ),
    "c_reason": (
        ("completion_tokens_details", "reasoning_tokens"),
        "usage.completion_tokens_details.reasoning_tokens",
    ),
    "r_in": (("input_tokens",), "usage.input_tokens"),
    "r_out": (("output_tokens",), "usage.output_tokens"),
    "r_cached": (
        ("input_tokens_details", "cached_tokens"),
        "usage.input_tokens_details.cached_tokens",
    ),
    "r_reason": (
        ("output_tokens_details", "reasoning_tokens"),
        "usage.output_tokens_details.reasoning_tokens",
    ),
    "a_read": (("cache_read_input_tokens",), "usage.cache_read_input_tokens"),
    "a_create": (("cache_creation_input_tokens",), "usage.cache_creation_input_tokens"),
    "a_5m": (
        ("cache_creation", "ephemeral_5m_input_tokens"),
        "usage.cache_creation.ephemeral_5m_input_tokens",
    ),
    "a_1h": (
        ("cache_creation", "ephemeral_1h_input_tokens"),
        "usage.cache_creation.ephemeral_1h_input_tokens",
    ),
}
_FLAT_INTS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def _extract(frame: pl.DataFrame, extra_keys: list[str]) -> pl.DataFrame:
    """Stage 1: pull every raw value out of the decoded struct into its own text column.

    The fields are taken from the struct column as a Series (1 ms for 31k gateway lines,
    against 24 ms for one ``struct.field`` expression per field).
    """
    top = frame.get_column(DOC).struct.unnest()
    response = top.get_column("response")
    own = top.get_column("usage")
    usage = own.zip_with(own.is_not_null(), response.struct.field("usage"))  # coalesce
    columns = [top.get_column(name).alias(f"f.{name}") for name in FLAT_FIELDS]
    for name in ("id", "object", "type", "model", "created", "created_at", "service_tier"):
        columns.append(response.struct.field(name).alias(f"resp.{name}"))
    for out, (path, _label) in _USAGE_FIELDS.items():
        value = usage
        for part in path:
            value = value.struct.field(part)
        columns.append(value.alias(f"u.{out}"))
    columns.append(usage.struct.field("cost").alias("u.cost"))
    decoded = pl.col(ERROR_COLUMN).is_null()
    texts = [_top_level(pl.col(LINE), "metadata", decoded).alias("meta")]
    texts += [_top_level(pl.col(LINE), key, decoded).alias(f"x.{key}") for key in extra_keys]
    found = frame.select(*texts)
    return frame.select("source_line", ERROR_COLUMN, LINE).hstack([*columns, *found])


def _top_level(text: pl.Expr, key: str, decoded: pl.Expr) -> pl.Expr:
    """``text.str.json_path_match("$.<key>")``, parsing as little of each line as it can.

    ``json_path_match`` parses the whole line, per key and row: for a gateway's metadata
    object that was 2 s of CPU per million lines, more than decoding the lines. Two ways
    around it, each giving exactly its result:

    * The line from the key's first mention on, behind an opening brace, is an object
      holding that key and the ones after it, when the mention is a top-level key; the
      key is read from that (a gateway writes ``metadata`` last: a fifth of the line). A
      mention inside a nested object or array leaves its closers unmatched, and one that
      is a string value has no colon after it, so the parse fails and the whole line is
      read instead. A later top-level duplicate of the key is in the part read, so the
      last one still wins. Only for lines ``json_path_match`` would read at all: lines
      that decoded (``decoded``), without a ``\\u`` escape (a lone surrogate, which the
      decoders accept and it refuses; or the key spelled with escapes) and not nested
      deep enough for its depth limit (see ``_DEEP``).
    * A line where ``"key"`` does not occur (and no ``\\u`` escape could spell it, see
      ``_ESCAPE``) cannot hold the key: masked to null and not parsed at all.

    Only for a key ``_SIMPLE_KEY`` accepts.
    """
    mention = f'"{key}"'
    path = f"$.{key}"
    escaped = text.str.contains(_ESCAPE)
    brackets = text.str.count_matches("{", literal=True) + text.str.count_matches("[", literal=True)
    readable = decoded & ~escaped & (brackets < _DEEP)
    rest = pl.concat_str(pl.lit("{"), text.str.slice(text.str.find(mention, literal=True)))
    from_mention = pl.when(readable).then(rest).str.json_path_match(path)
    mentioned = text.str.contains(mention, literal=True) | escaped
    whole = pl.when(mentioned & from_mention.is_null()).then(text).str.json_path_match(path)
    return pl.coalesce(from_mention, whole)


def _metadata_keys(attribution: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Every ``metadata`` key an attribution column may read, each once.

    Keys a ``$.key`` JSON path cannot name are skipped, as :func:`_attributed` always did.
    """
    keys = (key for name in ATTRIBUTION for key in (name, *attribution.get(name, ())))
    return list(dict.fromkeys(key for key in keys if _SIMPLE_KEY.match(key)))


def _metadata_values(frame: pl.DataFrame, keys: list[str]) -> tuple[pl.DataFrame, set[str]]:
    """Stage 1b: ``m.<key>``, the plain value of each attribution key in ``metadata``.

    The value is exactly what ``meta.str.json_path_match("$.<key>")`` gives for metadata that
    is an object, kept only if it is not itself an object or array, then
    :func:`clean_text`-ed. Returns the frame and the keys that occur in this chunk; every
    other key is null in every row, so it gets no column.

    Why not simply ``json_path_match`` per key, as before: it re-parses the metadata for
    every key and row (~30 keys by default), which cost ~50 µs a row. Instead:

    * keys never written as ``"key"`` in the chunk are skipped (one regex scan);
    * the metadata is decoded once, into a struct of the remaining keys;
    * ``json_path_match`` still runs, but only on the rows where the decode could disagree
      with it, the others masked to null so they are not parsed: a key holds an object or
      array (the decode refuses those), some ``\\u`` escapes (see ``_ESCAPE``), deep nesting
      (``json_path_match`` gives up at 128 levels, the decode does not), a number
      (``json_path_match`` writes ``1.5e3`` as ``1500.0``, the decode as ``1500``) or a key
      written twice (``json_path_match`` takes the last, the decode the first). Metadata
      that was a JSON object reaches us re-serialised by ``json_path_match``, so only the
      number case is common.

    If the decode still fails (metadata given as a string that merely looks like JSON),
    every row of the chunk takes the ``json_path_match`` path.
    """
    as_object = pl.when(pl.col("meta").str.starts_with("{")).then(pl.col("meta"))
    escaped = as_object.str.contains(_ESCAPE)
    written = as_object.str.extract_all(f'"(?:{"|".join(keys)})"').explode().drop_nulls()
    probe = frame.select(written.unique().implode().alias("seen"), escaped.any().alias("esc"))
    if probe.item(0, "esc"):
        found = list(keys)
    else:
        seen = {text[1:-1] for text in probe.item(0, "seen")}
        found = [key for key in keys if key in seen]
    if not found:
        return frame, set()
    either = "|".join(found)
    frame = frame.with_columns(
        as_object.alias("_m.text"),
        (
            escaped
            | as_object.str.contains(rf'"(?:{either})"\s*:\s*[\[{{]')
            | (as_object.str.count_matches(r"[\[{]") >= _DEEP)
        ).alias("_m.slow"),
    )
    text = pl.col("_m.text")
    schema = pl.Struct({key: pl.String for key in found})
    try:
        frame = frame.with_columns(
            pl.when(~pl.col("_m.slow")).then(text).str.json_decode(schema).alias("_m.doc")
        )
    except PolarsError:
        frame = frame.with_columns(
            pl.lit(True).alias("_m.slow"), pl.lit(None, dtype=schema).alias("_m.doc")
        )
    decoded = {key: pl.col("_m.doc").struct.field(key) for key in found}
    frame = frame.with_columns(
        [
            (
                pl.col("_m.slow")
                | decoded[key].str.contains(_NUMBER_START)
                | (text.str.count_matches(f'"{key}"', literal=True) > 1)
            )
            .fill_null(False)
            .alias(f"_m.slow.{key}")
            for key in found
        ]
    )
    values: dict[str, pl.Expr] = {}
    for key in found:
        slow = pl.col(f"_m.slow.{key}")
        # The inner mask is what saves the work: json_path_match skips null rows.
        matched = pl.when(slow).then(text).str.json_path_match(f"$.{key}")
        value = pl.when(slow).then(matched).otherwise(decoded[key])
        plain = pl.when(~value.str.starts_with("{") & ~value.str.starts_with("[")).then(value)
        values[f"m.{key}"] = clean_text(plain)
    frame = frame.with_columns(**values)
    return frame.drop("_m.text", "_m.slow", "_m.doc", *[f"_m.slow.{k}" for k in found]), set(found)


def _attributed(name: str, keys: tuple[str, ...], found: set[str]) -> pl.Expr:
    """A top-level attribution field, else the first configured ``metadata`` key with a plain value.

    ``keys`` come from tokaudit.yaml's ``attribution`` (defaults: see audit.config). Free-form
    metadata may nest objects; only a plain value can name a team or user (the nested object
    itself is still kept in tags). ``found`` are the keys :func:`_metadata_values` extracted.
    """
    candidates = [pl.col(f"m.{key}") for key in (name, *keys) if key in found]
    return pl.coalesce(clean_text(pl.col(f"f.{name}")), *candidates)


def _parse(frame: pl.DataFrame, specs: dict[str, tuple[str, str, str]]) -> pl.DataFrame:
    """:func:`parse_frame`, but a raw column that is null in every row gives typed nulls.

    A flat log has no usage block and a wrapped one no flat counts, so about half of the
    ~25 parsers would run over all-null columns, a few ms per 30k rows each. Their result
    is known, since a parser turns a missing cell into no value and no reason; the types
    come from parsing zero rows. Their reason columns come last, which cannot change which
    reason is a row's first: they are null.
    """
    empty = {
        name
        for name, nulls in frame.select(pl.all().null_count()).row(0, named=True).items()
        if nulls == frame.height
    }
    skipped = {out: spec for out, spec in specs.items() if spec[0] in empty}
    types = parse_frame(frame.head(0), skipped).schema
    frame = parse_frame(frame, {out: spec for out, spec in specs.items() if out not in skipped})
    return frame.with_columns(
        pl.lit(None, dtype=types[name]).alias(name)
        for out in skipped
        for name in (out, ERROR_PREFIX + out)
    )


def _map(
    decoded: pl.DataFrame, extra_keys: list[str], attribution: dict[str, tuple[str, ...]]
) -> pl.LazyFrame:
    return _map_extracted(_extract(decoded, extra_keys), extra_keys, attribution)


def _map_extracted(
    frame: pl.DataFrame, extra_keys: list[str], attribution: dict[str, tuple[str, ...]]
) -> pl.LazyFrame:
    """Stages 1b-4 over raw values of one chunk, or of many files (``source_file`` kept)."""
    provenance = ["source_file"] if "source_file" in frame.columns else []
    frame, found = _metadata_values(frame, _metadata_keys(attribution))
    # Stage 2: parse raw text into typed values, each with its own reason column.
    specs: dict[str, tuple[str, str, str]] = {f"g_{n}": (f"f.{n}", "int", n) for n in _FLAT_INTS}
    specs |= {out: (f"u.{out}", "int", label) for out, (_p, label) in _USAGE_FIELDS.items()}
    ts_text = pl.coalesce(
        *[
            clean_text(pl.col(c))
            for c in (
                "f.timestamp",
                "f.ts",
                "f.created_at",
                "resp.created",
                "resp.created_at",
                "f.created",
            )
        ]
    )
    frame = frame.with_columns(
        ts_text.alias("ts_text"),
        pl.coalesce(clean_text(pl.col("f.cost_usd")), clean_text(pl.col("u.cost"))).alias(
            "cost_text"
        ),
    )
    specs |= {
        "ts": ("ts_text", "ts", "timestamp"),
        "http_status": ("f.http_status", "int", "http_status"),
        "status_given": ("f.status", "status", "status"),
        "outcome": ("f.outcome", "outcome", "outcome"),
        "latency_ms": ("f.latency_ms", "float", "latency_ms"),
        "reported_cost_usd": ("cost_text", "usd", "cost_usd"),
    }
    frame = _parse(frame, specs)

    # Stage 3: which token convention the line uses (see the module docstring).
    obj_kind = pl.coalesce(pl.col("f.object"), pl.col("resp.object"))
    msg_type = pl.coalesce(pl.col("f.type"), pl.col("resp.type"))
    record_id = pl.coalesce(*[clean_text(pl.col(c)) for c in ("f.request_id", "resp.id", "f.id")])
    frame = frame.with_columns(
        (pl.col("g_input_tokens").is_not_null() | pl.col("g_output_tokens").is_not_null()).alias(
            "is_flat"
        ),
        (pl.col("c_prompt").is_not_null() | pl.col("c_comp").is_not_null()).alias("is_chat"),
        (
            (obj_kind == "response").fill_null(False)
            | pl.col("r_cached").is_not_null()
            | pl.col("r_reason").is_not_null()
        ).alias("is_resp"),
        (
            (msg_type == "message").fill_null(False)
            | pl.col("a_read").is_not_null()
            | pl.col("a_create").is_not_null()
        ).alias("is_anth"),
        pl.col("c_cached").fill_null(0).alias("chat_cached"),
        pl.col("c_cw").fill_null(0).alias("chat_cw"),
        pl.col("r_cached").fill_null(0).alias("resp_cached"),
        record_id.alias("record_id"),
    )

    def pick(flat: pl.Expr, chat: pl.Expr, resp: pl.Expr, anth: pl.Expr) -> pl.Expr:
        return (
            pl.when("is_flat")
            .then(flat)
            .when("is_chat")
            .then(chat)
            .when("is_resp")
            .then(resp)
            .otherwise(anth)
        )

    none = pl.lit(None, pl.Int64)
    split_known = pl.col("a_5m").is_not_null() | pl.col("a_1h").is_not_null()
    anth_write = pl.coalesce(
        "a_create",
        pl.when(split_known).then(pl.col("a_5m").fill_null(0) + pl.col("a_1h").fill_null(0)),
    )
    provider_guess = (
        pl.when(pl.col("record_id").str.starts_with("gen-") | pl.col("u.cost").is_not_null())
        .then(pl.lit("openrouter"))
        .when(~pl.col("is_flat") & (pl.col("is_chat") | pl.col("is_resp")))
        .then(pl.lit("openai"))
        .when(~pl.col("is_flat") & pl.col("is_anth"))
        .then(pl.lit("anthropic"))
    )
    error_type = clean_text(pl.col("f.error_type"))
    meta = pl.col("meta")
    non_object_meta = pl.when(meta.is_not_null() & ~meta.str.starts_with("{")).then(meta)
    tags = tags_json(
        {**{k: pl.col(f"x.{k}") for k in extra_keys}, "metadata": non_object_meta}, extra_json=meta
    )
    cached_exceeds = (
        pl.when(
            ~pl.col("is_flat")
            & pl.col("is_chat")
            & (pl.col("chat_cached") + pl.col("chat_cw") > pl.col("c_prompt"))
        )
        .then(pl.lit("usage.prompt_tokens_details.cached_tokens exceeds usage.prompt_tokens"))
        .when(
            ~pl.col("is_flat")
            & ~pl.col("is_chat")
            & pl.col("is_resp")
            & (pl.col("resp_cached") > pl.col("r_in"))
        )
        .then(pl.lit("usage.input_tokens_details.cached_tokens exceeds usage.input_tokens"))
    )
    # Stage 4: canonical columns from parsed values only.
    frame = frame.with_columns(
        pick(
            pl.col("g_input_tokens"),
            pl.col("c_prompt") - pl.col("chat_cached") - pl.col("chat_cw"),
            pl.col("r_in") - pl.col("resp_cached"),
            pl.col("r_in"),
        ).alias("input_tokens"),
        pick(
            pl.col("g_cached_input_tokens"),
            pl.col("c_cached"),
            pl.col("r_cached"),
            pl.col("a_read"),
        ).alias("cached_input_tokens"),
        pick(pl.col("g_cache_write_tokens"), pl.col("c_cw"), none, anth_write).alias(
            "cache_write_tokens"
        ),
        pick(pl.col("g_cache_write_1h_tokens"), none, none, pl.col("a_1h")).alias(
            "cache_write_1h_tokens"
        ),
        pick(pl.col("g_output_tokens"), pl.col("c_comp"), pl.col("r_out"), pl.col("r_out")).alias(
            "output_tokens"
        ),
        pick(pl.col("g_reasoning_tokens"), pl.col("c_reason"), pl.col("r_reason"), none).alias(
            "reasoning_tokens"
        ),
        pl.coalesce(clean_text(pl.col("f.provider")).str.to_lowercase(), provider_guess).alias(
            "provider"
        ),
        pl.coalesce(clean_text(pl.col("f.model")), clean_text(pl.col("resp.model"))).alias(
            "model_raw"
        ),
        pl.coalesce(clean_text(pl.col("f.service_tier")), clean_text(pl.col("resp.service_tier")))
        .str.to_lowercase()
        .alias("service_tier"),
        *[_attributed(name, attribution.get(name, ()), found).alias(name) for name in ATTRIBUTION],
        pl.coalesce(
            "status_given",
            pl.when((pl.col("http_status") >= 400) | error_type.is_not_null()).then(
                pl.lit("error")
            ),
        ).alias("status"),
        error_type.alias("error_type"),
        tags.alias("tags"),
        cached_exceeds.alias("_err.~cached"),
    )
    frame = frame.with_columns(gather_errors(frame.columns))
    keep = [
        "record_id",
        *provenance,
        "source_line",
        "ts",
        "provider",
        "model_raw",
        "service_tier",
        *ATTRIBUTION,
        "status",
        "http_status",
        "error_type",
        "latency_ms",
        "outcome",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "reasoning_tokens",
        "reported_cost_usd",
        "tags",
        ERROR_COLUMN,
    ]
    return frame.select(keep).lazy()
