"""The shared CSV reader: damaged exports still give every record before the damage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import SourceError
from audit.ingest import ingest
from audit.sources.tables import iter_csv
from audit.store import Store

from conftest import FIXTURES, write

HEADER = "id,note,tokens\n"
GOOD = 'a,"two\nlines",1\nb,plain,2\nc,"say ""hi""",3\n'


def records(path: Path) -> pl.DataFrame:
    return pl.concat(list(iter_csv(path, chunk_rows=2)))


def test_quoted_newlines_and_line_numbers(tmp_path: Path) -> None:
    frame = records(write(tmp_path / "ok.csv", HEADER + GOOD))
    assert frame.get_column("id").to_list() == ["a", "b", "c"]
    assert frame.get_column("source_line").to_list() == [2, 4, 5]
    assert frame.get_column("note").to_list() == ["two\nlines", "plain", 'say "hi"']


@pytest.mark.parametrize(
    "tail",
    [
        'd,"cut off in the middle of a quoted ce',  # a download that stopped mid-cell
        'd,"unbalanced,4\ne,fine,5\n',  # a hand-edited line with a stray quote
    ],
)
def test_a_damaged_file_keeps_every_record_before_the_damage(tmp_path: Path, tail: str) -> None:
    path = write(tmp_path / "damaged.csv", HEADER + GOOD + tail)
    with pytest.raises(pl.exceptions.PolarsError):  # the fast reader gives up on the file
        pl.read_csv(path, infer_schema=False)
    frame = records(path)
    assert frame.get_column("id").to_list()[:3] == ["a", "b", "c"]
    assert frame.get_column("source_line").to_list()[:3] == [2, 4, 5]
    # the damaged record is handed on (to be rejected with a reason), never dropped
    assert frame.height == 4
    assert frame.get_column("id")[3] == "d"
    assert frame.get_column("source_line")[3] == 6


def test_a_cell_over_the_limit_is_a_clear_file_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("audit.sources.tables.MAX_CELL_CHARS", 1000)
    path = write(tmp_path / "huge.csv", HEADER + 'a,"' + "x" * 5000 + "\n")
    with pytest.raises(SourceError, match="cannot read as CSV") as caught:
        records(path)
    assert caught.value.line is not None


def test_truncated_export_through_ingest_keeps_good_rows(tmp_path: Path) -> None:
    source = FIXTURES / "sources" / "openrouter-generations-csv"
    full = sorted(source.glob("*.csv"))[0].read_text(encoding="utf-8")
    lines = full.splitlines(keepends=True)
    # a download cut off inside a quoted cell of one more row
    damaged = full + 'gen-cut,"2026-06-0'
    intact = write(tmp_path / "intact" / "generations.csv", full)
    path = write(tmp_path / "exports" / "generations.csv", damaged)
    clean = ingest([intact.parent], Store(tmp_path / "clean")).files[0]
    result = ingest([path.parent], Store(tmp_path / "store")).files[0]
    assert result.status == "loaded"
    assert result.rows_loaded + result.rows_rejected == result.rows_read
    # every row loads as before; the cut one is rejected, with its line
    assert result.rows_loaded == clean.rows_loaded
    assert result.rows_rejected == clean.rows_rejected + 1
    cut = [r for r in result.reasons if r["first_line"] == len(lines) + 1]
    assert cut
    assert "created_at" in str(cut[0]["reason"])


cell = st.one_of(
    st.just(""),
    st.text(alphabet='ab ,"\n€', min_size=1, max_size=12),  # a lone CR: see below
    st.integers(0, 10**6).map(str),
)


# A lone CR inside a cell is left out: the fallback parser counts it as a line break for
# line numbers and Polars does not (CRLF line endings are covered by ``crlf``).


def render_csv(rows: list[list[str]], crlf: bool) -> str:
    """RFC 4180: a cell with a comma, quote or line break is quoted, its quotes doubled."""
    end = "\r\n" if crlf else "\n"

    def quote(text: str) -> str:
        if any(ch in text for ch in ',"\n\r') or text != text.strip():
            return '"' + text.replace('"', '""') + '"'
        return text

    return end.join(",".join(quote(c) for c in row) for row in rows) + end


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(cell, min_size=3, max_size=3), min_size=0, max_size=25),
    crlf=st.booleans(),
    block=st.integers(1, 96),
    bom=st.booleans(),
)
def test_reading_in_pieces_equals_reading_whole(
    tmp_path_factory: pytest.TempPathFactory,
    rows: list[list[str]],
    crlf: bool,
    block: int,
    bom: bool,
) -> None:
    """Pieces cut anywhere (inside quoted cells too) give the same records and line numbers."""
    import audit.sources.tables as tables

    text = render_csv([["id", "note", "tokens"], *rows], crlf)
    path = tmp_path_factory.mktemp("pieces") / "export.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())

    def as_records(frames: list[pl.DataFrame]) -> list[dict[str, object]]:
        return [record for frame in frames for record in frame.to_dicts()]

    whole = as_records(list(tables._polars_batches(path, chunk_rows=7)))
    original = tables.BLOCK_BYTES
    tables.BLOCK_BYTES = block
    try:
        pieces = as_records(list(tables._polars_batches(path, chunk_rows=7)))  # no fallback
    finally:
        tables.BLOCK_BYTES = original
    assert pieces == whole
    # the standard library's parser, an independent reader, finds the same records
    assert as_records(list(tables._stdlib_batches(path, chunk_rows=7))) == whole
    # and they are the ones written, at the lines where they start
    expected_lines, line = [], 2
    for row in rows:
        if any(row):
            expected_lines.append(line)
        line += 1 + sum(c.count("\n") for c in row)
    assert [record["source_line"] for record in whole] == expected_lines
    assert [record["id"] or "" for record in whole] == [r[0] for r in rows if any(r)]
