"""OpenAI billing/usage adapters: canonical values row by row, rejects with their lines, layering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import audit.sources.openai_billing  # noqa: F401  (registers the adapters)
from audit.errors import SourceError
from audit.ingest import ingest
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report.model import Report, ReportOptions, build_report
from audit.sources import SOURCES, ReadOptions, detect_path
from audit.store import Store

from conftest import FIXTURES, JUNE_END, load, write

HERE = FIXTURES / "sources"
USAGE_PAGE = HERE / "openai-usage-json" / "usage-page.json"
USAGE_PAGES = HERE / "openai-usage-json" / "usage-pages.jsonl"
COSTS = HERE / "openai-costs-json" / "costs.json"
COST_CSV = HERE / "openai-cost-csv" / "cost_2026-06-01_2026-06-03.csv"
COST_CSV_2025 = HERE / "openai-cost-csv" / "cost_2025-10-05_2025-10-07.csv"
ACTIVITY = HERE / "openai-activity-csv" / "completions_usage_2026-06-01_2026-06-03.csv"
ACTIVITY_EMPTY = HERE / "openai-activity-csv" / "completions_usage_nodata.csv"

JUNE_1 = datetime(2026, 6, 1, tzinfo=UTC)
JUNE_2 = datetime(2026, 6, 2, tzinfo=UTC)


def by_line(rows: pl.DataFrame) -> dict[int, dict]:
    return {r["source_line"]: r for r in rows.to_dicts()}


def rejects_of(rejects: pl.DataFrame) -> dict[int, str]:
    return {r["source_line"]: r["reason"] for r in rejects.to_dicts()}


def tokens(row: dict) -> tuple:
    return (
        row["input_tokens"],
        row["cached_input_tokens"],
        row["cache_write_tokens"],
        row["output_tokens"],
        row["requests"],
    )


# ------------------------------------------------------------------------------ registration


def test_adapters_are_aggregates_with_their_ranks() -> None:
    ranks = {
        "openai-usage-json": 40,
        "openai-activity-csv": 40,
        "openai-costs-json": 20,
        "openai-cost-csv": 20,
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
        (USAGE_PAGE, "openai-usage-json"),
        (USAGE_PAGES, "openai-usage-json"),
        (COSTS, "openai-costs-json"),
        (COST_CSV, "openai-cost-csv"),
        (COST_CSV_2025, "openai-cost-csv"),
        (ACTIVITY, "openai-activity-csv"),
        (ACTIVITY_EMPTY, "openai-activity-csv"),
    ],
)
def test_detected_by_content_under_a_neutral_name(
    fixture: Path, expected: str, tmp_path: Path
) -> None:
    renamed = write(tmp_path / "export.txt", fixture.read_bytes())
    assert detect_path(renamed).adapter.name == expected


# ------------------------------------------------------------------------------ Usage API JSON


def test_usage_json_rows_follow_the_token_convention() -> None:
    rows, _ = load("openai-usage-json", USAGE_PAGE)
    found = by_line(rows)
    assert sorted(found) == [1, 2, 4]  # positions of the results in the file

    first = found[1]
    assert first["ts"] == JUNE_1
    assert (first["provider"], first["model_raw"], first["granularity"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "aggregate",
    )
    # input_tokens 50000 includes 20000 cached and 5000 cache-write: uncached is stated as 25000
    assert tokens(first) == (25_000, 20_000, 5_000, 3_000, 12)
    assert (first["project"], first["user"], first["api_key"]) == (
        "proj_alpha",
        "user-ann",
        "key_AAAA1111",
    )
    assert first["service_tier"] == "standard"  # OpenAI "default"
    assert first["reported_cost_usd"] is None
    assert json.loads(first["tags"]) == {"bucket_end": "2026-06-02T00:00:00Z"}
    assert first["record_id"] == (
        "openai-usage-json|2026-06-01T00:00:00Z|2026-06-02T00:00:00Z|gpt-4o-2024-08-06"
        "|proj_alpha|user-ann|key_AAAA1111|false|default"
    )

    batch = found[2]
    # no input_uncached_tokens: 10000 - 4000 cached - 1000 cache-write
    assert tokens(batch) == (5_000, 4_000, 1_000, 800, 4)
    assert (batch["service_tier"], batch["user"], batch["model_raw"]) == (
        "batch",
        None,
        "gpt-4o-mini-2024-07-18",
    )

    flex = found[4]
    assert flex["ts"] == JUNE_2
    assert tokens(flex) == (1_000, 0, 0, 200, 3)
    assert flex["service_tier"] == "flex"
    assert json.loads(flex["tags"]) == {
        "bucket_end": "2026-06-03T00:00:00Z",
        "input_audio_tokens": 50,
    }
    assert rows["record_id"].n_unique() == 3


def test_usage_json_rejects_name_the_result_and_reason() -> None:
    _, rejects = load("openai-usage-json", USAGE_PAGE)
    assert rejects_of(rejects) == {
        3: "input_tokens: 'lots' is not a whole number",
        5: "input_uncached_tokens + input_cached_tokens + input_cache_write_tokens (130)"
        " exceed input_tokens (100)",
        6: "result is 'organization.costs.result', expected"
        " 'organization.usage.completions.result'",
        7: "start_time: 'yesterday' is not a recognised timestamp",
    }
    assert set(rejects["source_file"]) == {str(USAGE_PAGE)}


def test_usage_jsonl_of_pages_keeps_good_pages_and_dedups_a_repeated_page(
    tmp_path: Path, store: Store
) -> None:
    rows, rejects = load("openai-usage-json", USAGE_PAGES)
    assert rows["source_line"].to_list() == [1, 3]
    assert rows["record_id"].n_unique() == 1  # the same page fetched twice: the same bucket
    row = rows.to_dicts()[0]
    assert row["ts"] == datetime(2026, 6, 3, tzinfo=UTC)
    assert tokens(row) == (2_000, 1_000, 0, 500, 2)
    assert row["service_tier"] is None
    assert json.loads(row["tags"]) == {"bucket_end": "2026-06-03T01:00:00Z"}
    [(line, reason)] = rejects_of(rejects).items()
    assert line == 2
    assert reason.startswith("page on line 2 is not valid JSON: ")

    summary = ingest([write(tmp_path / "pages.jsonl", USAGE_PAGES.read_bytes())], store)
    [result] = summary.files
    assert (result.rows_loaded, result.rows_duplicate, result.rows_rejected) == (1, 1, 1)


def test_usage_json_accepts_an_array_of_pages(tmp_path: Path) -> None:
    page = json.loads(USAGE_PAGE.read_text())
    second = {"object": "page", "data": [page["data"][1]], "has_more": False}
    path = write(tmp_path / "pages.json", json.dumps([{**page, "data": page["data"][:1]}, second]))
    assert detect_path(path).adapter.name == "openai-usage-json"
    rows, rejects = load("openai-usage-json", path)
    assert rows["source_line"].to_list() == [1, 2, 4]
    assert sorted(rejects_of(rejects)) == [3, 5, 6]


def test_usage_json_larger_than_the_sniff_window(tmp_path: Path) -> None:
    result = json.loads(USAGE_PAGE.read_text())["data"][0]["results"][0]
    buckets = [
        {
            "object": "bucket",
            "start_time": 1780272000 + 60 * i,
            "end_time": 1780272060 + 60 * i,
            "results": [result],
        }
        for i in range(200)
    ]
    text = json.dumps({"object": "page", "data": buckets, "has_more": False}, indent=2)
    assert len(text) > 64 * 1024
    path = write(tmp_path / "big.json", text)
    assert detect_path(path).adapter.name == "openai-usage-json"
    rows, rejects = load("openai-usage-json", path)
    assert (rows.height, rejects.height, rows["record_id"].n_unique()) == (200, 0, 200)
    assert rows["input_tokens"].sum() == 200 * 25_000


def test_a_page_of_empty_minute_buckets_is_a_usage_page(tmp_path: Path) -> None:
    buckets = [
        {"object": "bucket", "start_time": 1780272000 + 60 * i, "end_time": 1780272060 + 60 * i}
        | {"results": []}
        for i in range(3)
    ]
    path = write(tmp_path / "empty.json", json.dumps({"object": "page", "data": buckets}))
    detection = detect_path(path)
    assert detection.adapter.name == "openai-usage-json"
    rows, rejects = load("openai-usage-json", path)
    assert (rows.height, rejects.height) == (0, 0)


def test_a_truncated_json_document_is_a_file_error(tmp_path: Path) -> None:
    text = USAGE_PAGE.read_text()
    path = write(tmp_path / "cut.json", text[: len(text) // 2])
    with pytest.raises(SourceError, match=r"invalid JSON at line \d+ column \d+"):
        load("openai-usage-json", path)


# ------------------------------------------------------------------------------ Costs API JSON


def test_costs_json_rows_are_exact_costs_without_tokens() -> None:
    rows, _ = load("openai-costs-json", COSTS)
    found = by_line(rows)
    assert sorted(found) == [1, 2, 3, 4, 8]

    first = found[1]
    assert first["ts"] == JUNE_1
    assert (first["provider"], first["model_raw"], first["project"], first["api_key"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "proj_alpha",
        None,
    )
    assert first["reported_cost_usd"] == Decimal("0.06")
    assert tokens(first) == (None, None, None, None, None)
    assert json.loads(first["tags"]) == {
        "bucket_end": "2026-06-02T00:00:00Z",
        "line_item": "gpt-4o-2024-08-06, input",
        "token_type": "input",
        "quantity": "24000",
        "quantity_unit": "tokens",
    }
    # a JSON number kept as its text: no float rounding
    assert found[2]["reported_cost_usd"] == Decimal("0.1234567890123")
    assert found[2]["api_key"] == "key_AAAA1111"
    assert json.loads(found[2]["tags"])["quantity"] == "12345.5"
    assert found[3]["reported_cost_usd"] == Decimal("0.0000001")  # 1e-7
    assert json.loads(found[3]["tags"])["token_type"] == "cached input"
    # a line item that names no model: real spend, model unknown
    assert (found[4]["model_raw"], found[4]["reported_cost_usd"]) == (None, Decimal("0.25"))
    assert json.loads(found[4]["tags"])["line_item"] == "Code Interpreter sessions"
    assert (found[8]["model_raw"], found[8]["ts"]) == ("gpt-5-nano", JUNE_2)
    assert found[1]["record_id"] == (
        "openai-costs-json|2026-06-01T00:00:00Z|2026-06-02T00:00:00Z|gpt-4o-2024-08-06, input"
        "|proj_alpha|||||usd"
    )


def test_costs_json_rejects() -> None:
    _, rejects = load("openai-costs-json", COSTS)
    assert rejects_of(rejects) == {
        5: "amount: 'n/a' is not an amount",
        6: "amount currency 'eur' is not usd",
        7: "field 'amount' is a string or number, expected an object",
    }


# ------------------------------------------------------------------------------ Cost CSV


def test_cost_csv_sums_identical_lines_and_skips_blank_buckets() -> None:
    rows, rejects = load("openai-cost-csv", COST_CSV)
    found = by_line(rows)
    # line 4 repeats line 2's key: summed into line 2; line 5 is a blank bucket (no charge)
    assert sorted(found) == [2, 3, 8, 10]

    nano_in = found[2]
    assert nano_in["ts"] == JUNE_1
    assert nano_in["reported_cost_usd"] == Decimal("0.00383598") + Decimal("0.001")
    assert (nano_in["model_raw"], nano_in["project"], nano_in["user"], nano_in["api_key"]) == (
        "gpt-5-nano",
        "proj_alpha",
        "user-ann",
        "key_AAAA1111",
    )
    assert tokens(nano_in) == (None, None, None, None, None)
    assert json.loads(nano_in["tags"]) == {
        "bucket_end": "2026-06-02T00:00:00Z",
        "line_item": "gpt-5-nano, input_tokens",
        "token_type": "input_tokens",
        "quantity": "32240",
        "quantity_unit": "tokens",
        "project_name": "Alpha",
        "organization_id": "org-acme",
        "organization_name": "Acme",
        "user_email": "ann@example.com",
        "summed_rows": 2,
    }
    assert found[3]["reported_cost_usd"] == Decimal("0.012")
    assert json.loads(found[3]["tags"])["token_type"] == "output_tokens"
    # line 8's project_name spans two physical lines, so the next record starts on line 10
    assert (found[8]["model_raw"], found[8]["reported_cost_usd"], found[8]["ts"]) == (
        "gpt-4o-2024-08-06",
        Decimal("0.25"),
        JUNE_2,
    )
    assert json.loads(found[8]["tags"])["project_name"] == "Beta\nteam"
    assert found[10]["reported_cost_usd"] == Decimal(2)
    assert rejects_of(rejects) == {
        6: "amount: '1.2.3' is not an amount",
        7: "start_time: '2026-13-45' is not a recognised timestamp",
    }


def test_cost_csv_older_header() -> None:
    rows, rejects = load("openai-cost-csv", COST_CSV_2025)
    assert rejects.height == 0
    found = by_line(rows)
    assert sorted(found) == [2, 3, 5]  # line 4 is a blank-amount bucket
    assert found[2]["ts"] == datetime(2025, 10, 5, tzinfo=UTC)
    assert found[2]["reported_cost_usd"] == Decimal("0.00383598")
    assert (found[2]["model_raw"], found[2]["project"], found[2]["user"]) == (
        "gpt-4o-2024-08-06",
        "proj_abc123",
        None,
    )
    assert json.loads(found[5]["tags"])["token_type"] == "cached input"
    assert found[5]["reported_cost_usd"] == Decimal("0.000125")


def test_cost_csv_sums_across_chunks_and_ids_survive_a_reexport(tmp_path: Path) -> None:
    lines = COST_CSV.read_text().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    # the same export with its lines in another order, read two lines at a time
    shuffled = write(
        tmp_path / "again.csv", header + "".join([body[2], *body[3:], body[0], body[1]])
    )
    first, _ = load("openai-cost-csv", COST_CSV)
    again, _ = load("openai-cost-csv", shuffled, ReadOptions(chunk_lines=2))
    as_map = {r["record_id"]: r["reported_cost_usd"] for r in first.to_dicts()}
    assert {r["record_id"]: r["reported_cost_usd"] for r in again.to_dicts()} == as_map


# ------------------------------------------------------------------------------ Activity CSV


def test_activity_csv_rows() -> None:
    rows, _ = load("openai-activity-csv", ACTIVITY)
    found = by_line(rows)
    # line 4 has line 2's key (same bucket, model, key, batch=false, tier): summed into line 2;
    # line 6 is a bucket with every usage cell blank (no usage, not a reject)
    assert sorted(found) == [2, 3, 5]

    mini = found[2]
    assert mini["ts"] == JUNE_1
    assert (mini["model_raw"], mini["service_tier"], mini["project"], mini["user"]) == (
        "gpt-4o-mini-2024-07-18",
        "standard",
        "proj_alpha",
        "user-ann",
    )
    # floats such as "120000.0" are whole numbers; uncached input is stated
    assert tokens(mini) == (56_000 + 500, 64_000 + 500, None, 8_000 + 100, 42 + 8)
    assert json.loads(mini["tags"]) == {
        "bucket_end": "2026-06-02T00:00:00Z",
        "input_image_tokens": 20,
        "summed_rows": 2,
    }
    assert mini["record_id"] == (
        "openai-activity-csv|2026-06-01T00:00:00Z|2026-06-02T00:00:00Z|gpt-4o-mini-2024-07-18"
        "|proj_alpha|user-ann|key_AAAA1111|false|default"
    )

    batch = found[3]  # batch "true"
    assert (batch["service_tier"], tokens(batch)) == ("batch", (10, 0, None, 5, 10))

    flex = found[5]  # no cached/uncached columns filled: input is taken whole
    assert (flex["service_tier"], flex["user"], flex["api_key"]) == ("flex", None, None)
    assert tokens(flex) == (900, None, None, 90, 3)


def test_activity_csv_rejects() -> None:
    _, rejects = load("openai-activity-csv", ACTIVITY)
    assert rejects_of(rejects) == {
        7: "batch: 'maybe' is not true/false",
        8: "num_model_requests: '1.5' is not a whole number",
        9: "start_time: 'not-a-time' is not a recognised timestamp",
        10: "cached_input_tokens is negative (-5)",
    }


def test_activity_csv_with_only_time_columns_means_no_data() -> None:
    rows, rejects = load("openai-activity-csv", ACTIVITY_EMPTY)
    assert (rows.height, rejects.height) == (0, 0)


def test_activity_csv_and_usage_api_share_the_convention(tmp_path: Path) -> None:
    header = "start_time,end_time,model,num_model_requests,input_tokens,input_cached_tokens,output_tokens\n"
    path = write(tmp_path / "a.csv", header + "1780272000,1780358400,gpt-4o,2,100,30,5\n")
    rows, _ = load("openai-activity-csv", path)
    assert tokens(rows.to_dicts()[0]) == (70, 30, None, 5, 2)


# ------------------------------------------------------------------------------ report layering


def _usage_page(day_epoch: int, input_tokens: int, output_tokens: int, requests: int) -> str:
    result = {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "input_cached_tokens": 0,
        "input_cache_write_tokens": 0,
        "input_uncached_tokens": input_tokens,
        "output_tokens": output_tokens,
        "num_model_requests": requests,
        "model": "gpt-4o-mini-2024-07-18",
    }
    bucket = {
        "object": "bucket",
        "start_time": day_epoch,
        "end_time": day_epoch + 86_400,
        "results": [result],
    }
    return json.dumps({"object": "page", "data": [bucket], "has_more": False})


LOGS = [
    # June 1st: logged requests that the usage export also counts (must not be added)
    {"request_id": "a", "timestamp": "2026-06-01T09:00:00Z", "provider": "openai",
     "model": "gpt-4o-mini", "input_tokens": 100_000, "output_tokens": 1_000, "cost_usd": 0.5,
     "user": "ann"},
    # June 2nd: logs only, priced by the tables: 1M input × $0.15 = $0.15
    {"request_id": "b", "timestamp": "2026-06-02T09:00:00Z", "provider": "openai",
     "model": "gpt-4o-mini", "input_tokens": 1_000_000, "output_tokens": 0, "user": "bo"},
]  # fmt: skip


def _report(store: Store, book: PriceBook) -> Report:
    month = parse_month("2026-06", now=JUNE_END, timezone="UTC")
    return build_report(store, book, ReportOptions(month, JUNE_END))


def test_usage_export_and_logs_of_the_same_day_are_never_added(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    folder = tmp_path / "in"
    write(folder / "usage.json", _usage_page(1780272000, 1_000_000, 100_000, 10))
    write(folder / "log.jsonl", "".join(json.dumps(r) + "\n" for r in LOGS))
    ingest([folder], store)
    report = _report(store, book)
    # June 1st: the usage export priced by the tables, 1M × $0.15 + 100k × $0.60 = $0.21
    # (not + the logged $0.50); June 2nd: the logs, $0.15
    assert report.totals.cost_usd == Decimal("0.36")
    days = {row.key: row.cost_usd for row in report.breakdowns["day"]}
    assert (days["2026-06-01"], days["2026-06-02"]) == (Decimal("0.21"), Decimal("0.15"))
    assert report.totals.requests == 10 + 1
    [provider] = report.breakdowns["provider"]
    assert (provider.key, provider.extra["basis"]) == ("openai", "mixed")
    users = {row.key: row.cost_usd for row in report.breakdowns["user"]}
    # attribution comes from the logs; the breakdown still sums to the (billed + logged) total
    assert (users["ann"], users["bo"]) == (Decimal("0.5"), Decimal("0.15"))
    assert sum(users.values()) == Decimal("0.36")


def test_a_cost_export_beats_a_usage_export_for_the_same_day(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    folder = tmp_path / "in"
    write(folder / "usage.json", _usage_page(1780272000, 1_000_000, 100_000, 10))
    write(folder / "log.jsonl", "".join(json.dumps(r) + "\n" for r in LOGS))
    costs = {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": 1780272000,
                "end_time": 1780358400,
                "results": [
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": 0.3, "currency": "usd"},
                        "line_item": "gpt-4o-mini-2024-07-18, input",
                    }
                ],
            }
        ],
    }
    write(folder / "costs.json", json.dumps(costs))
    ingest([folder], store)
    report = _report(store, book)
    # June 1st is billed by the Costs API ($0.30, rank 20), not the usage export ($0.21, rank 40)
    assert report.totals.cost_usd == Decimal("0.45")
    assert report.totals.cost_by_basis["billed"] == Decimal("0.3")
    days = {row.key: row.cost_usd for row in report.breakdowns["day"]}
    assert (days["2026-06-01"], days["2026-06-02"]) == (Decimal("0.3"), Decimal("0.15"))
