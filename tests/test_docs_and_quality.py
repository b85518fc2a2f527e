"""What the README promises matches the code; the tree is lint-clean; samples are current."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest

from audit.report import FORMATS
from audit.schema import CANONICAL
from audit.sources import SOURCES

from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_schema_table_lists_exactly_the_canonical_columns() -> None:
    table = section("Canonical schema")
    documented: list[str] = []
    for row in re.findall(r"^\| (`[^|]+`) \|", table, flags=re.M):
        documented += re.findall(r"`([a-z_0-9]+)`", row)
    assert sorted(documented) == sorted(CANONICAL)


def test_every_source_format_is_documented_with_its_granularity() -> None:
    table = section("Supported sources")
    for name, adapter in SOURCES.items():
        assert re.search(rf"^\| `{name}` \| {adapter.granularity} \|", table, flags=re.M), name
        assert adapter.title
        assert adapter.obtain
        assert adapter.__doc__


def test_every_report_format_is_registered_and_documented() -> None:
    for name, fmt in FORMATS.items():
        assert fmt.description
        assert fmt.suffix
        assert f"`{name}`" in README or f"--format {name}" in README or name == "terminal"


def test_exit_codes_documented() -> None:
    from audit.errors import ExitCode

    table = section("Commands")
    for code in (ExitCode.OK, ExitCode.ERROR, ExitCode.USAGE, ExitCode.DATA):
        assert re.search(rf"^\| {int(code)} \|", table, flags=re.M)


@pytest.mark.skipif(
    importlib.util.find_spec("ruff") is None, reason="ruff is not installed (pip install '.[test]')"
)
def test_ruff_clean() -> None:
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install '.[test]')"
)
def test_mypy_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sample_exports_match_their_generator() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/generate_sample_exports.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
