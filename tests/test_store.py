"""The store's file-record log: records survive commits, crashes, compaction and old stores."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import audit.store as store_module
from audit.cli import app
from audit.errors import ExitCode, StoreError
from audit.ingest import ingest
from audit.schema import canonical_schema
from audit.store import FILE_LOG_DIR, MANIFEST, SCHEMA_ID, Manifest, Store

from conftest import write

_RECORDS = st.fixed_dictionaries(
    {"path": st.text(max_size=4)},
    optional={
        "size": st.integers(),
        "months": st.lists(st.text(max_size=3), max_size=2),
        'é "x"\n': st.text(max_size=5),  # a key and values JSON must escape
        "format": st.text(max_size=5),
    },
)
_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), st.text("abcd", min_size=1, max_size=3), _RECORDS),
        st.tuples(st.sampled_from(["commit", "crash"]), st.just(""), st.just({})),
    ),
    max_size=16,
)


def legacy_manifest(root: Path, files: dict[str, dict[str, Any]], **body: Any) -> None:
    """A manifest as tokaudit wrote it before the log: every record inline."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "schema": "tokaudit.store/1",
        "files": files,
        "next_part": 1,
        "parts": [],
        "rejects": [],
        "problems": {},
    }
    (root / MANIFEST).write_text(json.dumps(manifest | body))


def assert_no_tail(store: Store) -> None:
    """A commit leaves the log exactly as long as the manifest vouches for."""
    log = store.manifest().file_log
    if log is not None:
        assert (store.root / log["path"]).stat().st_size == log["bytes"]


def log_path(root: Path) -> Path:
    log = json.loads((root / MANIFEST).read_bytes())["file_log"]
    return root / log["path"]


@settings(max_examples=80, deadline=None)
@given(
    start=st.dictionaries(st.text("abc", min_size=1, max_size=3), _RECORDS, max_size=5),
    steps=_STEPS,
)
def test_every_committed_record_reads_back_after_commits_and_crashes(
    start: dict[str, dict[str, Any]], steps: list[tuple[str, str, dict[str, Any]]]
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "store"
        legacy_manifest(root, start)
        store = Store(root)
        committed = dict(start)
        runs: list[list[tuple[str, str, dict[str, Any]]]] = [[]]
        for step in steps:
            runs[-1].append(step)
            if step[0] == "crash":
                runs.append([])
        for run in runs:
            pending = dict(committed)
            with store.writer() as writer:
                for action, digest, record in run:
                    if action == "record":
                        writer.record_file(digest, record)
                        pending[digest] = record
                    elif action == "commit":
                        writer.commit()
                        committed = dict(pending)
                        assert store.manifest().files == committed
                        assert_no_tail(store)
                if run and run[-1][0] == "crash":
                    # killed before committing: what it recorded since is lost, and
                    # whatever it appended past the committed length is not read
                    if store.manifest().file_log is not None:
                        with log_path(root).open("ab") as handle:
                            handle.write(b'["a",{"path":"appended, never committed"}]\n["b",')
                    continue
                writer.commit()
                committed = dict(pending)
                assert_no_tail(store)
            assert store.manifest().files == committed
        written = json.loads((root / MANIFEST).read_bytes())
        assert written["schema"] == SCHEMA_ID
        assert "files" not in written


def test_a_commit_writes_only_the_records_added_since_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[str] = []
    original = store_module.encode_records

    def counting(files: dict[str, dict[str, Any]], digests: list[str]) -> bytes:
        encoded.extend(digests)
        return original(files, digests)

    monkeypatch.setattr(store_module, "encode_records", counting)
    store = Store(tmp_path / "store")
    old = {f"{i:064x}": {"path": f"/old/{i}", "size": i} for i in range(1000)}
    with store.writer() as writer:
        for digest, record in old.items():
            writer.record_file(digest, record)
        writer.commit()
    assert len(encoded) == 1000
    small = (tmp_path / "store" / MANIFEST).stat().st_size
    with store.writer() as writer:
        for i in range(3):
            writer.record_file(f"new{i}", {"path": f"/new/{i}"})
            writer.commit()
        writer.commit()  # nothing new: nothing written to the log
    assert encoded[1000:] == ["new0", "new1", "new2"]
    assert (tmp_path / "store" / MANIFEST).stat().st_size < small + 100  # no records in it
    files = store.manifest().files
    assert files == old | {f"new{i}": {"path": f"/new/{i}"} for i in range(3)}
    lines = log_path(tmp_path / "store").read_bytes().splitlines()
    assert len(lines) == 1003


def test_replaced_records_are_compacted_into_a_new_log(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = Store(root)
    with store.writer() as writer:
        for i in range(10):
            writer.record_file(f"d{i}", {"path": f"/p/{i}"})
        writer.commit()
        first = log_path(root)
        for round_ in range(3):  # every record replaced, one commit each
            for i in range(10):
                writer.record_file(f"d{i}", {"path": f"/p/{i}", "round": round_})
                writer.commit()
    assert log_path(root) != first
    assert not first.exists()
    assert [p.name for p in (root / FILE_LOG_DIR).iterdir()] == [log_path(root).name]
    lines = log_path(root).read_bytes().splitlines()
    assert 10 <= len(lines) <= 20  # never more than twice the live records
    assert store.manifest().files == {f"d{i}": {"path": f"/p/{i}", "round": 2} for i in range(10)}


def recorded(root: Path, records: dict[str, dict[str, Any]]) -> Store:
    """A store whose log holds ``records`` (digest -> record), committed."""
    store = Store(root)
    with store.writer() as writer:
        for digest, record in records.items():
            writer.record_file(digest, record)
        writer.commit()
    return store


def test_a_reader_racing_a_compaction_reads_the_new_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store = recorded(root, {"d": {"path": "/old"}})
    stale = (root / MANIFEST).read_bytes()
    with store.writer() as writer:
        for i in range(3):
            writer.record_file("d", {"path": f"/moved/{i}"})
            writer.commit()
    assert not (root / json.loads(stale)["file_log"]["path"]).exists()
    parse = Manifest.from_json
    calls: list[bytes] = []

    def first_read_is_stale(data: bytes, path: Path) -> Manifest:
        calls.append(data)
        return parse(stale if len(calls) == 1 else data, path)

    monkeypatch.setattr(Manifest, "from_json", staticmethod(first_read_is_stale))
    assert store.manifest().files == {"d": {"path": "/moved/2"}}
    assert len(calls) == 2


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda log: log.write_bytes(log.read_bytes()[:-5]), "cut short"),
        (lambda log: log.write_bytes(b"x" * log.stat().st_size), "damaged"),
        (lambda log: log.unlink(), "missing"),
    ],
)
def test_a_damaged_log_is_a_store_error_naming_it(
    tmp_path: Path, damage: Any, message: str
) -> None:
    root = tmp_path / "store"
    store = recorded(root, {"d": {"path": "/p"}})
    log = log_path(root)
    damage(log)
    with pytest.raises(StoreError, match=message) as caught:
        store.manifest()
    assert caught.value.path == str(log)
    assert "ingest the exports again" in str(caught.value)


def test_a_legacy_store_is_read_as_is_and_moved_to_the_log_by_the_next_ingest(
    tmp_path: Path,
) -> None:
    exports = tmp_path / "exports"
    write(
        exports / "a.jsonl",
        '{"request_id":"r1","timestamp":"2026-06-01T10:00:00Z","model":"gpt-4o-mini",'
        '"input_tokens":10,"output_tokens":2}\n',
    )
    root = tmp_path / "store"
    store = Store(root)
    assert [f.status for f in ingest([exports], store).files] == ["loaded"]
    current = store.manifest()
    # the same store as the previous schema wrote it
    body = json.loads((root / MANIFEST).read_bytes())
    del body["file_log"]
    legacy_manifest(root, current.files, parts=body["parts"], next_part=body["next_part"])
    for path in (root / FILE_LOG_DIR).iterdir():
        path.unlink()
    assert store.manifest().files == current.files
    assert store.scan().collect().height == 1
    # the next ingest still knows the file, and writes the records to a log
    assert [f.status for f in ingest([exports], store).files] == ["unchanged"]
    written = json.loads((root / MANIFEST).read_bytes())
    assert written["schema"] == SCHEMA_ID
    assert "files" not in written
    assert store.manifest().files == current.files


def test_the_cli_stops_on_a_damaged_log_and_says_what_to_do(tmp_path: Path) -> None:
    exports = write(
        tmp_path / "exports" / "a.jsonl",
        '{"request_id":"r1","timestamp":"2026-06-01T10:00:00Z","model":"gpt-4o-mini",'
        '"input_tokens":10,"output_tokens":2}\n',
    ).parent
    store = tmp_path / "store"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(exports), "--store", str(store)]).exit_code == 0
    log = log_path(store)
    log.write_bytes(log.read_bytes()[:-3])
    for command in (["report", "--month", "2026-06"], ["ingest", str(exports)]):
        result = runner.invoke(app, [*command, "--store", str(store)])
        assert result.exit_code == ExitCode.ERROR, command
        assert f"{log}: file record log is cut short" in result.stderr
        assert "ingest the exports again" in result.stderr


# ------------------------------------------------------------------ merging small parts


def _rows(ids: range, month: str = "2026-06") -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "record_id": [f"r{i:05d}" for i in ids],
            "ts": [datetime.fromisoformat(f"{month}-01T00:00:00+00:00")] * len(ids),
            "input_tokens": list(ids),
        }
    )
    return (
        frame.with_columns(
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in canonical_schema().items()
            if name not in frame.columns
        )
        .select(canonical_schema().names())
        .cast(dict(canonical_schema()))
    )


def _store_of(root: Path, sizes: list[int], month: str = "2026-06") -> Store:
    """A store whose month holds one part per size, in order (ids numbered throughout)."""
    store = Store(root)
    start = 0
    with store.writer() as writer:
        for size in sizes:
            writer.append(_rows(range(start, start + size), month))
            start += size
        writer.commit()
    return store


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "COMPACT_PARTS", 4)
    monkeypatch.setattr(store_module, "SMALL_PART_ROWS", 10)
    monkeypatch.setattr(store_module, "MERGED_PART_ROWS", 25)


@pytest.mark.usefixtures("small_limits")
def test_runs_of_small_parts_are_merged_in_order_and_kept_until_no_report_needs_them(
    tmp_path: Path,
) -> None:
    sizes = [3, 4, 12, 2, 9, 9, 9, 1, 30, 5]
    store = _store_of(tmp_path / "store", sizes)
    before = store.manifest()
    rows = store.scan().collect()
    with store.writer() as writer:
        assert writer.compact(now=1000.0) == 7
        writer.commit()
    after = store.manifest()
    # [3, 4] -> 7; 12 stays; [2, 9, 9] -> 20, then [9, 1] -> 10 (25 rows at most); 30; 5 alone
    assert [p["rows"] for p in after.parts] == [7, 12, 20, 10, 30, 5]
    assert_frame_equal(store.scan().collect(), rows)  # same rows, same order
    retired = {p["path"] for p in before.parts} - {p["path"] for p in after.parts}
    assert {p["path"] for p in after.retired} == retired
    assert {p["since"] for p in after.retired} == {1000.0}
    # a report that read the manifest before the merge still reads its parts
    assert_frame_equal(store.scan(manifest=before).collect(), rows)
    with store.writer() as writer:
        writer.remove_retired(now=1000.0 + store_module.RETIRED_SECONDS - 1)
        writer.commit()
    assert all((store.root / path).exists() for path in retired)
    with store.writer() as writer:
        writer.remove_retired(now=1000.0 + store_module.RETIRED_SECONDS)
        writer.commit()
    assert not any((store.root / path).exists() for path in retired)
    assert store.manifest().retired == []
    assert_frame_equal(store.scan().collect(), rows)


@pytest.mark.usefixtures("small_limits")
def test_a_month_with_few_parts_is_left_alone(tmp_path: Path) -> None:
    store = _store_of(tmp_path / "store", [1, 1, 1, 1])
    with store.writer() as writer:
        assert writer.compact(now=0.0) == 0
    assert len(store.manifest().parts) == 4


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), max_size=30))
def test_merge_groups_are_the_whole_runs_of_small_parts(sizes: list[int]) -> None:
    parts = [{"path": str(i), "month": "m", "rows": n} for i, n in enumerate(sizes)]
    with (
        mock.patch.object(store_module, "SMALL_PART_ROWS", 10),
        mock.patch.object(store_module, "MERGED_PART_ROWS", 25),
    ):
        groups = store_module._merge_groups(parts)
    small = 10
    merged = [part for group in groups for part in group]
    for group in groups:
        indexes = [int(part["path"]) for part in group]
        assert indexes == list(range(indexes[0], indexes[0] + len(group)))  # consecutive
        assert all(part["rows"] < small for part in group)
        assert len(group) >= 2
        assert sum(p["rows"] for p in group) <= 25
    # every small part not merged has no small neighbour it could have joined
    for index, part in enumerate(parts):
        if part["rows"] < small and part not in merged:
            neighbours = parts[max(index - 1, 0) : index] + parts[index + 1 : index + 2]
            assert all(n["rows"] >= small or n in merged for n in neighbours)


@pytest.mark.usefixtures("small_limits")
@pytest.mark.parametrize("point", ["part-merged", "before-replace:manifest.json"])
def test_a_merge_killed_midway_leaves_the_store_as_it_was(tmp_path: Path, point: str) -> None:
    store = _store_of(tmp_path / "store", [2] * 8)
    rows = store.scan().collect()
    script = (
        "import sys, audit.store as s\n"
        "s.COMPACT_PARTS, s.SMALL_PART_ROWS, s.MERGED_PART_ROWS = 4, 10, 25\n"
        "with s.Store(s.Path(sys.argv[1])).writer() as w:\n"
        "    w.compact(now=0.0)\n"
        "    w.commit()\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script, str(store.root)],
        env={**os.environ, store_module.FAULT_ENV: point},
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert len(store.manifest().parts) == 8
    assert_frame_equal(store.scan().collect(), rows)
    with store.writer() as writer:  # the half-written merge is cleared away, then redone
        assert writer.compact(now=0.0) == 8
        writer.commit()
    assert [p["rows"] for p in store.manifest().parts] == [16]
    listed = {p["path"] for p in [*store.manifest().parts, *store.manifest().retired]}
    on_disk = {str(p.relative_to(store.root)) for p in (store.root / "data").rglob("*")}
    assert {p for p in on_disk if p.endswith(".parquet")} == listed
    assert_frame_equal(store.scan().collect(), rows)


def test_frequent_small_ingests_keep_a_month_to_a_bounded_number_of_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "COMPACT_PARTS", 5)
    runner = CliRunner()
    store = tmp_path / "store"
    outputs = []
    for hour in range(12):  # an hourly cron: each run finds one new log
        write(
            tmp_path / "logs" / f"h{hour:02d}.jsonl",
            "".join(
                f'{{"request_id":"h{hour}-{i}","timestamp":"2026-06-01T{hour:02d}:0{i}:00Z",'
                f'"model":"gpt-4o-mini","input_tokens":{10 + i},"output_tokens":2}}\n'
                for i in range(3)
            ),
        )
        result = runner.invoke(app, ["ingest", str(tmp_path / "logs"), "--store", str(store)])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
        assert len(Store(store).manifest().parts) <= 5
    assert any("small store parts merged" in out for out in outputs)
    once = tmp_path / "once"
    assert (
        runner.invoke(app, ["ingest", str(tmp_path / "logs"), "--store", str(once)]).exit_code == 0
    )
    report = ["report", "--month", "2026-06", "--format", "json", "--now", "2026-07-01T00:00:00Z"]
    merged = runner.invoke(app, [*report, "--store", str(store)])
    whole = runner.invoke(app, [*report, "--store", str(once)])
    assert json.loads(merged.stdout)["totals"] == json.loads(whole.stdout)["totals"]
    assert json.loads(merged.stdout)["totals"]["requests"] == 36


# ------------------------------------------------------------------ appends made ready elsewhere


def _from(rows: pl.DataFrame, name: str) -> pl.DataFrame:
    return rows.with_columns(pl.lit(name).alias("source_file"))


def test_a_prepared_append_is_written_as_the_writer_would_and_deduplicated(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    with store.writer() as writer:
        writer.append(_from(_rows(range(0, 3), "2026-06"), "old.jsonl"))
        writer.commit()
    # made ready on another thread, as an ingest's worker does
    batch = pl.concat(
        [
            _from(_rows(range(2, 6), "2026-06"), "a.jsonl"),  # ids 2 stored already
            _from(_rows(range(10, 13), "2026-07"), "b.jsonl"),  # all new
            _from(_rows(range(12, 14), "2026-07"), "a.jsonl"),  # id 12 repeated in the batch
        ]
    )
    with ThreadPoolExecutor(1) as pool:
        prepared = pool.submit(store_module.prepare_append, batch).result()
    assert [group.month for group in prepared.groups] == ["2026-06", "2026-07"]
    with store.writer() as writer:
        counts = writer.append_prepared(prepared)
        writer.commit()
    assert counts == {"a.jsonl": 3 + 1, "b.jsonl": 3}
    stored = store.scan().collect().sort("record_id")
    assert stored.get_column("record_id").to_list() == [
        f"r{i:05d}" for i in (0, 1, 2, 3, 4, 5, 10, 11, 12, 13)
    ]
    assert stored.filter(pl.col("record_id") == "r00002")["source_file"].item() == "old.jsonl"
    # July was all new: its part is the bytes prepared, which are what the writer writes
    [july] = [part for part in store.manifest().parts if part["month"] == "2026-07"]
    written = (store.root / july["path"]).read_bytes()
    [group] = [group for group in prepared.groups if group.month == "2026-07"]
    assert written == group.encoded
    again = tmp_path / "again.parquet"
    group.rows.drop("_id_hash").write_parquet(again, **store_module.PARQUET_OPTIONS)
    assert again.read_bytes() == written


def test_an_empty_or_fully_stored_prepared_append_writes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    rows = _from(_rows(range(3), "2026-06"), "a.jsonl")
    with store.writer() as writer:
        assert writer.append_prepared(store_module.prepare_append(rows.clear())) == {}
        writer.append(rows)
        writer.commit()
        parts = list(store.manifest().parts)
        assert writer.append_prepared(store_module.prepare_append(rows)) == {}
        writer.commit()
    assert store.manifest().parts == parts


def test_an_append_on_the_writers_thread_encodes_only_the_rows_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grown log read again is mostly stored rows: none of them is encoded for nothing."""
    store = Store(tmp_path / "store")
    rows = _from(_rows(range(5), "2026-06"), "log.jsonl")
    with store.writer() as writer:
        writer.append(rows)
        writer.commit()
    encoded: list[int] = []
    original = pl.DataFrame.write_parquet

    def counting(frame: pl.DataFrame, *args: Any, **kwargs: Any) -> Any:
        encoded.append(frame.height)
        return original(frame, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", counting)
    grown = pl.concat([rows, _from(_rows(range(5, 7), "2026-06"), "log.jsonl")])
    with store.writer() as writer:
        assert writer.append(rows) == 0
        assert encoded == []
        assert writer.append(grown) == 2
        writer.commit()
    assert encoded == [2]
    assert store.scan().collect().height == 7
