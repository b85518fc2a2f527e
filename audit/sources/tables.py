"""Reading CSV exports robustly: every cell as text, columns by name, real line numbers.

Dashboard exports gain, lose and reorder columns over time, so adapters address columns
by name (case-insensitively) and a missing optional column is simply null. Cells are read
as text and parsed by :mod:`audit.normalize` so a bad cell rejects its row with a reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
from polars.exceptions import PolarsError

from audit.errors import SourceError


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
    """
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


def col(frame_columns: set[str], *names: str) -> pl.Expr:
    """The first of ``names`` present in the file (lower-case), else a null: columns come and go."""
    for name in names:
        if name.lower() in frame_columns:
            return pl.col(name.lower())
    return pl.lit(None, dtype=pl.String)
