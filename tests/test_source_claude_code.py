"""Claude Code transcripts: usage lines only, ccusage's dedup rule, and a whole projects tree."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import audit.sources.claude_code  # noqa: F401  (registers the adapter)
from audit.ingest import ingest
from audit.sources import MIN_SCORE, SOURCES, ReadOptions, Sample, detect_path
from audit.store import Store

from conftest import FIXTURES, load, write

FOLDER = FIXTURES / "sources" / "claude-code"
SESSION_FILE = FOLDER / "session.jsonl"
AGENT_FILE = FOLDER / "agent-a1b2c3.jsonl"
SESSION = "5f1c2d3e-1111-4222-8333-444455556666"
SECRET = "SECRET-PROMPT-CLAUDE-CODE"
NAME = "claude-code"


def by_line(path: Path) -> tuple[dict[int, dict], dict[int, str]]:
    rows, rejects = load(NAME, path)
    return (
        {r["source_line"]: r for r in rows.to_dicts()},
        {r["source_line"]: r["reason"] for r in rejects.to_dicts()},
    )


def assistant(msg_id: str | None, request: str | None, output: int, **extra: object) -> str:
    line: dict = {
        "type": "assistant",
        "sessionId": "s-1",
        "uuid": f"u-{msg_id}-{output}",
        "timestamp": "2026-06-02T09:00:00Z",
        "cwd": "/work/repo",
        "message": {
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": SECRET}],
            "usage": {"input_tokens": 10, "output_tokens": output},
        },
    }
    if msg_id is not None:
        line["message"]["id"] = msg_id
    if request is not None:
        line["requestId"] = request
    line.update(extra)
    return json.dumps(line)


@pytest.mark.parametrize("fixture", [SESSION_FILE, AGENT_FILE], ids=lambda p: p.name)
def test_detected_by_content_and_not_as_generic_jsonl(fixture: Path, tmp_path: Path) -> None:
    neutral = write(tmp_path / "log.txt", fixture.read_bytes())
    assert detect_path(neutral).adapter.name == NAME
    assert SOURCES.get("generic-jsonl").sniff(Sample.of(neutral)) < MIN_SCORE


def test_generic_jsonl_is_not_a_transcript() -> None:
    generic = FIXTURES / "sources" / "generic-jsonl" / "mixed-shapes.jsonl"
    assert SOURCES.get(NAME).sniff(Sample.of(generic)) < MIN_SCORE


def test_transcript_whose_first_line_exceeds_the_sniff_window(tmp_path: Path) -> None:
    huge_user = json.dumps(
        {
            "parentUuid": None,
            "isSidechain": False,
            "userType": "external",
            "cwd": "/work/repo",
            "sessionId": "s-1",
            "type": "user",
            "message": {"role": "user", "content": "x" * 100_000},
            "uuid": "u-0",
        }
    )
    path = write(tmp_path / "s.jsonl", huge_user + "\n" + assistant("msg_1", "req_1", 5) + "\n")
    assert detect_path(path).adapter.name == NAME
    rows, rejects = by_line(path)
    assert (list(rows), rejects) == ([2], {})


def test_usage_rows_map_to_canonical_values() -> None:
    rows, _ = by_line(SESSION_FILE)
    assert sorted(rows) == [6, 9, 10, 13]

    first = rows[6]
    assert first["record_id"] == "msg_01AAA:req_011AAA"
    assert first["ts"] == datetime(2026, 6, 2, 9, 0, 7, 500000, tzinfo=UTC)
    assert (first["provider"], first["model_raw"], first["service_tier"]) == (
        "anthropic",
        "claude-opus-4-6",
        "standard",
    )
    # Anthropic convention: input excludes cache reads and writes; 1h writes split out
    assert (
        first["input_tokens"],
        first["cached_input_tokens"],
        first["cache_write_tokens"],
        first["cache_write_1h_tokens"],
        first["output_tokens"],
        first["reasoning_tokens"],
    ) == (4, 21000, 1534, 1534, 312, None)
    assert (first["project"], first["session_id"], first["app"], first["user"]) == (
        "myapp",
        SESSION,
        "claude-code",
        None,
    )
    assert (first["status"], first["reported_cost_usd"], first["requests"]) == ("ok", None, 1)
    assert json.loads(first["tags"]) == {
        "cwd": "/Users/alice/src/myapp",
        "entrypoint": "cli",
        "git_branch": "main",
        "is_sidechain": False,
        "user_type": "external",
        "version": "2.1.63",
    }

    priced = rows[9]
    assert priced["reported_cost_usd"] == Decimal("0.0123")  # costUSD, exactly
    assert (priced["cache_write_tokens"], priced["cache_write_1h_tokens"]) == (100, None)
    assert json.loads(priced["tags"])["speed"] == "fast"

    synthetic = rows[10]
    assert synthetic["record_id"] == "0f0e0d0c-synthetic-id"  # no requestId: message.id alone
    assert (synthetic["model_raw"], synthetic["status"]) == ("<synthetic>", "error")
    assert synthetic["reported_cost_usd"] == Decimal(0)  # never sent to the API: never billed
    assert synthetic["output_tokens"] == 0

    assert rows[13]["record_id"] == "msg_01DDD"


def test_streamed_duplicates_keep_one_row_the_final_one() -> None:
    rows, _ = by_line(SESSION_FILE)
    kept = [r for r in rows.values() if r["record_id"] == "msg_01AAA:req_011AAA"]
    # lines 4 (thinking, output 5), 5 (text, output 312) and 6 (tool_use, output 312):
    # the partial line loses on size, and of the two equal totals the later line wins
    assert len(kept) == 1
    assert (kept[0]["source_line"], kept[0]["output_tokens"]) == (6, 312)


def test_dedup_rule_largest_total_then_latest_line(tmp_path: Path) -> None:
    lines = [
        assistant("msg_A", "req_A", 300),  # 1: final written first
        assistant("msg_A", "req_A", 2),  # 2: a later, partial copy: loses on size
        assistant("msg_B", "req_B", 7),  # 3
        assistant("msg_B", "req_B", 7),  # 4: tie: the later line wins
        assistant("msg_B", "req_OTHER", 1),  # 5: another request id: another key
        assistant("msg_C", None, 4),  # 6: no requestId: keyed on message.id alone
        assistant("msg_C", None, 9),  # 7
        assistant(None, "req_D", 3),  # 8: no message id: never merged
        assistant(None, "req_D", 3),  # 9
    ]
    path = write(tmp_path / "s.jsonl", "\n".join(lines) + "\n")
    rows, rejects = by_line(path)
    assert rejects == {}
    assert sorted(rows) == [1, 4, 5, 7, 8, 9]
    assert {n: (rows[n]["record_id"], rows[n]["output_tokens"]) for n in (1, 4, 5, 7)} == {
        1: ("msg_A:req_A", 300),
        4: ("msg_B:req_B", 7),
        5: ("msg_B:req_OTHER", 1),
        7: ("msg_C", 9),
    }
    # no message id: both kept, each with its own content key from the pipeline
    assert rows[8]["record_id"] != rows[9]["record_id"]


def test_dedup_works_across_read_chunks(tmp_path: Path) -> None:
    lines = [assistant("msg_A", "req_A", n) for n in (5, 40, 40, 12)] + [assistant("msg_Z", "r", 1)]
    path = write(tmp_path / "s.jsonl", "\n".join(lines) + "\n")
    # 200-byte blocks: every line arrives in its own chunk, the dedup still sees them all
    [frame] = SOURCES.get(NAME).read(path, ReadOptions(chunk_bytes=200))
    rows = frame.collect()
    assert rows.filter(pl.col("record_id") == "msg_A:req_A")["source_line"].to_list() == [3]
    assert rows.height == 2


def test_only_assistant_usage_lines_are_rows_and_the_rest_is_skipped_silently() -> None:
    _, rejects = by_line(SESSION_FILE)
    # summary, snapshot, user (mentioning "usage" and "assistant"), progress, system: no rejects
    assert rejects == {
        12: "message.usage.output_tokens: 'many' is not a whole number",
        14: "invalid JSON at column 746: Expecting ',' delimiter",  # the session being written
    }


def test_lines_that_cannot_be_usage_are_never_decoded(tmp_path: Path) -> None:
    lines = [
        '{"type": "file-history-snapshot", "snapshot": {broken',  # not JSON, but not usage
        '{"type": "user", "sessionId": "s", "message": "a string where an object would be"}',
        assistant("msg_1", "req_1", 3),
    ]
    path = write(tmp_path / "s.jsonl", "\n".join(lines) + "\n")
    rows, rejects = by_line(path)
    assert (list(rows), rejects) == ([3], {})


def test_prompt_text_is_never_loaded() -> None:
    for path in (SESSION_FILE, AGENT_FILE):
        rows, rejects = load(NAME, path)
        text = rows.write_json() + rejects.write_json()
        assert SECRET not in text
        assert "999999" not in text  # the usage inside a user line's tool result is not usage


def test_subagent_transcript() -> None:
    rows, rejects = by_line(AGENT_FILE)
    assert rejects == {}
    sub = rows[2]
    assert (sub["record_id"], sub["session_id"], sub["project"]) == (
        "msg_01SUB:req_011SUB",
        SESSION,
        "myapp",
    )
    tags = json.loads(sub["tags"])
    assert (tags["is_sidechain"], tags["agent_id"]) == (True, "a1b2c3")
    # Claude Code running on Bedrock writes the Bedrock model id: billed by Bedrock
    bedrock = rows[3]
    assert (bedrock["provider"], bedrock["model_raw"]) == (
        "bedrock",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
    )


def test_ingest_a_claude_projects_folder(tmp_path: Path, store: Store) -> None:
    projects = tmp_path / ".claude" / "projects"
    project = projects / "-Users-alice-src-myapp"
    write(project / f"{SESSION}.jsonl", SESSION_FILE.read_bytes())
    subagents = project / SESSION / "subagents"
    subagents.mkdir(parents=True)
    shutil.copy(AGENT_FILE, subagents / "agent-a1b2c3.jsonl")
    # a resumed session repeats earlier messages in its own file
    repeated = SESSION_FILE.read_text().splitlines()[4]  # line 5: msg_01AAA, output 312
    other = projects / "-Users-alice-src-other"
    write(other / "9e9e9e9e.jsonl", repeated + "\n" + assistant("msg_new", "req_new", 8) + "\n")

    summary = ingest([projects], store)
    results = {Path(f.path).name: f for f in summary.files}
    assert {n: (f.status, f.format) for n, f in results.items()} == {
        f"{SESSION}.jsonl": ("loaded", NAME),
        "agent-a1b2c3.jsonl": ("loaded", NAME),
        "9e9e9e9e.jsonl": ("loaded", NAME),
    }
    session = results[f"{SESSION}.jsonl"]
    assert (session.rows_loaded, session.rows_rejected) == (4, 2)
    assert results["agent-a1b2c3.jsonl"].rows_loaded == 2
    resumed = results["9e9e9e9e.jsonl"]
    assert (resumed.rows_loaded, resumed.rows_duplicate) == (1, 1)

    stored = store.scan().collect()
    assert stored.height == 7
    assert stored["record_id"].n_unique() == 7
    opus = stored.filter(stored["record_id"] == "msg_01AAA:req_011AAA").to_dicts()[0]
    assert (opus["model"], opus["output_tokens"]) == ("claude-opus-4-6", 312)
