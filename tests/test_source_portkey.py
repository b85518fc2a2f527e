"""Portkey log export (JSONL): canonical values row by row, and every rejection with its line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import audit.sources.portkey  # noqa: F401  (registers the adapter until __init__ imports it)
from audit.config import DEFAULT_ATTRIBUTION, Config
from audit.sources import ReadOptions, detect_path

from conftest import FIXTURES, load, write

LOGS = FIXTURES / "sources" / "portkey-logs-jsonl" / "portkey-logs-export.jsonl"
MARKER = "PLANTED-PROMPT-MARKER"


def rid(n: int) -> str:
    return f"0a1b2c3d-0000-4000-8000-{n:012d}"


@pytest.fixture(scope="module")
def loaded() -> tuple[dict[str, dict[str, Any]], dict[int, str], pl.DataFrame]:
    rows, rejects = load("portkey-logs-jsonl", LOGS)
    return (
        {r["record_id"]: r for r in rows.to_dicts()},
        {r["source_line"]: r["reason"] for r in rejects.to_dicts()},
        pl.concat([rows, rejects], how="diagonal_relaxed").select(pl.all().cast(pl.String)),
    )


def test_detected_by_content(tmp_path: Path) -> None:
    path = write(tmp_path / "download.bin", LOGS.read_bytes())
    assert detect_path(path).adapter.name == "portkey-logs-jsonl"


def test_request_maps_every_field(loaded: tuple[dict, dict, pl.DataFrame]) -> None:
    row = loaded[0][rid(1)]
    assert row["ts"] == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert (row["provider"], row["model_raw"], row["source_line"]) == ("openai", "gpt-4o-mini", 1)
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (
        1200,
        85,
        None,
    )
    assert row["reported_cost_usd"] == Decimal("0.000342")  # 0.0342 cents
    expected = {
        "key_name": "openai-prod-1a2b",  # the virtual key's slug
        "api_key": None,
        "user": "alice",  # metadata._user
        "team": "search",
        "environment": "prod",
        "session_id": "t-99",  # trace_id
        "status": "ok",
        "http_status": 200,
        "latency_ms": 1333.0,
    }
    assert {k: row[k] for k in expected} == expected
    assert json.loads(row["tags"]) == {
        "cache_status": "MISS",
        "mode": "single",
        "ticket": "T-1",
        "total_units": "1285",
    }


def test_boolean_success_and_cents(loaded: tuple[dict, dict, pl.DataFrame]) -> None:
    row = loaded[0][rid(2)]
    assert (row["provider"], row["status"], row["reported_cost_usd"]) == (
        "anthropic",
        "ok",
        Decimal("0.0123"),
    )
    assert (row["user"], row["project"], row["key_name"]) == ("bob", "helpdesk", "anthropic-agents")
    assert (row["input_tokens"], row["output_tokens"]) == (21512, 300)


def test_failures(loaded: tuple[dict, dict, pl.DataFrame]) -> None:
    limited = loaded[0][rid(3)]
    assert (limited["status"], limited["http_status"], limited["error_type"]) == (
        "error",
        429,
        "rate_limit",
    )
    assert json.loads(limited["tags"])["retry_success_count"] == "0"
    broken = loaded[0][rid(8)]
    assert (broken["status"], broken["http_status"], broken["error_type"]) == (
        "error",
        500,
        "server_error",
    )


def test_costs_that_are_not_known_usd(loaded: tuple[dict, dict, pl.DataFrame]) -> None:
    hit = loaded[0][rid(4)]
    assert hit["reported_cost_usd"] == Decimal(0)  # a cache hit really cost nothing
    assert json.loads(hit["tags"])["cache_status"] == "HIT"
    euro = loaded[0][rid(6)]
    assert euro["reported_cost_usd"] is None
    assert json.loads(euro["tags"])["cost_currency"] == "EUR"
    unpriced = loaded[0][rid(7)]
    assert (unpriced["provider"], unpriced["reported_cost_usd"]) == (None, None)
    tags = json.loads(unpriced["tags"])
    assert (tags["ai_org"], tags["reported_cost"]) == ("perplexity-ai", "0")
    assert tags["token"] == "sk-…1234"  # a key-looking metadata value is masked
    assert "prompt" not in tags


def test_provider_vocabulary(loaded: tuple[dict, dict, pl.DataFrame]) -> None:
    row = loaded[0][rid(5)]
    assert (row["provider"], row["key_name"], row["environment"]) == (
        "azure",
        "azure-eu",
        "staging",
    )
    assert row["team"] is None
    assert json.loads(row["tags"])["squad"] == "growth"


def test_rejects_with_line_and_reason(loaded: tuple[dict, dict, pl.DataFrame]) -> None:
    rows, rejected, _ = loaded
    assert len(rows) == 8
    assert rejected == {
        9: "req_units: '12a' is not a whole number",
        10: "created_at: 'June 1st' is not a recognised timestamp",
        11: "is_success: 'maybe' is not true/false",
        12: "metadata: 'oops' is not a JSON object",
        13: "invalid JSON at column 46: Expecting value",
        14: "field 'res_units' is a list, expected a single value",
        15: "cost: '1,5' is not an amount",
    }


def test_request_and_response_content_never_loaded(
    loaded: tuple[dict, dict, pl.DataFrame],
) -> None:
    frame = loaded[2]
    assert MARKER in LOGS.read_text()
    assert (
        not frame.select(
            pl.any_horizontal(pl.all().cast(pl.String).str.contains(MARKER, literal=True))
        )
        .to_series()
        .any()
    )


def test_attribution_keys_are_configurable() -> None:
    config = Config(attribution={**DEFAULT_ATTRIBUTION, "team": ("squad",)})
    rows, _ = load("portkey-logs-jsonl", LOGS, ReadOptions(config=config))
    found = {r["record_id"]: r for r in rows.to_dicts()}
    assert found[rid(5)]["team"] == "growth"
    assert found[rid(1)]["team"] is None
    assert json.loads(found[rid(1)]["tags"])["team"] == "search"
