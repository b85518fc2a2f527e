"""The store's file-record log: records survive commits, crashes, compaction and old stores."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import audit.store as store_module
from audit.cli import app
from audit.errors import ExitCode, StoreError
from audit.ingest import ingest
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


def test_a_reader_racing_a_compaction_reads_the_new_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store = Store(root)
    with store.writer() as writer:
        writer.record_file("d", {"path": "/old"})
        writer.commit()
        stale = (root / MANIFEST).read_bytes()
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
    store = Store(root)
    with store.writer() as writer:
        writer.record_file("d", {"path": "/p"})
        writer.commit()
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
