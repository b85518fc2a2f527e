"""Every source fixture is recognised by its own adapter, by content, and by no other.

Fixtures live in ``tests/fixtures/sources/<adapter-name>/``; a new adapter's fixtures join
this test by being put there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.sources import MIN_SCORE, SOURCES, Sample, detect

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
