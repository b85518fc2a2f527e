"""Reading CSV exports robustly: every cell as text, columns by name, real line numbers.

Dashboard exports gain, lose and reorder columns over time, so adapters address columns
by name (case-insensitively) and a missing optional column is simply null. Cells are read
as text and parsed by :mod:`audit.normalize` so a bad cell rejects its row with a reason.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

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
    try:
        lazy = pl.scan_csv(
            path,
            infer_schema=False,
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
            raise_if_empty=False,
            missing_columns="insert",
        )
        columns = lazy.collect_schema().names()
    except PolarsError as exc:
        raise SourceError(f"cannot read as CSV: {exc}".splitlines()[0], path=path) from exc
    rename = _rename_map(columns)
    lazy = lazy.select([pl.col(old).alias(new) for old, new in rename.items()])
    next_line = 2
    try:
        for batch in lazy.collect_batches(chunk_size=chunk_rows):
            if batch.height == 0:
                continue
            newlines = pl.sum_horizontal(
                [pl.col(c).str.count_matches("\n").fill_null(0) for c in batch.columns]
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
            blank = pl.all_horizontal([pl.col(c).is_null() for c in rename.values()])
            yield batch.filter(~blank).drop("_nl")
    except PolarsError as exc:
        raise SourceError(f"cannot read as CSV: {exc}".splitlines()[0], path=path) from exc


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
