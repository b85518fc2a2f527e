"""Reading JSON-lines exports robustly and fast.

Files are read in bounded byte chunks (never one whole-file string) and decoded by Polars
in bulk. Only when a chunk holds a bad line does the slow path run: the chunk is bisected
until the bad lines are isolated, and each is diagnosed in Python so the reject reason says
what is wrong ("invalid JSON: Expecting ',' delimiter at column 31", "field 'usage' is a
number, expected an object") while every good line of the chunk still loads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from polars.exceptions import PolarsError

from audit.normalize import ERROR_COLUMN
from audit.sources.base import open_binary

LINE = "line"
DOC = "doc"
_BISECT_FLOOR = 16


def _lines_frame(parts: list[bytes], first_line: int) -> pl.DataFrame:
    """Number the lines, decode UTF-8, drop blank ones; undecodable lines carry a reason."""
    raw = pl.Series(LINE, parts, dtype=pl.Binary)
    try:
        text = raw.cast(pl.String)
        errors = pl.Series(ERROR_COLUMN, [None] * len(parts), dtype=pl.String)
    except PolarsError:  # some line is not UTF-8: decode line by line, only on this slow path
        decoded: list[str | None] = []
        reasons: list[str | None] = []
        for part in parts:
            try:
                decoded.append(part.decode("utf-8"))
                reasons.append(None)
            except UnicodeDecodeError as exc:
                decoded.append(None)
                reasons.append(f"invalid UTF-8 at byte {exc.start}")
        text = pl.Series(LINE, decoded, dtype=pl.String)
        errors = pl.Series(ERROR_COLUMN, reasons, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "source_line": pl.int_range(
                first_line, first_line + len(parts), eager=True, dtype=pl.Int64
            ),
            LINE: text.str.strip_chars(),
            ERROR_COLUMN: errors,
        }
    )
    return frame.filter(pl.col(ERROR_COLUMN).is_not_null() | (pl.col(LINE) != ""))


def iter_lines(path: Path, chunk_bytes: int = 64 * 1024 * 1024) -> Iterator[pl.DataFrame]:
    """Yield frames of ``source_line`` (1-based), ``line`` and ``_error`` for non-blank lines.

    A final line without a newline (a log still being written) is yielded like any other;
    if it is cut mid-object it fails to decode and is rejected with that reason. Gzip files
    are decompressed as they stream.
    """
    broken: str | None = None
    with open_binary(path) as handle:
        carry = b""
        next_line = 1
        first = True
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                # A truncated or corrupt compressed stream ends early: every line decoded so
                # far is kept and the damage is reported as a rejected line, not a lost file.
                broken = getattr(handle, "error", None)
                break
            if first:
                block = block.removeprefix(b"\xef\xbb\xbf")
                first = False
            data = carry + block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            body, carry = data[:cut], data[cut + 1 :]
            parts = body.split(b"\n")
            yield _lines_frame(parts, next_line)
            next_line += len(parts)
        if carry.strip():
            yield _lines_frame([carry], next_line)
            next_line += 1
    if broken:
        yield pl.DataFrame(
            {"source_line": [next_line], LINE: [None], ERROR_COLUMN: [broken]},
            schema={"source_line": pl.Int64, LINE: pl.String, ERROR_COLUMN: pl.String},
        )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _shape_mismatch(value: dict[str, Any], dtype: pl.Struct, prefix: str = "") -> str | None:
    """The first field whose JSON shape cannot fit the decode schema, as a readable reason."""
    for fld in dtype.fields:
        if fld.name not in value or value[fld.name] is None:
            continue
        item = value[fld.name]
        path = f"{prefix}{fld.name}"
        if isinstance(fld.dtype, pl.Struct):
            if not isinstance(item, dict):
                return f"field '{path}' is {_kind(item)}, expected an object"
            inner = _shape_mismatch(item, fld.dtype, prefix=f"{path}.")
            if inner:
                return inner
        elif isinstance(item, dict | list):
            return f"field '{path}' is {_kind(item)}, expected a single value"
    return None


def diagnose(line: str, dtype: pl.Struct) -> str:
    """Why one line cannot be decoded, in words a user can act on."""
    try:
        value = json.loads(line)
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        col = getattr(exc, "colno", None)
        where = f" at column {col}" if col else ""
        return f"invalid JSON{where}: {msg}"
    if not isinstance(value, dict):
        return f"line is {_kind(value)}, expected a JSON object"
    return _shape_mismatch(value, dtype) or "line could not be decoded"


def _decode(frame: pl.DataFrame, dtype: pl.Struct) -> pl.DataFrame:
    return frame.with_columns(pl.col(LINE).str.json_decode(dtype).alias(DOC))


def _decode_robust(frame: pl.DataFrame, dtype: pl.Struct) -> list[pl.DataFrame]:
    """Decode in bulk; on failure bisect so only the bad lines pay for the slow path."""
    try:
        return [_decode(frame, dtype)]
    except PolarsError:
        pass
    if frame.height > _BISECT_FLOOR:
        half = frame.height // 2
        return _decode_robust(frame.slice(0, half), dtype) + _decode_robust(
            frame.slice(half), dtype
        )
    pieces = []
    for row in range(frame.height):
        single = frame.slice(row, 1)
        try:
            pieces.append(_decode(single, dtype))
        except PolarsError:
            reason = diagnose(single.item(0, LINE), dtype)
            pieces.append(
                single.with_columns(
                    pl.lit(reason).alias(ERROR_COLUMN), pl.lit(None, dtype=dtype).alias(DOC)
                )
            )
    return pieces


def decode_objects(lines: pl.DataFrame, dtype: pl.Struct) -> pl.DataFrame:
    """Decode each ``line`` into the ``doc`` struct column (fields missing from a line are null).

    Lines that are not JSON objects, or whose fields have the wrong shape, get a reason in
    ``_error`` and a null ``doc``; the result keeps every input row, in order.
    """
    not_object = pl.col(LINE).is_not_null() & ~pl.col(LINE).str.starts_with("{")
    lines = lines.with_columns(
        pl.when(pl.col(ERROR_COLUMN).is_null() & not_object)
        .then(pl.lit("line is not a JSON object"))
        .otherwise(pl.col(ERROR_COLUMN))
        .alias(ERROR_COLUMN)
    )
    good = lines.filter(pl.col(ERROR_COLUMN).is_null())
    bad = lines.filter(pl.col(ERROR_COLUMN).is_not_null()).with_columns(
        pl.lit(None, dtype=dtype).alias(DOC)
    )
    decoded = _decode_robust(good, dtype) if good.height else []
    return pl.concat([*decoded, bad], how="vertical").sort("source_line")
