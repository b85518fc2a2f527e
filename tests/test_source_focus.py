"""FOCUS billing CSV: only LLM charges, exact USD, token types and models from SKU text."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import audit.sources.focus  # noqa: F401  (registers the adapter)
from audit.config import DEFAULT_ATTRIBUTION, Config
from audit.ingest import ingest
from audit.sources import ReadOptions, detect_path
from audit.store import Store

from conftest import FIXTURES, load, write

FOCUS = FIXTURES / "sources" / "focus-csv" / "focus_2026-06.csv"
NAME = "focus-csv"


def by_line(
    path: Path = FOCUS, options: ReadOptions | None = None
) -> tuple[dict[int, dict], dict[int, str]]:
    rows, rejects = load(NAME, path, options)
    return (
        {r["source_line"]: r for r in rows.to_dicts()},
        {r["source_line"]: r["reason"] for r in rejects.to_dicts()},
    )


def tokens(row: dict) -> tuple:
    return tuple(
        row[c]
        for c in (
            "input_tokens",
            "cached_input_tokens",
            "cache_write_tokens",
            "cache_write_1h_tokens",
            "output_tokens",
        )
    )


def test_detected_by_content(tmp_path: Path) -> None:
    assert detect_path(write(tmp_path / "export.dat", FOCUS.read_bytes())).adapter.name == NAME


def test_snake_case_headers_are_the_same_columns(tmp_path: Path) -> None:
    text = FOCUS.read_text().splitlines()
    header = next(csv.reader([text[0]]))
    snake = ["".join("_" + c.lower() if c.isupper() else c for c in h).lstrip("_") for h in header]
    snake = [h.replace("x__", "x_") for h in snake]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(snake)
    path = write(tmp_path / "focus.csv", out.getvalue() + "\n".join(text[1:]) + "\n")
    assert "billed_cost" in path.read_text().splitlines()[0]
    assert detect_path(path).adapter.name == NAME
    assert by_line(path)[0].keys() == by_line()[0].keys()


def test_llm_rows_map_to_canonical_values() -> None:
    rows, _ = by_line()
    assert sorted(rows) == [2, 3, 4, 5, 8, 9, 11, 12, 13, 15, 16, 17]

    first = rows[2]  # the FOCUS-for-AI example row
    assert first["ts"] == datetime(2026, 6, 1, tzinfo=UTC)
    assert first["granularity"] == "aggregate"
    assert (first["provider"], first["model_raw"]) == ("bedrock", "claude-sonnet-4")
    assert first["reported_cost_usd"] == Decimal("0.45")
    assert tokens(first) == (150000, None, None, None, None)
    assert (first["team"], first["project"]) == ("search", "ranker")  # "user:Project" tag
    tags = json.loads(first["tags"])
    assert tags["cost-center"] == "CC-7"
    assert "team" not in tags
    assert (tags["service_name"], tags["charge_category"], tags["effective_cost"]) == (
        "Amazon Bedrock",
        "Usage",
        "0.45",
    )
    assert tags["x_usagetype"] == "USE1-Claude4Sonnet-input-tokens"
    assert first["requests"] is None

    assert tokens(rows[3]) == (None, None, None, None, 12500)  # 12.5 × "1K Tokens"
    assert rows[3]["project"] == "prod-account"  # SubAccountName without a project tag
    assert tokens(rows[4]) == (None, 200000, None, None, None)  # meter "Cache Read …", 1M
    assert rows[4]["model_raw"] == "claude-sonnet-4"
    assert tokens(rows[5]) == (None, None, 10000, 10000, None)  # "cache write 1h"

    azure = rows[8]
    assert (azure["provider"], azure["model_raw"]) == ("azure", "gpt-4o-0806")
    assert tokens(azure) == (1_000_000, None, None, None, None)  # meter "…-Inp-glbl"
    assert (azure["environment"], azure["team"], azure["project"]) == (
        "prod",
        "support",  # Department is a default team key
        "prod-subscription",
    )

    credit = rows[9]
    assert credit["reported_cost_usd"] == Decimal("-5")  # real money, loaded
    assert tokens(credit) == (None,) * 5
    assert json.loads(credit["tags"])["charge_category"] == "Credit"

    sagemaker = rows[11]  # AI and ML category, but not an LLM service: kept, no vendor claimed
    assert (sagemaker["provider"], sagemaker["model_raw"]) == (None, None)
    assert sagemaker["reported_cost_usd"] == Decimal("7.3")
    assert tokens(sagemaker) == (None,) * 5

    arn = rows[15]
    assert arn["model_raw"] == "anthropic.claude-3-5-haiku-20241022-v1:0"
    assert tokens(arn) == (None, None, None, None, 20000)

    vertex = rows[16]
    assert (vertex["provider"], vertex["project"]) == ("vertex", "acme-prod")
    assert vertex["model_raw"] == "gemini-2.5-flash"
    assert tokens(vertex) == (None,) * 5  # "Images" is not a token unit
    assert vertex["reported_cost_usd"] == Decimal("0.4")

    correction = rows[17]  # negative quantity: the money counts, the tokens are unknown
    assert correction["reported_cost_usd"] == Decimal("-0.03")
    assert tokens(correction) == (None,) * 5


def test_non_llm_charges_are_skipped_silently() -> None:
    rows, rejects = by_line()
    # line 6 (EC2, with an unparseable amount) and line 7 (S3) are not LLM spend
    assert 6 not in rows
    assert 7 not in rows
    assert 6 not in rejects
    assert 7 not in rejects
    services = {json.loads(r["tags"]).get("service_name") for r in rows.values()}
    assert services == {"Amazon Bedrock", "Azure OpenAI", "Amazon SageMaker", "Vertex AI"}


def test_every_rejection_has_its_line_and_reason() -> None:
    _, rejects = by_line()
    assert rejects == {
        10: "BillingCurrency 'EUR' is not USD: tokaudit never converts currencies",
        14: "BilledCost: 'n/a' is not an amount",
    }


def test_identical_charges_stay_distinct_and_ids_are_stable(tmp_path: Path) -> None:
    rows, _ = by_line()
    assert rows[12]["reported_cost_usd"] + rows[13]["reported_cost_usd"] == Decimal("0.45")
    assert rows[12]["record_id"] != rows[13]["record_id"]
    assert rows[12]["record_id"].endswith("#0")
    assert rows[13]["record_id"].endswith("#1")
    again, _ = by_line(write(tmp_path / "again.csv", FOCUS.read_bytes()))
    assert [r["record_id"] for r in again.values()] == [r["record_id"] for r in rows.values()]


def test_tags_follow_the_configured_attribution() -> None:
    config = Config(attribution={**DEFAULT_ATTRIBUTION, "team": ("cost-center",)})
    rows, _ = by_line(options=ReadOptions(config=config))
    assert rows[2]["team"] == "CC-7"
    assert json.loads(rows[2]["tags"])["team"] == "search"


def test_no_currency_and_chunked_reading(tmp_path: Path) -> None:
    lines = FOCUS.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    row = dict(zip(header, next(csv.reader([lines[1]])), strict=True))
    row["BillingCurrency"] = ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    path = write(tmp_path / "f.csv", out.getvalue() + "\n".join(lines[2:]) + "\n")
    rows, rejects = by_line(path, ReadOptions(chunk_lines=3))
    assert rejects[2] == "BillingCurrency is missing: the amount's currency is unknown"
    assert sorted(rows) == [3, 4, 5, 8, 9, 11, 12, 13, 15, 16, 17]
    assert rows[13]["record_id"].endswith("#1")  # ordinals run across chunks


def test_ingest_billing_rows(tmp_path: Path, store: Store) -> None:
    [result] = ingest([FOCUS], store).files
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 12, 2)
    stored = store.scan().collect()
    assert stored["reported_cost_usd"].sum() == Decimal("6.3975")  # exact, credit included
    sonnet = stored.filter(pl.col("model_raw") == "claude-sonnet-4")
    assert set(sonnet["model"]) == {"claude-sonnet-4"}


@pytest.mark.parametrize(
    ("unit", "quantity", "expected"),
    [
        ("Tokens", "1500", 1500),
        ("1K Tokens", "1.5", 1500),
        ("10k tokens", "2", 20000),
        ("1,000 Tokens", "3", 3000),
        ("1M Tokens", "0.25", 250000),
        ("Million Tokens", "2", 2_000_000),
        ("Thousand Tokens", "4", 4000),
        ("Hours", "3", None),
    ],
)
def test_token_units(unit: str, quantity: str, expected: int | None, tmp_path: Path) -> None:
    text = (
        "BilledCost,BillingCurrency,ChargePeriodStart,ChargeCategory,ServiceName,"
        "ChargeDescription,ConsumedQuantity,ConsumedUnit\n"
        f'1.00,USD,2026-06-01T00:00:00Z,Usage,Amazon Bedrock,Llama 3 70B output tokens,{quantity},"{unit}"\n'
    )
    rows, rejects = by_line(write(tmp_path / "f.csv", text))
    assert rejects == {}
    assert rows[2]["output_tokens"] == expected
    assert rows[2]["model_raw"] == "llama-3-70b"
