"""Generic JSONL adapter: the flat format and raw OpenAI / Anthropic / OpenRouter usage blocks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from audit.sources import detect_path

from conftest import FIXTURES, load, write

GENERIC = FIXTURES / "sources" / "generic-jsonl" / "mixed-shapes.jsonl"


@pytest.fixture(scope="module")
def loaded() -> tuple[dict[str, dict], dict[int, str]]:
    rows, rejects = load("generic-jsonl", GENERIC)
    return {r["record_id"]: r for r in rows.to_dicts()}, {
        r["source_line"]: r["reason"] for r in rejects.to_dicts()
    }


def test_detected_by_content(tmp_path: Path) -> None:
    assert (
        detect_path(write(tmp_path / "log.txt", GENERIC.read_bytes())).adapter.name
        == "generic-jsonl"
    )


def test_flat_line_maps_every_documented_field(loaded: tuple[dict, dict]) -> None:
    row = loaded[0]["req-flat-1"]
    assert row["ts"] == datetime(2026, 6, 3, 9, 12, 44, 123000, tzinfo=UTC)
    assert (row["provider"], row["model_raw"]) == ("anthropic", "claude-haiku-4-5-20251001")
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
        row["output_tokens"],
    ) == (
        1200,
        8000,
        500,
        150,
    )
    expected = {
        "api_key": "key_prod_7f3a",
        "key_name": "prod-backend",
        "user": "alice",
        "team": "web",
        "project": "helpdesk",
        "environment": "production",
        "purpose": "summarize",
        "app": "support-bot",
        "session_id": "s-1",
        "prompt_hash": "sha256:abc",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 812.5,
        "outcome": "accepted",
    }
    assert {k: row[k] for k in expected} == expected
    assert row["reported_cost_usd"] == Decimal("0.0042")
    tags = json.loads(row["tags"])
    assert tags["region"] == "eu-west-1"
    assert tags["ticket"] == "T-1"
    assert "prompt" not in tags  # prompt text never reaches the store
    assert "SECRET PROMPT TEXT" not in json.dumps(row, default=str)


def test_openai_chat_prompt_tokens_include_cached(loaded: tuple[dict, dict]) -> None:
    row = loaded[0]["chatcmpl-9x1"]
    assert row["ts"] == datetime(2026, 6, 3, 9, 0, tzinfo=UTC)  # +02:00 offset converted to UTC
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["output_tokens"],
        row["reasoning_tokens"],
    ) == (
        1520 - 1024,
        1024,
        210,
        50,
    )
    assert (row["provider"], row["model_raw"], row["user"], row["team"], row["purpose"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "bob",
        "data",
        "code-review",
    )


def test_openai_responses_object_without_wrapper(loaded: tuple[dict, dict]) -> None:
    row = loaded[0]["resp_1"]
    assert row["ts"] == datetime.fromtimestamp(1780480800, tz=UTC)
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["output_tokens"],
        row["reasoning_tokens"],
    ) == (
        1000,
        4000,
        900,
        600,
    )
    assert (row["service_tier"], row["user"]) == ("batch", "carol")


def test_anthropic_input_excludes_cache_and_keeps_ttl_split(loaded: tuple[dict, dict]) -> None:
    row = loaded[0]["msg_01A"]
    assert row["ts"] == datetime.fromtimestamp(1780491600, tz=UTC)  # epoch milliseconds
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
        row["cache_write_1h_tokens"],
    ) == (
        4,
        21000,
        1534,
        1000,
    )
    assert (row["provider"], row["project"]) == ("anthropic", "search")


def test_openrouter_usage_block_with_cost_and_cache_writes(loaded: tuple[dict, dict]) -> None:
    row = loaded[0]["gen-1780560000-XYZ"]
    assert row["provider"] == "openrouter"
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (
        1500,
        1000,
        500,
    )
    assert row["reported_cost_usd"] == Decimal("0.00525")


def test_error_rows_load_without_tokens_and_secrets_are_masked(loaded: tuple[dict, dict]) -> None:
    row = loaded[0]["req-err-1"]
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 429, "rate_limit")
    assert row["api_key"] == "sk-proj-…9z9z"


def test_numbers_as_strings_and_synonyms(loaded: tuple[dict, dict]) -> None:
    row = loaded[0]["req-str-1"]
    assert (row["input_tokens"], row["output_tokens"], row["status"], row["outcome"]) == (
        12,
        3,
        "ok",
        "rejected",
    )
    assert row["ts"] == datetime(2026, 6, 4, 8, 0, 2, tzinfo=UTC)


def test_bad_lines_rejected_with_line_and_reason(loaded: tuple[dict, dict]) -> None:
    rows, rejects = loaded
    assert len(rows) == 8
    assert rejects == {
        9: "invalid JSON at column 72: Expecting property name enclosed in double quotes",
        10: "usage.prompt_tokens_details.cached_tokens exceeds usage.prompt_tokens",
        11: "status: 'weird' is not one of cancelled|error|ok",
        12: "missing timestamp",
        13: "no token counts and no cost",
    }


def test_nested_metadata_values_stay_in_tags_not_attribution(loaded: tuple[dict, dict]) -> None:
    row = next(r for r in loaded[0].values() if r["source_line"] == 14)
    assert row["team"] is None
    assert json.loads(row["tags"])["team"] == {"nested": "object"}
