"""Small files mapped in batches: the same store and the same per-file report as one by one."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.exceptions import ComputeError

import audit.ingest as ingest_module
from audit.errors import ExitCode
from audit.ingest import FileResult, IngestObserver, IngestSummary, ingest
from audit.sources import ReadOptions
from audit.sources.claude_code import ClaudeCodeTranscript
from audit.store import Store

from conftest import FIXTURES, write

SESSION_FILE = FIXTURES / "sources" / "claude-code" / "session.jsonl"
AGENT_FILE = FIXTURES / "sources" / "claude-code" / "agent-a1b2c3.jsonl"


def assistant(msg_id: str, request: str, output: int, minute: int = 0) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": "s-1",
            "uuid": f"u-{msg_id}-{output}",
            "requestId": request,
            "timestamp": f"2026-06-03T10:{minute:02d}:00.000Z",
            "cwd": "/home/dev/src/app",
            "message": {
                "id": msg_id,
                "model": "claude-sonnet-4-5",
                "usage": {"input_tokens": 10, "output_tokens": output},
            },
        }
    )


def build_tree(root: Path) -> Path:
    """Sessions with streamed duplicates, a resumed session, a bad line, and a subagent."""
    projects = root / "projects"
    app = projects / "-home-dev-src-app"
    write(app / "a-session.jsonl", SESSION_FILE.read_bytes())
    subagents = app / "a-session" / "subagents"
    subagents.mkdir(parents=True)
    shutil.copy(AGENT_FILE, subagents / "agent-1.jsonl")
    lines = [assistant("m1", "r1", 5), assistant("m1", "r1", 9), assistant("m2", "r2", 4, 1)]
    write(app / "b-session.jsonl", "\n".join(lines) + "\n")
    resumed = [
        assistant("m2", "r2", 4, 1),
        assistant("m3", "r3", 7, 2),
        '{"type": "assistant", "usage": cut',
    ]
    write(projects / "-home-dev-src-lib" / "c-session.jsonl", "\n".join(resumed) + "\n")
    write(app / "README.md", "notes\n")
    return projects


def stored(store: Store) -> list[dict]:
    return store.scan().collect().sort("record_id").to_dicts()


def outcome(summary: IngestSummary) -> list[tuple]:
    return [
        (
            Path(f.path).name,
            f.status,
            f.rows_read,
            f.rows_loaded,
            f.rows_duplicate,
            f.rows_rejected,
            f.reasons,
        )
        for f in summary.files
    ]


@pytest.fixture(params=["worker idle", "worker busy", "worker frees up midway"])
def preparer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Force who prepares each batch: the worker (idle), the reading thread (busy), or
    the reading thread a part of it and the worker the rest (busy at every other look)."""
    answers = {
        "worker idle": itertools.repeat(False),
        "worker busy": itertools.repeat(True),
        "worker frees up midway": itertools.cycle([True, False]),
    }[request.param]
    monkeypatch.setattr(ingest_module._Run, "_worker_busy", lambda self: next(answers))
    monkeypatch.setattr(ingest_module, "PREPARE_PARTS", 100)  # parts of one file each
    return str(request.param)


@pytest.mark.parametrize(
    "setting", [("BATCH_FILES", 1), ("BATCH_FILE_BYTES", 0), ("BATCH_ROWS", 2)]
)
def test_batched_ingest_equals_one_file_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: tuple[str, int], preparer: str
) -> None:
    projects = build_tree(tmp_path)
    batched_store = Store(tmp_path / "batched")
    batched = ingest([projects], batched_store)

    monkeypatch.setattr(ingest_module, setting[0], setting[1])
    alone_store = Store(tmp_path / "alone")
    alone = ingest([projects], alone_store)

    assert outcome(batched) == outcome(alone)
    assert stored(batched_store) == stored(alone_store)
    # the facts themselves, so the two cannot agree by both being wrong
    by_name = {row[0]: row for row in outcome(batched)}
    assert by_name["b-session.jsonl"][1:6] == ("loaded", 2, 2, 0, 0)
    assert by_name["c-session.jsonl"][1:6] == ("loaded", 3, 1, 1, 1)  # m2 was in b-session
    assert by_name["README.md"][1] == "skipped"
    m1 = [row for row in stored(batched_store) if row["record_id"] == "m1:r1"]
    assert [row["output_tokens"] for row in m1] == [9]  # the streamed line with the final usage


def test_a_batch_prepared_in_part_by_each_thread_loads_as_one_file_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    projects = build_tree(tmp_path)
    monkeypatch.setattr(ingest_module, "BATCH_FILES", 1)
    alone_store = Store(tmp_path / "alone")
    alone = ingest([projects], alone_store)
    monkeypatch.undo()

    # Three files prepared here, the fourth (which repeats a message of the third, so the
    # order of the parts decides which file's row is kept) on the worker.
    answers = itertools.cycle([True, True, True, False])
    monkeypatch.setattr(ingest_module._Run, "_worker_busy", lambda self: next(answers))
    monkeypatch.setattr(ingest_module, "PREPARE_PARTS", 100)
    split: list[tuple[int, int]] = []
    real = ingest_module._map_parts

    def spying(adapter: object, done: list, rest: list, *args: object) -> object:
        split.append((len(done), len(rest)))
        return real(adapter, done, rest, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_module, "_map_parts", spying)
    mixed_store = Store(tmp_path / "mixed")
    mixed = ingest([projects], mixed_store)
    assert (3, 1) in split
    assert outcome(mixed) == outcome(alone)
    assert stored(mixed_store) == stored(alone_store)


@pytest.mark.parametrize("stage", ["prepare", "transform"])
def test_a_file_that_breaks_the_shared_query_fails_alone(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, stage: str, preparer: str
) -> None:
    """Whichever stage fails, on whichever thread, only the file that broke it fails."""
    projects = build_tree(tmp_path)
    real = getattr(ClaudeCodeTranscript, stage)

    def poisoned(self: ClaudeCodeTranscript, frame: pl.DataFrame, options: object) -> object:
        if frame.get_column("source_file").str.contains("b-session").any():
            raise ComputeError("simulated failure on b-session")
        return real(self, frame, options)

    monkeypatch.setattr(ClaudeCodeTranscript, stage, poisoned)
    summary = ingest([projects], store)
    status = {Path(f.path).name: (f.status, f.message) for f in summary.files}
    assert status["b-session.jsonl"] == ("unreadable", "simulated failure on b-session")
    assert status["a-session.jsonl"][0] == status["c-session.jsonl"][0] == "loaded"
    assert summary.exit_code == ExitCode.DATA
    assert "m1:r1" not in {row["record_id"] for row in stored(store)}
    # without b-session in the store, c-session's m2 is new
    assert {Path(f.path).name: f.rows_loaded for f in summary.files}["c-session.jsonl"] == 2

    monkeypatch.setattr(ClaudeCodeTranscript, stage, real)
    again = ingest([projects], store)
    status = {Path(f.path).name: f.status for f in again.files}
    assert status["b-session.jsonl"] == "loaded"
    assert status["a-session.jsonl"] == "unchanged"
    assert {row["record_id"] for row in stored(store)} >= {"m1:r1", "m2:r2", "m3:r3"}


class Recorder(IngestObserver):
    def __init__(self) -> None:
        self.done: list[str] = []

    def file_done(self, result: FileResult, size: int) -> None:
        self.done.append(Path(result.path).name)


def test_files_are_reported_in_input_order_around_batches(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    projects = build_tree(tmp_path)
    ingest([projects / "-home-dev-src-app" / "b-session.jsonl"], store)
    # a streamed (non-batched) format in the middle of the tree
    rows = [
        {
            "request_id": "x-1",
            "timestamp": "2026-06-03T10:00:00Z",
            "model": "gpt-4o-mini",
            "input_tokens": 5,
            "output_tokens": 1,
        }
    ]
    write(projects / "-home-dev-src-app" / "b2-gateway.jsonl", json.dumps(rows[0]) + "\n")
    monkeypatch.setattr(ingest_module, "BATCH_FILES", 2)
    recorder = Recorder()
    summary = ingest([projects], store, observer=recorder)
    expected = [Path(f.path).name for f in summary.files]
    assert recorder.done == expected
    assert expected == [
        "README.md",
        "a-session.jsonl",
        "agent-1.jsonl",
        "b-session.jsonl",
        "b2-gateway.jsonl",
        "c-session.jsonl",
    ]
    status = {Path(f.path).name: (f.status, f.format) for f in summary.files}
    assert status["b-session.jsonl"] == ("unchanged", "claude-code")
    assert status["b2-gateway.jsonl"] == ("loaded", "generic-jsonl")
    assert status["agent-1.jsonl"] == ("loaded", "claude-code")


def test_identical_copies_in_one_batch_count_once(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "projects" / "-home-dev-src-app"
    write(folder / "one.jsonl", SESSION_FILE.read_bytes())
    write(folder / "two.jsonl", SESSION_FILE.read_bytes())
    summary = ingest([tmp_path / "projects"], store)
    one, two = summary.files
    assert (one.rows_loaded, one.rows_duplicate) == (4, 0)
    assert (two.rows_loaded, two.rows_duplicate, two.rows_read) == (0, 4, 6)
    assert len(stored(store)) == 4
    again = ingest([tmp_path / "projects"], store)
    assert [f.status for f in again.files] == ["unchanged", "unchanged"]


def test_folder_shortcut_still_detects_other_formats(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "mixed"
    write(folder / "a.jsonl", SESSION_FILE.read_bytes())
    write(
        folder / "b.jsonl",
        json.dumps(
            {
                "request_id": "g-1",
                "timestamp": "2026-06-03T10:00:00Z",
                "model": "gpt-4o-mini",
                "input_tokens": 5,
                "output_tokens": 1,
                "sessionId": "looks-like-a-transcript-key",
            }
        )
        + "\n",
    )
    write(folder / "c.jsonl", SESSION_FILE.read_bytes())
    summary = ingest([folder], store)
    assert [(Path(f.path).name, f.format) for f in summary.files] == [
        ("a.jsonl", "claude-code"),
        ("b.jsonl", "generic-jsonl"),
        ("c.jsonl", "claude-code"),
    ]


def big_log(path: Path, rows: int) -> Path:
    """A generic JSONL log, read in several chunks once ``chunk_bytes`` is small."""
    lines = [
        json.dumps(
            {
                "request_id": f"r{n}",
                "timestamp": f"2026-06-{1 + n % 28:02d}T10:00:00Z",
                "model": "gpt-4o-mini",
                "input_tokens": n,
                "output_tokens": 1,
            }
        )
        for n in range(rows)
    ]
    lines[rows // 2] = '{"request_id": "cut'  # a bad line mid-file: rejected, not fatal
    return write(path, "\n".join(lines) + "\n")


def test_chunks_of_a_big_file_mapped_on_the_worker_equal_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = big_log(tmp_path / "in" / "gateway.jsonl", 2000)
    monkeypatch.setattr(ingest_module, "BATCH_FILE_BYTES", 0)  # streamed, as a big file is
    whole = ingest([log], Store(tmp_path / "whole"))
    chunked_store = Store(tmp_path / "chunked")
    chunked = ingest([log], chunked_store, options=ReadOptions(chunk_bytes=4096))

    assert outcome(chunked) == outcome(whole)
    assert outcome(chunked)[0][1:6] == ("loaded", 2000, 1999, 0, 1)
    assert stored(chunked_store) == stored(Store(tmp_path / "whole"))
    assert sum(row["input_tokens"] for row in stored(chunked_store)) == sum(range(2000)) - 1000

    # Flushed every few hundred rows: the same rows, written as several parts of the month.
    monkeypatch.setattr(ingest_module, "FLUSH_ROWS", 300)
    flushed_store = Store(tmp_path / "flushed")
    flushed = ingest([log], flushed_store, options=ReadOptions(chunk_bytes=4096))
    assert outcome(flushed) == outcome(whole)
    assert stored(flushed_store) == stored(chunked_store)

    def parts(store: str) -> int:
        return len(list((tmp_path / store / "data" / "month=2026-06").glob("*.parquet")))

    assert parts("flushed") >= 1999 // 300
    assert parts("chunked") == 1


def test_a_chunk_that_fails_on_the_worker_fails_its_file_only(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = big_log(tmp_path / "in" / "a-gateway.jsonl", 2000)
    write(
        tmp_path / "in" / "b-fine.jsonl",
        json.dumps(
            {
                "request_id": "fine",
                "timestamp": "2026-06-01T00:00:00Z",
                "model": "gpt-4o-mini",
                "input_tokens": 1,
                "output_tokens": 1,
            }
        )
        + "\n",
    )
    real = ingest_module._finished
    calls: list[str | None] = []

    def failing_third_chunk(*args: object) -> object:
        calls.append(args[2])  # type: ignore[arg-type]
        if args[2] == str(log) and calls.count(str(log)) == 3:
            raise ComputeError("simulated failure in chunk 3")
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest_module, "BATCH_FILE_BYTES", 0)
    monkeypatch.setattr(ingest_module, "_finished", failing_third_chunk)
    summary = ingest([tmp_path / "in"], store, options=ReadOptions(chunk_bytes=4096))
    status = {Path(f.path).name: (f.status, f.message) for f in summary.files}
    assert status["a-gateway.jsonl"] == ("unreadable", "simulated failure in chunk 3")
    assert status["b-fine.jsonl"][0] == "loaded"
    assert summary.exit_code == ExitCode.DATA
    assert "fine" in {row["record_id"] for row in stored(store)}

    # fixed and re-run: the whole file loads once, whatever was flushed before the failure
    monkeypatch.setattr(ingest_module, "_finished", real)
    again = ingest([tmp_path / "in"], store, options=ReadOptions(chunk_bytes=4096))
    assert {Path(f.path).name: f.status for f in again.files}["a-gateway.jsonl"] == "loaded"
    ids = [row["record_id"] for row in stored(store)]
    assert len(ids) == len(set(ids)) == 2000  # 1999 good rows of the log + "fine"


def test_the_next_file_is_read_while_a_streamed_file_maps_its_last_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed file's last chunk maps on the worker while the next file's first chunk is
    read, yet every file loads, is reported and is written exactly as one at a time: big
    logs, a small batched file between them, an unreadable file and a file that is skipped."""
    folder = tmp_path / "in"
    big_log(folder / "a-gateway.jsonl", 700)
    big_log(folder / "b-gateway.jsonl", 500)
    write(folder / "c-small.jsonl", "\n".join(json.dumps(
        {"request_id": f"s{n}", "timestamp": "2026-06-02T10:00:00Z", "model": "gpt-4o-mini",
         "input_tokens": 1, "output_tokens": 1}) for n in range(3)) + "\n")  # fmt: skip
    big_log(folder / "d-gateway.jsonl", 600)
    import gzip

    cut = gzip.compress(
        (folder / "b-gateway.jsonl").read_bytes().replace(b'"r', b'"z')  # other ids
    )[:-40]
    write(folder / "e-cut.jsonl.gz", cut)
    write(folder / "f-notes.md", "notes\n")
    big_log(folder / "g-gateway.jsonl", 300)
    monkeypatch.setattr(ingest_module, "BATCH_FILE_BYTES", 1000)  # the logs are streamed
    options = ReadOptions(chunk_bytes=4096)

    events: list[tuple[str, str]] = []
    real_start, real_last = ingest_module._Chunks.start, ingest_module._Chunks.last

    def start(self: ingest_module._Chunks) -> None:
        events.append(("start", self.path.name))
        real_start(self)

    def last(self: ingest_module._Chunks) -> object:
        events.append(("last", self.path.name))
        return real_last(self)

    monkeypatch.setattr(ingest_module._Chunks, "start", start)
    monkeypatch.setattr(ingest_module._Chunks, "last", last)
    recorder = Recorder()
    together_store = Store(tmp_path / "together")
    together = ingest([folder], together_store, options=options, observer=recorder)

    # Overlap: a streamed file's first chunk is handed over before the last chunk of the
    # streamed file just before it is collected (a batched or skipped file in between
    # finishes the streamed one first: c's extraction overlaps b's last chunk instead).
    for before, after in [("a-gateway.jsonl", "b-gateway.jsonl"), ("d-gateway.jsonl", "e-cut.jsonl.gz")]:  # fmt: skip
        assert events.index(("start", after)) < events.index(("last", before))
    assert events.index(("last", "b-gateway.jsonl")) < events.index(("start", "d-gateway.jsonl"))

    one_store = Store(tmp_path / "one")
    alone = [ingest([path], one_store, options=options) for path in sorted(folder.iterdir())]
    assert outcome(together) == [row for summary in alone for row in outcome(summary)]
    assert stored(together_store) == stored(one_store)
    assert recorder.done == [Path(f.path).name for f in together.files]
    status = {Path(f.path).name: f.status for f in together.files}
    assert status["e-cut.jsonl.gz"] == "loaded"  # rows before the damage load; the cut is a reject
    assert status["f-notes.md"] == "skipped"
    assert together.exit_code == ExitCode.DATA
