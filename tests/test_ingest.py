"""Ingest and store: idempotence, dedup across files and sources, atomic commits, bad files."""

from __future__ import annotations

import hashlib
import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import audit.ingest as ingest_module
import audit.store as store_module
from audit.errors import ExitCode, UsageError
from audit.ingest import discover, ingest
from audit.period import parse_since
from audit.store import Store

from conftest import FIXTURES, modified, write


def totals(store: Store) -> dict[str, int]:
    frame = store.scan().collect()
    cols = ["requests", "input_tokens", "cached_input_tokens", "output_tokens"]
    return {c: int(frame[c].fill_null(0).sum()) for c in cols} | {"rows": frame.height}


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def request(i: int, **extra: object) -> dict:
    return {
        "request_id": f"req-{i}",
        "timestamp": f"2026-06-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
        "model": "gpt-4o-mini",
        "input_tokens": 100 + i,
        "output_tokens": 10 + i % 7,
        "user": f"user-{i % 3}",
        **extra,
    }


def test_reingesting_is_a_no_op(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path / "in" / "log.jsonl", jsonl([request(i) for i in range(20)]))
    first = ingest([path.parent], store)
    assert [f.status for f in first.files] == ["loaded"]
    assert first.files[0].rows_loaded == 20
    before = totals(store)
    again = ingest([path.parent], store)
    assert [f.status for f in again.files] == ["unchanged"]
    assert totals(store) == before
    copy = write(tmp_path / "elsewhere.jsonl", path.read_bytes())
    assert ingest([copy], store).files[0].status == "unchanged"  # same content, other name
    assert again.exit_code == ExitCode.OK


def test_grown_file_and_overlapping_exports_add_only_new_rows(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path / "log.jsonl", jsonl([request(i) for i in range(10)]))
    ingest([path], store)
    write(path, jsonl([request(i) for i in range(15)]))  # the log grew
    result = ingest([path], store).files[0]
    assert (result.rows_read, result.rows_loaded, result.rows_duplicate) == (15, 5, 10)
    overlap = write(tmp_path / "other.jsonl", jsonl([request(i) for i in range(12, 20)]))
    result = ingest([overlap], store).files[0]
    assert (result.rows_loaded, result.rows_duplicate) == (5, 3)
    assert totals(store)["rows"] == 20


@pytest.mark.parametrize("collide", [False, True])
def test_dedup_against_the_store_is_exact_even_when_id_hashes_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collide: bool
) -> None:

    if collide:  # every id gets the same hash: only the exact check tells them apart
        monkeypatch.setattr(
            store_module, "_id_hash", lambda: pl.lit(7, pl.UInt64).alias(store_module._HASH)
        )
    store = Store(tmp_path / "store")
    first = write(tmp_path / "a.jsonl", jsonl([request(i) for i in range(10)]))
    # overlapping: 5..14, read in chunks so this run flushes several parts of one month
    second = write(tmp_path / "b.jsonl", jsonl([request(i) for i in range(5, 15)]))
    assert ingest([first], store).files[0].rows_loaded == 10
    summary = ingest([second, first], store)
    by_name = {Path(f.path).name: f for f in summary.files}
    assert (by_name["b.jsonl"].rows_loaded, by_name["b.jsonl"].rows_duplicate) == (5, 5)
    assert by_name["a.jsonl"].status == "unchanged"
    third = write(tmp_path / "c.jsonl", jsonl([request(i) for i in range(12, 20)]))
    result = ingest([third], store).files[0]
    assert (result.rows_loaded, result.rows_duplicate) == (5, 3)
    ids = store.scan().collect()["record_id"]
    assert ids.len() == ids.n_unique() == 20


def test_same_request_in_two_sources_counts_once(tmp_path: Path, store: Store) -> None:
    generations = FIXTURES / "sources" / "openrouter-generations-csv" / "generations.csv"
    logged = request(0, request_id="gen-1780300000-AAAAAAAAAAAAAAAA", provider="openrouter")
    write(tmp_path / "a" / "gateway.jsonl", jsonl([logged, request(1)]))
    write(tmp_path / "a" / "openrouter.csv", generations.read_bytes())
    summary = ingest([tmp_path / "a"], store)
    by_name = {Path(f.path).name: f for f in summary.files}
    # files are processed in name order: the gateway log first, then the export's copy merges
    assert by_name["gateway.jsonl"].rows_loaded == 2
    assert by_name["openrouter.csv"].rows_duplicate == 1
    assert summary.total("rows_duplicate") == 1
    ids = store.scan().collect()["record_id"]
    assert ids.n_unique() == ids.len()


def test_bad_files_are_reported_and_the_run_goes_on(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "mixed"
    write(folder / "a_empty.csv", b"")
    write(folder / "b_notes.txt", "dear diary,\nthis is not an export\n")
    write(folder / "c_binary.bin", bytes(range(256)) * 10)
    write(folder / "d_good.jsonl", jsonl([request(1)]))
    write(
        folder / "e_header_only.csv",
        (FIXTURES / "sources" / "openrouter-activity-csv" / "activity.csv")
        .read_text()
        .splitlines()[0]
        + "\n",
    )
    write(folder / ".hidden.jsonl", jsonl([request(2)]))
    summary = ingest([folder], store)
    statuses = {Path(f.path).name: (f.status, f.message) for f in summary.files}
    assert statuses == {
        "a_empty.csv": ("empty", "empty file (0 bytes)"),
        "b_notes.txt": ("unrecognised", "format not recognised"),
        "c_binary.bin": ("unrecognised", "not a text export (binary file)"),
        "d_good.jsonl": ("loaded", None),
        "e_header_only.csv": ("loaded", None),
    }
    assert summary.exit_code == ExitCode.DATA
    assert totals(store)["rows"] == 1
    problems = store.manifest().problems
    assert set(problems) == {
        str(folder / n) for n in ("a_empty.csv", "b_notes.txt", "c_binary.bin")
    }


def test_unrecognised_file_names_closest_formats(tmp_path: Path, store: Store) -> None:
    path = write(tmp_path / "x.csv", "generation_id,created_at\ngen-1,2026-06-01\n")
    [result] = ingest([path], store).files
    assert result.status == "unrecognised"
    assert result.candidates[0] == "openrouter-generations-csv"


def test_missing_path_is_a_usage_error(tmp_path: Path, store: Store) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        ingest([tmp_path / "nope"], store)


def test_symlink_loop_does_not_hang(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "loop"
    write(folder / "log.jsonl", jsonl([request(3)]))
    (folder / "again").symlink_to(folder, target_is_directory=True)
    assert [f.status for f in ingest([folder], store).files] == ["loaded"]


def test_discover_lists_each_regular_file_once_under_its_first_path(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    kept = [
        write(root / "a.jsonl", "{}\n"),
        write(root / "sub" / "b.csv", "x\n"),
        write(root / "sub" / "deeper" / "c.jsonl", "{}\n"),
    ]
    write(root / ".hidden.jsonl", "{}\n")
    write(root / ".git" / "d.jsonl", "{}\n")
    write(root / "sub" / ".cache" / "e.jsonl", "{}\n")
    (root / "z-link.jsonl").symlink_to(root / "a.jsonl")  # the same file again: listed once
    (root / "0-link.csv").symlink_to(root / "sub" / "b.csv")  # sorts first: listed so
    (root / "broken.jsonl").symlink_to(root / "missing.jsonl")
    (root / "linked-folder").symlink_to(root / "sub", target_is_directory=True)
    (root / "fifo").mkdir()
    os.mkfifo(root / "fifo" / "pipe.jsonl")  # not a regular file
    found = discover([root, root / "sub" / "deeper" / "c.jsonl"])
    assert found == [root / "0-link.csv", kept[0], kept[2]]


def test_discover_takes_a_symlinked_root_and_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = write(tmp_path / "real" / "logs" / "a.jsonl", "{}\n").parent
    (tmp_path / "alias").symlink_to(target, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    assert discover([Path("./alias/")]) == [Path("alias/a.jsonl")]
    assert discover([Path("alias"), target]) == [target / "a.jsonl"]  # once: "/…" sorts first


def test_uncommitted_parts_are_invisible_and_cleaned_up(tmp_path: Path, store: Store) -> None:
    ingest([write(tmp_path / "a.jsonl", jsonl([request(1)]))], store)
    orphan = store.root / "data" / "month=2026-06" / "part-999999.parquet"
    store.scan().collect().write_parquet(orphan)  # a crashed writer's leftover
    assert totals(store)["rows"] == 1
    ingest([write(tmp_path / "b.jsonl", jsonl([request(2)]))], store)
    assert not orphan.exists()
    assert totals(store)["rows"] == 2


def test_rejects_are_stored_without_row_content(tmp_path: Path, store: Store) -> None:
    path = write(
        tmp_path / "a.jsonl",
        '{"timestamp":"2026-06-01T00:00:00Z","model":"m","input_tokens":-1,"output_tokens":1,"prompt":"PRIVATE"}\n',
    )
    ingest([path], store)
    rejects = store.scan_rejects().collect()
    assert rejects.to_dicts() == [
        {
            "source_file": str(path),
            "source_line": 1,
            "source": "generic-jsonl",
            "reason": "input_tokens is negative (-1)",
        }
    ]
    stored = b"".join(p.read_bytes() for p in store.root.rglob("*") if p.is_file())
    assert b"PRIVATE" not in stored


row_strategy = st.fixed_dictionaries(
    {
        "day": st.integers(1, 30),
        "second": st.integers(0, 86399),
        "input": st.integers(0, 50_000),
        "output": st.integers(0, 5_000),
        "user": st.sampled_from(["ann", "bo", None]),
        "with_id": st.booleans(),
    }
)


def render_rows(rows: list[dict]) -> list[dict]:
    out = []
    for i, r in enumerate(rows):
        line = {
            "timestamp": f"2026-06-{r['day']:02d}T{r['second'] // 3600:02d}:{r['second'] // 60 % 60:02d}:{r['second'] % 60:02d}Z",
            "model": "gpt-4o-mini",
            "input_tokens": r["input"],
            "output_tokens": r["output"],
        }
        if r["user"]:
            line["user"] = r["user"]
        if r["with_id"]:
            line["request_id"] = f"id-{i}"
        out.append(line)
    return out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
    cut=st.integers(0, 40),
)
def test_shuffling_splitting_and_reingesting_never_change_totals(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict], seed: int, cut: int
) -> None:
    lines = render_rows(rows)
    # Rows without an id are identified by content; keep them distinct so a split cannot
    # separate two identical id-less rows (which are indistinguishable by definition).
    lines = [
        dict(line, request_id=line.get("request_id", f"c-{i}")) if i % 2 else line
        for i, line in enumerate(lines)
    ]
    unique = {json.dumps(line, sort_keys=True) for line in lines}
    if len(unique) != len(lines):
        lines = [json.loads(u) for u in sorted(unique)]
    base = tmp_path_factory.mktemp("prop")
    one = Store(base / "one")
    ingest([write(base / "all.jsonl", jsonl(lines))], one)
    expected = totals(one)
    ingest([base / "all.jsonl"], one)
    assert totals(one) == expected

    shuffled = lines[:]
    random.Random(seed).shuffle(shuffled)
    cut = min(cut, len(shuffled))
    two = Store(base / "two")
    write(base / "split" / "part1.jsonl", jsonl(shuffled[:cut]))
    write(base / "split" / "part2.jsonl", jsonl(shuffled[cut:]))
    ingest([base / "split"], two)
    ingest([base / "split", base / "all.jsonl"], two)  # and everything once more, overlapping
    assert totals(two) == expected
    assert pl.Series(two.scan().collect()["record_id"]).is_unique().all()


def test_observer_sees_every_file_in_order(tmp_path: Path, store: Store) -> None:
    from audit.ingest import IngestObserver

    events: list[tuple[str, str]] = []

    class Recorder(IngestObserver):
        def started(self, files: list[tuple[Path, int]]) -> None:
            events.append(("started", str(len(files))))

        def file_started(self, path: Path, size: int) -> None:
            events.append(("file", path.name))

        def file_done(self, result, size: int) -> None:  # type: ignore[no-untyped-def]
            events.append((result.status, Path(result.path).name))

        def finished(self, summary) -> None:  # type: ignore[no-untyped-def]
            events.append(("finished", str(len(summary.files))))

    write(tmp_path / "in" / "a.jsonl", jsonl([request(1)]))
    write(tmp_path / "in" / "b.txt", "nothing\n")
    ingest([tmp_path / "in"], store, observer=Recorder())
    # a.jsonl waits in a batch while b.txt is looked at; results still come in input order
    assert events == [
        ("started", "2"),
        ("file", "a.jsonl"),
        ("file", "b.txt"),
        ("loaded", "a.jsonl"),
        ("unrecognised", "b.txt"),
        ("finished", "2"),
    ]


def test_progress_bar_renders_on_a_terminal(tmp_path: Path, store: Store) -> None:
    import io

    from rich.console import Console

    from audit.console import RichIngestObserver

    out = io.StringIO()
    observer = RichIngestObserver(Console(file=out, width=100), quiet=True, progress=True)
    write(tmp_path / "in" / "a.jsonl", jsonl([request(i) for i in range(50)]))
    ingest([tmp_path / "in"], store, observer=observer)
    assert observer.bar is not None
    [task] = observer.bar.tasks
    assert task.total == (tmp_path / "in" / "a.jsonl").stat().st_size
    assert task.completed == task.total
    assert out.getvalue() == ""  # quiet: a clean file prints nothing but the bar (on stderr)


def test_gzip_logs_are_read_transparently_and_a_cut_stream_is_reported(
    tmp_path: Path, store: Store
) -> None:
    import gzip

    body = jsonl([request(i) for i in range(30)]).encode()
    whole = write(tmp_path / "in" / "log.jsonl.gz", gzip.compress(body))
    [result] = ingest([whole], store).files
    assert (result.status, result.format, result.rows_loaded) == ("loaded", "generic-jsonl", 30)
    cut = write(
        tmp_path / "cut" / "log.json.gz",
        gzip.compress(jsonl([request(i) for i in range(30, 60)]).encode())[:-30],
    )
    [result] = ingest([cut], store).files
    # the lines before the damage load; the damage is a rejection with a reason, not a crash
    assert result.status == "loaded"
    assert result.rows_loaded >= 25
    assert result.rows_rejected >= 1
    assert any("compressed stream ends early" in str(r["reason"]) for r in result.reasons)


def test_files_last_modified_before_the_cut_off_are_skipped_unread_and_not_recorded(
    tmp_path: Path, store: Store
) -> None:
    modified(
        write(tmp_path / "in" / "may.jsonl", jsonl([request(i) for i in range(5)])),
        "2026-05-31T21:59:00+00:00",
    )
    modified(
        write(tmp_path / "in" / "june.jsonl", jsonl([request(i) for i in range(5, 9)])),
        "2026-05-31T22:30:00+00:00",  # 00:30 on June 1st in Paris
    )
    modified(write(tmp_path / "in" / "old-broken.jsonl", "not json\n"), "2025-01-01")
    modified(write(tmp_path / "in" / "old-empty.jsonl", ""), "2025-01-01")
    cutoff = parse_since("2026-06", now=datetime(2026, 7, 1, tzinfo=UTC), timezone="Europe/Paris")
    first = ingest([tmp_path / "in"], store, modified_since=cutoff)
    status = {Path(f.path).name: (f.status, f.message) for f in first.files}
    assert status["june.jsonl"][0] == "loaded"
    assert status["may.jsonl"] == (
        "skipped",
        "last modified 2026-05-31 21:59 UTC, before the cut-off 2026-05-31 22:00 UTC "
        "(--modified-since)",
    )
    assert status["old-broken.jsonl"][0] == "skipped"  # never read, so never a problem
    assert status["old-empty.jsonl"][0] == "skipped"
    assert first.exit_code == ExitCode.OK
    assert totals(store)["rows"] == 4
    assert not store.manifest().problems  # nothing recorded for the skipped files
    # without the cut-off, the skipped files load (and the loaded one stays unchanged)
    again = {Path(f.path).name: f.status for f in ingest([tmp_path / "in"], store).files}
    assert again == {
        "may.jsonl": "loaded",
        "june.jsonl": "unchanged",
        "old-broken.jsonl": "unrecognised",
        "old-empty.jsonl": "empty",
    }
    assert totals(store)["rows"] == 9


def test_a_file_already_ingested_reads_as_unchanged_whatever_the_cut_off(
    tmp_path: Path, store: Store
) -> None:
    path = modified(write(tmp_path / "log.jsonl", jsonl([request(1)])), "2026-01-10T00:00:00+00:00")
    ingest([path], store)
    cutoff = datetime(2026, 6, 1, tzinfo=UTC)
    assert ingest([path], store, modified_since=cutoff).files[0].status == "unchanged"


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-06", "UTC", "2026-06-01T00:00:00+00:00"),
        ("2026-06", "Europe/Paris", "2026-05-31T22:00:00+00:00"),
        ("2026-06-15", "America/New_York", "2026-06-15T04:00:00+00:00"),
        ("last", "UTC", "2026-06-01T00:00:00+00:00"),
        ("this", "UTC", "2026-07-01T00:00:00+00:00"),
    ],
)
def test_cut_off_is_local_midnight(text: str, zone: str, expected: str) -> None:
    now = datetime(2026, 7, 9, 12, tzinfo=UTC)
    assert parse_since(text, now=now, timezone=zone).isoformat() == expected


@pytest.mark.parametrize("text", ["2026-13", "2026-02-30", "June", "2026-6-1", ""])
def test_a_cut_off_that_names_no_day_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="invalid date"):
        parse_since(text, now=datetime(2026, 7, 9, tzinfo=UTC))


def _reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files ingest opens to hash or read, by name."""
    opened: list[str] = []
    for name in ("file_content", "file_digest"):
        original = getattr(ingest_module, name)

        def spying(path: Path, _original: Any = original) -> Any:
            opened.append(path.name)
            return _original(path)

        monkeypatch.setattr(ingest_module, name, spying)
    return opened


def test_a_touched_but_unchanged_file_is_hashed_once_then_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "logs" / "a.jsonl", jsonl([request(i) for i in range(3)]))
    store = Store(tmp_path / "store")
    opened = _reads(monkeypatch)
    ingest([path.parent], store)
    assert opened == ["a.jsonl"]
    for stamp in range(6):  # a sync that does not keep times, month after month
        os.utime(path, ns=(10**18 + stamp, 10**18 + stamp))
        opened.clear()
        assert [f.status for f in ingest([path.parent], store).files] == ["unchanged"]
        assert opened == ["a.jsonl"]  # hashed: its stat is new
        opened.clear()
        assert [f.status for f in ingest([path.parent], store).files] == ["unchanged"]
        assert opened == []  # remembered: not read again
    [record] = store.manifest().files.values()
    assert record["path"] == str(path)  # still the record of its first ingest
    assert len(record["seen_as"]) == store_module.SEEN_AS
    assert totals(store)["rows"] == 3


def test_records_keyed_by_the_older_sha256_still_skip_unchanged_files_and_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stores written before file identity moved to XXH3 key their records by SHA-256 hex."""
    path = write(tmp_path / "logs" / "a.jsonl", jsonl([request(i) for i in range(3)]))
    store = Store(tmp_path / "store")
    with monkeypatch.context() as old:
        old.setattr(ingest_module, "content_digest", lambda d: hashlib.sha256(d).hexdigest())
        assert [f.status for f in ingest([path.parent], store).files] == ["loaded"]
    assert list(store.manifest().files) == [hashlib.sha256(path.read_bytes()).hexdigest()]
    opened = _reads(monkeypatch)
    assert [f.status for f in ingest([path.parent], store).files] == ["unchanged"]
    assert opened == []  # known by path, size and mtime: no hash of either kind needed
    os.utime(path, ns=(10**18, 10**18))
    assert [f.status for f in ingest([path.parent], store).files] == ["loaded"]  # read again
    assert totals(store)["rows"] == 3  # its rows replaced, not added twice
    assert ingest_module.content_digest(path.read_bytes()) in store.manifest().files
    opened.clear()
    assert [f.status for f in ingest([path.parent], store).files] == ["unchanged"]
    assert opened == []


def test_file_identity_is_a_prefixed_128_bit_xxh3_the_same_streamed_or_whole(
    tmp_path: Path,
) -> None:
    data = b"".join(f"line {i}\n".encode() for i in range(300_000))  # several read blocks
    path = write(tmp_path / "big.jsonl", data)
    digest = ingest_module.file_digest(path)
    assert digest == ingest_module.content_digest(data)
    assert digest == "xxh3_128:" + xxhash.xxh3_128_hexdigest(data)
    assert ingest_module.content_digest(data + b"x") != digest


def test_two_copies_of_one_export_are_both_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = jsonl([request(i) for i in range(3)])
    first = write(tmp_path / "a" / "export.jsonl", text)
    second = write(tmp_path / "b" / "export.jsonl", text)
    store = Store(tmp_path / "store")
    opened = _reads(monkeypatch)
    assert [f.status for f in ingest([tmp_path / "a"], store).files] == ["loaded"]
    summary = ingest([tmp_path / "a", tmp_path / "b"], store)
    assert [f.status for f in summary.files] == ["unchanged", "unchanged"]
    assert opened == ["export.jsonl", "export.jsonl"]  # the first read, then the copy hashed
    opened.clear()
    again = ingest([tmp_path / "a", tmp_path / "b"], store)
    assert [f.status for f in again.files] == ["unchanged", "unchanged"]
    assert opened == []
    assert {str(first), str(second)} == {
        key[0] for key in store_module._stat_keys(next(iter(store.manifest().files.values())))
    }
