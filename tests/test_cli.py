"""End to end through the CLI, as a user runs it: exit codes, messages, outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit import __version__
from audit.cli import app
from audit.sources import SOURCES

from conftest import FIXTURES, REPO, SAMPLES, modified, write

GOLDEN = Path(__file__).parent / "golden"


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_version_and_help(runner: CliRunner) -> None:
    assert run(runner, "--version")[:2] == (0, f"tokaudit {__version__}\n")
    code, out, _ = run(runner, "--help")
    assert code == 0
    for command in ("ingest", "report", "prices", "formats"):
        assert command in out
    for command in (["ingest"], ["report"], ["prices", "import"], ["prices", "check"], ["formats"]):
        code, out, _ = run(runner, *command, "--help")
        assert code == 0, command
        assert "Usage:" in out


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("samples") / "store"
    code, out, _ = run(CliRunner(), "ingest", str(SAMPLES), "--store", str(store))
    assert code == 0, out
    assert "0 rejected" in out
    return store


def test_ingest_samples_then_rerun_is_unchanged(runner: CliRunner, sample_store: Path) -> None:
    code, out, _ = run(runner, "ingest", str(SAMPLES), "--store", str(sample_store), "-v")
    assert code == 0
    assert "0 rows loaded" in out
    skipped = {"README.md", "tokaudit.yaml"}  # documentation and settings, not exports
    data_files = [p for p in SAMPLES.rglob("*") if p.is_file() and p.name not in skipped]
    assert sum(line.startswith("unchanged") for line in out.splitlines()) == len(data_files)
    assert "tokaudit settings, not an export" in out


def test_sample_month_report_json(runner: CliRunner, sample_store: Path) -> None:
    code, out, _ = run(
        runner, "report", "--month", "2026-06", "--format", "json", "--store", str(sample_store)
    )
    assert code == 0
    data = json.loads(out)
    assert data["schema"] == "tokaudit.report/1"
    # the generator's oracle: billed where a bill exists, list price otherwise, each request
    # once (170.4500060716, shown to the micro-dollar)
    assert data["totals"]["cost_usd"] == 170.450006
    # bills' own counts where they state them (OpenAI does not count failed calls), else logs
    assert data["totals"]["requests"] == 5713
    assert data["totals"]["unpriced_requests"] == 20
    assert data["unpriced"][0]["model_raw"] == "acme/llama-ft-support-v3"
    assert set(data["breakdowns"]) >= {"provider", "model", "api_key", "user", "project", "day"}
    # every bundled rule fires on exactly the waste the sample month plants, and nowhere else
    assert {(f["rule"], f["subject"]) for f in data["findings"]} == {
        ("context-bloat", "rag-search · rag-answer"),
        ("stale-key", "proto-experiment-2025"),
        ("cache-miss", "code-review-bot-ci"),
        ("regeneration", "ewalsh"),
        ("output-waste", "support-bot · summarize"),
        ("overqualification", "dvolkov · claude-opus-4-8"),
        ("overqualification", "dvolkov · gpt-5.5"),
        ("retry-storm", "ci-runner"),
    }
    # May is the quieter month before: only the stale key, which spends every month
    assert data["previous"]["month"] == "2026-05"
    assert data["previous"]["cost_usd"] == 124.309466
    assert data["rejected"] == []
    # the sample logs a few full-looking fake secrets; only their masked form may surface
    text = json.dumps(data)
    assert "sk-proj-…" in text or "sk-ant-" in text
    assert not re.search(r"sk-(proj|ant-api03)-[A-Za-z0-9_-]{12,}", text)


def test_sample_may_is_clean_but_for_the_stale_key(runner: CliRunner, sample_store: Path) -> None:
    args = ["report", "--month", "2026-05", "--format", "json", "--store", str(sample_store)]
    code, out, _ = run(runner, *args)
    assert code == 0
    data = json.loads(out)
    assert data["totals"]["cost_usd"] == 124.309466  # the generator's May oracle
    assert [(f["rule"], f["subject"]) for f in data["findings"]] == [
        ("stale-key", "proto-experiment-2025")
    ]
    assert all(block["difference_usd"] == 0 for block in data["reconciliation"])


def test_sample_report_json_matches_golden(
    runner: CliRunner, sample_store: Path, request: pytest.FixtureRequest
) -> None:
    args = [
        "report",
        "--month",
        "2026-06",
        "--format",
        "json",
        "--store",
        str(sample_store),
        "--now",
        "2026-07-01T06:00:00Z",
    ]
    code, out, _ = run(runner, *args)
    assert code == 0
    golden = GOLDEN / "sample-2026-06.json"
    if request.config.getoption("--update-golden"):
        write(golden, out)
    assert out == golden.read_text(encoding="utf-8"), (
        "run pytest --update-golden after an intended change"
    )


def test_terminal_report_on_samples(runner: CliRunner, sample_store: Path) -> None:
    code, out, _ = run(runner, "report", "--month", "2026-06", "--store", str(sample_store))
    assert code == 0
    assert "Total spend  $170.45" in out
    assert "Daily spend" in out
    assert all(len(line) <= 100 for line in out.splitlines())


@pytest.mark.parametrize("tty", [True, False])
def test_report_to_file(
    runner: CliRunner,
    sample_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tty: bool,
) -> None:
    monkeypatch.setattr("audit.cli.interactive", lambda: tty)
    target = tmp_path / "out" / "june.json"
    args = ["report", "-m", "2026-06", "-f", "json", "-o", str(target)]
    code, out, err = run(runner, *args, "--store", str(sample_store))
    assert code == 0
    assert json.loads(target.read_text())["month"] == "2026-06"
    assert out == ""
    # a person at a terminal is told where the file went; cron (no TTY) gets silence on
    # success, so it mails nobody
    assert (f"wrote {target}" in err) is tty
    assert err == "" or tty


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["report", "--month", "2026-6"], 2, "invalid month '2026-6': expected YYYY-MM"),
        (["report", "--month", "2026-06", "--format", "pdf"], 2, "unknown format 'pdf'"),
        (["report", "--month", "2026-06", "--cost-mode", "guess"], 2, "unknown cost mode 'guess'"),
        (["report", "--month", "2026-06", "--timezone", "Nowhere/Land"], 2, "unknown timezone"),
        (["report", "--month", "2026-06", "--now", "noon"], 2, "invalid --now"),
    ],
)
def test_usage_errors(
    runner: CliRunner, sample_store: Path, args: list[str], code: int, message: str
) -> None:
    got, _, err = run(runner, *args, "--store", str(sample_store))
    assert got == code
    assert message in err
    assert err.startswith("tokaudit: error: ")


def test_month_without_data_and_empty_store(
    runner: CliRunner, sample_store: Path, tmp_path: Path
) -> None:
    code, _, err = run(runner, "report", "--month", "2026-03", "--store", str(sample_store))
    assert code == 3
    assert (
        f"{sample_store}: no usage for 2026-03 in the store (months held: 2026-05, 2026-06)" in err
    )
    code, _, err = run(runner, "report", "--month", "2026-06", "--store", str(tmp_path / "none"))
    assert code == 3
    assert "run 'tokaudit ingest PATH' first" in err


def test_ingest_missing_path_and_bad_rows(runner: CliRunner, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    code, _, err = run(runner, "ingest", str(tmp_path / "missing"), "--store", store)
    assert (code, err.strip()) == (
        2,
        f"tokaudit: error: {tmp_path / 'missing'}: no such file or folder",
    )
    code, out, _ = run(
        runner,
        "ingest",
        str(FIXTURES / "sources" / "generic-jsonl" / "mixed-shapes.jsonl"),
        "--store",
        store,
    )
    assert code == 3
    assert "rejected 1 × status: 'weird' is not one of cancelled|error|ok (first at line 11)" in out
    empty = write(tmp_path / "empty.jsonl", b"")
    code, out, _ = run(runner, "ingest", str(empty), "--store", store)
    assert code == 3
    assert "empty file (0 bytes)" in out


@pytest.mark.parametrize(
    ("flags", "lists_good_files"),
    [(["-q"], False), (["--verbose"], True), ([], False)],  # no TTY here: quiet by default
)
def test_quiet_ingest_prints_only_problems(
    runner: CliRunner, tmp_path: Path, flags: list[str], lists_good_files: bool
) -> None:
    folder = tmp_path / "in"
    write(
        folder / "good.csv",
        (FIXTURES / "sources" / "openrouter-activity-csv" / "activity.csv").read_bytes(),
    )
    write(folder / "bad.txt", "hello\n")
    code, out, _ = run(runner, "ingest", str(folder), "--store", str(tmp_path / "s"), *flags)
    assert code == 3
    assert "bad.txt" in out
    assert ("good.csv" in out) is lists_good_files
    assert "ingest: 2 files" in out  # the summary line always


def test_store_from_environment(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKAUDIT_STORE", str(tmp_path / "envstore"))
    code, _, _ = run(
        runner, "ingest", str(FIXTURES / "sources" / "openrouter-activity-csv" / "activity.csv")
    )
    assert code == 0
    assert (tmp_path / "envstore" / "manifest.json").is_file()


def test_formats_lists_every_adapter(runner: CliRunner) -> None:
    code, out, _ = run(runner, "formats")
    assert code == 0
    for name, adapter in SOURCES.items():
        assert name in out
        assert adapter.obtain in out


def test_prices_commands(runner: CliRunner, tmp_path: Path) -> None:
    code, out, _ = run(runner, "prices", "check")
    assert code == 0
    assert out.startswith("ok: ")
    code, out, _ = run(runner, "prices", "list")
    assert code == 0
    assert "claude-sonnet-4-6" in out
    bad = write(
        tmp_path / "mine" / "t.yaml",
        "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  m:\n    prices: []\n",
    )
    code, _, err = run(runner, "prices", "check", "--prices", str(bad.parent))
    assert code == 2
    assert f"{bad}:5: models.m: 'prices' must list at least one period" in err


def test_prices_import_litellm_and_use_it(
    runner: CliRunner, tmp_path: Path, sample_store: Path
) -> None:
    out_file = tmp_path / "litellm.yaml"
    code, out, _ = run(
        runner, "prices", "import", str(FIXTURES / "litellm_prices.json"), "--out", str(out_file)
    )
    assert code == 0, out
    assert "wrote" in out
    assert "3 models" in out
    code, out, _ = run(runner, "prices", "check", "--prices", str(out_file))
    assert code == 0, out
    # the imported table prices the sample's self-hosted model, which was unpriced before
    code, out, _ = run(
        runner,
        "report",
        "-m",
        "2026-06",
        "-f",
        "json",
        "--store",
        str(sample_store),
        "--prices",
        str(out_file),
    )
    data = json.loads(out)
    assert data["totals"]["unpriced_requests"] == 0


def test_readme_quick_start_matches_ci() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_command = ci.strip().splitlines()[-1]
    assert f"```\n{test_command}\n```" in readme
    assert "tokaudit ingest sample_exports/ && tokaudit report --month 2026-06" in readme


def test_ingest_modified_since_skips_older_files_in_the_config_timezone(
    runner: CliRunner, tmp_path: Path
) -> None:
    line = json.dumps(
        {"request_id": "r1", "timestamp": "2026-06-01T00:10:00+02:00", "model": "gpt-4o-mini",
         "input_tokens": 10, "output_tokens": 2}
    )  # fmt: skip
    old = write(tmp_path / "in" / "old.jsonl", line.replace("r1", "r0") + "\n")
    modified(old, "2026-05-31T21:00:00+00:00")
    modified(write(tmp_path / "in" / "new.jsonl", line + "\n"), "2026-05-31T22:15:00+00:00")
    config = write(tmp_path / "tokaudit.yaml", "timezone: Europe/Paris\n")
    store = tmp_path / "store"
    base = ("ingest", str(tmp_path / "in"), "--store", str(store), "--config", str(config))
    code, out, _ = run(runner, *base, "--modified-since", "2026-06", "-v")
    assert code == 0, out
    assert "1 loaded, 1 skipped" in out
    assert "before the cut-off 2026-05-31 22:00 UTC" in " ".join(out.split())
    code, out, _ = run(runner, *base)
    assert (code, "1 loaded, 1 unchanged" in out) == (0, True)
    code, _, err = run(runner, *base, "--modified-since", "2026-06-31")
    assert code == 2
    assert "invalid date '2026-06-31'" in err
    assert "--modified-since" in run(runner, "ingest", "--help")[1]
