"""``--format html``: golden output, determinism, escaping, self-containment, every section,
and a real render in headless Chromium (screenshot kept under tests/artifacts/)."""

from __future__ import annotations

import copy
import html as htmllib
import json
import os
import re
import shutil
import struct
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.ingest import ingest
from audit.money import format_usd
from audit.period import parse_month
from audit.pricing import PriceBook
from audit.report import FORMATS
from audit.report.html import DENSITIES, EMAIL_BYTES, money, percent, render_html, render_text
from audit.report.model import ReportOptions, build_report
from audit.report.serialize import report_dict
from audit.store import Store

from conftest import JUNE_END, SAMPLES, write

GOLDEN = Path(__file__).parent / "golden"
ARTIFACTS = Path(__file__).parent / "artifacts"
NOW = "2026-07-01T06:00:00Z"
#: Gmail clips a message whose HTML is larger than about 102 kB.
GMAIL_CLIP = 102_000
#: The headline's comparison with the previous month: "vs May 2026 ($120.00)".
PREVIOUS = re.compile(r"vs [A-Z][a-z]+ \d{4} \(")

HOSTILE_USER = "<script>alert(1)</script>"
HOSTILE_MODEL = "<b>x</b>"
ROWS = [
    {"request_id": "a", "timestamp": "2026-06-01T10:00:00Z", "provider": "openai", "model": "gpt-4o-mini",
     "input_tokens": 1_000_000, "output_tokens": 100_000, "user": "ann", "project": "p1", "team": "web"},
    {"request_id": "b", "timestamp": "2026-06-02T10:00:00Z", "provider": "anthropic",
     "model": "claude-haiku-4-5-20251001", "input_tokens": 200_000, "cached_input_tokens": 1_000_000,
     "output_tokens": 50_000, "user": HOSTILE_USER, "project": "p1", "team": "data"},
    {"request_id": "c", "timestamp": "2026-06-02T11:00:00Z", "provider": "openai", "model": "gpt-4o",
     "input_tokens": 10_000, "output_tokens": 1_000, "cost_usd": 0.5, "user": "ann"},
    {"request_id": "d", "timestamp": "2026-06-03T10:00:00Z", "provider": "self-hosted",
     "model": HOSTILE_MODEL, "input_tokens": 1_000, "output_tokens": 100, "user": "cy"},
]  # fmt: skip


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def finding(rank: int, **overrides: Any) -> dict[str, Any]:
    """A finding shaped like the detectors' output (rank only varies the numbers)."""
    base: dict[str, Any] = {
        "rule": "overqualification",
        "severity": ("high", "medium", "low")[rank % 3],
        "title": f"Finding number {rank}",
        "subject": f"team-{rank} · gpt-5.5",
        "records": 10 * rank,
        "cost_usd": 1.2 / rank,
        "savings_usd": 0.06 / rank,
        "evidence": [
            {
                "record_id": f"rec-{rank}-{i}",
                "ts": "2026-06-05T05:38:00Z",
                "cost_usd": 0.0042,
                "input_tokens": 1850,
                "share": 0.25,
            }
            for i in range(5)
        ],
        "recommendation": f"Route the work of team-{rank} to a cheaper tier.",
    }
    base.update(overrides)
    return base


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("samples") / "store"
    code, out = run("ingest", str(SAMPLES), "--store", str(store))
    assert code == 0, out
    return store


@pytest.fixture(scope="module")
def sample_data(sample_store: Path) -> dict[str, Any]:
    # with the sample settings (budgets, caps), so every section of the page has content
    config = str(SAMPLES / "tokaudit.yaml")
    code, out = run(
        "report", "-m", "2026-06", "-f", "json", "--store", str(sample_store), "--now", NOW,
        "--config", config,
    )  # fmt: skip
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    for section in ("budgets", "alerts", "anomalies", "reconciliation"):
        assert data[section], section
    return data


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory, book: PriceBook) -> dict[str, Any]:
    """``report_dict`` of a small real report whose user and model names carry markup."""
    tmp = tmp_path_factory.mktemp("small")
    store = Store(tmp / "store")
    ingest([write(tmp / "log.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))], store)
    month = parse_month("2026-06", now=JUNE_END, timezone="UTC")
    return report_dict(build_report(store, book, ReportOptions(month, JUNE_END)))


@pytest.fixture(scope="module")
def full_data(small_data: dict[str, Any]) -> dict[str, Any]:
    """The small report plus every optional key the later builds add."""
    data = copy.deepcopy(small_data)
    data["findings"] = [
        finding(1, severity="high", title="Opus & GPT-5 on one-line prompts", subject=HOSTILE_USER),
        *[finding(rank) for rank in range(2, 13)],
    ]
    data["totals"]["savings_usd"] = sum(f["savings_usd"] for f in data["findings"])
    data["previous"] = {"month": "2026-05", "cost_usd": 120.0, "change_usd": 17.43,
                        "change_share": 0.145}  # fmt: skip
    data["model_mix"] = {
        "premium_share": 0.31,
        "by_class": [
            {"class": "premium", "cost_usd": 40.1, "share": 0.31},
            {"class": "standard", "cost_usd": 80.2, "share": 0.62},
            {"class": "economy", "cost_usd": 9.05, "share": 0.07},
        ],
    }
    data["checklist"] = [
        {"id": "spend-vs-budget", "title": "Spend vs budget", "status": "warn",
         "detail": "91% of the $150.00 budget"},
        {"id": "unpriced", "title": "Every model priced", "status": "alert", "detail": "1 unpriced"},
        {"id": "keys", "title": "Keys have owners", "status": "ok", "detail": "all attributed"},
    ]  # fmt: skip
    data["rejected"] = [
        {"file": "exports/bad.jsonl", "format": "generic-jsonl", "rows": 3,
         "reasons": [{"reason": "status: 'weird' is not one of cancelled|error|ok", "rows": 3,
                      "first_line": 11}]},
    ]  # fmt: skip
    data["problems"] = [
        {"path": "exports/q2.pdf", "status": "unrecognised", "message": "format not recognised",
         "candidates": []},
    ]  # fmt: skip
    return data


def visible_text(page: str) -> str:
    """The text a reader sees: tags dropped, entities decoded, whitespace collapsed."""
    page = re.sub(r"<(style|title)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_html_is_registered() -> None:
    assert FORMATS.get("html").suffix == ".html"


def test_display_formatting() -> None:
    assert money(1234.567) == "$1,234.57"
    assert money(0.004) == "<$0.01"
    assert money(-3.5) == "-$3.50"
    assert money(None) == "—"
    assert percent(0.4624) == "46.2%"
    assert percent(0.0003) == "<0.1%"
    assert percent(0.145, signed=True) == "+14.5%"


def test_sample_html_matches_golden_and_is_deterministic(
    sample_store: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    outputs = []
    for name in ("first.html", "second.html"):
        target = tmp_path / name
        code, out = run(
            "report", "-m", "2026-06", "-f", "html", "-o", str(target),
            "--store", str(sample_store), "--now", NOW,
        )  # fmt: skip
        assert code == 0, out
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1], "two renders of the same month differ"
    golden = GOLDEN / "sample-2026-06.html"
    if request.config.getoption("--update-golden"):
        write(golden, outputs[0])
    assert outputs[0] == golden.read_bytes(), "run pytest --update-golden after an intended change"


def test_sample_html_shows_the_json_facts(sample_data: dict[str, Any]) -> None:
    page = render_html(sample_data)
    text = visible_text(page)
    assert format_usd(Decimal(str(sample_data["totals"]["cost_usd"]))) in text
    assert f"{sample_data['totals']['requests']:,}" in text
    for basis in ("Billed by providers", "Reported by logs", "Priced by tokaudit"):
        assert basis in text
    for section in ("Where the money went", "By provider", "By model", "By API key", "By user",
                    "By project", "By team", "Daily spend", "Findings", "Data quality and method",
                    "Sources read", "Unpriced models", "Price tables"):  # fmt: skip
        assert section in text, section
    if sample_data["findings"]:
        assert sample_data["findings"][0]["title"] in text
    else:
        assert "No findings this month" in text
    for table in sample_data["price_tables"]:
        assert table["sha256"][:12] in text
        assert table["sha256"] not in page  # only the first 12 hex
    assert "acme/llama-ft-support-v3" in text
    assert "more" in text  # api keys: top 10 then "N more"
    assert ("Monthly checklist" in text) == bool(sample_data.get("checklist"))
    assert ("Model mix ·" in text) == bool(sample_data.get("model_mix"))
    assert bool(PREVIOUS.search(text)) == bool(sample_data.get("previous"))


@pytest.mark.parametrize("absent", [None, "missing"])
def test_optional_sections_absent_render_nothing(small_data: dict[str, Any], absent: Any) -> None:
    data = {k: v for k, v in small_data.items() if k not in {"previous", "model_mix", "checklist"}}
    if absent is None:
        data.update(previous=None, model_mix=None, checklist=None)
    text = visible_text(render_html(data))
    assert "Total spend" in text
    assert "Monthly checklist" not in text
    assert "Model mix ·" not in text
    assert not PREVIOUS.search(text)
    data["checklist"] = []
    assert "Monthly checklist" not in visible_text(render_html(data))


def test_html_is_self_contained_and_email_sized(sample_data: dict[str, Any]) -> None:
    page = render_html(sample_data)
    lowered = page.lower()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in lowered
    assert "http://" not in lowered
    assert "https://" not in lowered
    assert " src=" not in lowered
    assert "<link" not in lowered
    assert "<img" not in lowered
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert "@font-face" not in lowered
    assert "<svg" not in lowered
    assert "javascript:" not in lowered
    assert lowered.count("<style") == 1
    assert 'charset="utf-8"' in lowered
    assert len(page.encode("utf-8")) < GMAIL_CLIP, "HTML too large: Gmail would clip the email"


def test_a_huge_month_still_fits_an_email_and_says_what_it_left_out(
    full_data: dict[str, Any],
) -> None:
    many = copy.deepcopy(full_data)
    template = many["findings"][0]
    many["findings"] = [
        {**template, "subject": f"team-{n}", "title": f"Finding {n}"} for n in range(400)
    ]
    rows = many["breakdowns"]["user"][0]
    many["breakdowns"]["user"] = [{**rows, "key": f"user-{n}"} for n in range(3000)]
    page = render_html(many)
    assert len(page.encode("utf-8")) <= EMAIL_BYTES
    text = visible_text(page)
    assert "400 findings" in text
    # a few rows of each long table, and a count of the rest: nothing silently vanishes
    shown_users = len(re.findall(r"\buser-\d+\b", text))
    assert 0 < shown_users < 10
    assert f"{3000 - shown_users:,} more" in text
    brief = re.search(r"(\d+) more, smaller findings", text)
    assert brief is not None
    assert 0 < int(brief.group(1)) < 400
    # the sample month itself renders at full detail
    assert len(render_html(full_data).encode("utf-8")) <= EMAIL_BYTES


def test_markup_in_names_is_shown_as_text(small_data: dict[str, Any], tmp_path: Path) -> None:
    page = render_html(small_data)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert HOSTILE_USER not in page
    assert HOSTILE_MODEL not in page
    assert "<script" not in page.lower()
    text = visible_text(page)
    assert HOSTILE_USER in text
    assert HOSTILE_MODEL in text
    # and through the CLI, end to end
    store = tmp_path / "store"
    log = write(tmp_path / "log.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))
    assert run("ingest", str(log), "--store", str(store))[0] == 0
    target = tmp_path / "june.html"
    code, out = run(
        "report", "-m", "2026-06", "-f", "html", "-o", str(target), "--store", str(store)
    )
    assert code == 0, out
    written = target.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in written
    assert HOSTILE_USER not in written


def test_no_findings_render_gracefully(small_data: dict[str, Any]) -> None:
    data = {**small_data, "findings": [], "totals": {**small_data["totals"], "savings_usd": 0.0}}
    text = visible_text(render_html(data))
    assert "No findings this month" in text
    assert "Est. avoidable $0.00 no findings" in text
    assert "More findings" not in text


def test_every_section_renders_with_full_data(full_data: dict[str, Any]) -> None:
    page = render_html(full_data)
    text = visible_text(page)
    # headline with the previous month
    assert "▲ +$17.43 (+14.5%)" in text
    assert "vs May 2026 ($120.00)" in text
    assert "Est. avoidable" in text
    # findings: cards for the top ones, one line each for the rest, sorted as given
    detailed = DENSITIES[0].findings_detailed
    assert "12 findings" in text
    assert text.index("Opus & GPT-5 on one-line prompts") < text.index("Finding number 2")
    assert "Opus &amp; GPT-5 on one-line prompts" in page  # escaped in the source
    assert f"#{detailed}" in text
    assert f"#{detailed + 1}" not in text
    assert "More findings" in text
    assert "Finding number 12" in text
    top = full_data["findings"][0]
    assert (
        f"Avoidable (est.) {money(top['savings_usd'])} of {money(top['cost_usd'])} · 10 records"
        in text
    )
    assert "Recommendation: Route the work of team-1 to a cheaper tier." in text
    assert "rec-1-0" in text
    assert "rec-1-2" in text
    assert "rec-1-3" not in text
    assert "and 2 more records" in text
    assert "time 2026-06-05 05:38" in text
    assert "cost <$0.01" in text
    assert "share 25.0%" in text
    assert "input tokens 1,850" in text
    for badge in ("High", "Medium", "Low"):
        assert f">{badge}</span>" in page
    # the subject of a finding is escaped too
    assert "&lt;script&gt;" in page
    assert HOSTILE_USER not in page
    # checklist
    assert "Monthly checklist" in text
    for label, title in (("Warning", "Spend vs budget"), ("Alert", "Every model priced"),
                         ("OK", "Keys have owners")):  # fmt: skip
        assert f"{label} {title}" in text
    # model mix
    assert "Model mix · premium models 31.0% of spend" in text
    assert "Premium $40.10 31.0%" in text
    # data quality appendix
    assert "Rejected rows" in text
    assert "exports/bad.jsonl" in text
    assert "(3 rows, first at line 11)" in text
    assert "Files not ingested" in text
    assert "exports/q2.pdf" in text
    assert "Unpriced models" in text
    assert HOSTILE_MODEL in text
    assert "Generated 2026-07-02 12:00 UTC" in text
    assert "Cost mode auto" in text


def test_previous_month_may_be_null_or_partial(small_data: dict[str, Any]) -> None:
    assert not PREVIOUS.search(visible_text(render_html({**small_data, "previous": None})))
    partial = {"month": "2026-05", "cost_usd": 0.0, "change_usd": 1.385, "change_share": None}
    text = visible_text(render_html({**small_data, "previous": partial}))
    assert "▲ +$1.39 vs May 2026 ($0.00)" in text


def test_text_alternative(full_data: dict[str, Any], sample_data: dict[str, Any]) -> None:
    text = render_text(full_data)
    assert f"Total spend          {money(full_data['totals']['cost_usd'])}" in text
    assert "1.  [HIGH] Opus & GPT-5 on one-line prompts - <script>alert(1)</script>" in text
    assert "[WARNING] Spend vs budget: 91% of the $150.00 budget" in text
    assert "MODEL MIX (premium 31.0% of spend)" in text
    assert "vs May 2026" in text
    sample = render_text(sample_data)
    assert all(len(line) <= 78 for line in sample.splitlines()), "text part wider than 78"
    for heading in ("FINDINGS", "BUDGETS", "ALERTS", "ANOMALIES", "BILL VS REQUEST LOGS"):
        assert f"\n{heading}\n" in sample, heading
    assert "[OVER   ] team · platform: $34.64 of $30.00 (115.5%), crossed 2026-06-26" in sample
    assert "anthropic: billed $78.30, logs $74.93" in sample
    assert "<table" not in sample
    assert "<p" not in sample


# ── headless Chromium ────────────────────────────────────────────────────────────────


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    message = "chromium is not installed: the HTML rendering test cannot run"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must install Debian's chromium; .ci/run does)")
    pytest.skip(f"!!! {message.upper()} — apt-get install chromium to run it !!!")


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


@pytest.mark.parametrize("which", ["sample", "full"])
def test_renders_in_headless_chromium(
    which: str, sample_data: dict[str, Any], full_data: dict[str, Any], tmp_path: Path
) -> None:
    browser = chromium()
    data = sample_data if which == "sample" else full_data
    page = write(tmp_path / f"{which}.html", render_html(data))
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"html-{which}-{data['month']}.png"
    shot.unlink(missing_ok=True)
    url = page.resolve().as_uri()
    result = headless(
        browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,3000", url
    )
    assert shot.is_file(), f"no screenshot: {result.stderr[-2000:]}"
    assert png_size(shot) == (1000, 3000)
    assert shot.stat().st_size > 20_000, "the screenshot looks blank"
    result = headless(browser, tmp_path / "profile", "--dump-dom", url)
    assert result.returncode == 0, result.stderr[-2000:]
    text = visible_text(result.stdout)
    total = format_usd(Decimal(str(data["totals"]["cost_usd"])))
    assert f"Total spend {total}" in text
    if data["findings"]:
        assert data["findings"][0]["title"] in text
    if which == "full":
        assert "Opus & GPT-5 on one-line prompts" in text
        assert HOSTILE_USER in text  # shown as text: the browser did not run it as a script
        assert "<script" not in result.stdout.replace("&lt;script", "")
