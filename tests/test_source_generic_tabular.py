"""mapped-log: tokaudit's generic CSV, and CSV/JSONL logs mapped in tokaudit.yaml."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import audit.sources.generic_tabular  # noqa: F401  (registers the adapter)
from audit.config import ColumnMapping, Config, load_config
from audit.ingest import ingest
from audit.sources import ReadOptions, detect_path
from audit.sources.generic_tabular import is_content_name, split_metadata
from audit.store import Store

from conftest import FIXTURES, load, write

GENERIC = FIXTURES / "sources" / "mapped-log" / "generic-requests.csv"
PROXY_CSV = FIXTURES / "mapped" / "billing-proxy.csv"
PROXY_JSONL = FIXTURES / "mapped" / "proxy-log.jsonl"
NAME = "mapped-log"

BILLING_PROXY = ColumnMapping(
    name="billing-proxy",
    provider="OpenAI",
    input_includes_cached=True,
    columns={
        "timestamp": "ts",
        "model": "model_name",
        "input_tokens": "tokens_in",
        "cached_input_tokens": "tokens_cached",
        "output_tokens": "tokens_out",
        "user": "caller",
        "cost_usd": "spend",
    },
)
PROXY_JSONL_MAPPING = ColumnMapping(
    name="proxy-jsonl",
    provider="anthropic",
    columns={
        "timestamp": "when",
        "model": "engine",
        "input_tokens": "usage.in",
        "output_tokens": "usage.out",
        "request_id": "rid",
    },
)
MAPPED = ReadOptions(config=Config(mappings=(BILLING_PROXY, PROXY_JSONL_MAPPING)))


def by_line(
    path: Path, options: ReadOptions | None = None
) -> tuple[dict[int, dict], dict[int, str]]:
    rows, rejects = load(NAME, path, options)
    return (
        {r["source_line"]: r for r in rows.to_dicts()},
        {r["source_line"]: r["reason"] for r in rejects.to_dicts()},
    )


# --------------------------------------------------------------------------- generic CSV


def test_generic_csv_detected_by_content(tmp_path: Path) -> None:
    assert detect_path(write(tmp_path / "log.dat", GENERIC.read_bytes())).adapter.name == NAME


def test_generic_csv_rows_use_the_generic_jsonl_conventions() -> None:
    rows, _ = by_line(GENERIC)
    assert sorted(rows) == [2, 3, 6]
    first = rows[2]
    assert first["record_id"] == "chatcmpl-csv-1"
    assert first["ts"] == datetime(2026, 6, 3, 9, 12, 44, 123000, tzinfo=UTC)
    assert (first["provider"], first["model_raw"], first["service_tier"]) == (
        "openai",
        "gpt-4o-2024-08-06",
        "batch",
    )
    assert (
        first["input_tokens"],
        first["cached_input_tokens"],
        first["output_tokens"],
        first["reasoning_tokens"],
    ) == (496, 1024, 210, 64)
    assert first["api_key"] == "sk-proj-…3456"  # a full-looking secret is masked
    expected = {
        "key_name": "prod-backend",
        "user": "alice",
        "team": "web",
        "purpose": "summarize",  # from the metadata column
        "session_id": "s-1",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 812.5,
        "outcome": "accepted",
        "granularity": "request",
    }
    assert {k: first[k] for k in expected} == expected
    assert first["reported_cost_usd"] == Decimal("0.0042")
    assert json.loads(first["tags"]) == {"region": "eu-west-1", "ticket": "T-1"}

    limited = rows[3]
    assert limited["ts"] == datetime(2026, 6, 3, 9, 0, tzinfo=UTC)  # epoch seconds
    assert (limited["status"], limited["http_status"], limited["error_type"]) == (
        "error",
        429,
        "rate_limit",
    )

    bare = rows[6]
    assert bare["ts"] == datetime(2026, 6, 3, 8, 2, tzinfo=UTC)  # +02:00 converted
    assert (bare["user"], bare["team"], bare["provider"]) == ("dana", "finance", None)
    assert bare["record_id"].startswith("mapped-log|")  # no id: the pipeline's content key


def test_generic_csv_rejections() -> None:
    _, rejects = by_line(GENERIC)
    assert rejects == {
        4: "input_tokens: 'abc' is not a whole number",
        5: "cache_write_1h_tokens exceeds cache_write_tokens",
    }


def test_generic_csv_never_loads_content() -> None:
    rows, rejects = load(NAME, GENERIC)
    assert "SECRET-PROMPT-CSV" not in rows.write_json() + rejects.write_json()


# ------------------------------------------------------------------------ mapped files


def test_mapped_files_need_their_mapping(tmp_path: Path) -> None:
    for fixture in (PROXY_CSV, PROXY_JSONL):
        neutral = write(tmp_path / "data.txt", fixture.read_bytes())
        assert detect_path(neutral).adapter is None  # no config: nobody recognises it
        detection = detect_path(neutral, MAPPED)
        assert detection.adapter.name == NAME
        assert [n for n, score in detection.scores if score >= 0.5] == [NAME]


def test_mapped_csv_row_by_row() -> None:
    rows, rejects = by_line(PROXY_CSV, MAPPED)
    assert sorted(rows) == [2, 5]
    first = rows[2]
    assert first["ts"] == datetime(2026, 6, 4, 8, 0, tzinfo=UTC)
    assert (first["provider"], first["model_raw"], first["user"]) == (
        "openai",  # the mapping's provider, lower-cased
        "gpt-4o-2024-08-06",
        "alice",
    )
    # input_includes_cached: the uncached input is tokens_in − tokens_cached
    assert (first["input_tokens"], first["cached_input_tokens"], first["output_tokens"]) == (
        496,
        1024,
        210,
    )
    assert first["reported_cost_usd"] == Decimal("0.0051")
    assert first["team"] == "support"  # an unmapped "department" column is a team key
    assert json.loads(first["tags"]) == {"mapping": "billing-proxy", "node": "proxy-1"}
    assert (rows[5]["input_tokens"], rows[5]["cached_input_tokens"]) == (300, None)
    assert rejects == {
        3: "tokens_cached (50) exceeds tokens_in (10)",
        4: "tokens_in: 'ten' is not a whole number",  # the user's own column name
    }


def test_mapped_csv_never_reads_content_columns() -> None:
    rows, _ = load(NAME, PROXY_CSV, MAPPED)
    assert "SECRET-PROMPT-MAPPED" not in rows.write_json()
    assert all("request_body" not in (t or "") for t in rows["tags"])


def test_mapped_jsonl_row_by_row() -> None:
    rows, rejects = by_line(PROXY_JSONL, MAPPED)
    [row] = rows.values()
    assert (row["record_id"], row["source_line"]) == ("r-1", 1)
    assert row["ts"] == datetime(2026, 6, 5, 12, tzinfo=UTC)  # key "When" matched as "when"
    assert (row["provider"], row["model_raw"]) == ("anthropic", "claude-haiku-4-5-20251001")
    assert (row["input_tokens"], row["output_tokens"]) == (10, 5)  # nested usage.in / usage.out
    assert (row["team"], row["environment"]) == ("ops", "prod")  # metadata team; "env" key
    assert json.loads(row["tags"]) == {"host": "web-3", "mapping": "proxy-jsonl", "ticket": "X-9"}
    assert "SECRET-PROMPT-JSONL" not in json.dumps(list(rows.values()), default=str)
    assert rejects == {
        2: "usage.in: 'x' is not a whole number",
        3: "field 'usage.out' is an object, expected a single value",
        4: "line is not a JSON object",
    }


def test_the_most_specific_mapping_wins(tmp_path: Path) -> None:
    loose = ColumnMapping(
        name="loose",
        columns={"timestamp": "ts", "model": "model_name", "output_tokens": "tokens_out"},
        granularity="aggregate",
    )
    options = ReadOptions(config=Config(mappings=(loose, BILLING_PROXY)))
    rows, _ = by_line(PROXY_CSV, options)
    assert json.loads(rows[2]["tags"])["mapping"] == "billing-proxy"
    only_loose = ReadOptions(config=Config(mappings=(loose,)))
    rows, rejects = by_line(PROXY_CSV, only_loose)
    assert rejects == {}
    row = rows[2]
    assert (row["granularity"], row["input_tokens"], row["output_tokens"]) == (
        "aggregate",
        None,
        210,
    )
    assert json.loads(row["tags"])["tokens_in"] == "1520"  # unmapped: kept as a tag


def test_a_mapping_wins_over_generic_jsonl(tmp_path: Path) -> None:
    line = {"timestamp": "2026-06-05T12:00:00Z", "model": "gpt-4o", "input_tokens": 3,
            "output_tokens": 4, "tier_code": "gold"}  # fmt: skip
    path = write(tmp_path / "log.jsonl", json.dumps(line) + "\n")
    assert detect_path(path).adapter.name == "generic-jsonl"
    mine = ColumnMapping(
        name="mine",
        columns={"timestamp": "timestamp", "model": "model", "input_tokens": "input_tokens",
                 "output_tokens": "output_tokens", "service_tier": "tier_code"},
    )  # fmt: skip
    assert detect_path(path, ReadOptions(config=Config(mappings=(mine,)))).adapter.name == NAME


def test_mapping_from_tokaudit_yaml_end_to_end(tmp_path: Path, store: Store) -> None:
    config = load_config(
        write(
            tmp_path / "tokaudit.yaml",
            """\
mappings:
  - name: billing-proxy
    provider: openai
    input_includes_cached: true
    columns: {timestamp: ts, model: model_name, input_tokens: tokens_in,
              cached_input_tokens: tokens_cached, output_tokens: tokens_out, user: caller}
""",
        )
    )
    folder = tmp_path / "logs"
    write(folder / "proxy.csv", PROXY_CSV.read_bytes())
    write(folder / "generic.csv", GENERIC.read_bytes())
    summary = ingest([folder], store, options=ReadOptions(config=config))
    assert {
        Path(f.path).name: (f.format, f.rows_loaded, f.rows_rejected) for f in summary.files
    } == {
        "proxy.csv": (NAME, 2, 2),
        "generic.csv": (NAME, 3, 2),
    }
    stored = store.scan().collect()
    proxy = stored.filter(pl.col("tags").str.contains('"mapping":"billing-proxy"'))
    assert proxy.height == 2
    assert set(proxy["model"]) == {"gpt-4o", "gpt-4o-mini"}


# ------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("prompt", True),
        ("messages", True),
        ("request_body", True),
        ("responseText", True),
        ("output", True),
        ("prompt_tokens", False),
        ("response_time_ms", False),
        ("request_id", False),
        ("team", False),
        ("node", False),
    ],
)
def test_content_names(name: str, content: bool) -> None:
    assert is_content_name(name) is content


def test_split_metadata() -> None:
    frame = pl.DataFrame(
        {
            "m": [
                json.dumps({"Team": "a", "department": "b", "user:project": "p", "x": 1}),
                json.dumps({"prompt": "secret", "long": "y" * 300, "mapping": "z", "n": {"k": 1}}),
                "not json",
                None,
            ]
        }
    )
    lookup = Config().attribution_lookup()
    out = split_metadata(frame, "m", lookup, reserved={"mapping"}, strip_prefixes=("user:",))
    rows = out.to_dicts()
    assert (rows[0]["meta.team"], rows[0]["meta.project"]) == ("a", "p")  # team before department
    assert json.loads(rows[0]["meta.rest"]) == {"department": "b", "x": 1}
    assert json.loads(rows[1]["meta.rest"]) == {
        "long": "<omitted: 300 chars>",
        "metadata.mapping": "z",
        "n": {"k": 1},
    }
    assert json.loads(rows[2]["meta.rest"]) == {"metadata": "not json"}
    assert rows[3]["meta.rest"] is None
    assert rows[3]["meta.team"] is None
