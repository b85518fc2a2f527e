"""OpenRouter CSV adapters: canonical values row by row, and every rejection with its line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from audit.sources import detect_path

from conftest import FIXTURES, load, write

GENERATIONS = FIXTURES / "sources" / "openrouter-generations-csv" / "generations.csv"
ACTIVITY = FIXTURES / "sources" / "openrouter-activity-csv" / "activity.csv"


def test_generations_detected_by_content(tmp_path: Path) -> None:
    renamed = write(tmp_path / "export.txt", GENERATIONS.read_bytes())
    assert detect_path(renamed).adapter.name == "openrouter-generations-csv"


def test_generations_rows_map_to_canonical_values() -> None:
    rows, _ = load("openrouter-generations-csv", GENERATIONS)
    by_id = {r["record_id"]: r for r in rows.to_dicts()}
    assert len(by_id) == 5

    first = by_id["gen-1780300000-AAAAAAAAAAAAAAAA"]
    assert first["ts"] == datetime(2026, 6, 1, 9, 0, 0, 125000, tzinfo=UTC)
    assert first["provider"] == "openrouter"
    assert first["model_raw"] == "anthropic/claude-sonnet-4.6"
    # tokens_prompt includes tokens_cached: the canonical input is the uncached part only
    assert first["input_tokens"] == 3012 - 2048
    assert first["cached_input_tokens"] == 2048
    assert first["output_tokens"] == 455
    assert first["reasoning_tokens"] == 128
    assert first["reported_cost_usd"] == Decimal("0.0123")
    assert (first["status"], first["key_name"], first["user"], first["app"]) == (
        "ok",
        "prod-backend",
        "alice",
        "Cline",
    )
    assert first["latency_ms"] == 5234
    assert first["granularity"] == "request"
    assert first["requests"] == 1
    assert first["source_line"] == 2
    assert json.loads(first["tags"])["upstream_provider"] == "Anthropic"

    error = by_id["gen-1780300200-CCCCCCCCCCCCCCCC"]
    assert (error["status"], error["error_type"], error["output_tokens"]) == (
        "error",
        "overloaded",
        0,
    )

    free = by_id["gen-1780300300-DDDDDDDDDDDDDDDD"]
    assert free["model_raw"] == "deepseek/deepseek-v4-flash:free"
    assert free["app"] is None

    cancelled = by_id["gen-1780300400-EEEEEEEEEEEEEEEE"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["reasoning_tokens"] is None
    assert cancelled["input_tokens"] == 900
    assert cancelled["app"] == 'App, with "quotes"\nand a newline'


def test_generations_bad_rows_are_kept_aside_with_physical_line_numbers() -> None:
    _, rejects = load("openrouter-generations-csv", GENERATIONS)
    found = {r["source_line"]: r["reason"] for r in rejects.to_dicts()}
    # line 7 holds the second half of a quoted cell, so the next records start at 8, 9, 10
    assert found == {
        8: "cost_total: 'abc' is not an amount",
        9: "created_at: 'not-a-date' is not a recognised timestamp",
        10: "tokens_cached (50) exceeds tokens_prompt (10)",
    }
    assert set(rejects["source_file"]) == {str(GENERATIONS)}


def test_generations_tolerate_reordered_extra_columns_bom_and_crlf(tmp_path: Path) -> None:
    text = (
        "\ufeffextra,user,tokens_completion,created_at,generation_id,tokens_prompt,model_permaslug\r\n"
        "x,dana,7,2026-06-05 00:00:01,gen-1,11,openai/gpt-4o\r\n"
    )
    path = write(tmp_path / "g.csv", text)
    assert detect_path(path).adapter.name == "openrouter-generations-csv"
    rows, rejects = load("openrouter-generations-csv", path)
    assert rejects.height == 0
    row = rows.to_dicts()[0]
    assert (row["user"], row["input_tokens"], row["output_tokens"], row["model_raw"]) == (
        "dana",
        11,
        7,
        "openai/gpt-4o",
    )
    assert row["cached_input_tokens"] is None  # older exports have no tokens_cached column


def test_activity_rows_are_billed_aggregates() -> None:
    assert detect_path(ACTIVITY).adapter.name == "openrouter-activity-csv"
    rows, rejects = load("openrouter-activity-csv", ACTIVITY)
    assert rejects.height == 0
    first = rows.sort("source_line").to_dicts()[0]
    assert first["granularity"] == "aggregate"
    assert first["ts"] == datetime(2026, 6, 1, tzinfo=UTC)
    assert first["model_raw"] == "anthropic/claude-sonnet-4.6"
    assert (
        first["requests"],
        first["input_tokens"],
        first["output_tokens"],
        first["reasoning_tokens"],
    ) == (
        321,
        1234567,
        45678,
        1200,
    )
    assert first["reported_cost_usd"] == Decimal("12.3456")
    second = rows.sort("source_line").to_dicts()[1]
    # BYOK usage is billed by the upstream on the user's own key: not OpenRouter spend
    assert second["reported_cost_usd"] == Decimal("0.5")
    assert json.loads(second["tags"]) == {"byok_usage": "0.25"}
    assert rows["record_id"].n_unique() == 3


def test_activity_record_ids_are_stable_across_exports(tmp_path: Path) -> None:
    copy = write(tmp_path / "again.csv", ACTIVITY.read_bytes())
    first, _ = load("openrouter-activity-csv", ACTIVITY)
    again, _ = load("openrouter-activity-csv", copy)
    assert sorted(first["record_id"]) == sorted(again["record_id"])
