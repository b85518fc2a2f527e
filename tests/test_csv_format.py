"""``--format csv``: sections, stable columns, exact money, formula-injection guards."""

from __future__ import annotations

import copy
import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.ingest import ingest
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report import FORMATS
from audit.report.csv_format import (
    COLUMNS,
    FINDING_COLUMNS,
    FORMULA_TRIGGERS,
    cell,
    findings_csv,
    guard_text,
    render_csv,
)
from audit.report.model import ReportOptions, build_report
from audit.report.serialize import report_dict
from audit.store import Store

from conftest import JUNE_END, write

ROWS = [
    {"request_id": "a", "timestamp": "2026-06-01T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
     "input_tokens": 1_000_000, "output_tokens": 100_000, "user": "=HYPERLINK(\"http://evil\",\"x\")",
     "project": "p1"},
    {"request_id": "b", "timestamp": "2026-06-02T10:00:00Z", "provider": "openai", "model": "gpt-4o",
     "input_tokens": 10_000, "output_tokens": 1_000, "cost_usd": 0.5, "user": "-cmd", "project": "+p2"},
    {"request_id": "c", "timestamp": "2026-06-03T10:00:00Z", "provider": "anthropic",
     "model": "claude-haiku-4-5-20251001", "input_tokens": 200_000, "output_tokens": 50_000,
     "user": "@ann", "project": "p1"},
]  # fmt: skip

FINDINGS = [
    {
        "rule": "overqualification",
        "severity": "high",
        "title": 'Premium model on "simple", short work',
        "subject": "=cmd|' /C calc'!A0",
        "records": 18,
        "cost_usd": 0.10982,
        "savings_usd": 0.093347,
        "evidence": [{"record_id": "a", "cost_usd": 0.01}, {"record_id": "-b", "cost_usd": 0.02}],
        "recommendation": "Route to a cheaper tier;\nkeep the flagship for hard work.",
    },
    {
        "rule": "stale-key",
        "severity": "medium",
        "title": "Stale key",
        "subject": "+proto",
        "records": 113,
        "cost_usd": 1.072716,
        "savings_usd": 0.000001,
        "evidence": [],
        "recommendation": "@owner: revoke it",
    },
]


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, book: PriceBook) -> dict[str, Any]:
    """The report data of a small real store, with synthetic findings added."""
    tmp = tmp_path_factory.mktemp("csv")
    store = Store(tmp / "store")
    ingest([write(tmp / "log.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))], store)
    month = parse_month("2026-06", now=JUNE_END, timezone="UTC")
    out = report_dict(build_report(store, book, ReportOptions(month, JUNE_END)))
    out["findings"] = copy.deepcopy(FINDINGS)
    return out


def test_csv_is_registered() -> None:
    assert FORMATS.get("csv").suffix == ".csv"


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_formula_trigger_in_text_is_guarded(trigger: str) -> None:
    assert guard_text(f"{trigger}cmd") == f"'{trigger}cmd"
    assert cell("key", f"{trigger}cmd") == f"'{trigger}cmd"
    assert cell("title", f"a{trigger}b") == f"a{trigger}b"  # only a leading one matters


def test_numbers_are_exempt_and_number_looking_text_is_not() -> None:
    # numbers written by tokaudit from numbers: never prefixed, never mangled
    assert cell("cost_usd", -3.5) == "-3.500000"
    assert cell("cost_usd", 137.427472) == "137.427472"
    assert cell("cost_usd", 1e-06) == "0.000001"
    assert cell("share", -0.0255) == "-0.0255"
    assert cell("share", 1e-05) == "0.00001"
    assert cell("requests", -2) == "-2"
    # text is text, even when it looks like a number
    assert cell("key", "-3.5") == "'-3.5"
    assert cell("key", "-cmd") == "'-cmd"
    assert cell("key", "plain") == "plain"
    assert cell("key", None) == ""


def test_sections_columns_and_exact_money(data: dict[str, Any]) -> None:
    text = render_csv(data)
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    rows = parse(text)
    assert text.count("\r\n") == len(rows) + 1  # RFC 4180 record ends; "\n" only inside quotes
    assert list(rows[0]) == list(COLUMNS)
    sections = [row["section"] for row in rows]
    assert sections[0] == "total"
    assert sections.count("total:basis") == 3
    assert sections.count("finding") == 2
    for name in ("provider", "model", "api_key", "user", "project", "day"):
        assert f"breakdown:{name}" in sections, name
    assert sections.count("breakdown:day") == 30  # every day, not a top 10
    total = rows[0]
    assert total["key"] == "2026-06"
    assert total["cost_usd"] == f"{data['totals']['cost_usd']:.6f}"
    # breakdowns sum to the total exactly (micro-dollar strings, no float drift)
    users = [r for r in rows if r["section"] == "breakdown:user"]
    assert sum(Decimal(r["cost_usd"]) for r in users) == Decimal(total["cost_usd"])
    provider = next(r for r in rows if r["section"] == "breakdown:provider")
    assert provider["basis"] == "logged"
    assert provider["rank"] == "1"


def test_text_cells_from_real_names_are_guarded(data: dict[str, Any]) -> None:
    rows = parse(render_csv(data))
    users = {r["key"] for r in rows if r["section"] == "breakdown:user"}
    assert '\'=HYPERLINK("http://evil","x")' in users
    assert "'-cmd" in users
    assert "'@ann" in users
    projects = {r["key"] for r in rows if r["section"] == "breakdown:project"}
    assert "'+p2" in projects
    finding = next(r for r in rows if r["section"] == "finding")
    assert finding["key"] == "'=cmd|' /C calc'!A0"
    assert finding["title"] == 'Premium model on "simple", short work'  # quotes survive
    assert finding["recommendation"] == "Route to a cheaper tier;\nkeep the flagship for hard work."
    assert finding["savings_usd"] == "0.093347"
    assert finding["rank"] == "1"
    second = [r for r in rows if r["section"] == "finding"][1]
    assert second["recommendation"] == "'@owner: revoke it"
    assert second["savings_usd"] == "0.000001"


def test_negative_residual_stays_a_number(data: dict[str, Any]) -> None:
    residual = copy.deepcopy(data)
    row = dict(
        residual["breakdowns"]["user"][0], key="(unattributed)", cost_usd=-3.5, share=-0.0255
    )
    residual["breakdowns"]["user"].append(row)
    rows = parse(render_csv(residual))
    last = [r for r in rows if r["section"] == "breakdown:user"][-1]
    assert (last["key"], last["cost_usd"], last["share"]) == (
        "(unattributed)",
        "-3.500000",
        "-0.0255",
    )


def test_findings_only_csv(data: dict[str, Any]) -> None:
    text = findings_csv(data)
    rows = parse(text)
    assert text.startswith(",".join(FINDING_COLUMNS) + "\r\n")
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert rows[0]["subject"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["evidence_record_ids"] == "a -b"  # not leading: no guard needed
    assert rows[0]["cost_usd"] == "0.109820"
    assert rows[1]["severity"] == "medium"
    empty = findings_csv({**data, "findings": []})
    assert empty == ",".join(FINDING_COLUMNS) + "\r\n"


def test_csv_through_the_cli(tmp_path: Path, data: dict[str, Any]) -> None:
    store = tmp_path / "store"
    log = write(tmp_path / "log.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(log), "--store", str(store)]).exit_code == 0
    out = tmp_path / "june.csv"
    args = ["report", "-m", "2026-06", "-f", "csv", "-o", str(out), "--store", str(store)]
    result = runner.invoke(app, [*args, "--now", "2026-07-01T06:00:00Z"])
    assert result.exit_code == 0, result.output
    first = out.read_bytes()
    assert first.startswith(b"section,rank,key,")
    assert b"\r\n" in first
    rows = parse(first.decode("utf-8"))
    assert {r["key"] for r in rows if r["section"] == "breakdown:user"} >= {"'-cmd", "'@ann"}
    runner.invoke(app, [*args, "--now", "2026-07-01T06:00:00Z"])
    assert out.read_bytes() == first  # deterministic
