"""Bedrock model invocation logs: JSON lines, gzip S3 objects, pretty-printed records."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import audit.sources.bedrock  # noqa: F401  (registers the adapter)
from audit.config import DEFAULT_ATTRIBUTION, Config
from audit.ingest import ingest
from audit.sources import ReadOptions, detect_path
from audit.store import Store

from conftest import FIXTURES, load, write

FOLDER = FIXTURES / "sources" / "bedrock-invocation-log"
LOG = FOLDER / "invocations.jsonl"
GZ = FOLDER / "us-east-1_2026-06-04T08.json.gz"
PRETTY = FOLDER / "single-record.json"
SECRET = "SECRET-PROMPT-BEDROCK"
NAME = "bedrock-invocation-log"


def by_line(
    path: Path, options: ReadOptions | None = None
) -> tuple[dict[int, dict], dict[int, str]]:
    rows, rejects = load(NAME, path, options)
    return (
        {r["source_line"]: r for r in rows.to_dicts()},
        {r["source_line"]: r["reason"] for r in rejects.to_dicts()},
    )


def record(**fields: object) -> dict:
    base: dict = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-06-06T10:00:00Z",
        "requestId": "req-x",
        "modelId": "amazon.nova-lite-v1:0",
        "input": {"inputTokenCount": 5},
        "output": {"outputTokenCount": 6},
    }
    base.update(fields)
    return base


@pytest.mark.parametrize("fixture", [LOG, GZ, PRETTY], ids=lambda p: p.name)
def test_detected_by_content(fixture: Path, tmp_path: Path) -> None:
    neutral = write(tmp_path / "object", fixture.read_bytes())
    assert detect_path(neutral).adapter.name == NAME


def test_rows_map_to_canonical_values() -> None:
    rows, _ = by_line(LOG)
    assert sorted(rows) == [1, 2, 3, 4, 5]

    first = rows[1]
    assert first["record_id"] == "ff4b6c63-5561-4431-93b8-06a817275900"
    assert first["ts"] == datetime(2026, 6, 3, 9, 15, 2, tzinfo=UTC)
    assert (first["provider"], first["model_raw"]) == (
        "bedrock",
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
    )
    # inputTokenCount excludes the cache: it is the uncached input as is
    assert (
        first["input_tokens"],
        first["cached_input_tokens"],
        first["cache_write_tokens"],
        first["cache_write_1h_tokens"],
        first["output_tokens"],
    ) == (1500, 1024, 0, None, 38)
    # the metadata's user would win; here the role/session part of the assumed-role ARN
    assert first["user"] == "support-bot-role/alice@example.com"
    assert (first["team"], first["project"]) == ("engineering", "helpdesk")
    assert first["latency_ms"] == 302
    assert (first["status"], first["error_type"], first["granularity"]) == ("ok", None, "request")
    assert json.loads(first["tags"]) == {
        "account_id": "123456789012",
        "identity_arn": "arn:aws:sts::123456789012:assumed-role/support-bot-role/alice@example.com",
        "inference_region": "us-west-2",
        "operation": "Converse",
        "region": "us-east-1",
        "stop_reason": "end_turn",
        "costCentre": "CC-1234",
        "metadata.region": "emea",  # a metadata key never overwrites one of ours
    }

    invoke = rows[2]
    assert invoke["user"] == "bob"  # arn:aws:iam::…:user/bob
    # the 1-hour part of the cache writes, read from the Anthropic response body's usage
    assert (invoke["cache_write_tokens"], invoke["cache_write_1h_tokens"]) == (3000, 2000)
    assert (invoke["output_tokens"], invoke["latency_ms"]) == (512, None)
    assert json.loads(invoke["tags"])["stop_reason"] == "max_tokens"

    stream = rows[3]  # its output body is a list of stream events: read, not rejected
    assert (stream["input_tokens"], stream["output_tokens"], stream["latency_ms"]) == (80, 7, None)
    assert (stream["user"], stream["purpose"]) == ("carol", "nightly-batch")

    throttled = rows[4]
    assert (throttled["status"], throttled["error_type"]) == ("error", "ThrottlingException")
    assert throttled["input_tokens"] is None
    assert throttled["output_tokens"] is None
    assert throttled["user"] == "batch-role/job-42"

    invalid = rows[5]
    assert (invalid["status"], invalid["error_type"]) == ("error", "ValidationException")


def test_every_rejection_has_its_line_and_reason() -> None:
    _, rejects = by_line(LOG)
    assert rejects == {
        6: "input.inputTokenCount: 'lots' is not a whole number",
        7: "invalid JSON at column 59: Expecting ',' delimiter",
        8: "missing timestamp",
        9: "field 'input' is a string, expected an object",
    }


def test_prompt_and_answer_text_are_never_loaded(tmp_path: Path) -> None:
    for path in (LOG, GZ, PRETTY):
        rows, rejects = load(NAME, path)
        assert SECRET not in rows.write_json() + rejects.write_json()
    # not even an error message that quotes the input
    assert "too long" not in load(NAME, LOG)[0].write_json()


def test_body_shapes_never_reject_a_row(tmp_path: Path) -> None:
    odd = [
        record(
            requestId="r-1",
            input={"inputBodyJson": [SECRET, {"a": [[1]]}], "inputTokenCount": 5},
            output={"outputBodyJson": {"metrics": [SECRET], "usage": "n/a"}, "outputTokenCount": 6},
        ),
        record(
            requestId="r-2",
            output={"outputBodyJson": {"metrics": {"latencyMs": "fast"}}, "outputTokenCount": 6},
        ),
        record(requestId="r-3", output={"outputBodyJson": SECRET, "outputTokenCount": 6}),
        record(
            requestId="r-4",
            input={"inputTokenCount": 5, "cacheWriteInputTokenCount": 10},
            # a 1-hour part larger than the writes is ignored rather than rejecting the row
            output={
                "outputBodyJson": {"usage": {"cache_creation": {"ephemeral_1h_input_tokens": 99}}},
                "outputTokenCount": 6,
            },
        ),
    ]
    path = write(tmp_path / "odd.jsonl", "".join(json.dumps(r) + "\n" for r in odd))
    rows, rejects = by_line(path)
    assert rejects == {}
    assert [rows[n]["record_id"] for n in (1, 2, 3, 4)] == ["r-1", "r-2", "r-3", "r-4"]
    assert all(rows[n]["latency_ms"] is None for n in (1, 2, 3))
    assert (rows[4]["cache_write_tokens"], rows[4]["cache_write_1h_tokens"]) == (10, None)
    assert SECRET not in pl.DataFrame(list(rows.values())).write_json()


def test_gzip_s3_object_is_read_transparently() -> None:
    rows, rejects = by_line(GZ)
    assert rejects == {}
    assert [rows[1]["record_id"], rows[2]["record_id"]] == [
        "aaaa0000-0000-4000-8000-00000000000a",
        "aaaa0000-0000-4000-8000-00000000000b",
    ]
    assert (rows[1]["input_tokens"], rows[1]["output_tokens"], rows[1]["latency_ms"]) == (
        10,
        20,
        120,
    )
    assert (rows[1]["team"], rows[2]["team"]) == ("growth", None)
    assert rows[2]["ts"] == datetime(2026, 6, 4, 8, 0, 5, tzinfo=UTC)


def test_truncated_gzip_keeps_the_records_before_the_damage(tmp_path: Path) -> None:
    lines = "".join(json.dumps(record(requestId=f"r-{i}")) + "\n" for i in range(200))
    packed = gzip.compress(lines.encode(), mtime=0)
    path = write(tmp_path / "cut.json.gz", packed[: len(packed) * 2 // 3])
    assert detect_path(path).adapter.name == NAME
    rows, rejects = by_line(path)
    assert 0 < len(rows) < 200
    assert list(rejects.values())[-1] == "compressed stream ends early (truncated file?)"


def test_pretty_printed_records() -> None:
    rows, rejects = by_line(PRETTY)
    assert rejects == {}
    [row] = rows.values()
    assert (row["record_id"], row["source_line"], row["user"]) == (
        "bbbb0000-0000-4000-8000-00000000000c",
        1,
        "root",
    )
    assert (row["input_tokens"], row["output_tokens"]) == (42, 17)


@pytest.mark.parametrize("layout", ["array", "concatenated"])
def test_several_pretty_printed_records_are_numbered_by_position(
    layout: str, tmp_path: Path
) -> None:
    records = [record(requestId="p-1"), record(requestId="p-2", input="broken")]
    if layout == "array":
        text = json.dumps(records, indent=2)
    else:
        text = "\n".join(json.dumps(r, indent=2) for r in records)
    path = write(tmp_path / "records.json", text + "\n")
    assert detect_path(path).adapter.name == NAME
    rows, rejects = by_line(path)
    assert {n: r["record_id"] for n, r in rows.items()} == {1: "p-1"}
    assert rejects == {2: "field 'input' is a string, expected an object"}


def test_damaged_pretty_printed_file_keeps_the_records_before_the_damage(tmp_path: Path) -> None:
    first = json.dumps(record(requestId="ok-1"), indent=2)
    path = write(tmp_path / "records.json", first + "\n" + '{\n  "requestId": \n')
    rows, rejects = by_line(path)
    assert [r["record_id"] for r in rows.values()] == ["ok-1"]
    damage = first.count("\n") + 4  # the line after '"requestId":' (the file's end)
    assert rejects == {2: f"invalid JSON at line {damage} column 1: Expecting value"}


def test_metadata_keys_follow_the_configured_attribution() -> None:
    config = Config(attribution={**DEFAULT_ATTRIBUTION, "team": ("costcentre",)})
    rows, _ = by_line(LOG, ReadOptions(config=config))
    first = rows[1]
    assert first["team"] == "CC-1234"
    tags = json.loads(first["tags"])
    assert tags["team"] == "engineering"
    assert "costCentre" not in tags


def test_ingest_resolves_regional_profiles(tmp_path: Path, store: Store) -> None:
    summary = ingest([FOLDER], store)
    assert {Path(f.path).name: (f.status, f.rows_loaded) for f in summary.files} == {
        "invocations.jsonl": ("loaded", 5),
        "single-record.json": ("loaded", 1),
        "us-east-1_2026-06-04T08.json.gz": ("loaded", 2),
    }
    stored = store.scan().collect()
    models = dict(zip(stored["record_id"], stored["model"], strict=True))
    assert models["aaaa0000-0000-4000-8000-00000000000a"] == "claude-sonnet-4"
    assert models["bbbb0000-0000-4000-8000-00000000000c"] is not None


def test_log_with_a_damaged_first_line_is_still_read_line_by_line(tmp_path: Path) -> None:
    lines = ['{"requestId": "cut', json.dumps(record(requestId="r-2")), json.dumps(record())]
    path = write(tmp_path / "log.json", "\n".join(lines) + "\n")
    assert detect_path(path).adapter.name == NAME
    rows, rejects = by_line(path)
    assert sorted(rows) == [2, 3]
    assert list(rejects) == [1]


def test_pretty_printed_record_larger_than_the_sniff_window(tmp_path: Path) -> None:
    big = record(
        requestId="big-1",
        input={"inputBodyJson": {"messages": [SECRET * 10_000]}, "inputTokenCount": 9},
    )
    path = write(tmp_path / "record.json", json.dumps(big, indent=2) + "\n")
    assert path.stat().st_size > 64 * 1024
    assert detect_path(path).adapter.name == NAME
    rows, rejects = by_line(path)
    assert rejects == {}
    assert (rows[1]["record_id"], rows[1]["input_tokens"]) == ("big-1", 9)
    assert SECRET not in json.dumps(rows[1], default=str)
