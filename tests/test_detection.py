"""Every source fixture is recognised by its own adapter, by content, and by no other.

Fixtures live in ``tests/fixtures/sources/<adapter-name>/``; a new adapter's fixtures join
this test by being put there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import audit.ingest as ingest_module
from audit.sources import MIN_SCORE, SOURCES, Detection, Sample, SourceAdapter, detect
from audit.store import Store

from conftest import FIXTURES, write

SOURCE_FIXTURES = sorted(p for p in (FIXTURES / "sources").rglob("*") if p.is_file())


def test_every_adapter_has_fixtures() -> None:
    folders = {p.name for p in (FIXTURES / "sources").iterdir() if p.is_dir()}
    assert set(SOURCES.names()) <= folders, "each adapter needs tests/fixtures/sources/<name>/"


@pytest.mark.parametrize("path", SOURCE_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_is_detected_as_its_own_format_only(path: Path, tmp_path: Path) -> None:
    expected = path.parent.name
    neutral = write(tmp_path / "export.dat", path.read_bytes())  # by content, not by name
    detection = detect(Sample.of(neutral))
    assert detection.adapter is not None, f"not recognised; scores {detection.scores}"
    assert detection.adapter.name == expected
    rivals = [
        (name, score) for name, score in detection.scores if name != expected and score >= MIN_SCORE
    ]
    assert not rivals, f"ambiguous with {rivals}"


def transcript_line(n: int, pad: int = 0) -> str:
    return json.dumps(
        {
            "type": "user",
            "sessionId": "s-1",
            "uuid": f"u-{n}",
            "parentUuid": None,
            "message": {"role": "user", "content": "x" * pad},
        }
    )


def test_a_narrowed_sample_drops_the_cut_line_and_never_reads_on(tmp_path: Path) -> None:
    lines = [transcript_line(n, pad=3000) for n in range(30)]
    path = write(tmp_path / "session.jsonl", "\n".join(lines) + "\n")
    full = Sample.of(path)
    narrow = full.narrowed(16 * 1024)
    assert len(narrow.head) == 16 * 1024
    assert narrow.truncated
    assert len(narrow.json_lines) == 16 * 1024 // (len(lines[0]) + 1)  # whole lines only
    assert narrow.json_document is None
    path.unlink()  # a narrowed sample works from the bytes it has
    one_big = Sample(path, b'{"type": "user", "sessionId": "' + b"x" * 20000, truncated=True)
    assert one_big.narrowed(16 * 1024).json_lines == []
    assert full.narrowed(10**6) is full


@pytest.mark.parametrize("pad", [200, 1600])  # 20 lines in the window, or 9 (0.95 × 9 / 9)
def test_the_previous_files_format_claims_on_a_few_lines_or_defers(
    tmp_path: Path, pad: int
) -> None:
    claude = SOURCES.get("claude-code")
    lines = "\n".join(transcript_line(n, pad=pad) for n in range(40)) + "\n"
    cheap = detect(Sample.of(write(tmp_path / "a.jsonl", lines)), likely=claude)
    assert cheap.adapter is claude
    assert len(cheap.scores) == 1
    # a first line bigger than the narrowed window: the full detection decides
    big_first = transcript_line(0, pad=20000) + "\n" + lines
    full = detect(Sample.of(write(tmp_path / "b.jsonl", big_first)), likely=claude)
    assert full.adapter is claude
    assert len(full.scores) == len(SOURCES.names())


def test_a_tree_of_many_folders_is_fully_sniffed_once_and_other_formats_still_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Claude Code tree puts a few files in each of hundreds of folders (subagents): the
    format of the run's last file is tried first in a new folder too, and a file it does
    not claim outright is still scored by every format."""
    lines = "\n".join(transcript_line(n) for n in range(30)) + "\n"
    for folder in range(6):
        write(tmp_path / "tree" / f"p{folder}" / "session.jsonl", lines)
    generic = (FIXTURES / "sources" / "generic-jsonl").glob("*.jsonl")
    write(tmp_path / "tree" / "p9" / "gateway.jsonl", next(iter(sorted(generic))).read_bytes())
    full: list[str] = []
    original = ingest_module.detect

    def counting(sample: Sample, likely: SourceAdapter | None = None) -> Detection:
        detection = original(sample, likely)
        if len(detection.scores) > 1:
            full.append(sample.path.name)
        return detection

    monkeypatch.setattr(ingest_module, "detect", counting)
    summary = ingest_module.ingest([tmp_path / "tree"], Store(tmp_path / "store"))
    formats = {Path(f.path).parent.name: f.format for f in summary.files}
    assert formats == {f"p{n}": "claude-code" for n in range(6)} | {"p9": "generic-jsonl"}
    assert full == ["session.jsonl", "gateway.jsonl"]
