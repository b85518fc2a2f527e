"""The shared CSV reader: damaged exports still give every record before the damage."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

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
