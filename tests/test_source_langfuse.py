"""Langfuse observations: blob export JSONL / CSV and public API pages, generations only."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import audit.sources.langfuse  # noqa: F401  (registers the adapters until __init__ imports them)
from audit.config import DEFAULT_ATTRIBUTION, Config
from audit.sources import ReadOptions, detect_path

from conftest import FIXTURES, load, write

JSONL = FIXTURES / "sources" / "langfuse-observations-json" / "observations_v2.jsonl"
API_PAGE = FIXTURES / "sources" / "langfuse-observations-json" / "observations-api-page.json"
CSV = FIXTURES / "sources" / "langfuse-observations-csv" / "observations_v2.csv"
MARKER = "PLANTED-PROMPT-MARKER"


def by_id(rows: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in rows.to_dicts()}


def reasons(rejects: pl.DataFrame) -> dict[int, str]:
    return {r["source_line"]: r["reason"] for r in rejects.to_dicts()}


def assert_no_content(*frames: pl.DataFrame) -> None:
    for frame in frames:
        assert MARKER not in json.dumps(frame.to_dicts(), default=str)


@pytest.fixture(scope="module")
def blob() -> tuple[dict[str, dict[str, Any]], dict[int, str]]:
    rows, rejects = load("langfuse-observations-json", JSONL)
    assert_no_content(rows, rejects)
    return by_id(rows), reasons(rejects)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (JSONL, "langfuse-observations-json"),
        (API_PAGE, "langfuse-observations-json"),
        (CSV, "langfuse-observations-csv"),
    ],
)
def test_detected_by_content(path: Path, expected: str, tmp_path: Path) -> None:
    assert detect_path(write(tmp_path / "export.txt", path.read_bytes())).adapter.name == expected


def test_openai_generation_buckets_are_exclusive(blob: tuple[dict, dict]) -> None:
    row = blob[0]["obs-1"]
    assert row["ts"] == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert (row["model_raw"], row["provider"], row["source_line"]) == ("gpt-4o-mini", None, 1)
    # input excludes input_cached_tokens; output excludes output_reasoning_tokens in Langfuse
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (
        176,
        1024,
        None,
    )
    assert (row["output_tokens"], row["reasoning_tokens"]) == (60 + 25, 25)
    assert row["reported_cost_usd"] == Decimal("0.0001542")
    expected = {
        "user": "alice",
        "session_id": "s-1",
        "environment": "production",
        "team": "search",
        "purpose": "summarize",
        "status": "ok",
        "latency_ms": 1333.0,
    }
    assert {k: row[k] for k in expected} == expected
    assert json.loads(row["tags"]) == {
        "model_id": "m-gpt4omini",
        "name": "summarize",
        "project_id": "clproj123",
        "prompt_name": "summarizer",
        "prompt_version": "3",
        "release": "v1.2.3",
        "tags": "prod,beta",
        "ticket": "T-1",
        "time_to_first_token_s": "0.41",
        "total_tokens": "1285",
        "trace_id": "tr-1",
        "trace_name": "support-chat",
    }


def test_anthropic_cache_keys(blob: tuple[dict, dict]) -> None:
    row = blob[0]["obs-2"]
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
        row["output_tokens"],
    ) == (12, 20000, 1500, 300)
    assert (row["project"], row["app"], row["user"]) == ("helpdesk", "support-bot", "bob")
    flat = blob[0]["obs-3"]  # Anthropic's own key names, no end_time: latency is in seconds
    assert (flat["input_tokens"], flat["cached_input_tokens"], flat["cache_write_tokens"]) == (
        40,
        3000,
        200,
    )
    assert flat["latency_ms"] == 2500.0
    assert (flat["environment"], flat["team"]) == ("dev", None)  # metadata env, no top-level


def test_error_generation(blob: tuple[dict, dict]) -> None:
    row = blob[0]["obs-4"]
    assert (row["status"], row["error_type"], row["latency_ms"]) == ("error", "rate_limit", 250.0)
    assert row["input_tokens"] is None
    assert "429" not in json.dumps(row, default=str)  # the status message itself is not kept


def test_only_observations_with_usage_are_requests(blob: tuple[dict, dict]) -> None:
    rows, rejected = blob
    assert "obs-5" not in rows  # a SPAN without usage is not a request: skipped
    assert "obs-6" not in rows  # nor is an EVENT
    assert 15 not in rejected  # even with a broken timestamp
    embedding = rows["obs-7"]  # not a GENERATION, but it has usage and cost
    assert (embedding["input_tokens"], embedding["reported_cost_usd"]) == (300, Decimal("0.000006"))
    assert json.loads(embedding["tags"])["observation_type"] == "EMBEDDING"


def test_zero_cost_without_breakdown_is_unknown_and_secrets_masked(
    blob: tuple[dict, dict],
) -> None:
    row = blob[0]["obs-8"]
    assert (row["input_tokens"], row["output_tokens"], row["reported_cost_usd"]) == (50, 10, None)
    tags = json.loads(row["tags"])
    assert tags["reported_cost"] == "0"
    assert tags["api_key"] == "sk-ant-api03-…1234"
    assert tags["region"] == "eu-west-1"
    assert "prompt" not in tags


def test_rejects_with_line_and_reason(blob: tuple[dict, dict]) -> None:
    rows, rejected = blob
    assert sorted(rows) == ["obs-1", "obs-2", "obs-3", "obs-4", "obs-7", "obs-8"]
    assert rejected == {
        9: "usage_details.input: 'abc' is not a whole number",
        10: "start_time: 'bad-ts' is not a recognised timestamp",
        11: "usage_details: 'oops' is not a JSON object",
        12: "invalid JSON at column 94: Expecting ',' delimiter",
        13: "no token counts and no cost",
        14: "total_cost: 'x1' is not an amount",
    }


def test_public_api_page_camel_case_and_v1_fields() -> None:
    rows, rejects = load("langfuse-observations-json", API_PAGE)
    assert_no_content(rows, rejects)
    assert rejects.height == 0
    found = by_id(rows)
    assert sorted(found) == ["api-1", "api-3"]  # the SPAN without usage is skipped
    v2 = found["api-1"]
    assert v2["source_line"] == 1  # position in "data"
    assert v2["ts"] == datetime(2026, 6, 6, 9, 0, tzinfo=UTC)
    assert (
        v2["model_raw"],
        v2["input_tokens"],
        v2["cached_input_tokens"],
        v2["output_tokens"],
    ) == (
        "gpt-4.1-mini",
        800,
        200,
        40,
    )
    assert (v2["user"], v2["session_id"], v2["environment"], v2["team"]) == (
        "dave",
        "s-9",
        "staging",
        "data",
    )
    assert (v2["latency_ms"], v2["reported_cost_usd"]) == (2500.0, Decimal("0.00041"))
    v1 = found["api-3"]  # legacy model / usage / calculatedTotalCost
    assert (v1["model_raw"], v1["input_tokens"], v1["output_tokens"]) == ("gpt-4o", 120, 30)
    assert (v1["reported_cost_usd"], v1["status"]) == (Decimal("0.0006"), "ok")
    assert json.loads(v1["tags"])["level"] == "WARNING"


def test_blob_csv() -> None:
    rows, rejects = load("langfuse-observations-csv", CSV)
    assert_no_content(rows, rejects)
    found = {r["source_line"]: r for r in rows.to_dicts()}
    # obs-1's input cell spans two lines, so later records start one line further down
    assert {line: r["record_id"] for line, r in found.items()} == {
        2: "obs-1",
        4: "obs-2",
        7: "obs-8",
    }
    first = found[2]
    assert (
        first["input_tokens"],
        first["cached_input_tokens"],
        first["output_tokens"],
        first["reasoning_tokens"],
    ) == (176, 1024, 85, 25)
    assert (first["team"], first["purpose"], first["user"]) == ("search", "summarize", "alice")
    assert json.loads(first["tags"])["tags"] == "prod,beta"
    assert found[4]["cache_write_tokens"] == 1500
    assert found[7]["reported_cost_usd"] is None
    assert reasons(rejects) == {
        9: "usage_details.input: 'abc' is not a whole number",
        10: "usage_details: 'oops' is not a JSON object",
    }


def test_attribution_keys_are_configurable() -> None:
    config = Config(attribution={**DEFAULT_ATTRIBUTION, "team": ("squad",)})
    rows, _ = load("langfuse-observations-json", JSONL, ReadOptions(config=config))
    found = by_id(rows)
    assert found["obs-3"]["team"] == "growth"
    assert found["obs-1"]["team"] is None
    assert json.loads(found["obs-1"]["tags"])["team"] == "search"


def test_gzipped_blob_export(tmp_path: Path) -> None:
    path = write(tmp_path / "2026-06-01T00-00-00.jsonl.gz", gzip.compress(JSONL.read_bytes()))
    assert detect_path(path).adapter.name == "langfuse-observations-json"
    rows, rejects = load("langfuse-observations-json", path)
    assert (rows.height, rejects.height) == (6, 6)
