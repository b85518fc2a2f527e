"""Waste detectors: each built-in rule fires with the expected saving, near misses do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from audit.detectors import DETECTORS
from audit.detectors.base import DetectContext, Rule
from audit.detectors.run import findings_from, plan, rank, savings_total
from audit.detectors.spec import load_rules
from audit.pricing import PriceBook

from conftest import REPO, bundled, priced, write

T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
_ids = iter(range(1, 10**9))


def req(**fields: Any) -> dict[str, Any]:
    """A successful request row with sensible defaults; override any canonical field."""
    row: dict[str, Any] = {
        "record_id": f"r{next(_ids)}",
        "granularity": "request",
        "ts": T0,
        "status": "ok",
        "model_raw": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 100,
        "requests": 1,
    }
    row.update(fields)
    return row


def run(
    book: PriceBook, rules: list[Rule], rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], Decimal]:
    plans = plan(priced(book, rows), rules, DetectContext(book=book))
    collected = pl.collect_all([p.findings for p in plans] + [savings_total(plans)])
    findings = [
        f for p, frame in zip(plans, collected, strict=False) for f in findings_from(p, frame)
    ]
    total = collected[-1].item(0, 0)
    return rank(findings), Decimal(0) if total is None else Decimal(str(total))


def flagged_ids(book: PriceBook, rule: Rule, rows: list[dict[str, Any]]) -> set[str]:
    [rule_plan] = plan(priced(book, rows), [rule], DetectContext(book=book))
    return set(rule_plan.records.collect()["record_id"])


# --------------------------------------------------------------------------- overqualification


def test_overqualification_prices_the_same_tokens_on_the_economy_model(book: PriceBook) -> None:
    rule = bundled("overqualification", min_savings_usd=0)
    hits = [
        req(
            user="dana",
            model_raw="claude-opus-4-8",
            purpose="autocomplete",
            input_tokens=1000,
            output_tokens=50,
        )
        for _ in range(3)
    ]
    misses = [
        req(user="dana", model_raw="claude-haiku-4-5", purpose="autocomplete"),  # already economy
        req(
            user="dana",
            model_raw="claude-opus-4-8",
            purpose="refactoring",
            input_tokens=9000,
            output_tokens=900,
        ),
        req(
            user="dana",
            model_raw="claude-opus-4-8",
            purpose="autocomplete",
            status="error",
            output_tokens=0,
        ),
        req(
            user="dana", model_raw="claude-opus-4-8", input_tokens=500, output_tokens=0
        ),  # produced nothing
    ]
    findings, total = run(book, [rule], hits + misses)
    [finding] = findings
    # per request: opus 1000×$5 + 50×$25 = $0.00625; haiku 1000×$1 + 50×$5 = $0.00125 (per 1M)
    assert (finding["subject"], finding["records"]) == ("dana · claude-opus-4-8", 3)
    assert Decimal(str(finding["savings_usd"])) == Decimal("0.015")
    assert Decimal(str(finding["cost_usd"])) == Decimal("0.01875")
    assert total == Decimal("0.015")
    assert finding["details"]["suggested_model"] == "claude-haiku-4-5"
    assert (
        "claude-haiku-4-5 would have cost $0.0" in finding["recommendation"]
        or "claude-haiku-4-5" in finding["recommendation"]
    )
    assert finding["severity"] == "high"
    assert len(finding["evidence"]) == 3
    assert {"record_id", "ts", "model", "cost_usd", "savings_usd", "suggested_model"} <= set(
        finding["evidence"][0]
    )


# --------------------------------------------------------------------------- regeneration


def test_regeneration_flags_only_the_repeats(book: PriceBook) -> None:
    rule = bundled("regeneration", min_savings_usd=0)
    same = {
        "user": "erin",
        "prompt_hash": "sha256:aa",
        "model_raw": "gpt-4o-mini",
        "input_tokens": 2000,
        "output_tokens": 200,
    }
    first = req(**same, outcome="rejected")
    repeats = [
        req(**same, ts=T0 + timedelta(minutes=2), outcome="rejected"),
        req(**same, ts=T0 + timedelta(minutes=5)),
    ]
    misses = [
        req(**same, ts=T0 + timedelta(minutes=40)),  # outside the window after the last attempt
        req(**{**same, "user": "finn"}, ts=T0 + timedelta(minutes=1)),  # another caller
        req(**{**same, "prompt_hash": "sha256:bb"}, ts=T0 + timedelta(minutes=3)),  # another prompt
        req(
            **same, ts=T0 + timedelta(minutes=6), status="error"
        ),  # failures belong to retry storms
    ]
    assert flagged_ids(book, rule, [first, *repeats, *misses]) == {r["record_id"] for r in repeats}
    [finding], total = run(book, [rule], [first, *repeats, *misses])
    # each repeat: 2000 × $0.15 + 200 × $0.60 per 1M = $0.00042
    assert (finding["subject"], finding["records"], total) == ("erin", 2, Decimal("0.00084"))


def test_regeneration_counts_marked_outcomes(book: PriceBook) -> None:
    rule = bundled("regeneration", min_savings_usd=0)
    rows = [req(user="gil", outcome="regenerated"), req(user="gil", outcome="accepted")]
    assert flagged_ids(book, rule, rows) == {rows[0]["record_id"]}


# --------------------------------------------------------------------------- context bloat


def group(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [req(ts=T0 + timedelta(minutes=i), **fields) for i in range(n)]


def test_context_bloat_costs_the_tokens_above_the_norm(book: PriceBook) -> None:
    rule = bundled("context-bloat", min_savings_usd=0)
    peers = group(25, app="rag", purpose="answer", input_tokens=5000, output_tokens=200)
    bloated = group(3, app="rag", purpose="answer", input_tokens=100_000, output_tokens=200)
    findings, _ = run(book, [rule], peers + bloated)
    [finding] = findings
    # (100,000 - 5,000) × $0.15 per 1M = $0.01425 each
    assert (finding["subject"], finding["records"]) == ("rag · answer", 3)
    assert Decimal(str(finding["savings_usd"])) == Decimal("0.04275")
    assert finding["details"]["typical_prompt_tokens"] == 5000


@pytest.mark.parametrize(
    "rows",
    [
        group(10, app="rag", purpose="answer", input_tokens=5000)
        + group(3, app="rag", purpose="answer", input_tokens=100_000),  # too few peers
        group(25, app="rag", purpose="answer", input_tokens=2000)
        + group(3, app="rag", purpose="answer", input_tokens=15_000),  # small prompts
        group(25, app="rag", purpose="answer", input_tokens=5000)
        + group(2, app="rag", purpose="answer", input_tokens=100_000),  # not a pattern
        group(25, app="rag", input_tokens=5000)
        + group(3, app="rag", input_tokens=100_000),  # no purpose: unlike work
    ],
)
def test_context_bloat_near_misses(book: PriceBook, rows: list[dict[str, Any]]) -> None:
    assert run(book, [bundled("context-bloat", min_savings_usd=0)], rows)[0] == []


# --------------------------------------------------------------------------- output waste


def test_output_waste_robust_to_naturally_wide_groups(book: PriceBook) -> None:
    rule = bundled("output-waste", min_savings_usd=0)
    tight = group(30, app="bot", purpose="summarize", output_tokens=200) + group(
        3, app="bot", purpose="summarize", output_tokens=2000
    )
    findings, _ = run(book, [rule], tight)
    [finding] = findings
    # (2,000 - 200) × $0.60 per 1M = $0.00108 each
    assert Decimal(str(finding["savings_usd"])) == Decimal("0.00324")
    # chat answers vary a lot: long ones are normal there, not waste
    wide = [
        req(
            app="chat",
            purpose="chat",
            output_tokens=100 + (i * 137) % 2500,
            ts=T0 + timedelta(minutes=i),
        )
        for i in range(40)
    ]
    assert run(book, [rule], wide)[0] == []


# --------------------------------------------------------------------------- stale key


def trickle(key: str, days: int, per_day: int, **fields: Any) -> list[dict[str, Any]]:
    return [
        req(key_name=key, ts=T0 + timedelta(days=d, hours=h), **fields)
        for d in range(days)
        for h in range(per_day)
    ]


def test_stale_key_flags_unowned_or_prototype_trickles(book: PriceBook) -> None:
    rule = bundled("stale-key")
    stale = trickle("proto-chatbot", 12, 2, user="ann")  # owned but named like a prototype
    orphan = trickle("key-0042", 15, 3)  # nobody owns it
    misses = (
        trickle("proto-new", 5, 2)  # too few days to be a trickle
        + trickle("prod-api", 15, 3, team="web")  # owned, normal name
        + trickle("ingest-bulk", 12, 40)  # unowned but busy: a product, not a leftover
    )
    findings, total = run(book, [rule], stale + orphan + misses)
    assert {(f["subject"], f["records"]) for f in findings} == {
        ("proto-chatbot", 24),
        ("key-0042", 45),
    }
    reasons = {f["subject"]: f["details"]["why"] for f in findings}
    assert reasons == {"proto-chatbot": "a prototype name", "key-0042": "no owner"}
    # the saving is the key's whole spend: 1000 × $0.15 + 100 × $0.60 per 1M = $0.00021 a request
    assert total == Decimal("0.00021") * 69


# --------------------------------------------------------------------------- retry storm


def test_retry_storm_chains_fast_consecutive_failures(book: PriceBook) -> None:
    rule = bundled("retry-storm")
    storm = [
        req(
            key_name="ci",
            status="error",
            error_type="rate_limit",
            http_status=429,
            input_tokens=500,
            output_tokens=0,
            ts=T0 + timedelta(seconds=10 * i),
        )
        for i in range(6)
    ]
    recovered = req(key_name="ci", ts=T0 + timedelta(seconds=65))
    short = [
        req(
            key_name="ci",
            status="error",
            input_tokens=0,
            output_tokens=0,
            ts=T0 + timedelta(hours=1, seconds=10 * i),
        )
        for i in range(4)
    ]
    slow = [
        req(
            key_name="ci",
            status="error",
            input_tokens=0,
            output_tokens=0,
            ts=T0 + timedelta(hours=2, minutes=2 * i),
        )
        for i in range(6)
    ]
    interleaved = [
        req(
            key_name="ci",
            status="error" if i % 2 else "ok",
            input_tokens=0,
            output_tokens=0,
            ts=T0 + timedelta(hours=3, seconds=5 * i),
        )
        for i in range(12)
    ]
    assert flagged_ids(book, rule, [*storm, recovered, *short, *slow, *interleaved]) == {
        r["record_id"] for r in storm
    }
    [finding], total = run(book, [rule], [*storm, recovered, *short, *slow, *interleaved])
    assert (finding["subject"], finding["records"], finding["details"]["storms"]) == ("ci", 6, 1)
    assert finding["details"]["error_types"] == ["rate_limit"]
    assert total == Decimal("0.000075") * 6  # 500 input tokens × $0.15 per 1M, burned six times


# --------------------------------------------------------------------------- cache miss


def test_cache_miss_prices_the_prefix_at_the_cache_discount(book: PriceBook) -> None:
    rule = bundled("cache-miss", min_records=1, min_savings_usd=0)
    base = {
        "app": "reviewer",
        "model_raw": "claude-sonnet-4-6",
        "tags": '{"prefix_hash": "p1"}',
        "output_tokens": 100,
    }
    burst = [req(**base, input_tokens=10_000, ts=T0 + timedelta(minutes=i)) for i in range(4)]
    cached = [
        req(
            **base,
            input_tokens=1_500,
            cached_input_tokens=10_000,
            ts=T0 + timedelta(hours=1, minutes=i),
        )
        for i in range(3)
    ]
    late = [
        req(**base, input_tokens=12_000, ts=T0 + timedelta(hours=3, minutes=10 * i))
        for i in range(3)
    ]  # TTL long gone
    unknown = [
        req(
            **{**base, "model_raw": "mystery-7b"},
            input_tokens=10_000,
            ts=T0 + timedelta(hours=4, minutes=i),
        )
        for i in range(3)
    ]
    findings, total = run(book, [rule], burst + cached + late + unknown)
    [finding] = findings
    assert finding["records"] == 3  # the three repeats of the burst; the first write is not waste
    # prefix ≤ smallest prompt carrying it: 10,000 tokens × ($3.00 − $0.30) per 1M = $0.027
    assert total == Decimal("0.027") * 3


# --------------------------------------------------------------------------- filter kind and rules


FILTER_RULE = """\
id: premium-in-dev
title: Premium models in development
severity: low
detector: filter
where:
  - {field: environment, op: in, value: [dev, staging]}
  - {field: model_class, op: eq, value: premium}
params: {savings: "cost_usd * 0.5", subject: user}
recommendation: "{subject} used premium models in dev ({records} requests, {savings} avoidable)."
"""


def test_filter_kind_needs_no_code(book: PriceBook, tmp_path: Path) -> None:
    path = write(tmp_path / "rules" / "premium-in-dev.yaml", FILTER_RULE)
    [rule] = load_rules([path.parent], include_bundled=False)
    rows = [
        req(
            user="hal",
            environment="dev",
            model_raw="gpt-5.5",
            input_tokens=10_000,
            output_tokens=1000,
        ),
        req(user="hal", environment="production", model_raw="gpt-5.5"),
        req(user="hal", environment="dev", model_raw="gpt-4o-mini"),
    ]
    [finding], total = run(book, [rule], rows)
    # 10,000 × $5 + 1,000 × $30 per 1M = $0.08; half is avoidable
    assert (finding["subject"], finding["records"], total) == ("hal", 1, Decimal("0.04"))
    assert (
        finding["recommendation"] == "hal used premium models in dev (1 requests, $0.04 avoidable)."
    )


def test_a_dollar_flagged_by_two_rules_counts_once(book: PriceBook) -> None:
    both = [
        bundled("regeneration", min_savings_usd=0),
        bundled("overqualification", min_savings_usd=0),
    ]
    same = {
        "user": "ivy",
        "prompt_hash": "h",
        "model_raw": "claude-opus-4-8",
        "purpose": "autocomplete",
        "input_tokens": 1000,
        "output_tokens": 50,
    }
    rows = [req(**same), req(**same, ts=T0 + timedelta(minutes=1))]
    findings, total = run(book, both, rows)
    by_rule = {f["rule"]: Decimal(str(f["savings_usd"])) for f in findings}
    assert by_rule == {"regeneration": Decimal("0.00625"), "overqualification": Decimal("0.01")}
    # request 2 is both a repeat ($0.00625, all of it) and overqualified ($0.005): counted once, at most its cost
    assert total == Decimal("0.00625") + Decimal("0.005")


def test_bundled_rules_are_valid_and_documented() -> None:
    rules = load_rules()
    assert {r.id for r in rules} == {
        "overqualification",
        "regeneration",
        "context-bloat",
        "stale-key",
        "retry-storm",
        "cache-miss",
        "output-waste",
    }
    readme = (REPO / "README.md").read_text()
    for name, kind in DETECTORS.items():
        assert f"`{name}`" in readme, f"detector {name} missing from README"
        assert kind.summary
        assert kind.__doc__
