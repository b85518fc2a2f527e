"""tokaudit.yaml: discovery, validation with file:line, and its effect on commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.config import find_config, load_config
from audit.errors import ConfigError

from conftest import FIXTURES, write

GOOD = """\
store: data/store
timezone: Europe/Paris
prices: [my-prices]
attribution:
  team: [squad, team]
mappings:
  - name: proxy
    provider: openai
    input_includes_cached: true
    columns: {timestamp: ts, model: model_name, input_tokens: tokens_in, output_tokens: tokens_out}
"""


def test_good_config_is_parsed_relative_to_its_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "conf" / "tokaudit.yaml", GOOD)
    config = load_config(path)
    assert config.store == tmp_path / "conf" / "data" / "store"
    assert config.timezone == "Europe/Paris"
    assert config.prices == (tmp_path / "conf" / "my-prices",)
    assert config.attribution["team"] == ("squad", "team")
    assert config.attribution["project"][0] == "project"  # defaults kept for the rest
    [mapping] = config.mappings
    assert (mapping.name, mapping.provider, mapping.input_includes_cached) == (
        "proxy",
        "openai",
        True,
    )
    assert mapping.signature() == {"ts", "model_name", "tokens_in", "tokens_out"}
    assert config.attribution_lookup()["squad"] == "team"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("stroe: x\n", 1, "unknown setting(s) stroe"),
        ("timezone: Mars/Base\n", None, "unknown timezone 'Mars/Base'"),
        ("attribution:\n  tema: [x]\n", 2, "attribution: unknown column 'tema'"),
        (
            "mappings:\n  - name: a\n    columns: {model: m, input_tokens: i}\n",
            2,
            "mappings[0]: the 'timestamp' column is required",
        ),
        (
            "mappings:\n  - name: a\n    columns: {timestamp: t, model: m, inputs: i}\n",
            3,
            "mappings[0]: unknown field(s) inputs",
        ),
        (
            "mappings:\n  - name: a\n    columns: {timestamp: t, model: m}\n",
            2,
            "map token columns or cost_usd",
        ),
        ("- just\n- a list\n", None, "must be a mapping"),
    ],
)
def test_bad_config_names_file_line_and_reason(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = write(tmp_path / "tokaudit.yaml", text)
    with pytest.raises((ConfigError, Exception)) as info:
        load_config(path)
    assert message in str(info.value)
    if line is not None:
        assert isinstance(info.value, ConfigError)
        assert (info.value.path, info.value.line) == (str(path), line)


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xdg = write(tmp_path / "xdg" / "tokaudit" / "tokaudit.yaml", "timezone: UTC\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    assert find_config(cwd=work) == xdg
    local = write(work / "tokaudit.yaml", "timezone: UTC\n")
    assert find_config(cwd=work) == local
    with pytest.raises(ConfigError, match="config file not found"):
        find_config(tmp_path / "nope.yaml")


def test_config_drives_store_timezone_and_mappings(tmp_path: Path) -> None:
    conf = write(tmp_path / "tokaudit.yaml", "store: st\ntimezone: Asia/Tokyo\n")
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "ingest",
            str(FIXTURES / "sources" / "openrouter-activity-csv" / "activity.csv"),
            "--config",
            str(conf),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "st" / "manifest.json").is_file()
    result = runner.invoke(
        app,
        [
            "report",
            "-m",
            "2026-06",
            "-f",
            "json",
            "--config",
            str(conf),
            "--now",
            "2026-07-02T00:00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["timezone"] == "Asia/Tokyo"
    assert data["period"]["start"] == "2026-05-31T15:00:00Z"
    bad = write(tmp_path / "bad.yaml", "stroe: x\n")
    result = runner.invoke(app, ["report", "--config", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:1: unknown setting(s) stroe" in result.stderr


def test_metadata_keys_from_config_feed_attribution(tmp_path: Path) -> None:
    from audit.sources import ReadOptions

    from conftest import load

    conf = load_config(write(tmp_path / "tokaudit.yaml", "attribution:\n  team: [squad]\n"))
    line = '{"timestamp":"2026-06-01T00:00:00Z","model":"gpt-4o","input_tokens":1,"output_tokens":1,"metadata":{"squad":"blue"}}\n'
    path = write(tmp_path / "a.jsonl", line)
    rows, _ = load("generic-jsonl", path, ReadOptions(config=conf))
    assert rows["team"].to_list() == ["blue"]
    rows, _ = load("generic-jsonl", path)
    assert rows["team"].to_list() == [None]
