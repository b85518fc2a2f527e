"""Claude Code session transcripts: ``~/.claude/projects/<encoded-cwd>/<sessionId>.jsonl``.

``tokaudit ingest ~/.claude/projects`` reads every session, and every subagent transcript
(``<sessionId>/subagents/agent-*.jsonl``), which has the same line format.

Only ``assistant`` lines with ``message.usage`` are usage. Every other line (``user``,
``system``, ``summary``, ``file-history-snapshot``, ``progress``, …) is skipped silently, and
lines are first filtered with a cheap literal test (they must contain ``"usage"`` and
``"assistant"``) so that huge snapshot or tool-output lines are never JSON-decoded. Only
ids, counts and settings are decoded: message content is never read.

Mapping:

* ``record_id`` = ``message.id:requestId`` (``message.id`` alone when there is no
  ``requestId``); ``ts`` = ``timestamp``; ``model_raw`` = ``message.model``.
* ``provider`` = ``anthropic``; ``bedrock`` when the model id is a Bedrock id
  (``us.anthropic.…``, ``anthropic.…``) and ``vertex`` for a Vertex id (``…@2025…``), as
  Claude Code writes when it runs on those platforms (UNVERIFIED: inferred from the id).
* Tokens follow Anthropic's convention: ``input_tokens`` excludes cache reads
  (``cache_read_input_tokens`` → ``cached_input_tokens``) and cache writes
  (``cache_creation_input_tokens`` → ``cache_write_tokens``; without it, the sum of the
  5-minute and 1-hour parts); ``cache_creation.ephemeral_1h_input_tokens`` →
  ``cache_write_1h_tokens``. ``output_tokens`` includes thinking.
* ``costUSD`` (older versions wrote it) → ``reported_cost_usd``.
* ``project`` = the last component of ``cwd`` (``/Users/alice/src/myapp`` → ``myapp``),
  readable in a report; the whole path is ``tags.cwd``. ``session_id`` = ``sessionId``.
  ``user`` stays null: a transcript is one machine's, and ``userType`` (``external``) says
  nothing about who (it is in tags). ``app`` = ``claude-code``; ``version``,
  ``gitBranch``, ``entrypoint``, ``isSidechain``, ``agentId``, ``userType``, and the usage's
  ``speed`` and ``inference_geo`` go to tags; ``usage.service_tier`` → ``service_tier``.
* ``isApiErrorMessage: true`` → ``status = error``.
* ``<synthetic>`` messages are written by Claude Code itself (API error notices,
  interruptions) and never reach the API: ``model_raw`` keeps ``<synthetic>`` and
  ``reported_cost_usd`` is exactly 0, so they count as requests (and errors) without cost
  and never show as an unpriced model in the default cost mode.

Dedup: one API response is written as several lines (one per content block) with the same
``message.id`` and ``requestId``, repeating the usage, and intermediate lines of a streamed
response may carry a partial ``output_tokens``. Within a file one row is kept per key: the
line with the largest token total (input + output + cache reads + cache writes), the later
line on a tie (ccusage's rule). The usage lines of a whole file are collected before they
are deduplicated, so memory grows with a file's assistant lines, not its size. Across files
(a resumed session repeats earlier messages in its new file) the store's ``record_id``
dedup applies: the row ingested first wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from audit.money import money_lit
from audit.normalize import ERROR_COLUMN, clean_text, gather_errors, parse_frame, tags_json
from audit.sources import source
from audit.sources.base import ReadOptions, Sample, SourceAdapter
from audit.sources.jsonlines import (
    DOC,
    LINE,
    block_lines,
    broken_stream,
    decode_objects,
    iter_line_blocks,
    text_lines,
)

S = pl.String

USAGE = pl.Struct(
    {
        "input_tokens": S,
        "output_tokens": S,
        "cache_creation_input_tokens": S,
        "cache_read_input_tokens": S,
        "cache_creation": pl.Struct(
            {"ephemeral_5m_input_tokens": S, "ephemeral_1h_input_tokens": S}
        ),
        "service_tier": S,
        "speed": S,
        "inference_geo": S,
    }
)
#: Ids, counts and settings only: ``message.content`` (the conversation) is not in the schema.
LINE_SCHEMA = pl.Struct(
    {
        "type": S,
        "timestamp": S,
        "sessionId": S,
        "requestId": S,
        "cwd": S,
        "version": S,
        "gitBranch": S,
        "entrypoint": S,
        "isSidechain": S,
        "userType": S,
        "agentId": S,
        "isApiErrorMessage": S,
        "costUSD": S,
        "message": pl.Struct({"id": S, "model": S, "usage": USAGE}),
    }
)
SYNTHETIC = "<synthetic>"
#: A usage line contains both; lines without them are never decoded.
_USAGE_NEEDLES = (b'"usage"', b'"assistant"')
_LINE_TYPES = {
    "user",
    "assistant",
    "system",
    "summary",
    "file-history-snapshot",
    "progress",
    "queue-operation",
    "attachment",
}
_HEAD_MARKERS = (
    re.compile(r'"sessionId"\s*:\s*"'),
    re.compile(r'"(parentUuid|isSidechain|userType)"\s*:'),
)
_SNAPSHOT_HEAD = re.compile(r'^\s*\{\s*"type"\s*:\s*"file-history-snapshot"')
_BEDROCK_ID = r"^((us|eu|apac|au|jp|global|us-gov)\.)?anthropic\."
_RAW = {
    "r.type": ("type",),
    "r.ts": ("timestamp",),
    "r.session": ("sessionId",),
    "r.request": ("requestId",),
    "r.cwd": ("cwd",),
    "r.version": ("version",),
    "r.branch": ("gitBranch",),
    "r.entrypoint": ("entrypoint",),
    "r.sidechain": ("isSidechain",),
    "r.user_type": ("userType",),
    "r.agent": ("agentId",),
    "r.api_error": ("isApiErrorMessage",),
    "r.cost": ("costUSD",),
    "r.msg_id": ("message", "id"),
    "r.model": ("message", "model"),
    "r.usage": ("message", "usage"),
    "r.in": ("message", "usage", "input_tokens"),
    "r.out": ("message", "usage", "output_tokens"),
    "r.cw": ("message", "usage", "cache_creation_input_tokens"),
    "r.cr": ("message", "usage", "cache_read_input_tokens"),
    "r.5m": ("message", "usage", "cache_creation", "ephemeral_5m_input_tokens"),
    "r.1h": ("message", "usage", "cache_creation", "ephemeral_1h_input_tokens"),
    "r.tier": ("message", "usage", "service_tier"),
    "r.speed": ("message", "usage", "speed"),
    "r.geo": ("message", "usage", "inference_geo"),
}


def _is_transcript_line(obj: dict[str, Any]) -> bool:
    kind = obj.get("type")
    if not isinstance(kind, str):
        return False
    if "sessionId" in obj and (
        kind in _LINE_TYPES or "message" in obj or "uuid" in obj or "parentUuid" in obj
    ):
        return True
    if kind == "summary":
        return "leafUuid" in obj
    if kind == "file-history-snapshot":
        return "snapshot" in obj
    return False


@source
class ClaudeCodeTranscript(SourceAdapter):
    """One row per Claude Code API response, from the local session transcripts (JSONL)."""

    name = "claude-code"
    title = "Claude Code local session transcripts (~/.claude/projects/**/*.jsonl)"
    granularity = "request"
    obtain = (
        "ingest the folder ~/.claude/projects (or ~/.config/claude/projects) as it is; "
        "every session and subagent transcript in it is read"
    )

    def sniff(self, sample: Sample) -> float:
        objects = sample.json_lines
        if objects:
            hits = sum(_is_transcript_line(o) for o in objects)
            return 0.95 * (hits / len(objects))  # exactly 0.95 when every line is one
        # The first line is larger than the sniff window (a pasted file, a snapshot).
        text = sample.text
        if all(marker.search(text) for marker in _HEAD_MARKERS) or _SNAPSHOT_HEAD.match(text):
            return 0.8
        return 0.0

    batchable = True
    #: Every sampled line has a transcript's shape (sessionId with uuid/parentUuid/message).
    distinctive = 0.95

    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        return self.read_in_stages(path, options)

    def extract(
        self, path: Path, options: ReadOptions, data: bytes | None = None
    ) -> Iterator[pl.DataFrame]:
        """The file's candidate usage lines as bytes: decoding is done once per batch."""
        parts: list[pl.DataFrame] = []
        for block in iter_line_blocks(path, options.chunk_bytes, data):
            if block.body:  # has lines (their count is not needed yet)
                found = block_lines(block, *_USAGE_NEEDLES)
                if found.height:
                    parts.append(found)
            if block.error:
                broken = broken_stream(block.first_line + block.count, block.error)
                parts.append(broken.with_columns(pl.col(LINE).cast(pl.Binary)))
        if parts:
            yield pl.concat(parts, how="diagonal")

    def prepare(self, frame: pl.DataFrame, options: ReadOptions) -> pl.DataFrame:
        return _extract(decode_objects(text_lines(frame), LINE_SCHEMA))

    def transform(self, frame: pl.DataFrame, options: ReadOptions) -> pl.LazyFrame:
        return _map(frame)


def _extract(decoded: pl.DataFrame) -> pl.DataFrame:
    """Stage 1: raw values of usage lines (and undecodable lines, which are rejects)."""
    columns = []
    for name, path in _RAW.items():
        value = pl.col(DOC)
        for part in path:
            value = value.struct.field(part)
        columns.append(value.alias(name))
    frame = decoded.select("source_file", "source_line", ERROR_COLUMN, *columns)
    is_usage = (pl.col("r.type") == "assistant") & pl.col("r.usage").is_not_null()
    return frame.filter(pl.col(ERROR_COLUMN).is_not_null() | is_usage.fill_null(False)).drop(
        "r.type", "r.usage"
    )


def _map(frame: pl.DataFrame) -> pl.LazyFrame:
    lazy = parse_frame(
        frame.lazy(),
        {
            "ts": ("r.ts", "ts", "timestamp"),
            "input_tokens": ("r.in", "int", "message.usage.input_tokens"),
            "output_tokens": ("r.out", "int", "message.usage.output_tokens"),
            "p.cw": ("r.cw", "int", "message.usage.cache_creation_input_tokens"),
            "cached_input_tokens": ("r.cr", "int", "message.usage.cache_read_input_tokens"),
            "p.5m": ("r.5m", "int", "cache_creation.ephemeral_5m_input_tokens"),
            "cache_write_1h_tokens": (
                "r.1h",
                "int",
                "cache_creation.ephemeral_1h_input_tokens",
            ),
            "p.cost": ("r.cost", "usd", "costUSD"),
            "p.api_error": ("r.api_error", "bool", "isApiErrorMessage"),
            "p.sidechain": ("r.sidechain", "bool", "isSidechain"),
        },
    )
    split_known = pl.col("p.5m").is_not_null() | pl.col("cache_write_1h_tokens").is_not_null()
    msg_id, request = clean_text(pl.col("r.msg_id")), clean_text(pl.col("r.request"))
    lazy = lazy.with_columns(
        pl.coalesce(
            pl.col("p.cw"),
            pl.when(split_known).then(
                pl.col("p.5m").fill_null(0) + pl.col("cache_write_1h_tokens").fill_null(0)
            ),
        ).alias("cache_write_tokens"),
        pl.when(request.is_not_null())
        .then(pl.concat_str(msg_id, pl.lit(":"), request))
        .otherwise(msg_id)
        .alias("record_id"),
        clean_text(pl.col("r.model")).alias("model_raw"),
    )
    lazy = lazy.with_columns(gather_errors(lazy.collect_schema().names()))

    # Dedup (module docstring): per key, the largest token total, then the latest line.
    # Rejected rows and rows without a message id are never merged with anything.
    total = pl.sum_horizontal(
        pl.col(c).fill_null(0)
        for c in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")
    )
    lazy = lazy.with_columns(
        total.alias("_total"),
        pl.when(pl.col(ERROR_COLUMN).is_null() & msg_id.is_not_null() & pl.col("ts").is_not_null())
        .then(pl.concat_str(pl.col("source_file"), msg_id, request.fill_null(""), separator="\n"))
        .otherwise(
            pl.concat_str(pl.col("source_file"), pl.col("source_line").cast(S), separator="#")
        )
        .alias("_key"),
    )
    lazy = lazy.filter(pl.col("_total") == pl.col("_total").max().over("_key"))
    lazy = lazy.filter(pl.col("source_line") == pl.col("source_line").max().over("_key"))

    model = pl.col("model_raw")
    synthetic = (model == SYNTHETIC).fill_null(False)
    cwd = clean_text(pl.col("r.cwd"))
    lazy = lazy.with_columns(
        pl.when(model.str.contains(_BEDROCK_ID))
        .then(pl.lit("bedrock"))
        .when(model.str.contains("@"))
        .then(pl.lit("vertex"))
        .otherwise(pl.lit("anthropic"))
        .alias("provider"),
        pl.when(synthetic)
        .then(money_lit(0))
        .otherwise(pl.col("p.cost"))
        .alias("reported_cost_usd"),
        pl.when(pl.col("p.api_error").fill_null(False)).then(pl.lit("error")).alias("status"),
        cwd.str.replace(r"[/\\]+$", "").str.extract(r"([^/\\]+)$", 1).alias("project"),
        clean_text(pl.col("r.session")).alias("session_id"),
        pl.lit("claude-code").alias("app"),
        clean_text(pl.col("r.tier")).str.to_lowercase().alias("service_tier"),
        tags_json(
            {
                "cwd": cwd,
                "version": clean_text(pl.col("r.version")),
                "git_branch": clean_text(pl.col("r.branch")),
                "entrypoint": clean_text(pl.col("r.entrypoint")),
                "is_sidechain": pl.col("p.sidechain"),
                "agent_id": clean_text(pl.col("r.agent")),
                "user_type": clean_text(pl.col("r.user_type")),
                "speed": clean_text(pl.col("r.speed")),
                "inference_geo": clean_text(pl.col("r.geo")),
            }
        ).alias("tags"),
    )
    return lazy.sort("source_file", "source_line", maintain_order=True).select(
        "record_id", "source_file", "source_line", "ts", "provider", "model_raw",
        "service_tier", "project", "app", "session_id", "status", "input_tokens",
        "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens",
        "reported_cost_usd", "tags", ERROR_COLUMN,
    )  # fmt: skip
