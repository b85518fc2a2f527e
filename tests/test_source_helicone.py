"""Helicone exports: JSONL / JSON records and the CSV, row by row, with every rejection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import audit.sources.helicone  # noqa: F401  (registers the adapters until __init__ imports them)
from audit.config import DEFAULT_ATTRIBUTION, Config
from audit.sources import ReadOptions, detect_path

from conftest import FIXTURES, load, write

JSONL = FIXTURES / "sources" / "helicone-json" / "requests.jsonl"
JSON_ARRAY = FIXTURES / "sources" / "helicone-json" / "output.json"
CSV = FIXTURES / "sources" / "helicone-csv" / "output.csv"
CSV_COST_USD = FIXTURES / "sources" / "helicone-csv" / "output-cost-usd.csv"
MARKER = "PLANTED-PROMPT-MARKER"


def by_id(rows: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in rows.to_dicts()}


def reasons(rejects: pl.DataFrame) -> dict[int, str]:
    return {r["source_line"]: r["reason"] for r in rejects.to_dicts()}


def assert_no_content(*frames: pl.DataFrame) -> None:
    for frame in frames:
        assert MARKER not in json.dumps(frame.to_dicts(), default=str)


@pytest.fixture(scope="module")
def jsonl() -> tuple[dict[str, dict[str, Any]], dict[int, str]]:
    rows, rejects = load("helicone-json", JSONL)
    assert_no_content(rows, rejects)
    return by_id(rows), reasons(rejects)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (JSONL, "helicone-json"),
        (JSON_ARRAY, "helicone-json"),
        (CSV, "helicone-csv"),
        (CSV_COST_USD, "helicone-csv"),
    ],
)
def test_detected_by_content(path: Path, expected: str, tmp_path: Path) -> None:
    assert detect_path(write(tmp_path / "export.txt", path.read_bytes())).adapter.name == expected


def test_openai_prompt_tokens_include_cache_reads(jsonl: tuple[dict, dict]) -> None:
    row = jsonl[0]["9b0e1d2c-0001-4f00-8000-000000000001"]
    assert row["ts"] == datetime(2026, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert (row["provider"], row["model_raw"], row["source_line"]) == ("openai", "gpt-4o-mini", 1)
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (
        1200 - 1024,
        1024,
        0,
    )
    assert (row["output_tokens"], row["reasoning_tokens"]) == (85, None)
    assert row["reported_cost_usd"] == Decimal("0.000245")
    assert (row["status"], row["http_status"], row["error_type"], row["latency_ms"]) == (
        "ok",
        200,
        None,
        1333.0,
    )
    # request_user_id is the user; properties fill attribution through the default lookup
    assert (row["user"], row["team"], row["environment"], row["purpose"]) == (
        "alice@example.com",
        "search",
        "production",
        "summarize",
    )
    assert json.loads(row["tags"]) == {
        "country_code": "US",
        "helicone_request_id": "6f0a6c2e-0001-4c1e-9d0a-000000000001",
        "ticket": "T-1",
        "time_to_first_token_ms": "410",
        "total_tokens": "1285",
    }


def test_anthropic_prompt_tokens_exclude_cache(jsonl: tuple[dict, dict]) -> None:
    row = jsonl[0]["9b0e1d2c-0002-4f00-8000-000000000002"]
    assert row["ts"] == datetime(2026, 6, 1, 12, 5, tzinfo=UTC)  # ClickHouse text form, UTC
    assert row["provider"] == "anthropic"
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
        row["output_tokens"],
    ) == (12, 20000, 1500, 300)
    assert (row["user"], row["project"], row["app"], row["session_id"]) == (
        "bob",
        "helpdesk",
        "support-bot",
        "sess-42",
    )
    assert json.loads(row["tags"])["helicone-session-name"] == "agent"


def test_rows_that_prove_prompt_tokens_exclude_cache(jsonl: tuple[dict, dict]) -> None:
    legacy = jsonl[0]["9b0e1d2c-0003-4f00-8000-000000000003"]
    # total_tokens = prompt + cache + completion: prompt_tokens was already uncached
    assert (legacy["input_tokens"], legacy["cached_input_tokens"]) == (976, 1024)
    assert legacy["environment"] == "staging"  # property keys match case-insensitively
    assert json.loads(legacy["tags"])["squad"] == "growth"
    assert legacy["team"] is None
    guarded = jsonl[0]["9b0e1d2c-0004-4f00-8000-000000000004"]
    # cache reads larger than prompt_tokens cannot be part of it
    assert (guarded["provider"], guarded["input_tokens"], guarded["cached_input_tokens"]) == (
        "openrouter",
        100,
        3000,
    )


def test_error_statuses(jsonl: tuple[dict, dict]) -> None:
    limited = jsonl[0]["9b0e1d2c-0005-4f00-8000-000000000005"]
    assert (limited["status"], limited["http_status"], limited["error_type"]) == (
        "error",
        429,
        "rate_limit",
    )
    assert (limited["input_tokens"], limited["output_tokens"]) == (0, 0)
    assert limited["reported_cost_usd"] == Decimal(0)
    pending = jsonl[0]["9b0e1d2c-0006-4f00-8000-000000000006"]
    assert (pending["status"], pending["http_status"], pending["error_type"]) == (
        "error",
        None,
        "no_response",
    )
    assert (pending["input_tokens"], pending["reported_cost_usd"]) == (None, None)


def test_zero_cost_unknown_provider_content_and_secrets(jsonl: tuple[dict, dict]) -> None:
    row = jsonl[0]["9b0e1d2c-0007-4f00-8000-000000000007"]
    assert (row["provider"], row["model_raw"]) == (None, "sonar")  # not in the vocabulary
    assert row["reported_cost_usd"] is None  # 0 with tokens: Helicone had no price
    tags = json.loads(row["tags"])
    assert tags["helicone_provider"] == "PERPLEXITY"
    assert tags["reported_cost"] == "0"
    assert tags["region"] == "eu-west-1"
    assert tags["debug_key"] == "sk-proj-…1234"  # a key-looking property is masked
    assert "prompt" not in tags  # content-bearing property names never reach tags


def test_helicone_cache_hit_keeps_zero_cost(jsonl: tuple[dict, dict]) -> None:
    row = jsonl[0]["9b0e1d2c-0008-4f00-8000-000000000008"]
    assert row["reported_cost_usd"] == Decimal(0)
    assert json.loads(row["tags"])["cache_hit"] == "true"


def test_jsonl_rejects_with_line_and_reason(jsonl: tuple[dict, dict]) -> None:
    rows, rejected = jsonl
    assert len(rows) == 8
    assert rejected == {
        9: "prompt_tokens: 'abc' is not a whole number",
        10: "request_created_at: 'yesterday' is not a recognised timestamp",
        11: "invalid JSON at column 95: Expecting property name enclosed in double quotes",
        12: "field 'prompt_tokens' is an object, expected a single value",
        13: "request_properties: 'oops' is not a JSON object",
        14: "cost: 'free' is not an amount",
    }


def test_json_array_with_trailing_comma(tmp_path: Path) -> None:
    rows, rejects = load("helicone-json", JSON_ARRAY)
    assert_no_content(rows, rejects)
    found = {r["source_line"]: r for r in rows.to_dicts()}
    assert sorted(found) == [1, 2, 4]  # positions in the array
    assert found[1]["record_id"] == "9b0e1d2c-0001-4f00-8000-000000000001"
    assert (found[1]["input_tokens"], found[1]["cached_input_tokens"]) == (176, 1024)
    assert (found[2]["provider"], found[2]["session_id"]) == ("anthropic", "sess-42")
    assert found[4]["status"] == "error"
    assert reasons(rejects) == {3: "record is a number, expected a JSON object"}
    # the same request as a JSON line gets the same record id (it is counted once)
    lines, _ = load("helicone-json", JSONL)
    assert set(rows["record_id"]) <= set(lines["record_id"])


def test_csv_rows_and_doubled_quotes() -> None:
    rows, rejects = load("helicone-csv", CSV)
    assert_no_content(rows, rejects)
    found = by_id(rows)
    assert len(found) == 3
    first = found["c0a80001-0000-4000-8000-000000000001"]
    assert first["ts"] == datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    assert (first["model_raw"], first["provider"], first["user"]) == ("gpt-4o-mini", None, "bob")
    assert (first["input_tokens"], first["output_tokens"], first["cached_input_tokens"]) == (
        500,
        40,
        None,
    )
    assert (first["latency_ms"], first["reported_cost_usd"]) == (812.0, Decimal("0.0001"))
    # request_properties written with its quotes doubled twice still parses
    assert (first["environment"], first["team"]) == ("dev", "web")
    assert json.loads(first["tags"]) == {"ticket": "T-9"}
    failed = found["c0a80001-0000-4000-8000-000000000002"]
    assert (failed["status"], failed["http_status"], failed["error_type"]) == (
        "error",
        500,
        "server_error",
    )
    sparse = found["c0a80001-0000-4000-8000-000000000003"]  # model and latency left empty
    assert (sparse["model_raw"], sparse["latency_ms"], sparse["user"]) == (None, None, None)
    assert sparse["reported_cost_usd"] == Decimal("0.00001")
    assert reasons(rejects) == {
        5: "prompt_tokens: '12x' is not a whole number",
        6: "missing timestamp",
        7: "request_properties: 'not json' is not a JSON object",
    }


def test_csv_cost_usd_header_variant() -> None:
    rows, rejects = load("helicone-csv", CSV_COST_USD)
    assert rejects.height == 0
    row = rows.to_dicts()[0]
    assert (row["user"], row["app"], row["reported_cost_usd"]) == (
        "erin",
        "cli",
        Decimal("0.00042"),
    )
    assert (row["input_tokens"], row["output_tokens"], row["latency_ms"]) == (300, 30, 1200.0)


def test_attribution_keys_are_configurable() -> None:
    config = Config(attribution={**DEFAULT_ATTRIBUTION, "team": ("squad",)})
    rows, _ = load("helicone-json", JSONL, ReadOptions(config=config))
    found = by_id(rows)
    assert found["9b0e1d2c-0003-4f00-8000-000000000003"]["team"] == "growth"
    first = found["9b0e1d2c-0001-4f00-8000-000000000001"]
    assert first["team"] is None  # "team" is no longer a team key: it is a tag now
    assert json.loads(first["tags"])["team"] == "search"
    csv_rows, _ = load("helicone-csv", CSV, ReadOptions(config=config))
    assert by_id(csv_rows)["c0a80001-0000-4000-8000-000000000003"]["team"] == "growth"


def test_big_json_document_is_sniffed_from_its_first_record(tmp_path: Path) -> None:
    record = json.loads(JSONL.read_text().splitlines()[0])
    record["request_body"] = {"messages": [{"role": "user", "content": MARKER * 8000}]}
    path = write(tmp_path / "dump.json", json.dumps([record, record | {"response_id": "r-2"}]))
    assert path.stat().st_size > 64 * 1024
    assert detect_path(path).adapter.name == "helicone-json"
    rows, rejects = load("helicone-json", path)
    assert (rows.height, rejects.height) == (2, 0)
    assert_no_content(rows)
