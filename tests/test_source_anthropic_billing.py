"""Anthropic billing/usage adapters: canonical values row by row, rejects with their lines, layering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import audit.sources.anthropic_billing  # noqa: F401  (registers the adapters)
from audit.ingest import ingest
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report.model import Report, ReportOptions, build_report
from audit.sources import SOURCES, ReadOptions, detect_path
from audit.sources.anthropic_billing import display_name_to_id
from audit.store import Store

from conftest import FIXTURES, JUNE_END, load, write

HERE = FIXTURES / "sources"
USAGE_JSON = HERE / "anthropic-usage-json" / "usage_report.json"
USAGE_JSONL = HERE / "anthropic-usage-json" / "usage_hourly.jsonl"
COST_JSON = HERE / "anthropic-cost-json" / "cost_report.json"
USAGE_CSV = HERE / "anthropic-usage-csv" / "claude_api_tokens_2026_06_01_15h_UTC.csv"
USAGE_CSV_2025 = HERE / "anthropic-usage-csv" / "claude_api_tokens_2025_11_28.csv"
COST_CSV_2024 = HERE / "anthropic-cost-csv" / "claude_api_cost_2024_10_22_to_2024_10_22.csv"
COST_CSV_2026 = HERE / "anthropic-cost-csv" / "claude_api_cost_2026_02_12_to_2026_02_13.csv"
COST_CSV_MAR = HERE / "anthropic-cost-csv" / "claude_api_cost_2026_03_02_to_2026_03_02.csv"
COST_CSV_AUG = HERE / "anthropic-cost-csv" / "claude_api_cost_2026_06_01_to_2026_06_01.csv"

JUNE_1 = datetime(2026, 6, 1, tzinfo=UTC)
WORKSPACE = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
KEY = "apikey_01Rj2N8SVvo6BePZj99NhmiT"


def by_line(rows: pl.DataFrame) -> dict[int, dict]:
    return {r["source_line"]: r for r in rows.to_dicts()}


def rejects_of(rejects: pl.DataFrame) -> dict[int, str]:
    return {r["source_line"]: r["reason"] for r in rejects.to_dicts()}


def tokens(row: dict) -> tuple:
    """(input, cache read, cache write, 1h part of the writes, output, requests)."""
    return (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
        row["cache_write_1h_tokens"],
        row["output_tokens"],
        row["requests"],
    )


# ------------------------------------------------------------------------------ registration


def test_adapters_are_aggregates_with_their_ranks() -> None:
    ranks = {
        "anthropic-usage-json": 40,
        "anthropic-usage-csv": 40,
        "anthropic-cost-json": 20,
        "anthropic-cost-csv": 25,  # rounded to the cent: the exact cost report outranks it
    }
    for name, rank in ranks.items():
        adapter = SOURCES.get(name)
        assert (adapter.granularity, adapter.aggregate_rank) == ("aggregate", rank)
        assert adapter.__doc__
        assert adapter.title
        assert adapter.obtain


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (USAGE_JSON, "anthropic-usage-json"),
        (USAGE_JSONL, "anthropic-usage-json"),
        (COST_JSON, "anthropic-cost-json"),
        (USAGE_CSV, "anthropic-usage-csv"),
        (USAGE_CSV_2025, "anthropic-usage-csv"),
        (COST_CSV_2024, "anthropic-cost-csv"),
        (COST_CSV_2026, "anthropic-cost-csv"),
        (COST_CSV_MAR, "anthropic-cost-csv"),
        (COST_CSV_AUG, "anthropic-cost-csv"),
    ],
)
def test_detected_by_content_under_a_neutral_name(
    fixture: Path, expected: str, tmp_path: Path
) -> None:
    renamed = write(tmp_path / "export.txt", fixture.read_bytes())
    assert detect_path(renamed).adapter.name == expected


# ------------------------------------------------------------------------------ usage report JSON


def test_usage_json_rows() -> None:
    rows, _ = load("anthropic-usage-json", USAGE_JSON)
    found = by_line(rows)
    assert sorted(found) == [1, 2, 4]

    first = found[1]
    assert first["ts"] == JUNE_1
    assert (first["provider"], first["model_raw"], first["granularity"]) == (
        "anthropic",
        "claude-sonnet-4-20250514",
        "aggregate",
    )
    # uncached input as is; cache writes = 5m 1000 + 1h 500; no request count in this report
    assert tokens(first) == (1_500, 200, 1_500, 500, 500, None)
    assert (first["api_key"], first["project"], first["service_tier"]) == (
        KEY,
        WORKSPACE,
        "standard",
    )
    assert first["reported_cost_usd"] is None
    assert json.loads(first["tags"]) == {
        "bucket_end": "2026-06-02T00:00:00Z",
        "context_window": "0-200k",
        "web_search_requests": 10,
    }
    assert first["record_id"] == (
        "anthropic-usage-json|2026-06-01T00:00:00Z|2026-06-02T00:00:00Z|claude-sonnet-4-20250514"
        f"|{KEY}|{WORKSPACE}|standard|0-200k||||"
    )

    batch = found[2]
    # the report is grouped by workspace (other results carry ids): null is the default one
    assert (batch["project"], batch["service_tier"]) == ("Default", "batch")
    assert tokens(batch) == (40_000, 0, None, None, 3_000, None)
    assert "|claude-haiku-4-5-20251001|" + KEY + "||batch|" in batch["record_id"]

    opus = found[4]
    assert opus["ts"] == datetime(2026, 6, 2, tzinfo=UTC)
    assert tokens(opus) == (300_000, 7_000, 2_000, 2_000, 900, None)
    assert opus["service_tier"] == "priority"
    assert json.loads(opus["tags"]) == {
        "bucket_end": "2026-06-03T00:00:00Z",
        "context_window": "200k-1M",
        "inference_geo": "us",
        "speed": "fast",
    }


def test_usage_json_rejects() -> None:
    _, rejects = load("anthropic-usage-json", USAGE_JSON)
    assert rejects_of(rejects) == {
        3: "output_tokens: 'many' is not a whole number",
        5: "field 'cache_creation' is a string or number, expected an object",
        6: "starting_at: '2026-06-31T00:00:00Z' is not a recognised timestamp",
    }


def test_usage_jsonl_pages_without_workspace_grouping() -> None:
    rows, rejects = load("anthropic-usage-json", USAGE_JSONL)
    assert rejects.height == 0
    first, second = rows.sort("source_line").to_dicts()
    assert (first["ts"], second["ts"]) == (
        datetime(2026, 6, 3, 10, tzinfo=UTC),
        datetime(2026, 6, 3, 11, tzinfo=UTC),
    )
    assert tokens(first) == (100, 50, 0, 0, 20, None)
    assert (first["project"], first["service_tier"], first["api_key"]) == (None, None, None)


def test_rows_without_a_request_count_pass_shared_validation(tmp_path: Path, store: Store) -> None:
    summary = ingest([write(tmp_path / "report.json", USAGE_JSON.read_bytes())], store)
    [result] = summary.files
    assert (result.format, result.rows_loaded, result.rows_rejected) == (
        "anthropic-usage-json",
        3,
        3,
    )


# ------------------------------------------------------------------------------ cost report JSON


def test_cost_json_amounts_are_cents() -> None:
    rows, _ = load("anthropic-cost-json", COST_JSON)
    found = by_line(rows)
    assert sorted(found) == [1, 2, 3, 6, 7]

    first = found[1]
    assert first["ts"] == JUNE_1
    assert first["reported_cost_usd"] == Decimal("1.2378912")  # "123.78912" cents
    assert (first["provider"], first["model_raw"], first["project"], first["service_tier"]) == (
        "anthropic",
        "claude-sonnet-4-20250514",
        WORKSPACE,
        "standard",
    )
    assert tokens(first) == (None, None, None, None, None, None)
    assert json.loads(first["tags"]) == {
        "bucket_end": "2026-06-02T00:00:00Z",
        "description": "Claude Sonnet 4 Usage - Input Tokens",
        "cost_type": "tokens",
        "token_type": "uncached_input_tokens",
        "context_window": "0-200k",
    }

    web = found[2]  # web search: real spend without a model
    assert (web["model_raw"], web["reported_cost_usd"], web["project"]) == (
        None,
        Decimal(10),
        "Default",
    )
    assert json.loads(web["tags"])["cost_type"] == "web_search"

    assert (found[3]["reported_cost_usd"], found[3]["service_tier"]) == (Decimal("0.505"), "batch")
    assert (found[6]["reported_cost_usd"], found[6]["model_raw"]) == (Decimal("0.25"), None)
    assert json.loads(found[6]["tags"])["cost_type"] == "code_execution"
    assert found[7]["reported_cost_usd"] == Decimal("0.000001")
    assert json.loads(found[7]["tags"])["token_type"] == "cache_creation.ephemeral_1h_input_tokens"
    assert rows["record_id"].n_unique() == 5


def test_cost_json_rejects() -> None:
    _, rejects = load("anthropic-cost-json", COST_JSON)
    assert rejects_of(rejects) == {
        4: "amount: 'abc' is not an amount",
        5: "currency 'EUR' is not USD",
    }


# ------------------------------------------------------------------------------ Console usage CSV


def test_usage_csv_hourly_rows() -> None:
    rows, _ = load("anthropic-usage-csv", USAGE_CSV)
    found = by_line(rows)
    assert sorted(found) == [2, 3, 4]  # line 5 repeats line 4's key: summed

    haiku = found[2]
    assert haiku["ts"] == datetime(2026, 6, 1, 2, tzinfo=UTC)
    assert (haiku["provider"], haiku["model_raw"], haiku["key_name"], haiku["project"]) == (
        "anthropic",
        "claude-haiku-4-5-20251001",
        "super",
        "Default",
    )
    assert haiku["api_key"] is None  # the export names keys, it has no key ids
    assert tokens(haiku) == (1_124_832, 0, 0, 0, 254_558, None)
    assert json.loads(haiku["tags"]) == {
        "bucket": "hour",
        "usage_type": "standard",
        "context_window": "≤ 200k",
        "inference_geo": "not_available",
    }

    sonnet = found[3]
    # cache writes 5m 2000 + 1h 300 kept apart from cache reads (50000)
    assert tokens(sonnet) == (1_000, 50_000, 2_300, 300, 4_000, None)
    assert (sonnet["project"], sonnet["service_tier"]) == ("Claude Code", "standard")
    assert json.loads(sonnet["tags"])["speed"] == "fast"
    assert json.loads(sonnet["tags"])["web_search_count"] == 2

    summed = found[4]
    assert summed["service_tier"] == "batch"
    assert tokens(summed) == (1_000, 0, 0, 0, 200, None)
    assert json.loads(summed["tags"])["summed_rows"] == 2
    assert summed["record_id"] == (
        "anthropic-usage-csv|2026-06-01T03:00:00Z|hour|claude-sonnet-4-5-20250929"
        "|claude_code_key_ann_abcd|Claude Code|batch|≤ 200k|not_available|"
    )


def test_usage_csv_rejects() -> None:
    _, rejects = load("anthropic-usage-csv", USAGE_CSV)
    assert rejects_of(rejects) == {
        6: "usage_input_tokens_no_cache: '12x' is not a whole number",
        7: "usage_date_utc: '2026-06-32 04:00' is not a recognised timestamp",
        8: "output_tokens is negative (-3)",
    }


def test_usage_csv_2025_header_daily() -> None:
    rows, rejects = load("anthropic-usage-csv", USAGE_CSV_2025)
    assert rejects.height == 0
    found = by_line(rows)
    first = found[2]
    assert first["ts"] == datetime(2025, 11, 28, tzinfo=UTC)
    assert tokens(first) == (100, 1_000, 15, 5, 50, None)
    assert (first["key_name"], first["project"], first["service_tier"]) == (
        "chat-key",
        "Default",
        "standard",
    )
    assert json.loads(first["tags"]) == {"bucket": "day", "usage_type": "standard"}
    assert found[3]["model_raw"] == "claude-3-5-haiku-20241022"


# ------------------------------------------------------------------------------ Console cost CSV


def test_cost_csv_rows_with_placeholders_and_identical_keys() -> None:
    rows, _ = load("anthropic-cost-csv", COST_CSV_2026)
    found = by_line(rows)
    assert sorted(found) == [2, 3, 4, 6, 7]  # line 5 has line 4's key: summed into it

    web = found[2]
    assert web["ts"] == datetime(2026, 2, 12, tzinfo=UTC)
    assert (web["provider"], web["model_raw"], web["reported_cost_usd"]) == (
        "anthropic",
        None,
        Decimal("0.07"),
    )
    assert (web["key_name"], web["project"], web["service_tier"]) == ("chat-key", "Default", None)
    assert json.loads(web["tags"]) == {"cost_type": "web_search"}  # "--" cells are null
    assert tokens(web) == (None, None, None, None, None, None)

    haiku = found[3]
    assert (haiku["model_raw"], haiku["reported_cost_usd"]) == ("claude-haiku-4.5", Decimal("0.09"))
    assert json.loads(haiku["tags"]) == {
        "model": "Claude Haiku 4.5",
        "usage_type": "message",
        "context_window": "≤ 200k",
        "token_type": "input_no_cache",
        "cost_type": "token",
        "inference_geo": "not_available",
    }

    writes = found[4]  # two input_cache_write_5m lines of the same key both count
    assert writes["reported_cost_usd"] == Decimal("0.03")
    assert json.loads(writes["tags"])["summed_rows"] == 2
    assert writes["record_id"] == (
        "anthropic-cost-csv|2026-02-12T00:00:00Z|Claude Haiku 4.5|Default|chat-key||message"
        "|≤ 200k|input_cache_write_5m|token|not_available|"
    )

    assert found[6]["reported_cost_usd"] == Decimal(0)  # rounded to $0.00: still a row
    assert (found[7]["model_raw"], found[7]["reported_cost_usd"]) == (None, Decimal("0.5"))
    assert json.loads(found[7]["tags"]) == {"cost_type": "code_execution"}


def test_cost_csv_rejects() -> None:
    _, rejects = load("anthropic-cost-csv", COST_CSV_2026)
    assert rejects_of(rejects) == {
        8: "cost_usd: 'abc' is not an amount",
        9: "usage_date_utc: '2026-02-30' is not a recognised timestamp",
    }


def test_cost_csv_header_generations() -> None:
    old, rejects = load("anthropic-cost-csv", COST_CSV_2024)
    assert rejects.height == 0
    found = by_line(old)
    assert (found[2]["model_raw"], found[2]["reported_cost_usd"]) == (
        "claude-3.5-sonnet-2024-10-22",
        Decimal("1.23"),
    )
    assert json.loads(found[2]["tags"])["model"] == "Claude 3.5 Sonnet 2024-10-22"
    assert found[4]["model_raw"] == "claude-3.5-haiku"

    march, _ = load("anthropic-cost-csv", COST_CSV_MAR)
    found = by_line(march)
    assert json.loads(found[2]["tags"])["list_price_usd"] == "1.25"
    assert json.loads(found[2]["tags"])["speed"] == "fast"
    assert (found[3]["service_tier"], found[3]["reported_cost_usd"]) == ("batch", Decimal(2))
    assert json.loads(found[3]["tags"])["list_price_usd"] == "4"

    august, _ = load("anthropic-cost-csv", COST_CSV_AUG)
    found = by_line(august)
    assert (found[2]["api_key"], found[2]["key_name"]) == ("apikey_01AbCdEf", "chat-key")
    assert json.loads(found[3]["tags"])["api_key_status"] == "archived"
    assert found[3]["model_raw"] == "claude-sonnet-4.6"


@pytest.mark.parametrize(
    ("display", "model_raw", "resolved"),
    [
        ("Claude Haiku 4.5", "claude-haiku-4.5", "claude-haiku-4-5"),
        ("Claude Sonnet 4.5", "claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("Claude Sonnet 4", "claude-sonnet-4", "claude-sonnet-4"),
        ("Claude Opus 4.1", "claude-opus-4.1", "claude-opus-4-1"),
        ("Claude Opus 4.6", "claude-opus-4.6", "claude-opus-4-6"),
        ("Claude 3.7 Sonnet", "claude-3.7-sonnet", "claude-3-7-sonnet"),
        ("Claude 3.5 Haiku", "claude-3.5-haiku", "claude-3-5-haiku"),
        # Claude 3.5 Sonnet has no price in the bundled tables: unpriced, but its cost is billed
        ("Claude 3.5 Sonnet 2024-10-22", "claude-3.5-sonnet-2024-10-22", None),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001", "claude-haiku-4-5"),
    ],
)
def test_display_names_become_resolvable_ids(
    display: str, model_raw: str, resolved: str | None, book: PriceBook
) -> None:
    converted = pl.select(display_name_to_id(pl.lit(display))).item()
    assert converted == model_raw
    assert book.resolve(converted).model == resolved


def test_identical_key_lines_count_once_each_and_reexports_dedup(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    ingest([write(tmp_path / "a" / "cost.csv", COST_CSV_2026.read_bytes())], store)
    # a re-export of the same range, lines in another order, read in chunks of two lines
    header, *body = COST_CSV_2026.read_text(encoding="utf-8").splitlines(keepends=True)
    again = write(tmp_path / "b" / "cost.csv", header + "".join(reversed(body)))
    summary = ingest([again], store, options=ReadOptions(chunk_lines=2))
    [result] = summary.files
    assert (result.rows_loaded, result.rows_duplicate) == (0, 5)
    month = parse_month("2026-02", now=JUNE_END, timezone="UTC")
    report = build_report(store, book, ReportOptions(month, JUNE_END))
    # 0.07 web search + 0.09 + (0.01 + 0.02) cache writes + 0.00 + 0.50 code execution
    assert report.totals.cost_usd == Decimal("0.69")
    assert report.totals.cost_by_basis["billed"] == Decimal("0.69")


# ------------------------------------------------------------------------------ report layering

USAGE_DAY = (
    "usage_date_utc,model_version,api_key,workspace,usage_type,usage_input_tokens_no_cache,"
    "usage_input_tokens_cache_write_5m,usage_input_tokens_cache_write_1h,"
    "usage_input_tokens_cache_read,usage_output_tokens,web_search_count\n"
    "2026-06-01,claude-haiku-4-5-20251001,chat-key,Default,standard,1000000,0,0,0,100000,0\n"
)
COST_DAY = (
    "usage_date_utc,model,workspace,api_key,usage_type,context_window,token_type,cost_usd,"
    "cost_type,inference_geo,speed\n"
    "2026-06-01,Claude Haiku 4.5,Default,chat-key,message,≤ 200k,input_no_cache,0.90,token,"
    "not_available,\n"
    "2026-06-01,Claude Haiku 4.5,Default,chat-key,message,≤ 200k,output,0.40,token,"
    "not_available,\n"
)
LOGS = [
    # June 1st: requests the usage export also counts (must not be added)
    {"request_id": "msg_1", "timestamp": "2026-06-01T10:00:00Z", "provider": "anthropic",
     "model": "claude-haiku-4-5-20251001", "input_tokens": 200_000, "output_tokens": 10_000,
     "cost_usd": 0.25, "user": "ann"},
    # June 2nd: logs only, 100k × $1 = $0.10
    {"request_id": "msg_2", "timestamp": "2026-06-02T10:00:00Z", "provider": "anthropic",
     "model": "claude-haiku-4-5-20251001", "input_tokens": 100_000, "output_tokens": 0,
     "user": "bo"},
]  # fmt: skip


def _report(store: Store, book: PriceBook) -> Report:
    month = parse_month("2026-06", now=JUNE_END, timezone="UTC")
    return build_report(store, book, ReportOptions(month, JUNE_END))


def _days(report: Report) -> dict[str, Decimal]:
    return {row.key: row.cost_usd for row in report.breakdowns["day"]}


def test_usage_export_and_logs_of_the_same_day_are_never_added(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    folder = tmp_path / "in"
    write(folder / "usage.csv", USAGE_DAY)
    write(folder / "log.jsonl", "".join(json.dumps(r) + "\n" for r in LOGS))
    ingest([folder], store)
    report = _report(store, book)
    # June 1st: the usage export priced by the tables (1M × $1 + 100k × $5 = $1.50), not
    # + the logged $0.25; June 2nd: the logs ($0.10)
    assert report.totals.cost_usd == Decimal("1.6")
    days = _days(report)
    assert (days["2026-06-01"], days["2026-06-02"]) == (Decimal("1.5"), Decimal("0.1"))
    assert report.totals.cost_by_basis["calculated"] == Decimal("1.6")
    [provider] = report.breakdowns["provider"]
    assert (provider.key, provider.extra["basis"]) == ("anthropic", "mixed")
    users = {row.key: row.cost_usd for row in report.breakdowns["user"]}
    assert (users["ann"], users["bo"]) == (Decimal("0.25"), Decimal("0.1"))
    assert sum(users.values()) == Decimal("1.6")


def test_a_cost_export_beats_a_usage_export_for_the_same_day(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    folder = tmp_path / "in"
    write(folder / "usage.csv", USAGE_DAY)
    write(folder / "cost.csv", COST_DAY)
    write(folder / "log.jsonl", "".join(json.dumps(r) + "\n" for r in LOGS))
    ingest([folder], store)
    report = _report(store, book)
    # June 1st is billed by the cost export ($1.30, rank 20), not the usage export ($1.50, rank 40)
    assert report.totals.cost_usd == Decimal("1.4")
    assert report.totals.cost_by_basis["billed"] == Decimal("1.3")
    days = _days(report)
    assert (days["2026-06-01"], days["2026-06-02"]) == (Decimal("1.3"), Decimal("0.1"))
    models = {row.key: row.cost_usd for row in report.breakdowns["model"]}
    assert models == {"claude-haiku-4-5": Decimal("1.4")}
