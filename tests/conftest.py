"""Shared fixtures: small hand-made exports, an isolated store, a CLI runner."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from audit.detectors import DETECTORS
from audit.detectors.base import Rule
from audit.detectors.spec import parse_rule
from audit.normalize import finished_rows
from audit.pricing import PriceBook, apply_prices, load_price_book
from audit.schema import CANONICAL, conform
from audit.sources import SOURCES, ReadOptions
from audit.store import Store
from audit.yamlio import load_yaml

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


def modified(path: Path, when: str) -> Path:
    """Set a file's modification time to the ISO instant ``when`` (for mtime-based skips)."""
    stamp = datetime.fromisoformat(when).timestamp()
    os.utime(path, (stamp, stamp))
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


def priced(book: PriceBook, rows: list[dict[str, Any]]) -> pl.LazyFrame:
    """Request rows as the report hands them to detectors: canonical, priced, ``cost_usd``."""
    frame = pl.DataFrame(rows, infer_schema_length=None)
    lazy = conform(frame.lazy().with_columns(pl.col("ts").cast(CANONICAL["ts"])))
    out = apply_prices(lazy, book, book.model_map(frame["model_raw"].to_list()))
    return out.with_columns(
        pl.coalesce("reported_cost_usd", "calculated_cost_usd").alias("cost_usd")
    )


def bundled(rule_id: str, **params: Any) -> Rule:
    """A bundled rule, optionally with some params overridden (as a team's own copy would)."""
    path = REPO / "rules" / f"{rule_id}.yaml"
    doc = load_yaml(path)
    doc["params"] = {**(doc.get("params") or {}), **params}
    return parse_rule(doc, path, DETECTORS)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite golden files from current output"
    )
