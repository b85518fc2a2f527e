"""OpenRouter API JSON: generation responses (requests) and the activity endpoint (aggregates)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import audit.sources.openrouter_api  # noqa: F401  (registers the adapters)
from audit.ingest import ingest
from audit.sources import MIN_SCORE, SOURCES, Sample, detect_path
from audit.store import Store

from conftest import FIXTURES, load, write

GEN_FOLDER = FIXTURES / "sources" / "openrouter-generation-json"
GENERATION = GEN_FOLDER / "generation.json"
GENERATIONS = GEN_FOLDER / "generations.jsonl"
ACTIVITY = FIXTURES / "sources" / "openrouter-activity-json" / "activity.json"
ACTIVITY_CSV = FIXTURES / "sources" / "openrouter-activity-csv" / "activity.csv"
GEN = "openrouter-generation-json"
ACT = "openrouter-activity-json"


def by_line(name: str, path: Path) -> tuple[dict[int, dict], dict[int, str]]:
    rows, rejects = load(name, path)
    return (
        {r["source_line"]: r for r in rows.to_dicts()},
        {r["source_line"]: r["reason"] for r in rejects.to_dicts()},
    )


@pytest.mark.parametrize(
    ("fixture", "name"), [(GENERATION, GEN), (GENERATIONS, GEN), (ACTIVITY, ACT)], ids=str
)
def test_detected_by_content(fixture: Path, name: str, tmp_path: Path) -> None:
    neutral = write(tmp_path / "response.txt", fixture.read_bytes())
    assert detect_path(neutral).adapter.name == name
    other = ACT if name == GEN else GEN
    assert SOURCES.get(other).sniff(Sample.of(neutral)) < MIN_SCORE
    assert SOURCES.get("generic-jsonl").sniff(Sample.of(neutral)) < MIN_SCORE


def test_generation_maps_to_canonical_values() -> None:
    rows, rejects = by_line(GEN, GENERATION)
    assert rejects == {}
    row = rows[1]
    assert row["record_id"] == "gen-1780300000-AAAAAAAAAAAAAAAA"
    assert row["ts"] == datetime(2026, 6, 1, 9, 0, 0, 125000, tzinfo=UTC)
    assert (row["provider"], row["model_raw"]) == ("openrouter", "anthropic/claude-sonnet-4.6")
    # native counts are the billed ones; native_tokens_prompt includes the cached tokens
    assert (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["output_tokens"],
        row["reasoning_tokens"],
    ) == (3012 - 2048, 2048, 455, 128)
    assert row["reported_cost_usd"] == Decimal("0.0123")
    assert (row["user"], row["session_id"], row["project"]) == ("alice", "sess-42", "ws-7f3a")
    assert (row["status"], row["latency_ms"]) == ("ok", 5234)
    tags = json.loads(row["tags"])
    assert tags["upstream_provider"] == "Anthropic"
    assert (tags["upstream_attempts"], tags["upstream_failures"], tags["upstream_statuses"]) == (
        2,
        1,
        "429,200",
    )
    assert (tags["finish_reason"], tags["api_type"], tags["is_byok"]) == (
        "stop",
        "completions",
        "false",
    )


def test_generation_lines_row_by_row() -> None:
    rows, _ = by_line(GEN, GENERATIONS)
    assert sorted(rows) == [1, 2, 3, 4]
    mini = rows[1]
    assert (mini["input_tokens"], mini["cached_input_tokens"], mini["output_tokens"]) == (
        1000,
        None,
        50,
    )
    assert mini["reported_cost_usd"] == Decimal("0.00018")
    assert mini["user"] is None
    assert json.loads(mini["tags"])["upstream_failures"] == 0

    cancelled = rows[2]
    assert (cancelled["status"], cancelled["input_tokens"]) == ("cancelled", 900)
    assert "upstream_attempts" not in json.loads(cancelled["tags"])  # no provider_responses

    failed = rows[3]
    assert (failed["status"], failed["error_type"]) == ("error", "overloaded")
    assert json.loads(failed["tags"])["upstream_statuses"] == "529,502"
    assert json.loads(failed["tags"])["upstream_failures"] == 2

    normalised = rows[4]  # no native counts: the normalised ones are used
    assert (normalised["input_tokens"], normalised["output_tokens"]) == (77, 7)
    assert normalised["model_raw"] == "deepseek/deepseek-v4-flash:free"
    assert normalised["reported_cost_usd"] == Decimal(0)
    assert json.loads(normalised["tags"]) == {"byok_upstream_cost": "0.0004", "is_byok": "true"}


def test_generation_rejections_with_line_and_reason() -> None:
    _, rejects = by_line(GEN, GENERATIONS)
    assert rejects == {
        5: "native_tokens_cached (50) exceeds native_tokens_prompt (10)",
        6: "total_cost: 'abc' is not an amount",
        7: "invalid JSON at column 29: Expecting ',' delimiter",
    }


def test_planted_prompt_is_never_loaded() -> None:
    rows, rejects = load(GEN, GENERATIONS)
    assert "SECRET-PROMPT-OPENROUTER" not in rows.write_json() + rejects.write_json()


@pytest.mark.parametrize("layout", ["array", "bare-lines"])
def test_other_generation_layouts(layout: str, tmp_path: Path) -> None:
    response = json.loads(GENERATION.read_text())
    second = {"data": {**response["data"], "id": "gen-2", "native_tokens_cached": 0}}
    if layout == "array":
        text = json.dumps([response, second], indent=2)
    else:  # one bare generation object per line
        text = json.dumps(response["data"]) + "\n" + json.dumps(second["data"])
    path = write(tmp_path / "g.json", text + "\n")
    assert detect_path(path).adapter.name == GEN
    rows, rejects = by_line(GEN, path)
    assert rejects == {}
    assert [rows[1]["record_id"], rows[2]["record_id"]] == [
        "gen-1780300000-AAAAAAAAAAAAAAAA",
        "gen-2",
    ]
    assert rows[2]["input_tokens"] == 3012


def test_activity_items_are_summed_per_day_and_model() -> None:
    rows, rejects = by_line(ACT, ACTIVITY)
    assert rejects == {5: "usage: 'twelve' is not an amount"}
    assert sorted(rows) == [1, 3, 4]

    sonnet = rows[1]  # two endpoints (Anthropic, Google Vertex) of one model-day
    assert sonnet["granularity"] == "aggregate"
    assert sonnet["ts"] == datetime(2026, 6, 1, tzinfo=UTC)
    assert (sonnet["provider"], sonnet["model_raw"]) == (
        "openrouter",
        "anthropic/claude-sonnet-4.6",
    )
    assert sonnet["reported_cost_usd"] == Decimal("12.3456")
    assert (
        sonnet["requests"],
        sonnet["input_tokens"],
        sonnet["output_tokens"],
        sonnet["reasoning_tokens"],
    ) == (321, 1234567, 45678, 1200)
    assert json.loads(sonnet["tags"]) == {
        "api_items": 2,
        "byok_usage": "0",
        "endpoints": 2,
        "model_permaslug": "anthropic/claude-4.6-sonnet-20260217",
        "upstream_providers": "Anthropic, Google Vertex",
    }

    mini = rows[3]
    assert mini["reported_cost_usd"] == Decimal("0.5")  # BYOK spend is not OpenRouter's bill
    assert json.loads(mini["tags"])["byok_usage"] == "0.25"

    later = rows[4]  # the rejected item of the same bucket is not in the sum
    assert (later["reported_cost_usd"], later["requests"]) == (Decimal("1.25"), 30)


def test_activity_ids_match_the_activity_csv() -> None:
    api, _ = load(ACT, ACTIVITY)
    csv, _ = load("openrouter-activity-csv", ACTIVITY_CSV)
    csv_row = csv.sort("source_line").to_dicts()[0]
    api_row = api.sort("source_line").to_dicts()[0]
    assert api_row["record_id"] == csv_row["record_id"]
    for column in ("ts", "model_raw", "requests", "input_tokens", "reported_cost_usd"):
        assert api_row[column] == csv_row[column]


def test_same_bucket_from_csv_and_api_is_stored_once(tmp_path: Path, store: Store) -> None:
    write(tmp_path / "a" / "1-activity.csv", ACTIVITY_CSV.read_bytes())
    write(tmp_path / "a" / "2-activity.json", ACTIVITY.read_bytes())
    summary = ingest([tmp_path / "a"], store)
    api = next(f for f in summary.files if f.path.endswith(".json"))
    # the CSV (ingested first) already holds all three buckets: first ingested wins
    assert (api.rows_loaded, api.rows_duplicate, api.rows_rejected) == (0, 3, 1)
    stored = store.scan().collect()
    assert stored.height == 3
    assert set(stored["source"]) == {"openrouter-activity-csv"}


def test_workspace_grouped_activity_keeps_workspaces_apart(tmp_path: Path) -> None:
    items = json.loads(ACTIVITY.read_text())["data"][:2]
    items[0]["workspace_id"], items[1]["workspace_id"] = "ws-a", "ws-b"
    path = write(tmp_path / "ws.json", json.dumps({"data": items}))
    rows, _ = by_line(ACT, path)
    assert {r["project"]: r["reported_cost_usd"] for r in rows.values()} == {
        "ws-a": Decimal("10"),
        "ws-b": Decimal("2.3456"),
    }
    assert all(r["record_id"].endswith(r["project"]) for r in rows.values())


def test_activity_pages_as_json_lines(tmp_path: Path) -> None:
    items = json.loads(ACTIVITY.read_text())["data"]
    text = json.dumps({"data": items[:2]}) + "\n" + json.dumps({"data": items[2:4]}) + "\n"
    path = write(tmp_path / "pages.jsonl", text)
    assert detect_path(path).adapter.name == ACT
    rows, rejects = by_line(ACT, path)
    assert rejects == {}
    assert sum(r["reported_cost_usd"] for r in rows.values()) == Decimal("14.0956")


def test_hand_formatted_response_with_one_line_inner_objects(tmp_path: Path) -> None:
    data = json.loads(GENERATION.read_text())["data"]
    attempts = data.pop("provider_responses")
    body = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items())
    inner = ",\n".join(f"      {json.dumps(a)}" for a in attempts)
    text = '{"data": {\n' + body + ',\n    "provider_responses": [\n' + inner + "\n    ]\n}}\n"
    path = write(tmp_path / "g.json", text)
    assert detect_path(path).adapter.name == GEN
    rows, rejects = by_line(GEN, path)
    assert rejects == {}
    assert json.loads(rows[1]["tags"])["upstream_statuses"] == "429,200"
