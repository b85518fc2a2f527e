"""tokaudit's generic CSV request log, and home-made CSV/JSONL logs described in tokaudit.yaml.

One adapter, ``mapped-log``, reads both, because both are the same thing: a table whose
columns a *mapping* names. The generic CSV is the built-in mapping whose column names are
the generic JSONL field names (``timestamp``, ``model``, ``input_tokens``, …, the same
conventions: ``input_tokens`` excludes cache reads and writes, ``output_tokens`` includes
reasoning). A user mapping (``mappings:`` in tokaudit.yaml, :class:`audit.config.ColumnMapping`)
names the user's own columns instead.

Why one adapter and not one per mapping: adapters are registered instances created at
import time, before any configuration is read, so a mapping cannot be an adapter of its
own. Detection asks the file's head which mapping fits (``sample.options.config``): a CSV
whose header, or a JSONL file whose first objects' keys, contain every column a mapping
names is that mapping's file (the mapping naming the most columns wins, then the first one
listed). A matching user mapping scores 0.98, above any built-in format: the user said
so explicitly. The mapping's name is stored in ``tags.mapping``; the built-in generic CSV
has no ``mapping`` tag.

Mapped files:

* CSV columns are matched case-insensitively. JSONL keys too, and a column written with
  dots (``usage.prompt_tokens``) addresses a nested value when no top-level key has that
  name.
* ``input_includes_cached: true`` subtracts ``cached_input_tokens`` from ``input_tokens``
  (OpenAI style); a cached count above the input is rejected.
* ``provider`` from the mapping fills rows whose file has no provider column (lower-cased).
* ``granularity`` comes from the mapping (``aggregate`` rows carry no request count: the
  mapping vocabulary has no ``requests`` field).
* Columns the mapping does not name go to ``tags``, except names that look like content
  (``prompt``, ``messages``, ``input``, ``output``, ``completion``, ``response``, ``body``,
  … — see :func:`is_content_name`) which are never read. An unnamed column whose name is an
  attribution key (``team``, ``department``, … from tokaudit.yaml's ``attribution``) fills
  that column when the mapping does not. A ``metadata`` column/key holding a JSON object is
  read like generic JSONL's: attribution keys fill their columns, the rest goes to tags.
* Parse errors name the user's column (``tokens_in: 'abc' is not a whole number``).

This module also holds two helpers the JSON adapters share: :func:`json_lines_or_records`
(JSON lines, or the records of one JSON document) and :func:`split_metadata` (a free
key/value map onto attribution columns and tags).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from audit.config import ATTRIBUTION_TARGETS, MAPPABLE_FIELDS, ColumnMapping
from audit.errors import SourceError
from audit.normalize import (
    ERROR_COLUMN,
    MAX_TAG_VALUE_CHARS,
    clean_text,
    gather_errors,
    parse_frame,
    tags_json,
)
from audit.sources import source
from audit.sources.base import ReadOptions, Sample, SourceAdapter, key_score, open_binary
from audit.sources.jsonlines import DOC, LINE, decode_objects, iter_lines
from audit.sources.tables import iter_csv

S = pl.String

# ------------------------------------------------------------------------- shared helpers

_CONTENT_WORDS = frozenset(
    {
        "prompt",
        "prompts",
        "message",
        "messages",
        "input",
        "inputs",
        "output",
        "outputs",
        "completion",
        "completions",
        "response",
        "responses",
        "body",
        "content",
        "contents",
        "text",
        "system",
        "instruction",
        "instructions",
        "query",
        "question",
        "answer",
        "choices",
        "request",
        "reply",
        "transcript",
        "conversation",
        "history",
    }
)
_MEASURE_WORDS = frozenset(
    {
        "tokens",
        "token",
        "count",
        "counts",
        "id",
        "ids",
        "hash",
        "ms",
        "sec",
        "secs",
        "seconds",
        "time",
        "latency",
        "len",
        "length",
        "size",
        "chars",
        "bytes",
        "status",
        "code",
        "type",
        "reason",
        "cost",
        "usd",
        "tier",
    }
)
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def is_content_name(name: str) -> bool:
    """Whether a column/key name suggests prompt or response text (never read into tags).

    A content word (``prompt``, ``messages``, ``output``, ``body``, …) makes it content
    unless a measurement word says it is a number or an id about that content
    (``prompt_tokens``, ``response_time_ms``, ``request_id``).
    """
    words = re.findall(r"[a-z]+", _CAMEL.sub(r"\1_\2", name).lower())
    return any(w in _CONTENT_WORDS for w in words) and not any(w in _MEASURE_WORDS for w in words)


def _scalar_text(value: Any) -> str | None:
    """A JSON scalar as the text an attribution column holds; objects and lists give None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        text = value.strip()
        return text or None
    return None


def _bounded(value: Any) -> Any:
    """A tag value, or a marker when it is long enough to be content (as tags_json does)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > MAX_TAG_VALUE_CHARS:
        return f"<omitted: {len(text)} chars>"
    return value


def _split_one(
    text: str,
    lookup: Mapping[str, str],
    priority: Mapping[str, int],
    reserved: Collection[str],
    strip_prefixes: tuple[str, ...],
) -> tuple[dict[str, str], str | None]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = text
    if not isinstance(value, dict):
        shown = _bounded(value)
        return {}, json.dumps({"metadata": shown}, ensure_ascii=False, separators=(",", ":"))
    winners: dict[str, tuple[int, str, str]] = {}  # target -> (priority, key, value)
    for key, item in value.items():
        name = str(key).lower()
        for prefix in strip_prefixes:
            name = name.removeprefix(prefix)
        target = lookup.get(name)
        scalar = _scalar_text(item)
        if target is None or scalar is None:
            continue
        rank = priority[name]
        if target not in winners or rank < winners[target][0]:
            winners[target] = (rank, key, scalar)
    used = {key for _rank, key, _value in winners.values()}
    rest: dict[str, Any] = {}
    for key, item in value.items():
        if key in used or item is None or is_content_name(str(key)):
            continue
        rest[f"metadata.{key}" if key in reserved else str(key)] = _bounded(item)
    attributed = {target: found for target, (_rank, _key, found) in winners.items()}
    rest_text = (
        json.dumps(rest, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        if rest
        else None
    )
    return attributed, rest_text


def split_metadata(
    frame: pl.DataFrame,
    column: str,
    lookup: Mapping[str, str],
    *,
    reserved: Collection[str] = (),
    strip_prefixes: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Add ``meta.<target>`` attribution columns and ``meta.rest`` from a JSON-object column.

    ``column`` holds a free key/value map as JSON text (Bedrock ``requestMetadata``, FOCUS
    ``Tags``, a ``metadata`` field). Keys are matched case-insensitively against
    ``lookup`` (:meth:`audit.config.Config.attribution_lookup`), after removing any of
    ``strip_prefixes`` (AWS cost-allocation tags are ``user:team``); when several keys name
    the same column the one listed first in the configuration wins. Only plain values
    attribute. Everything else (content-like keys excepted, long values replaced by a
    marker) is ``meta.rest``, a JSON object text for :func:`audit.normalize.tags_json`'s
    ``extra_json``; keys in ``reserved`` (tags the adapter sets itself) become
    ``metadata.<key>`` so the object never holds a key twice.

    Each distinct text is decoded once in Python: metadata maps are few and small, and their
    keys are not known in advance.
    """
    priority = {key: index for index, key in enumerate(lookup)}
    out = [f"meta.{target}" for target in ATTRIBUTION_TARGETS]
    rows: dict[str, list[str | None]] = {"_meta_key": [], **{c: [] for c in out}, "meta.rest": []}
    for text in frame.get_column(column).drop_nulls().unique().to_list():
        attributed, rest = _split_one(text, lookup, priority, reserved, strip_prefixes)
        rows["_meta_key"].append(text)
        for target in ATTRIBUTION_TARGETS:
            rows[f"meta.{target}"].append(attributed.get(target))
        rows["meta.rest"].append(rest)
    mapped = pl.DataFrame(rows, schema={name: S for name in rows})
    return frame.join(
        mapped, left_on=column, right_on="_meta_key", how="left", maintain_order="left"
    )


def _head_lines(path: Path, limit: int = 64 * 1024 * 1024) -> tuple[bytes, bytes | None]:
    """The first two non-blank lines (BOM removed), read in blocks: a JSONL line may be large.

    The second is None when the file has no second line within ``limit`` bytes.
    """
    with open_binary(path) as handle:
        data = b""
        while len(data) < limit:
            block = handle.read(1 << 16)
            if not block:
                break
            data += block
            lines = [ln.strip() for ln in data.removeprefix(b"\xef\xbb\xbf").split(b"\n")]
            complete = [ln for ln in lines[:-1] if ln]
            if len(complete) >= 2:
                return complete[0], complete[1]
        lines = [ln.strip() for ln in data.removeprefix(b"\xef\xbb\xbf").split(b"\n")]
        found = [ln for ln in lines if ln]
        return (found[0] if found else b""), (found[1] if len(found) > 1 else None)


def is_json_lines(path: Path) -> bool:
    """Whether a JSON file is JSON lines rather than one (pretty-printed) document.

    JSON lines when the first non-blank line is a whole JSON object, or when it is damaged
    but the next line also starts an object (a corrupt first line must not turn a log into
    one unreadable document). A pretty-printed object's second line is a key, not an object.
    """
    first, second = _head_lines(path)
    if not first.startswith(b"{"):
        return False
    try:
        if isinstance(json.loads(first), dict):
            return True
    except (ValueError, RecursionError):
        pass
    return second is not None and second.startswith(b"{")


def starts_pretty_document(sample: Sample) -> bool:
    """Whether the file starts like a pretty-printed JSON document (too big to sniff whole).

    Its first line opens an object or array without being a complete JSON value, unlike a
    JSON-lines file, whose first line is a whole object.
    """
    first = sample.text.lstrip().split("\n", 1)[0].strip()
    if not first.startswith(("{", "[")):
        return False
    try:
        json.loads(first)
    except (ValueError, RecursionError):
        return True
    return False


def json_values(path: Path) -> Iterator[tuple[Any, str | None]]:
    """The top-level JSON values of a document file, in order: ``(value, None)`` or a reject.

    Accepts one value, or several concatenated (pretty-printed objects one after another).
    Decoding stops at the first damage, which is reported as ``(None, reason)`` after the
    values before it. The whole file is read at once: use it for one-response documents,
    never for logs.
    """
    with open_binary(path) as handle:
        raw = handle.read()
        broken = getattr(handle, "error", None)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"invalid UTF-8 at byte {exc.start}", path=path) from exc
    decoder = json.JSONDecoder()
    position = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except RecursionError:
            yield None, "JSON nested too deeply"
            return
        except ValueError as exc:
            line = getattr(exc, "lineno", None)
            col = getattr(exc, "colno", None)
            where = f" at line {line} column {col}" if line else ""
            yield None, f"invalid JSON{where}: {getattr(exc, 'msg', str(exc))}"
            return
        yield value, None
    if broken:
        yield None, broken


def records_frame(items: list[tuple[Any, str | None]]) -> pl.DataFrame:
    """A lines frame (``source_line`` = 1-based record position, ``line``, ``_error``).

    Records that are not JSON objects are rejects with a reason; objects are re-encoded as
    one line each so the JSON-lines pipeline (:func:`decode_objects`) reads them.
    """
    lines: list[str | None] = []
    errors: list[str | None] = []
    for position, (value, error) in enumerate(items, start=1):
        if error is not None:
            lines.append(None)
            errors.append(error)
        elif isinstance(value, dict):
            lines.append(json.dumps(value, ensure_ascii=False))
            errors.append(None)
        else:
            lines.append(None)
            errors.append(f"record {position} is not a JSON object")
    return pl.DataFrame(
        {
            "source_line": pl.int_range(1, len(items) + 1, eager=True, dtype=pl.Int64),
            LINE: pl.Series(LINE, lines, dtype=S),
            ERROR_COLUMN: pl.Series(ERROR_COLUMN, errors, dtype=S),
        }
    )


def json_lines_or_records(
    path: Path, chunk_bytes: int, records: Callable[[Any], list[Any]]
) -> Iterator[pl.DataFrame]:
    """Frames of ``source_line``, ``line``, ``_error``, whatever the JSON layout.

    JSON lines (the first non-blank line is a whole object) stream through
    :func:`iter_lines` with physical line numbers. Otherwise the file is one JSON document
    (pretty-printed object, array, or several objects one after another): ``records``
    turns each top-level value into its records, and ``source_line`` is the record's
    1-based position in the file.
    """
    if is_json_lines(path):
        yield from iter_lines(path, chunk_bytes)
        return
    items: list[tuple[Any, str | None]] = []
    for value, error in json_values(path):
        if error is not None:
            items.append((None, error))
        else:
            items.extend((record, None) for record in records(value))
    if items:
        yield records_frame(items)


def as_list(value: Any) -> list[Any]:
    """A document's records: the elements of an array, else the value itself."""
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- the adapter

#: The generic CSV's columns: generic JSONL's vocabulary (mappable fields plus the 1-hour
#: cache-write part, which generic JSONL documents).
GENERIC_FIELDS = (*MAPPABLE_FIELDS, "cache_write_1h_tokens")
_TIMESTAMP_ALIASES = ("timestamp", "ts", "created_at")
_GENERIC_REQUIRED = {"model", "input_tokens", "output_tokens"}
_GENERIC_OPTIONAL = frozenset(set(GENERIC_FIELDS) - _GENERIC_REQUIRED - {"timestamp"})
_INTS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "http_status",
)
_PARSED = {
    **{name: "int" for name in _INTS},
    "timestamp": "ts",
    "status": "status",
    "outcome": "outcome",
    "latency_ms": "float",
    "cost_usd": "usd",
}
_TEXT_FIELDS = ("api_key", "prompt_hash")
_MAPPED_SCORE = 0.98
_DISCOVERY_LINES = 1000
_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class Layout:
    """Which mapping a file follows and where each canonical field is in it.

    ``columns`` maps a field to a CSV column (lower-case) or a JSON key path.
    """

    kind: str  # "csv" | "jsonl"
    mapping: ColumnMapping | None  # None: the built-in generic CSV
    columns: dict[str, tuple[str, ...]]


def _csv_layout(header: list[str], mappings: tuple[ColumnMapping, ...]) -> Layout | None:
    names = {name.strip().lower() for name in header}
    fitting = [m for m in mappings if m.signature() <= names]
    if fitting:
        best = max(fitting, key=lambda m: len(m.columns))  # max() keeps the first of equals
        return Layout(
            "csv", best, {field: (column.lower(),) for field, column in best.columns.items()}
        )
    timestamp = next((a for a in _TIMESTAMP_ALIASES if a in names), None)
    if timestamp is None or not names >= _GENERIC_REQUIRED:
        return None
    columns: dict[str, tuple[str, ...]] = {f: (f,) for f in GENERIC_FIELDS if f in names}
    columns["timestamp"] = (timestamp,)
    return Layout("csv", None, columns)


def _find_key(node: dict[str, Any], name: str) -> str | None:
    lowered = name.lower()
    return next((key for key in node if key.lower() == lowered), None)


def _resolve(obj: dict[str, Any], column: str) -> tuple[str, ...] | None:
    """The key path of ``column`` in one object: a top-level key, else a dotted nested path."""
    top = _find_key(obj, column)
    if top is not None:
        return (top,)
    if "." not in column:
        return None
    path: list[str] = []
    node: Any = obj
    for part in column.split("."):
        if not isinstance(node, dict):
            return None
        key = _find_key(node, part)
        if key is None:
            return None
        path.append(key)
        node = node[key]
    return tuple(path)


def _jsonl_layout(objects: list[dict[str, Any]], mapping: ColumnMapping) -> Layout | None:
    columns: dict[str, tuple[str, ...]] = {}
    for field, column in mapping.columns.items():
        found = next((p for p in (_resolve(o, column) for o in objects) if p is not None), None)
        if found is None:
            return None
        columns[field] = found
    for field in ("timestamp", "model"):
        wanted = mapping.columns.get(field)
        if wanted is None:
            continue
        have = sum(_resolve(o, wanted) is not None for o in objects)
        if have * 2 < len(objects):
            return None
    return Layout("jsonl", mapping, columns)


def layout_of(sample: Sample) -> Layout | None:
    """The layout a file follows, from its head and the user's mappings (None: not ours)."""
    mappings = sample.options.config.mappings
    header = sample.csv_header
    if header is not None:
        return _csv_layout(header, mappings)
    objects = sample.json_lines
    if not objects or not mappings:
        return None
    fitting = [
        layout for layout in (_jsonl_layout(objects, m) for m in mappings) if layout is not None
    ]
    if not fitting:
        return None
    return max(fitting, key=lambda layout: len(layout.columns))


def _struct_for(paths: list[tuple[str, ...]]) -> pl.Struct:
    """A decode schema (String leaves) holding exactly the given key paths."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node.setdefault(path[-1], None)

    def build(node: dict[str, Any]) -> pl.Struct:
        return pl.Struct({k: build(v) if isinstance(v, dict) else S for k, v in node.items()})

    return build(tree)


def _struct_path(path: tuple[str, ...]) -> pl.Expr:
    value = pl.col(DOC)
    for part in path:
        value = value.struct.field(part)
    return value


@source
class MappedLog(SourceAdapter):
    """tokaudit's generic CSV (generic JSONL's fields as columns), or a user-mapped CSV/JSONL log.

    See the module docstring for how a file is matched to a mapping in tokaudit.yaml and
    how its columns are read.
    """

    name = "mapped-log"
    title = (
        "tokaudit generic CSV request log, or a CSV/JSONL log described by a tokaudit.yaml mapping"
    )
    granularity = "request"
    obtain = (
        "write one CSV row per request with the generic JSONL field names as header (README: "
        "Generic JSONL), or describe your own log's columns under `mappings:` in tokaudit.yaml"
    )

    def sniff(self, sample: Sample) -> float:
        layout = layout_of(sample)
        if layout is not None:
            if layout.mapping is not None:
                return _MAPPED_SCORE
            names = {n.strip().lower() for n in sample.csv_header or []}
            return key_score(names, _GENERIC_REQUIRED, _GENERIC_OPTIONAL)
        if sample.csv_header is None:
            return 0.0
        names = {n.strip().lower() for n in sample.csv_header}
        return key_score(names, {*_GENERIC_REQUIRED, "timestamp"}, _GENERIC_OPTIONAL)

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        layout = layout_of(Sample.of(path, options))
        if layout is None:
            raise SourceError("no mapping in tokaudit.yaml matches this file's columns", path=path)
        lookup = options.config.attribution_lookup()
        if layout.kind == "csv":
            for batch in iter_csv(path, options.chunk_lines):
                yield _map(_extract_csv(batch, layout), layout, lookup)
            return
        extras: list[str] | None = None
        schema = _struct_for(list(layout.columns.values()))
        for lines in iter_lines(path, options.chunk_bytes):
            if extras is None:
                extras = _discover_keys(lines, layout)
            decoded = decode_objects(lines, schema)
            yield _map(_extract_jsonl(decoded, layout, extras), layout, lookup)


def _used_roots(layout: Layout) -> set[str]:
    return {path[0].lower() for path in layout.columns.values()}


def _is_extra(name: str, layout: Layout) -> bool:
    lowered = name.lower()
    if lowered in _used_roots(layout) or lowered == "metadata" or is_content_name(name):
        return False
    return not (layout.mapping is None and lowered in GENERIC_FIELDS + _TIMESTAMP_ALIASES)


def _extract_csv(batch: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """Stage 1 for CSV: every mapped field, extra column and metadata as raw text."""
    raw: list[pl.Expr] = [
        (pl.col(layout.columns[f][0]) if f in layout.columns else pl.lit(None, S)).alias(f"f.{f}")
        for f in GENERIC_FIELDS
    ]
    extras = [c for c in batch.columns if c not in {"source_line"} and _is_extra(c, layout)]
    raw += [pl.col(c).alias(f"x.{c}") for c in extras]
    has_meta = "metadata" in batch.columns and "metadata" not in _used_roots(layout)
    raw.append((pl.col("metadata") if has_meta else pl.lit(None, S)).alias("meta"))
    return batch.select("source_line", pl.lit(None, S).alias(ERROR_COLUMN), *raw)


def _discover_keys(lines: pl.DataFrame, layout: Layout) -> list[str]:
    """Top-level keys of the first lines outside the mapping, to keep as tags."""
    found: dict[str, None] = {}
    for text in lines.get_column(LINE).head(_DISCOVERY_LINES).drop_nulls().to_list():
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            found.update(dict.fromkeys(value))
    return sorted(k for k in found if _SIMPLE_KEY.match(k) and _is_extra(k, layout))


def _path_match(key: str) -> pl.Expr:
    return pl.col(LINE).str.json_path_match(f"$[{json.dumps(key)}]")


def _extract_jsonl(decoded: pl.DataFrame, layout: Layout, extras: list[str]) -> pl.DataFrame:
    """Stage 1 for JSONL: mapped values from the decoded struct, extras and metadata as text."""
    raw: list[pl.Expr] = [
        (_struct_path(layout.columns[f]) if f in layout.columns else pl.lit(None, S)).alias(
            f"f.{f}"
        )
        for f in GENERIC_FIELDS
    ]
    raw += [_path_match(key).alias(f"x.{key}") for key in extras]
    raw.append(_path_match("metadata").alias("meta"))
    return decoded.select("source_line", ERROR_COLUMN, *raw)


def _label(layout: Layout, field: str) -> str:
    path = layout.columns.get(field)
    return ".".join(path) if path else field


def _map(frame: pl.DataFrame, layout: Layout, lookup: Mapping[str, str]) -> pl.LazyFrame:
    mapping = layout.mapping
    extras = [c.removeprefix("x.") for c in frame.columns if c.startswith("x.")]
    # Unnamed columns that are attribution keys (team, department, …) fill their column.
    priority = {key: index for index, key in enumerate(lookup)}
    by_extra: dict[str, str] = {}
    for key in sorted(extras, key=lambda k: priority.get(k.lower(), len(priority))):
        target = lookup.get(key.lower())
        if target is not None and target not in layout.columns and target not in by_extra:
            by_extra[target] = key
    reserved = {k for k in extras if k not in by_extra.values()} | {"mapping"}
    frame = split_metadata(frame, "meta", lookup, reserved=reserved)

    # Stage 2: parse.
    specs = {
        f"p.{field}": (f"f.{field}", kind, _label(layout, field)) for field, kind in _PARSED.items()
    }
    lazy = parse_frame(frame.lazy(), specs)

    # Stage 3: derive canonical values from the parsed columns.
    input_col, cached = pl.col("p.input_tokens"), pl.col("p.cached_input_tokens")
    includes_cached = mapping is not None and mapping.input_includes_cached
    too_many: pl.Expr = pl.lit(None, S)
    if includes_cached:
        input_tokens = input_col - cached.fill_null(0)
        too_many = pl.when(cached > input_col).then(
            pl.concat_str(
                pl.lit(f"{_label(layout, 'cached_input_tokens')} ("),
                cached.cast(S),
                pl.lit(f") exceeds {_label(layout, 'input_tokens')} ("),
                input_col.cast(S),
                pl.lit(")"),
            )
        )
    else:
        input_tokens = input_col
    default_provider = (mapping.provider or "").strip().lower() if mapping else ""
    provider = clean_text(pl.col("f.provider")).str.to_lowercase()
    if default_provider:
        provider = provider.fill_null(pl.lit(default_provider))
    error_type = clean_text(pl.col("f.error_type"))

    def attributed(target: str) -> pl.Expr:
        found = [clean_text(pl.col(f"f.{target}")), pl.col(f"meta.{target}")]
        if target in by_extra:
            found.append(clean_text(pl.col(f"x.{by_extra[target]}")))
        return pl.coalesce(found)

    tag_fields: dict[str, pl.Expr] = {
        k: clean_text(pl.col(f"x.{k}")) for k in extras if k not in by_extra.values()
    }
    if mapping is not None:
        tag_fields["mapping"] = pl.lit(mapping.name)
    targets = ("user", "team", "project", "environment", "purpose", "app", "session_id")
    lazy = lazy.with_columns(
        clean_text(pl.col("f.request_id")).alias("record_id"),
        pl.col("p.timestamp").alias("ts"),
        provider.alias("provider"),
        clean_text(pl.col("f.model")).alias("model_raw"),
        clean_text(pl.col("f.service_tier")).str.to_lowercase().alias("service_tier"),
        *[clean_text(pl.col(f"f.{name}")).alias(name) for name in _TEXT_FIELDS],
        attributed("key_name").alias("key_name"),
        *[attributed(t).alias(t) for t in targets],
        pl.coalesce(
            pl.col("p.status"),
            pl.when((pl.col("p.http_status") >= 400) | error_type.is_not_null()).then(
                pl.lit("error")
            ),
        ).alias("status"),
        pl.col("p.http_status").alias("http_status"),
        error_type.alias("error_type"),
        pl.col("p.latency_ms").alias("latency_ms"),
        pl.col("p.outcome").alias("outcome"),
        input_tokens.alias("input_tokens"),
        cached.alias("cached_input_tokens"),
        pl.col("p.cache_write_tokens").alias("cache_write_tokens"),
        pl.col("p.cache_write_1h_tokens").alias("cache_write_1h_tokens"),
        pl.col("p.output_tokens").alias("output_tokens"),
        pl.col("p.reasoning_tokens").alias("reasoning_tokens"),
        pl.col("p.cost_usd").alias("reported_cost_usd"),
        pl.lit(mapping.granularity if mapping else "request").alias("granularity"),
        tags_json(tag_fields, extra_json=pl.col("meta.rest")).alias("tags"),
        too_many.alias("_err.~cached"),
    )
    # Stage 4: the row's first reason, then exactly the canonical columns.
    lazy = lazy.with_columns(gather_errors(lazy.collect_schema().names()))
    return lazy.select(
        "record_id", "source_line", "granularity", "ts", "provider", "model_raw", "service_tier",
        "api_key", "key_name", *targets, "prompt_hash", "status", "http_status", "error_type",
        "latency_ms", "outcome", "input_tokens", "cached_input_tokens", "cache_write_tokens",
        "cache_write_1h_tokens", "output_tokens", "reasoning_tokens", "reported_cost_usd", "tags",
        ERROR_COLUMN,
    )  # fmt: skip
