"""The report model: totals to the cent against hand-computed sums, layers, months, modes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from audit.errors import UsageError
from audit.ingest import ingest
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report import render
from audit.report.model import Report, ReportOptions, build_report
from audit.report.serialize import report_dict
from audit.store import Store

from conftest import JUNE_END, write

NOW = JUNE_END


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def report_for(store: Store, book: PriceBook, month: str = "2026-06", **kw: object) -> Report:
    timezone = str(kw.pop("timezone", "UTC"))
    options = ReportOptions(parse_month(month, now=NOW, timezone=timezone), NOW, **kw)  # type: ignore[arg-type]
    return build_report(store, book, options)


HAND_ROWS = [
    # gpt-4o-mini: 1M input × $0.15 + 100k output × $0.60 = $0.21
    {"request_id": "a", "timestamp": "2026-06-01T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
     "input_tokens": 1_000_000, "output_tokens": 100_000, "user": "ann", "project": "p1"},
    # claude-haiku-4-5: 200k × $1 + 1M cached × $0.10 + 100k 5m-writes × $1.25 + 50k out × $5 = $0.675
    {"request_id": "b", "timestamp": "2026-06-02T10:00:00Z", "provider": "anthropic", "model": "claude-haiku-4-5-20251001",
     "input_tokens": 200_000, "cached_input_tokens": 1_000_000, "cache_write_tokens": 100_000, "output_tokens": 50_000,
     "user": "bo", "project": "p1"},
    # gpt-4o with a logged cost: auto mode uses $0.50; price tables say 10k×$2.5 + 1k×$10 = $0.035
    {"request_id": "c", "timestamp": "2026-06-02T11:00:00Z", "provider": "openai", "model": "gpt-4o",
     "input_tokens": 10_000, "output_tokens": 1_000, "cost_usd": 0.5, "user": "ann"},
    # a self-hosted model nobody prices: unpriced, not $0
    {"request_id": "d", "timestamp": "2026-06-03T10:00:00Z", "provider": "self-hosted", "model": "mystery-7b",
     "input_tokens": 1_000, "output_tokens": 100, "user": "cy"},
]  # fmt: skip


@pytest.fixture
def hand_store(tmp_path: Path, store: Store) -> Store:
    ingest([write(tmp_path / "log.jsonl", jsonl(HAND_ROWS))], store)
    return store


def test_totals_equal_hand_computed_sums_to_the_cent(hand_store: Store, book: PriceBook) -> None:
    report = report_for(hand_store, book)
    t = report.totals
    assert t.cost_usd == Decimal("1.385")  # 0.21 + 0.675 + 0.50
    assert t.calculated_cost_usd == Decimal("0.92")  # 0.21 + 0.675 + 0.035
    assert t.reported_cost_usd == Decimal("0.5")
    assert t.cost_by_basis == {
        "billed": 0,
        "reported": Decimal("0.5"),
        "calculated": Decimal("0.885"),
    }
    assert (t.requests, t.unpriced_requests) == (4, 1)
    assert (t.input_tokens, t.cached_input_tokens, t.cache_write_tokens, t.output_tokens) == (
        1_211_000,
        1_000_000,
        100_000,
        151_100,
    )
    users = {row.key: row.cost_usd for row in report.breakdowns["user"]}
    assert users == {"ann": Decimal("0.71"), "bo": Decimal("0.675"), "cy": Decimal(0)}
    assert report.unpriced == [
        {
            "model_raw": "mystery-7b",
            "reason": "unknown model",
            "requests": 1,
            "tokens": 1100,
            "share": 0.25,
        }
    ]
    days = {row.key: row.cost_usd for row in report.breakdowns["day"]}
    assert len(days) == 30
    assert (days["2026-06-01"], days["2026-06-02"], days["2026-06-30"]) == (
        Decimal("0.21"),
        Decimal("1.175"),
        0,
    )
    data = report_dict(report)
    assert data["totals"]["cost_usd"] == 1.385
    assert sum(row["cost_usd"] for row in data["breakdowns"]["provider"]) == pytest.approx(1.385)


def test_cost_modes(hand_store: Store, book: PriceBook) -> None:
    calculated = report_for(hand_store, book, cost_mode="calculate").totals
    assert (calculated.cost_usd, calculated.unpriced_requests) == (Decimal("0.92"), 1)
    reported = report_for(hand_store, book, cost_mode="reported").totals
    assert (reported.cost_usd, reported.unpriced_requests) == (Decimal("0.5"), 3)


LAYER_GENERATIONS = (
    "generation_id,created_at,cost_total,tokens_prompt,tokens_completion,model_permaslug,user,api_key_name\n"
    "g1,2026-06-01 09:00:00,4.00,1000,10,anthropic/claude-sonnet-4.6,alice,k1\n"
    "g2,2026-06-01 10:00:00,3.00,1000,10,anthropic/claude-sonnet-4.6,bob,k2\n"
    "g3,2026-06-02 10:00:00,2.00,1000,10,anthropic/claude-sonnet-4.6,alice,k1\n"
)
LAYER_ACTIVITY = (
    '"Date","Slug","Usage","BYOK Usage","Requests","Prompt Tokens","Completion Tokens","Reasoning Tokens"\n'
    '"2026-06-01 00:00:00","anthropic/claude-sonnet-4.6","10.00","0","5","5000","50","0"\n'
)


def test_billed_layer_wins_and_logs_attribute_the_rest(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    write(tmp_path / "in" / "generations.csv", LAYER_GENERATIONS)
    write(tmp_path / "in" / "activity.csv", LAYER_ACTIVITY)
    ingest([tmp_path / "in"], store)
    report = report_for(store, book)
    # June 1st is billed ($10, not $10 + $7 of logs); June 2nd only has logs ($2)
    assert report.totals.cost_usd == Decimal(12)
    assert report.totals.requests == 6  # 5 billed requests + 1 logged
    assert report.totals.cost_by_basis["billed"] == Decimal(10)
    [provider] = report.breakdowns["provider"]
    assert (provider.key, provider.cost_usd, provider.extra["basis"]) == (
        "openrouter",
        Decimal(12),
        "mixed",
    )
    users = {row.key: row.cost_usd for row in report.breakdowns["user"]}
    assert users == {"alice": Decimal(6), "bob": Decimal(3), "(unattributed)": Decimal(3)}
    keys = {row.key: row.requests for row in report.breakdowns["api_key"]}
    assert keys == {"k1": 2, "k2": 1, "(unattributed)": 3}
    days = {row.key: row.cost_usd for row in report.breakdowns["day"]}
    assert (days["2026-06-01"], days["2026-06-02"]) == (Decimal(10), Decimal(2))


def test_month_boundaries_follow_the_timezone(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    row = dict(HAND_ROWS[0], timestamp="2026-06-30T23:30:00Z")
    ingest([write(tmp_path / "late.jsonl", jsonl([row]))], store)
    assert report_for(store, book, "2026-06").totals.requests == 1
    assert report_for(store, book, "2026-06", timezone="Europe/Paris").totals.requests == 0
    july = report_for(store, book, "2026-07", timezone="Europe/Paris")
    assert july.totals.requests == 1
    assert july.breakdowns["day"][0].key == "2026-07-01"


def test_month_parsing() -> None:
    now = datetime(2026, 1, 15, tzinfo=UTC)
    assert parse_month("last", now=now).label == "2025-12"
    assert parse_month("2026-06", now=now).label == "2026-06"
    for bad, message in (
        ("2026-6", "expected YYYY-MM"),
        ("june", "expected YYYY-MM"),
        ("2026-13", "month must be 01..12"),
        ("1999-01", "year must be 2015..2099"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_month(bad, now=now)
    with pytest.raises(UsageError, match="unknown timezone"):
        parse_month("2026-06", now=now, timezone="Mars/Olympus")


def test_terminal_output_neutralises_markup_and_escapes(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    row = dict(HAND_ROWS[0], user="[bold red]boss[/] \x1b[2Jgone", model="gpt-4o-mini")
    ingest([write(tmp_path / "x.jsonl", jsonl([row]))], store)
    text = render(report_for(store, book), "terminal")
    assert "[bold red]boss[/] ?[2Jgone" in text
    assert "\x1b" not in text


def test_two_exports_of_the_same_bill_are_never_added(monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    from audit.report.model import _one_billing_source
    from audit.sources import SOURCES

    day = datetime(2026, 6, 1, tzinfo=UTC).date()
    rows = pl.LazyFrame(
        {
            "provider": ["openrouter", "openrouter", "openrouter", "anthropic"],
            "day": [day] * 4,
            "granularity": ["aggregate", "aggregate", "request", "aggregate"],
            "source": [
                "openrouter-activity-csv",
                "some-cost-export",
                "openrouter-generations-csv",
                "some-cost-export",
            ],
            "cost": [10, 11, 7, 5],
        }
    )
    # the activity export (rank 30) beats an unranked export (50) for the same provider and day;
    # request rows and other providers' bills are untouched
    kept = _one_billing_source(rows).collect().sort("cost")
    assert kept["cost"].to_list() == [5, 7, 10]
    monkeypatch.setattr(type(SOURCES.get("openrouter-activity-csv")), "aggregate_rank", 60)
    assert _one_billing_source(rows).collect().sort("cost")["cost"].to_list() == [5, 7, 11]
