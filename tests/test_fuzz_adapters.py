"""Fuzzing every adapter's parser: garbage in, a clear answer out, never a traceback.

Each adapter is *forced* onto the input (detection is bypassed), so its parser meets bytes it
would normally never be handed. The contract under test, for any input:

- the only exception an adapter may raise is :class:`SourceError` (a whole-file problem with
  a message, reported as "unreadable"); anything else is a bug;
- every row it yields is either loaded (valid against the canonical schema) or rejected with
  a reason, so ``read = loaded + rejected`` holds by construction and no row vanishes;
- mutating one line of a valid export never loses the records on the other lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.errors import SourceError
from audit.normalize import finished_rows
from audit.schema import CANONICAL
from audit.sources import SOURCES, ReadOptions, SourceAdapter

from conftest import FIXTURES

ADAPTERS = SOURCES.names()
FIXTURE_ROOT = FIXTURES / "sources"
#: Examples per adapter and property: a handful in the suite (it runs on every commit),
#: more on demand, e.g. ``TOKAUDIT_FUZZ_EXAMPLES=500 pytest tests/test_fuzz_adapters.py``.
FUZZ = settings(
    max_examples=int(os.environ.get("TOKAUDIT_FUZZ_EXAMPLES", "5")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fixtures_of(name: str) -> list[Path]:
    folder = FIXTURE_ROOT / name
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def read_forced(adapter: SourceAdapter, path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Everything the adapter yields for the file: (loaded rows, rejects), as ingest does."""
    good_parts, bad_parts = [], []
    for chunk in adapter.read(path, ReadOptions(chunk_bytes=4096, chunk_lines=50)):
        rows, rejects = finished_rows(
            chunk, source=adapter.name, source_file=str(path), granularity=adapter.granularity
        )
        good_parts.append(rows)
        bad_parts.append(rejects)
    good = pl.concat(good_parts) if good_parts else pl.DataFrame(schema=CANONICAL)
    bad = (
        pl.concat(bad_parts)
        if bad_parts
        else pl.DataFrame(schema={"source_line": pl.Int64, "reason": pl.String})
    )
    return good, bad


def check_contract(adapter: SourceAdapter, path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    try:
        good, bad = read_forced(adapter, path)
    except SourceError as exc:
        message = exc.message  # a whole-file problem, said plainly
        assert message
        return pl.DataFrame(schema=CANONICAL), pl.DataFrame()
    assert good.schema == pl.Schema(CANONICAL), adapter.name
    if bad.height:
        assert bad.get_column("reason").is_not_null().all()
        assert (bad.get_column("reason").str.len_chars() > 0).all()
    return good, bad


line_noise = st.one_of(
    st.text(max_size=80).map(lambda t: t.replace("\n", " ")),
    st.sampled_from(
        [
            "{",
            "[]",
            '"a string"',
            "42",
            "null",
            '{"usage": {"input_tokens": "lots"}}',
            '{"timestamp": "3000-01-01T00:00:00Z", "model": "m", "input_tokens": -5}',
            '[{"nested": [[[[[]]]]]}]',
            "a,b,c,d,e,f,g,h",
            ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
            '"unterminated, quote',
            "\ufeff\x00\x01",
            '=HYPERLINK("http://x")',
        ]
    ),
)


@pytest.mark.parametrize("name", ADAPTERS)
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_crash_any_parser(name: str, data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.bin"
    path.write_bytes(data)
    check_contract(SOURCES.get(name), path)


@pytest.mark.parametrize("name", [n for n in ADAPTERS if fixtures_of(n)])
@FUZZ
@given(choice=st.integers(min_value=0), where=st.floats(0, 1), noise=line_noise)
def test_a_damaged_line_never_loses_the_other_records(
    name: str, choice: int, where: float, noise: str, tmp_path: Path
) -> None:
    adapter = SOURCES.get(name)
    files = fixtures_of(name)
    source = files[choice % len(files)]
    original = source.read_bytes()
    lines = original.split(b"\n")
    # the header line of a CSV stays; any other line may be replaced by noise
    first = 1 if source.suffix == ".csv" else 0
    if len(lines) <= first + 1:
        return
    index = first + int(where * (len(lines) - first - 1))
    damaged = lines.copy()
    damaged[index] = noise.encode("utf-8", errors="replace")
    clean_path = tmp_path / source.name
    clean_path.write_bytes(original)
    path = tmp_path / f"damaged{source.suffix}"
    path.write_bytes(b"\n".join(damaged))
    before, _ = check_contract(adapter, clean_path)
    after, _ = check_contract(adapter, path)
    if not _line_oriented(source, original):
        return  # one JSON document: a damaged line may spoil the whole document, by design
    # every record that did not sit on the damaged line still loads, with the same id; in a
    # CSV, a stray quote on the damaged line may swallow the lines after it into one bad
    # record (rejected with a reason), so only the records before it are guaranteed
    line = pl.col("source_line")
    if source.suffix == ".csv":
        starts = before.filter(line <= index + 1).get_column("source_line")
        damaged_record = starts.max() if starts.len() else 0
        kept = before.filter(line < damaged_record)  # records that end before the damage
    else:
        kept = before.filter(line != index + 1)
    survived = set(after.get_column("record_id").to_list())
    lost = [rid for rid in kept.get_column("record_id").to_list() if rid not in survived]
    if adapter.granularity == "aggregate" or name in {"claude-code", "focus-csv"}:
        # summed buckets, per-file dedup or content-derived ids (ordinal among identical
        # rows) may legitimately change when a neighbour vanishes; the count may not grow
        assert after.height <= before.height + 1
        return
    assert not lost, f"{name}: damaging line {index + 1} lost {lost[:3]}"


def _line_oriented(path: Path, content: bytes) -> bool:
    """CSV, or JSON Lines (every non-blank line a JSON value of its own)."""
    if path.suffix == ".csv":
        return True
    lines = [line for line in content.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        for line in lines:
            json.loads(line)
    except ValueError:
        return False
    return True
