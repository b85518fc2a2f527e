"""Shared fixtures: small hand-made exports, an isolated store, a CLI runner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from audit.normalize import finished_rows
from audit.pricing import PriceBook, load_price_book
from audit.sources import SOURCES, ReadOptions
from audit.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "sample_exports"
JUNE_END = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def book() -> PriceBook:
    """The bundled price tables (loaded once: they are read-only)."""
    return load_price_book()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's store, clock pin or colour settings."""
    for name in ("TOKAUDIT_STORE", "SOURCE_DATE_EPOCH", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


def write(path: Path, text: str | bytes) -> Path:
    """Write a fixture file (bytes written verbatim, text as UTF-8)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load(
    adapter_name: str, path: Path, options: ReadOptions | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run one adapter over one file exactly as ingest does; return (rows, rejects)."""
    adapter = SOURCES.get(adapter_name)
    rows, rejects = [], []
    for chunk in adapter.read(path, options or ReadOptions()):
        good, bad = finished_rows(
            chunk, source=adapter.name, source_file=str(path), granularity=adapter.granularity
        )
        rows.append(good)
        rejects.append(bad)
    return pl.concat(rows), pl.concat(rejects)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files from current output"
    )
