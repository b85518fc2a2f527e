"""Reading JSON-lines exports robustly and fast.

Files are read in bounded byte chunks (never one whole-file string) and decoded by Polars
in bulk. Only when a chunk holds a bad line does the slow path run: the chunk is bisected
until the bad lines are isolated, and each is diagnosed in Python so the reject reason says
what is wrong ("invalid JSON: Expecting ',' delimiter at column 31", "field 'usage' is a
number, expected an object") while every good line of the chunk still loads.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
from polars.exceptions import PolarsError

from audit.normalize import ERROR_COLUMN
from audit.sources.base import open_binary

LINE = "line"
DOC = "doc"
_BISECT_FLOOR = 16
#: Below this size the CSV reader's set-up (~2 ms) costs more than ``bytes.split``.
_NATIVE_SPLIT_BYTES = 4 * 1024 * 1024
#: Text per ``str.json_decode`` call; see :func:`_decode` (1 MiB: about a thousand
#: Claude Code usage lines or two thousand gateway lines, both near the fastest size).
_DECODE_SLICE_BYTES = 1024 * 1024
_ORDER = "_order"


def text_lines(frame: pl.DataFrame) -> pl.DataFrame:
    """Decode a ``line`` column of bytes as UTF-8, strip it, and drop blank lines.

    Lines that are not UTF-8 carry a reason in ``_error`` instead (an ``_error`` already
    present is kept). Works on the lines of one file or of a batch of files.
    """
    raw = frame.get_column(LINE)
    known = frame.get_column(ERROR_COLUMN) if ERROR_COLUMN in frame.columns else None
    try:
        text = raw.cast(pl.String)
        errors = (
            known
            if known is not None
            else pl.repeat(None, frame.height, dtype=pl.String, eager=True)
        )
    except PolarsError:  # some line is not UTF-8: decode line by line, only on this slow path
        decoded: list[str | None] = []
        reasons: list[str | None] = []
        for part in raw.to_list():
            try:
                decoded.append(None if part is None else part.decode("utf-8"))
                reasons.append(None)
            except UnicodeDecodeError as exc:
                decoded.append(None)
                reasons.append(f"invalid UTF-8 at byte {exc.start}")
        text = pl.Series(LINE, decoded, dtype=pl.String)
        errors = pl.Series(ERROR_COLUMN, reasons, dtype=pl.String)
        if known is not None:
            errors = known.fill_null(errors)
    frame = frame.with_columns(text.str.strip_chars().alias(LINE), errors.alias(ERROR_COLUMN))
    return frame.filter(pl.col(ERROR_COLUMN).is_not_null() | (pl.col(LINE) != ""))


def _lines_frame(block: LineBlock) -> pl.DataFrame:
    """Number the lines, decode UTF-8, drop blank ones; undecodable lines carry a reason."""
    return text_lines(block_lines(block))


def _split(body: bytes, count: int) -> pl.Series | None:
    """``body``'s lines, split by Polars' CSV reader; None where that reader cannot do it.

    Read as one text column with a NUL separator and no quoting, each line is one cell,
    found by fast native code instead of ``bytes.split`` plus a Python object per line (a
    Claude Code tree has millions of lines; this is about 5x faster). A blank line is an
    empty (null) cell, never skipped, so line numbers hold; ``\r`` before a newline is
    dropped, as stripping would anyway. Invalid UTF-8 makes the reader fail, and any count
    but the expected one is refused: the caller then splits the bytes itself, which also
    says which line is bad. So is a body with a NUL byte (which JSON text cannot hold, and
    which the reader may take for the separator) or starting with a byte-order mark.
    """
    if body.startswith(b"\xef\xbb\xbf") or b"\x00" in body:
        return None  # the reader would drop the mark; a NUL could end a cell silently
    try:
        lines = pl.read_csv(
            body, has_header=False, separator="\x00", quote_char=None, schema={LINE: pl.String}
        ).to_series()
    except PolarsError:
        return None
    return lines if lines.len() == count else None


def block_lines(block: LineBlock, *needles: bytes) -> pl.DataFrame:
    """Numbered lines as bytes; with ``needles``, only the lines containing all of them.

    A literal byte test is the cheap prefilter that spares decoding (and UTF-8 checking)
    the lines of a log that cannot matter, such as a transcript's huge tool outputs. All
    needles are tested in one query, though a needle per query would scan only the lines
    the previous ones kept: this runs on the reading thread for every file, and each query
    from it waits for a free Polars thread while the worker's queries hold them (py-spy:
    ~1.9 s of a Claude Code ingest's reading thread, the one the run waits on). One query
    a file instead of two: 200k-message tree, 8 interleaved pairs, median 4.57 -> 4.33 s.
    """
    native = len(block.body) >= _NATIVE_SPLIT_BYTES
    split = _split(block.body, block.count) if native else None
    if split is not None:
        raw = split.cast(pl.Binary)
    else:
        raw = pl.Series(LINE, block.split(), dtype=pl.Binary)
    numbers = pl.int_range(
        block.first_line, block.first_line + block.count, eager=True, dtype=pl.Int64
    )
    frame = pl.DataFrame([numbers.alias("source_line"), raw])
    if needles:  # one query for all of them: see the docstring
        frame = frame.filter(*[pl.col(LINE).bin.contains(needle) for needle in needles])
    return frame


class LineBlock:
    """Consecutive whole lines of a file; ``error`` is set when the stream broke after them.

    ``body`` holds the lines, each ending with a newline except a file's last line when it
    has none (a log still being written). Their ``count`` is worked out only when asked
    for (counting a Claude Code tree's newlines alone costs ~1 s), and is known for free
    once the body has been split.
    """

    __slots__ = ("_count", "body", "error", "first_line")

    def __init__(
        self, first_line: int, body: bytes, count: int | None = None, error: str | None = None
    ) -> None:
        self.first_line, self.body, self.error, self._count = first_line, body, error, count

    @property
    def count(self) -> int:
        if self._count is None:
            unterminated = bool(self.body) and not self.body.endswith(b"\n")
            self._count = self.body.count(b"\n") + unterminated
        return self._count

    def split(self) -> list[bytes]:
        """The lines, one bytes object each (and their count, noted for free)."""
        parts = self.body.split(b"\n")
        if self.body.endswith(b"\n") or not self.body:
            parts.pop()
        self._count = len(parts)
        return parts


def iter_line_blocks(
    path: Path, chunk_bytes: int = 64 * 1024 * 1024, data: bytes | None = None
) -> Iterator[LineBlock]:
    """Split a file into lines in bounded blocks, never holding the whole file.

    A final line without a newline (a log still being written) is yielded like any other.
    Gzip files are decompressed as they stream; a truncated or corrupt stream ends early
    with a last block whose ``error`` says so (every line before the damage is kept).
    ``data`` is the (uncompressed) content when the caller has already read it: a small
    file is read once for its hash, its detection and its rows.
    """
    if data is not None:
        yield from _line_blocks([data], None)
        return
    with open_binary(path) as handle:
        yield from _line_blocks(_chunks(handle, chunk_bytes), handle)


def _chunks(handle: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    # Ask for no more than the file holds: a read() of 64 MiB allocates 64 MiB up front,
    # which for thousands of small files costs more than reading them.
    try:
        left: int | None = os.fstat(handle.fileno()).st_size + 1
    except (OSError, io.UnsupportedOperation):
        left = None  # a decompressing stream: size unknown
    while True:
        want = chunk_bytes if left is None or left <= 0 else min(chunk_bytes, left)
        block = handle.read(want)  # a file that grew meanwhile is read on in chunks
        if not block:
            return
        if left is not None:
            left -= len(block)
        yield block


def _line_blocks(chunks: Iterable[bytes], handle: BinaryIO | None) -> Iterator[LineBlock]:
    carry = b""
    next_line = 1
    first = True
    previous: LineBlock | None = None
    for block in chunks:
        if first:
            block = block.removeprefix(b"\xef\xbb\xbf")
            first = False
        data = carry + block if carry else block
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        if previous is not None:  # numbered only now: a one-block file never counts
            next_line += previous.count
        previous = LineBlock(next_line, data if cut == len(data) - 1 else data[: cut + 1])
        carry = data[cut + 1 :]
        yield previous
    tail = carry if carry.strip() else b""
    broken = getattr(handle, "error", None)
    if tail or broken:
        if previous is not None:
            next_line += previous.count
        yield LineBlock(next_line, tail, 1 if tail else 0, broken)


def broken_stream(line: int, reason: str) -> pl.DataFrame:
    """The reject row that records where a compressed stream broke."""
    return pl.DataFrame(
        {"source_line": [line], LINE: [None], ERROR_COLUMN: [reason]},
        schema={"source_line": pl.Int64, LINE: pl.String, ERROR_COLUMN: pl.String},
    )


def iter_lines(
    path: Path, chunk_bytes: int = 64 * 1024 * 1024, data: bytes | None = None
) -> Iterator[pl.DataFrame]:
    """Yield frames of ``source_line`` (1-based), ``line`` and ``_error`` for non-blank lines.

    A final line cut mid-object fails to decode later and is rejected with that reason.
    ``data``: the content, when already read (see :func:`iter_line_blocks`).
    """
    for block in iter_line_blocks(path, chunk_bytes, data):
        if block.body:  # has lines (their count is not needed yet)
            yield _lines_frame(block)
        if block.error:
            yield broken_stream(block.first_line + block.count, block.error)


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
    """Every line through ``str.json_decode``, raising PolarsError when one does not fit
    (the caller bisects).

    Run on slices of about :data:`_DECODE_SLICE_BYTES` of text, not on the whole column:
    one call's cost grows faster than its text (one call over 57k Claude Code lines, 87 MB,
    took 340 ms of CPU; 5,000 lines a call 215 ms; 1,000 lines, about 1.5 MB, 136 ms).
    Each line is decoded on its own either way, so the result is the same.
    """
    starts = _slice_starts(frame.get_column(LINE), _DECODE_SLICE_BYTES)
    ends = [*starts[1:], frame.height]
    decoded = [
        frame.slice(start, end - start).with_columns(pl.col(LINE).str.json_decode(dtype).alias(DOC))
        for start, end in zip(starts, ends, strict=True)
    ]
    return decoded[0] if len(decoded) == 1 else pl.concat(decoded, rechunk=False)


def _slice_starts(lines: pl.Series, size: int) -> list[int]:
    """First row of each run of consecutive ``lines`` holding about ``size`` bytes (at least
    one row each; ``[0]`` for no rows)."""
    # One query: each call into Polars from the reading thread may wait for a free thread.
    ends = lines.to_frame().select(pl.first().str.len_bytes().fill_null(0).cum_sum()).to_series()
    total = int(ends[-1]) if lines.len() else 0
    if total <= size:
        return [0]
    # Row i starts a new slice when the text before it crosses the next multiple of size.
    marks = pl.Series(range(size, total, size), dtype=ends.dtype)
    cuts = (ends.search_sorted(marks, side="left") + 1).unique(maintain_order=True).to_list()
    return [0, *(cut for cut in cuts if 0 < cut < lines.len())]


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

    Only ``str.json_decode`` decodes (in slices, see :func:`_decode`). Polars' NDJSON
    reader used to go first for most formats, the reference decode re-checking the rows where
    a text field came out looking like an object; in slices the reference decode costs less
    CPU on every format we read (8 MB of each sample export: Helicone 19 ms against 27 ms,
    OpenRouter API 26 against 47, gateway lines 32 against 39, wrapped provider responses 33
    against 105), and a generic JSONL ingest of 1M requests went from 11.8-13.6 s to
    10.7-11.3 s with the same rows.
    """
    not_object = pl.col(LINE).is_not_null() & ~pl.col(LINE).str.starts_with("{")
    # Input order, not line number: a batch holds lines of several files.
    lines = lines.with_row_index(_ORDER).with_columns(
        pl.when(pl.col(ERROR_COLUMN).is_null() & not_object)
        .then(pl.lit("line is not a JSON object"))
        .otherwise(pl.col(ERROR_COLUMN))
        .alias(ERROR_COLUMN)
    )
    good = lines.filter(pl.col(ERROR_COLUMN).is_null())
    if good.height == lines.height:  # the common case: no reordering needed
        if not good.height:
            return lines.drop(_ORDER).with_columns(pl.lit(None, dtype=dtype).alias(DOC))
        try:
            return _decode(good, dtype).drop(_ORDER)
        except PolarsError:
            pass  # some line does not fit: bisect below
    bad = lines.filter(pl.col(ERROR_COLUMN).is_not_null()).with_columns(
        pl.lit(None, dtype=dtype).alias(DOC)
    )
    decoded = _decode_robust(good, dtype) if good.height else []
    return pl.concat([*decoded, bad], how="vertical").sort(_ORDER).drop(_ORDER)
