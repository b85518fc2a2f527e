"""Reading CSV exports robustly: every cell as text, columns by name, real line numbers.

Dashboard exports gain, lose and reorder columns over time, so adapters address columns
by name (case-insensitively) and a missing optional column is simply null. Cells are read
as text and parsed by :mod:`audit.normalize` so a bad cell rejects its row with a reason.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl
from polars.exceptions import PolarsError

from audit.errors import SourceError

#: The largest cell the fallback parser accepts (the standard library's default is 128 KiB).
MAX_CELL_CHARS = 256 * 1024 * 1024


def _rename_map(columns: list[str]) -> dict[str, str]:
    """Lower-cased, trimmed names (``"Prompt Tokens"`` -> ``"prompt tokens"``); first one wins."""
    mapping: dict[str, str] = {}
    seen: set[str] = set()
    for name in columns:
        clean = name.strip().lower()
        if clean in seen:
            continue
        seen.add(clean)
        mapping[name] = clean
    return mapping


def iter_csv(path: Path, chunk_rows: int = 1_000_000) -> Iterator[pl.DataFrame]:
    """Yield frames of text columns (names lower-cased) plus ``source_line``.

    ``source_line`` is the physical line a record starts on, counting the header as line 1
    and the newlines inside quoted cells, so a reject points at the right line of the file.
    BOMs, CRLF endings, quoted newlines and ragged rows are tolerated; blank lines are skipped.

    Polars' reader is fast but gives up on the whole file at the first unbalanced quote (a
    download cut off inside a quoted cell, a hand-edited line). Then the file is read again
    with the standard library's forgiving parser, so every record before the damage still
    loads; the damaged record and anything it swallowed reach the adapter as text and are
    rejected there with a reason.
    """
    yielded = 0
    try:
        for batch in _polars_batches(path, chunk_rows):
            yielded += batch.height
            yield batch
    except SourceError:
        # The records already handed over come first in the re-read too: skip them.
        yield from _stdlib_batches(path, chunk_rows, skip=yielded)


def _polars_batches(path: Path, chunk_rows: int) -> Iterator[pl.DataFrame]:
    next_line = 2
    header = b""
    rename: dict[str, str] = {}
    try:
        with path.open("rb") as handle:
            for number, piece in enumerate(_record_blocks(handle, BLOCK_BYTES)):
                if number == 0:
                    header = piece[: _first_boundary(piece) + 1]
                    block = _parse(piece)
                    rename = _rename_map(block.columns)
                else:
                    block = _parse(header + piece)
                block = block.select([pl.col(old).alias(new) for old, new in rename.items()])
                # One line per record (and the header): no cell holds a newline, so the
                # cells need no counting. Blank lines are records too (of nulls).
                lines = piece.count(b"\n") + (not piece.endswith(b"\n"))
                flat = lines == block.height + (number == 0)
                for batch in block.iter_slices(chunk_rows):
                    batch, next_line = _numbered(batch, next_line, list(rename.values()), flat=flat)
                    yield batch
    except PolarsError as exc:
        raise SourceError(f"cannot read as CSV: {exc}".splitlines()[0], path=path) from exc


#: CSV is parsed in pieces of whole records of about this size. Polars' own streaming
#: reader reads ahead without bound (a 200 MB export was held whole, as strings), so the
#: memory of an ingest grew with the file; pieces keep it flat. 8 MiB pieces peaked at
#: 0.6 GB on a 1M-row export (32 MiB: 0.9 GB) and were no slower.
BLOCK_BYTES = 8 * 1024 * 1024


def _parse(data: bytes) -> pl.DataFrame:
    return pl.read_csv(
        data,
        infer_schema=False,
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        raise_if_empty=False,
    )


def _record_blocks(handle: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    """The file in pieces that each end at a record boundary.

    A newline ends a record when it is outside quotes. Inside a quoted cell a quote is
    written twice, so that is exactly when the piece before the newline holds an even
    number of quotes. A file whose quotes never balance again comes out as one last
    piece, and Polars' error on it sends the file to the forgiving fallback parser.
    """
    carry = b""
    while block := handle.read(block_bytes):
        data = carry + block if carry else block
        cut = _last_boundary(data)
        if cut < 0:
            carry = data
            continue
        yield data[: cut + 1]
        carry = data[cut + 1 :]
    if carry:
        yield carry


def _last_boundary(data: bytes) -> int:
    """Index of the last newline outside quotes (``data`` starts at a record), or -1."""
    quotes = data.count(b'"')
    end = len(data)
    while (newline := data.rfind(b"\n", 0, end)) >= 0:
        quotes -= data.count(b'"', newline, end)
        if quotes % 2 == 0:
            return newline
        end = newline
    return -1


def _first_boundary(data: bytes) -> int:
    """Index of the newline that ends the first record (the header), or the last index."""
    quotes = 0
    start = 0
    while (newline := data.find(b"\n", start)) >= 0:
        quotes += data.count(b'"', start, newline)
        if quotes % 2 == 0:
            return newline
        start = newline + 1
    return len(data) - 1


def _numbered(
    batch: pl.DataFrame, next_line: int, columns: list[str], *, flat: bool = False
) -> tuple[pl.DataFrame, int]:
    """``source_line`` of each record (newlines inside cells counted, unless the caller
    knows there are none: ``flat``), blank records dropped."""
    newlines = (
        pl.lit(0, dtype=pl.UInt32)
        if flat
        else pl.sum_horizontal(
            [pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in batch.columns]
        )
    )
    batch = batch.with_columns(newlines.alias("_nl"))
    batch = batch.with_columns(
        (
            next_line
            + pl.int_range(pl.len(), dtype=pl.Int64)
            + pl.col("_nl").cum_sum()
            - pl.col("_nl")
        ).alias("source_line")
    )
    next_line += batch.height + int(batch.get_column("_nl").sum() or 0)
    blank = pl.all_horizontal([pl.col(c).is_null() for c in columns])
    return batch.filter(~blank).drop("_nl"), next_line


def _stdlib_batches(path: Path, chunk_rows: int, skip: int = 0) -> Iterator[pl.DataFrame]:
    csv.field_size_limit(MAX_CELL_CHARS)  # one huge cell is a row to reject, not a crash
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if not header:
                return
            rename = _rename_map(header)
            keep = [i for i, name in enumerate(header) if name in rename]
            names = [rename[header[i]] for i in keep]
            rows: list[list[str | None]] = []
            lines: list[int] = []
            start = reader.line_num + 1
            for record in reader:
                if any(cell != "" for cell in record):
                    if skip:
                        skip -= 1
                    else:
                        rows.append([record[i] if i < len(record) and record[i] != "" else None
                                     for i in keep])  # fmt: skip
                        lines.append(start)
                start = reader.line_num + 1
                if len(rows) >= chunk_rows:
                    yield _frame(names, rows, lines)
                    rows, lines = [], []
        except csv.Error as exc:
            raise SourceError(
                f"cannot read as CSV: {exc}", path=path, line=reader.line_num
            ) from exc
        if rows:
            yield _frame(names, rows, lines)


def _frame(names: list[str], rows: list[list[str | None]], lines: list[int]) -> pl.DataFrame:
    columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    frame = pl.DataFrame(columns, schema={name: pl.String for name in names})
    return frame.with_columns(pl.Series("source_line", lines, dtype=pl.Int64))


def col(frame_columns: set[str], *names: str) -> pl.Expr:
    """The first of ``names`` present in the file (lower-case), else a null: columns come and go."""
    for name in names:
        if name.lower() in frame_columns:
            return pl.col(name.lower())
    return pl.lit(None, dtype=pl.String)
