"""Rule files: the `where` language and validation errors with file, line and reason."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.detectors.spec import check_rules, load_rules
from audit.detectors.where import compile_where, glob_to_regex
from audit.errors import ConfigError

from conftest import write

FRAME = pl.DataFrame(
    {
        "user": ["ann", "bob", None, "ann-bot"],
        "output_tokens": [10, 500, 50, None],
        "input_tokens": [100, 1000, 0, 5],
        "cached_input_tokens": [0, 1000, None, 0],
        "cache_write_tokens": [None, None, None, None],
        "tags": ['{"tier": "gold"}', None, '{"tier": "free"}', "{}"],
        "ts": [None, None, None, None],
    },
    schema_overrides={"cache_write_tokens": pl.Int64, "ts": pl.Datetime("us", "UTC")},
)


def matches(spec: object) -> list[int]:
    expr = compile_where(spec, path="t.yaml")
    return FRAME.with_row_index("i").filter(expr)["i"].to_list()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"field": "user", "op": "eq", "value": "ann"}, [0]),
        ({"field": "user", "op": "ne", "value": "ann"}, [1, 3]),  # a missing user matches nothing
        ({"field": "output_tokens", "op": "gt", "value": 10}, [1, 2]),
        ({"field": "output_tokens", "op": "ge", "value": 10}, [0, 1, 2]),
        ({"field": "output_tokens", "op": "lt", "value": 50}, [0]),
        ({"field": "output_tokens", "op": "le", "value": 50}, [0, 2]),
        ({"field": "user", "op": "in", "value": ["bob", "zed"]}, [1]),
        ({"field": "user", "op": "not-in", "value": ["bob"]}, [0, 3]),
        ({"field": "user", "op": "glob", "value": "ann*"}, [0, 3]),
        ({"field": "user", "op": "regex", "value": "-bot$"}, [3]),
        ({"field": "user", "op": "absent"}, [2]),
        ({"field": "output_tokens", "op": "present"}, [0, 1, 2]),
        ({"field": "prompt_tokens", "op": "ge", "value": 2000}, [1]),
        ({"field": "tags.tier", "op": "eq", "value": "gold"}, [0]),
        (
            [
                {"field": "user", "op": "present"},
                {"field": "input_tokens", "op": "lt", "value": 500},
            ],
            [0, 3],
        ),
        (
            {
                "any": [
                    {"field": "user", "op": "eq", "value": "bob"},
                    {"field": "user", "op": "absent"},
                ]
            },
            [1, 2],
        ),
        (
            {
                "or": [
                    {"field": "user", "op": "eq", "value": "bob"},
                    {"field": "user", "op": "absent"},
                ]
            },
            [1, 2],
        ),
        ({"not": {"field": "user", "op": "glob", "value": "ann*"}}, [1, 2]),
        (None, [0, 1, 2, 3]),
    ],
)
def test_where_operators(spec: object, expected: list[int]) -> None:
    assert matches(spec) == expected


def test_glob_translation() -> None:
    assert glob_to_regex("proto-*") == "^proto\\-.*$"
    assert glob_to_regex("key-?[0-9]") == "^key\\-.[0-9]$"


GOOD = """\
id: my-rule
title: Mine
severity: low
detector: filter
recommendation: "{subject}: {records}"
"""

BAD_RULES = {
    "missing title": (GOOD.replace("title: Mine\n", ""), 1, "'title' is required"),
    "bad severity": (
        GOOD.replace("severity: low", "severity: urgent"),
        1,
        "severity must be one of low, medium, high",
    ),
    "unknown detector": (
        GOOD.replace("detector: filter", "detector: psychic"),
        1,
        "unknown detector 'psychic'",
    ),
    "bad id": (GOOD.replace("id: my-rule", "id: My Rule"), 1, "must be kebab-case"),
    "unknown key": (GOOD + "enabeld: true\n", 1, "unknown key(s) enabeld"),
    "unknown param": (
        GOOD + "params: {factr: 2}\n",
        6,
        "unknown param(s) factr for detector filter",
    ),
    "param type": (
        GOOD.replace("detector: filter", "detector: context-bloat") + "params: {factor: high}\n",
        6,
        "params.factor must be a number",
    ),
    "placeholder": (GOOD.replace("{records}", "{savngs}"), 1, "unknown placeholder(s) {savngs}"),
    "where field": (
        GOOD + "where:\n  - {field: usr, op: eq, value: x}\n",
        7,
        "where: unknown field 'usr'",
    ),
    "where op": (
        GOOD + "where:\n  - {field: user, op: equals, value: x}\n",
        7,
        "unknown or missing op 'equals'",
    ),
    "where no op": (
        GOOD + "where:\n  - {field: user, value: x}\n",
        7,
        "unknown or missing op None",
    ),
    "where type": (
        GOOD + "where:\n  - {field: user, op: gt, value: 3}\n",
        7,
        "'gt' compares numbers but user is text",
    ),
    "where regex": (
        GOOD + "where:\n  - {field: user, op: regex, value: '(unclosed'}\n",
        7,
        "invalid regex",
    ),
    "where empty": (GOOD + "where: []\n", 1, "an empty list matches nothing"),
    "yaml": ("id: [x\n", 2, "invalid YAML"),
}


@pytest.mark.parametrize("name", sorted(BAD_RULES))
def test_bad_rules_fail_with_file_line_and_reason(tmp_path: Path, name: str) -> None:
    text, line, message = BAD_RULES[name]
    path = write(tmp_path / "rules" / "r.yaml", text)
    rules, errors = check_rules([path.parent], include_bundled=False)
    assert rules == []
    [error] = errors
    assert (error.path, error.line) == (str(path), line)
    assert message in error.message
    with pytest.raises(ConfigError):
        load_rules([path.parent], include_bundled=False)


def test_check_lists_every_problem_and_team_rules_override_bundled(tmp_path: Path) -> None:
    folder = tmp_path / "team"
    write(folder / "a.yaml", GOOD.replace("severity: low", "severity: nope"))
    write(folder / "b.yaml", GOOD.replace("detector: filter", "detector: nope"))
    write(
        folder / "c.yaml",
        GOOD.replace("id: my-rule", "id: stale-key").replace("title: Mine", "title: Ours"),
    )
    write(folder / "d.yaml", GOOD.replace("id: my-rule", "id: stale-key"))
    rules, errors = check_rules([folder])
    assert len(errors) == 3  # a, b, and the duplicate id d
    assert "also defined in" in errors[2].message
    ours = {r.id: r for r in rules}["stale-key"]
    assert ours.title == "Ours"  # a team's rule replaces the bundled one with the same id


def test_rules_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["rules", "list"])
    assert result.exit_code == 0
    assert "stale-key" in result.stdout
    assert runner.invoke(app, ["rules", "check"]).stdout.startswith("ok: 7 rules")
    bad = write(tmp_path / "r" / "x.yaml", GOOD.replace("severity: low", "severity: urgent"))
    result = runner.invoke(app, ["rules", "check", "--rules", str(bad.parent)])
    assert result.exit_code == 2
    assert f"{bad}:1: severity must be one of" in result.stderr
    disabled = write(
        tmp_path / "off" / "x.yaml",
        GOOD.replace("id: my-rule", "id: retry-storm") + "enabled: false\n",
    )
    result = runner.invoke(app, ["rules", "list", "--rules", str(disabled.parent)])
    assert "retry-storm" not in result.stdout
