"""LiteLLM spend logs: the /spend/logs JSON (array or lines) and the table's CSV export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import audit.sources.litellm  # noqa: F401  (registers the adapters until __init__ imports them)
from audit.config import DEFAULT_ATTRIBUTION, Config
from audit.sources import ReadOptions, detect_path

from conftest import FIXTURES, load, write

JSON_ARRAY = FIXTURES / "sources" / "litellm-spendlogs-json" / "spend_logs.json"
JSONL = FIXTURES / "sources" / "litellm-spendlogs-json" / "spend_logs.jsonl"
CSV = FIXTURES / "sources" / "litellm-spendlogs-csv" / "LiteLLM_SpendLogs.csv"
MARKER = "PLANTED-PROMPT-MARKER"
KEY_HASH = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
SHORT_HASH = "88dc28d0f030…"  # reports show the first 12 digits of the digest


def by_id(rows: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in rows.to_dicts()}


def reasons(rejects: pl.DataFrame) -> dict[int, str]:
    return {r["source_line"]: r["reason"] for r in rejects.to_dicts()}


def assert_no_content(*frames: pl.DataFrame) -> None:
    for frame in frames:
        assert MARKER not in json.dumps(frame.to_dicts(), default=str)


@pytest.fixture(scope="module")
def array() -> tuple[dict[str, dict[str, Any]], dict[int, str]]:
    rows, rejects = load("litellm-spendlogs-json", JSON_ARRAY)
    assert_no_content(rows, rejects)
    return by_id(rows), reasons(rejects)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (JSON_ARRAY, "litellm-spendlogs-json"),
        (JSONL, "litellm-spendlogs-json"),
        (CSV, "litellm-spendlogs-csv"),
    ],
)
def test_detected_by_content(path: Path, expected: str, tmp_path: Path) -> None:
    assert detect_path(write(tmp_path / "export.txt", path.read_bytes())).adapter.name == expected


def test_openai_row_maps_every_field(array: tuple[dict, dict]) -> None:
    row = array[0]["chatcmpl-9a8b7c"]
    assert row["source_line"] == 1  # position in the array
    assert row["ts"] == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert (row["provider"], row["model_raw"]) == ("openai", "gpt-4o-mini")
    # prompt_tokens includes cached tokens: the canonical input is the uncached part
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (
        176,
        1024,
        None,
    )
    assert (row["output_tokens"], row["reasoning_tokens"]) == (85, None)
    assert row["reported_cost_usd"] == Decimal("0.000342")
    expected = {
        "api_key": SHORT_HASH,  # a hashed virtual key, shortened
        "key_name": "prod-backend",
        "team": "search-team",
        "user": "u-alice",
        "purpose": "summarize",  # spend_logs_metadata.feature through the lookup
        "session_id": "sess-1",
        "status": "ok",
        "latency_ms": 1333.0,
    }
    assert {k: row[k] for k in expected} == expected
    assert json.loads(row["tags"]) == {
        "call_type": "acompletion",
        "custom_llm_provider": "openai",
        "end_user": "customer-77",
        "model_group": "gpt-4o-mini",
        "request_tags": "prod,summarize",
        "team_id": "team-1",
        "ticket": "T-1",
    }


def test_anthropic_cache_writes_counted_once(array: tuple[dict, dict]) -> None:
    newer = array[0]["msg_01AnthropicNew"]  # prompt_tokens = input + reads + writes
    older = array[0]["msg_01AnthropicOld"]  # prompt_tokens = input + reads
    for row in (newer, older):
        assert row["provider"] == "anthropic"
        assert (
            row["input_tokens"],
            row["cached_input_tokens"],
            row["cache_write_tokens"],
            row["output_tokens"],
        ) == (12, 20000, 1500, 300)
    assert newer["latency_ms"] == 9000.0  # endTime - startTime without request_duration_ms
    assert (newer["user"], newer["team"], newer["key_name"]) == ("customer-88", "team-2", "agents")


def test_reasoning_included_or_added(array: tuple[dict, dict]) -> None:
    vertex = array[0]["chatcmpl-vertex-1"]
    assert (vertex["provider"], vertex["model_raw"]) == ("vertex", "vertex_ai/gemini-2.5-pro")
    assert (vertex["output_tokens"], vertex["reasoning_tokens"]) == (900, 600)
    assert (vertex["environment"], vertex["team"]) == ("dev", None)
    assert json.loads(vertex["tags"])["squad"] == "growth"
    gemini = array[0]["chatcmpl-gemini-1"]  # reasoning larger than completion: reported apart
    assert (gemini["provider"], gemini["output_tokens"], gemini["reasoning_tokens"]) == (
        "google",
        500,
        400,
    )


def test_failure_row(array: tuple[dict, dict]) -> None:
    row = array[0]["4f7c1d2e-failed-0001"]
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 429, "rate_limit")
    assert (row["input_tokens"], row["output_tokens"], row["reported_cost_usd"]) == (
        0,
        0,
        Decimal(0),
    )
    assert json.loads(row["tags"])["error_class"] == "RateLimitError"


def test_cache_hit_and_unpriced_spend(array: tuple[dict, dict]) -> None:
    hit = array[0]["chatcmpl-cachehit-1"]
    assert hit["reported_cost_usd"] == Decimal(0)  # a cache hit really cost nothing
    assert json.loads(hit["tags"])["cache_hit"] == "true"
    vllm = array[0]["chatcmpl-vllm-1"]
    assert vllm["provider"] == "self-hosted"
    assert vllm["reported_cost_usd"] is None  # spend 0 with tokens: LiteLLM had no price
    tags = json.loads(vllm["tags"])
    assert tags["reported_cost"] == "0"
    assert tags["note"] == "Bearer …3456"  # a bearer token in metadata is masked
    assert "prompt" not in tags


def test_array_rejects_name_the_record_position(array: tuple[dict, dict]) -> None:
    rows, rejected = array
    assert len(rows) == 8
    assert rejected == {
        9: "spend: 'abc' is not an amount",
        10: "startTime: 'not-a-date' is not a recognised timestamp",
        11: "cache read tokens (50) exceed prompt_tokens (10)",
        12: "metadata: '[\"x\"]' is not a JSON object",
        13: "status: 'weird' is not one of cancelled|error|ok",
        14: "field 'prompt_tokens' is an object, expected a single value",
    }


def test_json_lines() -> None:
    rows, rejects = load("litellm-spendlogs-json", JSONL)
    assert_no_content(rows, rejects)
    found = {r["source_line"]: r for r in rows.to_dicts()}
    assert sorted(found) == [1, 2, 4]
    assert (found[1]["record_id"], found[1]["input_tokens"]) == ("chatcmpl-9a8b7c", 176)
    assert found[4]["status"] == "error"
    assert reasons(rejects) == {3: "invalid JSON at column 38: Expecting value"}


def test_paginated_response_wrapper(tmp_path: Path) -> None:
    records = json.loads(JSON_ARRAY.read_text())[:2]
    path = write(tmp_path / "page.json", json.dumps({"data": records, "total": 2, "page": 1}))
    assert detect_path(path).adapter.name == "litellm-spendlogs-json"
    rows, rejects = load("litellm-spendlogs-json", path)
    assert (rows.height, rejects.height) == (2, 0)
    assert set(rows["record_id"]) == {"chatcmpl-9a8b7c", "msg_01AnthropicNew"}


def test_csv_rows_and_rejects() -> None:
    rows, rejects = load("litellm-spendlogs-csv", CSV)
    assert_no_content(rows, rejects)
    found = by_id(rows)
    assert len(found) == 4
    first = found["chatcmpl-9a8b7c"]
    assert first["source_line"] == 2
    assert first["ts"] == datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # Postgres text, UTC
    assert (first["input_tokens"], first["cached_input_tokens"], first["output_tokens"]) == (
        176,
        1024,
        85,
    )
    assert (first["key_name"], first["team"], first["purpose"], first["api_key"]) == (
        "prod-backend",
        "search-team",
        "summarize",
        SHORT_HASH,
    )
    assert json.loads(first["tags"])["request_tags"] == "prod,summarize"
    anthropic = found["msg_01AnthropicNew"]
    assert (anthropic["input_tokens"], anthropic["cache_write_tokens"]) == (12, 1500)
    assert found["chatcmpl-vertex-1"]["output_tokens"] == 900
    failed = found["4f7c1d2e-failed-0001"]
    assert (failed["status"], failed["http_status"]) == ("error", 429)
    assert reasons(rejects) == {
        6: "spend: 'abc' is not an amount",
        7: "cache read tokens (50) exceed prompt_tokens (10)",
    }


def test_attribution_keys_are_configurable() -> None:
    config = Config(attribution={**DEFAULT_ATTRIBUTION, "team": ("squad",)})
    options = ReadOptions(config=config)
    for name, path in (("litellm-spendlogs-json", JSON_ARRAY), ("litellm-spendlogs-csv", CSV)):
        rows, _ = load(name, path, options)
        assert by_id(rows)["chatcmpl-vertex-1"]["team"] == "growth"


def test_long_first_line_is_still_sniffed_and_read(tmp_path: Path) -> None:
    record = json.loads(JSONL.read_text().splitlines()[0])
    record["messages"] = [{"role": "user", "content": MARKER * 10000}]
    path = write(tmp_path / "logs.jsonl", json.dumps(record) + "\n" + json.dumps(record) + "\n")
    assert detect_path(path).adapter.name == "litellm-spendlogs-json"
    rows, rejects = load("litellm-spendlogs-json", path)
    assert (rows.height, rejects.height) == (2, 0)
    assert_no_content(rows)
