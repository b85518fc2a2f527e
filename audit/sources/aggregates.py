"""Helpers shared by the billing/usage (aggregate) adapters.

Vendor usage and cost APIs deliver JSON *pages* (``{"data": [buckets with results]}``) that
people save one per file, as an array, or one per line; :func:`read_json_pages` reads all
three and :func:`json_results` flattens buckets x results into text columns with a position
and a reason per bad item. Dashboard CSVs can split one bucket over several lines;
:func:`summed_csv` sums identical bucket keys so an id and its amount do not depend on how
the export was split.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from audit.errors import SourceError
from audit.normalize import ERROR_COLUMN
from audit.sources.base import ReadOptions, Sample, open_binary
from audit.sources.tables import iter_csv

# ------------------------------------------------------------------------------ JSON pages


def _loads(text: str) -> Any:
    """Parse JSON with numbers kept as their exact source text (money never becomes a float)."""
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a string or number"


def read_json_pages(path: Path) -> list[tuple[Any, str | None]]:
    """Every API response page in the file, in order, as ``(page, None)`` or ``(None, reason)``.

    Accepted layouts: one page object (the API response saved as is); a JSON array of pages;
    or JSON lines with one page per line (paginated responses appended to one file). In the
    JSON-lines layout a line that is not valid JSON becomes one ``(None, reason)`` entry and
    the other pages still load. API pages are small (at most 1,440 buckets), so the file is
    read in one go with Python's ``json`` rather than streamed; gzip is decompressed.
    """
    with open_binary(path) as handle:
        raw = handle.read()
        damage = getattr(handle, "error", None)
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"not UTF-8 text (invalid byte at offset {exc.start})", path=path
        ) from exc
    try:
        document = _loads(text)
    except RecursionError as exc:
        raise SourceError("JSON nested too deeply", path=path) from exc
    except ValueError as exc:
        lines = [(n, line.strip()) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
        if len(lines) > 1 and all(line.startswith("{") for _, line in lines):
            return [_json_line(number, line) for number, line in lines]
        where = getattr(exc, "lineno", None), getattr(exc, "colno", None)
        message = f"invalid JSON at line {where[0]} column {where[1]}: {getattr(exc, 'msg', exc)}"
        if damage:
            message += f" ({damage})"
        raise SourceError(message, path=path) from exc
    pages = document if isinstance(document, list) else [document]
    return [(page, None) for page in pages]


def _json_line(number: int, line: str) -> tuple[Any, str | None]:
    try:
        return _loads(line), None
    except RecursionError:
        return None, f"page on line {number}: JSON nested too deeply"
    except ValueError as exc:
        col_no = getattr(exc, "colno", None)
        msg = getattr(exc, "msg", str(exc))
        return None, f"page on line {number} is not valid JSON: {msg} at column {col_no}"


def _field(obj: Mapping[str, Any], path: tuple[str, ...]) -> tuple[str | None, str | None]:
    """One leaf as text (numbers keep their source text), or the reason its shape is wrong."""
    value: Any = obj
    for depth, part in enumerate(path):
        if value is None:
            return None, None
        if not isinstance(value, dict):
            where = ".".join(path[:depth])
            return None, f"field '{where}' is {_kind(value)}, expected an object"
        value = value.get(part)
    if isinstance(value, dict | list):
        return None, f"field '{'.'.join(path)}' is {_kind(value)}, expected a single value"
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    return (None if value is None else str(value)), None


def json_results(
    path: Path,
    *,
    bucket_fields: Mapping[str, str],
    result_fields: Mapping[str, tuple[str, ...]],
    result_object: str | None = None,
    what: str,
) -> pl.DataFrame:
    """One row per bucket result, as text columns plus ``source_line`` and ``_error``.

    ``source_line`` is the result's 1-based position in the file, counting results across
    buckets and pages in file order (JSON has no useful line numbers: an API page is often
    one line). A page, bucket or result that is malformed takes one position and carries
    the reason. ``result_object``, when given, is the result's ``object`` value; a result
    saying otherwise (another endpoint's page in the same file) is rejected.
    """
    columns = [*bucket_fields, *result_fields]
    records: dict[str, list[str | None]] = {name: [] for name in columns}
    lines: list[int] = []
    errors: list[str | None] = []

    def add(values: Mapping[str, str | None], reason: str | None) -> None:
        for name in columns:
            records[name].append(values.get(name))
        lines.append(len(lines) + 1)
        errors.append(reason)

    for page, problem in read_json_pages(path):
        if problem is not None:
            add({}, problem)
            continue
        data = page.get("data") if isinstance(page, dict) else None
        if not isinstance(data, list):
            add({}, f"not {what} page: no 'data' list of buckets")
            continue
        for bucket in data:
            if not isinstance(bucket, dict):
                add({}, f"bucket is {_kind(bucket)}, expected an object")
                continue
            results = bucket.get("results")
            if not isinstance(results, list):
                add({}, "bucket has no 'results' list")
                continue
            shared: dict[str, str | None] = {}
            shared_reason: str | None = None
            for name, key in bucket_fields.items():
                shared[name], why = _field(bucket, (key,))
                shared_reason = shared_reason or why
            for result in results:
                if not isinstance(result, dict):
                    add(shared, f"result is {_kind(result)}, expected an object")
                    continue
                values = dict(shared)
                reason = shared_reason
                kind = result.get("object")
                if result_object and kind is not None and kind != result_object:
                    reason = reason or f"result is '{str(kind)[:60]}', expected '{result_object}'"
                for name, field_path in result_fields.items():
                    values[name], why = _field(result, field_path)
                    reason = reason or why
                add(values, reason)
    frame = {name: pl.Series(name, values, dtype=pl.String) for name, values in records.items()}
    return pl.DataFrame(
        {
            **frame,
            "source_line": pl.Series("source_line", lines, dtype=pl.Int64),
            ERROR_COLUMN: pl.Series(ERROR_COLUMN, errors, dtype=pl.String),
        }
    )


_FIRST_BUCKET = re.compile(
    r'"(?:start_time|starting_at)"\s*:\s*"?([^",}]+)"?\s*,'
    r'\s*"(?:end_time|ending_at)"\s*:\s*"?([^",}]+)"?'
)


def first_bucket_seconds(text: str) -> float | None:
    """The width of the first bucket in a JSON head, in seconds (None when not found)."""
    found = _FIRST_BUCKET.search(text)
    if not found:
        return None
    ends = []
    for value in found.groups():
        value = value.strip()
        try:
            if re.fullmatch(r"\d+(\.\d+)?", value):
                ends.append(float(value))
            else:
                ends.append(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return None
    return ends[1] - ends[0]


def looks_like_json(sample: Sample) -> bool:
    """The head starts like a JSON object or array (and is not a CSV)."""
    return sample.text.lstrip()[:1] in ("{", "[")


# ------------------------------------------------------------------------------ CSV summing


def _reduce(
    frame: pl.DataFrame, dims: Sequence[str], sums: Sequence[str], carried: Sequence[str]
) -> pl.DataFrame:
    """Sum the measure columns per key; null stays null when every part is null."""
    rows = pl.len() if "_rows" not in frame.columns else pl.col("_rows").sum()
    return frame.group_by(list(dims), maintain_order=True).agg(
        *[pl.when(pl.col(c).count() > 0).then(pl.col(c).sum()).alias(c) for c in sums],
        *[pl.col(c).drop_nulls().first().alias(c) for c in carried],
        pl.col("source_line").min().alias("source_line"),
        rows.cast(pl.Int64).alias("_rows"),
    )


def summed_csv(
    path: Path,
    options: ReadOptions,
    rows: Callable[[pl.LazyFrame, set[str]], pl.LazyFrame],
    *,
    dims: Sequence[str],
    sums: Sequence[str],
    carried: Sequence[str] = (),
) -> pl.DataFrame | None:
    """Map a CSV chunk by chunk, keep bad lines apart, and sum the good lines per bucket key.

    ``rows`` maps one chunk (stages 1–3 and ``_error``). The result holds the summed buckets
    (``source_line`` = the bucket's first line, ``_rows`` = the number of lines summed) and
    the rejected lines (``source_line`` and ``_error`` only), in line order; None when the
    file has no data line. Memory is bounded by the number of distinct buckets and rejected
    lines, not by the file's length. One frame is returned, not one per chunk, because every
    bucket must have seen all of its lines before it is emitted.
    """
    partial: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame] = []
    for batch in iter_csv(path, options.chunk_lines):
        mapped = rows(batch.lazy(), set(batch.columns)).collect()
        bad = mapped.filter(pl.col(ERROR_COLUMN).is_not_null())
        if bad.height:
            rejected.append(bad.select("source_line", ERROR_COLUMN))
        good = mapped.filter(pl.col(ERROR_COLUMN).is_null())
        partial.append(_reduce(good, dims, sums, carried))  # even when empty: it sets the schema
    if not partial:
        return None
    merged = partial[0] if len(partial) == 1 else _reduce(pl.concat(partial), dims, sums, carried)
    merged = merged.with_columns(pl.lit(None, dtype=pl.String).alias(ERROR_COLUMN))
    return pl.concat([merged, *rejected], how="diagonal_relaxed").sort("source_line")


def negative(columns: Sequence[str]) -> list[pl.Expr]:
    """Per-line negative checks, run before lines are summed (a sum would hide them)."""
    return [
        pl.when(pl.col(c) < 0).then(
            pl.concat_str(pl.lit(f"{c} is negative ("), pl.col(c).cast(pl.String), pl.lit(")"))
        )
        for c in columns
    ]


def record_key(name: str, parts: Sequence[pl.Expr]) -> pl.Expr:
    """A bucket's record id: the adapter name and its dimensions, ``|``-separated."""
    return pl.concat_str(
        [pl.lit(name), *[part.cast(pl.String).fill_null("") for part in parts]], separator="|"
    )


def iso(column: str) -> pl.Expr:
    """A timestamp column as fixed ISO text, for keys and tags."""
    return pl.col(column).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def plain_decimal(column: str) -> pl.Expr:
    """A decimal as short text (``24000``, ``0.5``) for tags."""
    return pl.col(column).cast(pl.String).str.replace(r"\.?0+$", "")


def positive(column: str) -> pl.Expr:
    """The value when it is above zero (tags skip zero audio/image counts)."""
    return pl.when(pl.col(column) > 0).then(pl.col(column))
