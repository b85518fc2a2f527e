"""Budgets, alerts, anomalies, reconciliation and month over month, on fixtures with known answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from audit.config import load_config
from audit.errors import ConfigError
from audit.ingest import ingest
from audit.insights_config import InsightSettings, parse_insights
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report.model import Report, ReportOptions, build_report
from audit.report.serialize import report_dict
from audit.store import Store

from conftest import write

_ids = iter(range(1, 10**9))


def line(day: int, cost: float, hour: int = 12, **fields: Any) -> dict[str, Any]:
    """A logged request on 2026-06-<day> that says what it cost (so totals are exact)."""
    return {
        "request_id": f"q{next(_ids)}",
        "timestamp": f"2026-06-{day:02d}T{hour:02d}:00:00Z",
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 100,
        "cost_usd": cost,
        **fields,
    }


def load(tmp_path: Path, store: Store, rows: list[dict[str, Any]], name: str = "log.jsonl") -> None:
    write(tmp_path / "in" / name, "".join(json.dumps(r) + "\n" for r in rows))
    ingest([tmp_path / "in" / name], store)


def report(
    store: Store,
    book: PriceBook,
    settings: InsightSettings,
    *,
    now: datetime | None = None,
    month: str = "2026-06",
) -> Report:
    clock = now or datetime(2026, 7, 2, tzinfo=UTC)
    return build_report(
        store, book, ReportOptions(parse_month(month, now=clock), clock, insights=settings)
    )


def settings(text: str) -> InsightSettings:
    import yaml

    return parse_insights(yaml.safe_load(text), None)


def test_budgets_crossing_day_status_and_forecast(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    rows = [line(d, 1.0, team="web", project="site", key_name="web-key") for d in range(1, 11)]
    rows += [line(d, 0.5, team="data", key_name="etl", environment="ci") for d in range(1, 11)]
    load(tmp_path, store, rows)
    conf = settings(
        """
budgets:
  warn_at: 0.75
  monthly:
    total: 40
    team: {web: 6, data: 6}
    api_key: {web-key: 100}
    model: {gpt-4o-mini: 16}
  automation: {limit: 2, match: {environment: [ci]}}
"""
    )
    mid_month = datetime(2026, 6, 11, tzinfo=UTC)  # ten days elapsed, twenty to go
    items = {
        (b["scope"], b["name"]): b
        for b in report(store, book, conf, now=mid_month).sections["budgets"]["items"]
    }
    total = items[("total", "organisation")]
    assert (total["spent_usd"], total["status"], total["crossed_on"]) == (15.0, "ok", None)
    assert (total["forecast_usd"], total["forecast_status"]) == (
        45.0,
        "over",
    )  # the run rate breaks it
    web = items[("team", "web")]
    assert (web["spent_usd"], web["status"], web["crossed_on"]) == (
        10.0,
        "over",
        "2026-06-07",
    )  # 7 × $1 > $6
    data = items[("team", "data")]
    assert (data["spent_usd"], data["status"]) == (5.0, "warn")  # 83% of $6 ≥ 75%
    assert items[("api_key", "web-key")]["status"] == "ok"
    assert (
        items[("model", "gpt-4o-mini")]["crossed_on"] == "2026-06-11"
        or items[("model", "gpt-4o-mini")]["status"] == "warn"
    )
    automation = items[("automation", "CI / automation")]
    assert (automation["spent_usd"], automation["crossed_on"]) == (
        5.0,
        "2026-06-05",
    )  # 5 × $0.50 > $2


def test_alerts_name_day_subject_amount_and_threshold(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    rows = [line(d, 1.0, user="ann") for d in range(1, 8)]  # a steady $1 a day …
    rows += [line(8, 1.5, user="ann"), line(8, 0.6, user="bob")]  # … then $2.10 on the 8th
    rows += [line(9, 1.1, user="ann")]  # 110% of the trailing average: no alert
    rows += [line(10, 0.4, user="bob", hour=h) for h in range(5)]  # $2 from bob on the 10th
    load(tmp_path, store, rows)
    conf = settings(
        "alerts: {daily_spike: 1.2, trailing_days: 7, min_daily_usd: 0.5}\nbudgets: {daily: {user: 1.9, users: {ann: 5}}}\n"
    )
    alerts = report(store, book, conf).sections["alerts"]
    spikes = [a for a in alerts if a["kind"] == "daily-spike"]
    assert [(a["day"], a["amount_usd"], a["threshold_usd"]) for a in spikes] == [
        ("2026-06-08", 2.1, 1.2),
        ("2026-06-10", 2.0, 1.405714),
    ]
    assert "210% of the trailing 7-day average $1.00" in spikes[0]["message"]
    caps = [a for a in alerts if a["kind"] == "user-over-daily-allocation"]
    assert [(a["day"], a["subject"], a["amount_usd"], a["threshold_usd"]) for a in caps] == [
        ("2026-06-10", "user bob", 2.0, 1.9)
    ]


def test_spike_needs_history_and_skips_quiet_days(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    days = [line(1, 0.1), line(2, 0.9), line(3, 0.1), line(4, 0.1), line(5, 1.0), line(6, 0.3)]
    load(tmp_path, store, days)
    alerts = report(store, book, settings("alerts: {min_daily_usd: 0.4}\n")).sections["alerts"]
    # the 2nd is 9x the 1st but has one day of history; the 5th is 3.3x its trailing average;
    # the 6th is below it; quiet days under the minimum never alert
    assert [a["day"] for a in alerts] == ["2026-06-05"]
    assert report(store, book, settings("alerts: {min_daily_usd: 1.5}\n")).sections["alerts"] == []


def test_anomalies_use_median_and_mad(tmp_path: Path, store: Store, book: PriceBook) -> None:
    steady = [line(d, 1.0 + (d % 3) * 0.05, key_name="steady") for d in range(1, 15)]
    jump = [line(15, 9.0, key_name="steady")]
    noisy = [line(d, [0.2, 3.0, 1.0, 6.0, 0.5][d % 5], key_name="noisy") for d in range(1, 16)]
    verbose = [
        line(d, 0.5, key_name="chatty", input_tokens=2000, output_tokens=100) for d in range(1, 15)
    ]
    verbose += [line(15, 0.5, key_name="chatty", input_tokens=2000, output_tokens=2000)]
    load(tmp_path, store, steady + jump + noisy + verbose)
    found = report(
        store, book, settings("anomalies: {threshold: 5, min_change_usd: 1}\n")
    ).sections["anomalies"]
    keyed = {(a["dimension"], a["subject"], a["metric"]) for a in found}
    assert ("api_key", "steady", "daily spend (USD)") in keyed
    assert not any(a["subject"] == "noisy" for a in found)  # wide but ordinary: no anomaly
    assert ("api_key", "chatty", "output share of tokens") in keyed
    spend = next(a for a in found if a["subject"] == "steady" and a["dimension"] == "api_key")
    assert (spend["day"], spend["value"], spend["baseline"]) == ("2026-06-15", 9.0, 1.05)
    assert spend["robust_z"] >= 5


ACTIVITY = (
    '"Date","Slug","Usage","BYOK Usage","Requests","Prompt Tokens","Completion Tokens","Reasoning Tokens"\n'
    '"2026-06-01 00:00:00","anthropic/claude-sonnet-4.6","10.00","0","5","5000","50","0"\n'
    '"2026-06-02 00:00:00","anthropic/claude-sonnet-4.6","4.00","0","2","2000","20","0"\n'
)
GENERATIONS = (
    "generation_id,created_at,cost_total,tokens_prompt,tokens_completion,model_permaslug,user\n"
    "g1,2026-06-01 09:00:00,4.00,1000,10,anthropic/claude-sonnet-4.6,alice\n"
    "g2,2026-06-01 10:00:00,3.00,1000,10,anthropic/claude-sonnet-4.6,bob\n"
    "g3,2026-06-03 10:00:00,2.00,1000,10,anthropic/claude-sonnet-4.6,alice\n"
)


def test_reconciliation_coverage_and_likely_causes(
    tmp_path: Path, store: Store, book: PriceBook
) -> None:
    write(tmp_path / "bill" / "activity.csv", ACTIVITY)
    write(tmp_path / "bill" / "generations.csv", GENERATIONS)
    ingest([tmp_path / "bill"], store)
    [block] = report(store, book, InsightSettings()).sections["reconciliation"]
    # billed $14 over the 1st and 2nd; the logs cover $7 of the 1st (the 3rd is not on the bill)
    assert (block["provider"], block["billed_usd"], block["logged_usd"], block["coverage"]) == (
        "openrouter",
        14.0,
        7.0,
        0.5,
    )
    assert block["summary"] == "logs explain 50% of openrouter's billed spend"
    causes = {(d["day"], d["difference_usd"]): d["likely_cause"] for d in block["discrepancies"]}
    assert causes == {
        (
            "2026-06-02",
            4.0,
        ): "unlogged traffic: the bill has this model and day, the request logs do not",
        ("2026-06-01", 3.0): "unlogged traffic: the logs hold 40% of the billed tokens",
    }


def test_month_over_month_on_every_breakdown(tmp_path: Path, store: Store, book: PriceBook) -> None:
    may = [
        dict(line(3, 2.0, user="ann"), timestamp="2026-05-03T10:00:00Z"),
        dict(line(4, 1.0, user="bob"), timestamp="2026-05-04T10:00:00Z"),
    ]
    june = [line(3, 4.0, user="ann"), line(4, 0.5, user="cy")]
    load(tmp_path, store, may + june)
    result = report(store, book, InsightSettings())
    assert result.sections["previous"] == {
        "month": "2026-05",
        "cost_usd": 3.0,
        "requests": 2,
        "change_usd": 1.5,
        "change_share": 0.5,
    }
    users = {
        r.key: (r.extra["previous_cost_usd"], r.extra["change_usd"])
        for r in result.breakdowns["user"]
    }
    assert users == {"ann": (2.0, 2.0), "cy": (None, 0.5)}
    data = report_dict(result)
    assert data["breakdowns"]["user"][0]["previous_cost_usd"] == 2.0
    # the first month in a store has nothing to compare with
    assert report(store, book, InsightSettings(), month="2026-05").sections["previous"] is None


def test_checklist_summarises_the_month(tmp_path: Path, store: Store, book: PriceBook) -> None:
    rows = [line(1, 1.0, user="ann", outcome="accepted", key_name="k1") for _ in range(8)]
    rows += [
        line(2, 1.0, user="ann", outcome="rejected", key_name="k1"),
        line(2, 1.0, user="bo", outcome="regenerated", key_name="k1"),
    ]
    old = dict(line(1, 1.0, key_name="legacy"), timestamp="2026-04-20T10:00:00Z")
    load(tmp_path, store, [*rows, old])
    checklist = {
        c["id"]: c
        for c in report(store, book, settings("budgets: {monthly: {total: 12}}\n")).sections[
            "checklist"
        ]
    }
    assert checklist["spend-vs-budget"]["status"] == "warn"  # $10 of $12
    assert checklist["rejection-rate"]["status"] == "warn"
    assert checklist["rejection-rate"]["detail"].startswith("20.0% of 10 answers")
    assert checklist["top-callers"]["status"] == "warn"  # ann spent 90%
    assert checklist["unused-keys"]["status"] == "warn"
    assert "legacy (last 2026-04-20)" in checklist["unused-keys"]["detail"]
    assert checklist["data-quality"]["status"] == "ok"
    assert checklist["model-mix"]["status"] == "ok"


@pytest.mark.parametrize(
    ("text", "line_no", "message"),
    [
        (
            "budgets:\n  monthly:\n    total: lots\n",
            3,
            "budgets.monthly.total must be an amount in USD",
        ),
        ("budgets:\n  monthly:\n    teams: {a: 1}\n", 3, "budgets.monthly: unknown key(s) teams"),
        ("budgets:\n  warn_at: 2\n", 2, "budgets.warn_at must be a share between 0 and 1"),
        ("budgets:\n  automation: {limit: 5}\n", 2, "budgets.automation needs 'limit' and 'match'"),
        ("budgets:\n  automation: {limit: 5, match: {colour: [x]}}\n", 2, "unknown field 'colour'"),
        ("alerts:\n  daily_spike: 0.9\n", 2, "must be above 1"),
        ("anomalies:\n  min_days: 1\n", 2, "anomalies.min_days must be a whole number, at least 3"),
    ],
)
def test_bad_insight_settings_name_file_and_line(
    tmp_path: Path, text: str, line_no: int, message: str
) -> None:
    path = write(tmp_path / "tokaudit.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in info.value.message
    assert (info.value.path, info.value.line) == (str(path), line_no)
