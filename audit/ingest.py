"""Ingest: find files, detect their format, normalise, and append them to the store.

Per file the outcome is one :class:`FileResult` (format, rows loaded / duplicate / rejected
with reasons), so the CLI can print a line per file and cron can branch on the exit code.
A file whose content hash is already in the manifest is skipped: re-running an ingest is
free and never double-counts. A file that cannot be read is reported and the run goes on.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from polars.exceptions import PolarsError

from audit.errors import AuditError, ExitCode, SourceError, UsageError
from audit.normalize import finish, split
from audit.pricing import PriceBook, load_price_book, resolve_models
from audit.sources import Detection, ReadOptions, Sample, detect
from audit.store import Store, StoreWriter, fault_point

#: Rows buffered in memory before they are written as parts (bounds peak memory).
FLUSH_ROWS = 500_000
#: Documentation that export folders commonly carry; skipped visibly, never "unrecognised".
DOCUMENTATION = ("README*", "readme*", "*.md", "*.rst", "LICENSE*", "CHANGELOG*")
#: tokaudit's own settings, often kept beside the exports they describe.
SETTINGS_FILES = ("tokaudit.yaml", "tokaudit.yml")


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    status: str  # loaded | unchanged | skipped | unrecognised | empty | unreadable
    format: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_duplicate: int = 0
    rows_rejected: int = 0
    reasons: list[dict[str, object]] = field(default_factory=list)  # {reason, rows, first_line}
    message: str | None = None
    candidates: list[str] = field(default_factory=list)

    @property
    def problem(self) -> bool:
        """Whether this file makes the run's exit code non-zero."""
        return self.status in {"unrecognised", "empty", "unreadable"} or self.rows_rejected > 0


@dataclass
class IngestSummary:
    """The whole run: one result per file, plus totals for the closing line."""

    store: str
    files: list[FileResult] = field(default_factory=list)

    def total(self, attribute: str) -> int:
        return sum(int(getattr(item, attribute)) for item in self.files)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every file loaded cleanly (or was unchanged), 3 when anything was rejected."""
        return ExitCode.DATA if any(item.problem for item in self.files) else ExitCode.OK


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files under the given paths, recursively, sorted, each once; hidden entries skipped.

    Symlink loops and unreadable folders do not stop the walk. A path that does not exist
    is a usage error: a typo in a cron line must not pass silently.
    """
    found: dict[str, Path] = {}
    for root in paths:
        if not root.exists():
            raise UsageError("no such file or folder", path=root)
        if root.is_file():
            found.setdefault(str(root.resolve()), root)
            continue
        for folder, dirs, files in os.walk(root, followlinks=False, onerror=lambda _e: None):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                candidate = Path(folder) / name
                with contextlib.suppress(OSError):
                    if candidate.is_file():
                        found.setdefault(str(candidate.resolve()), candidate)
    return sorted(found.values(), key=str)


def file_digest(path: Path) -> str:
    """SHA-256 of the content, streamed; the manifest's identity for "already ingested"."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _reason_counts(rejects: pl.DataFrame) -> list[dict[str, object]]:
    if rejects.height == 0:
        return []
    grouped = (
        rejects.group_by("reason")
        .agg(pl.len().alias("rows"), pl.col("source_line").min().alias("first_line"))
        .sort(["rows", "first_line"], descending=[True, False])
    )
    return grouped.to_dicts()


class _Buffer:
    """Rows waiting to be written; flushed in bounded batches."""

    def __init__(self, writer: StoreWriter) -> None:
        self.writer = writer
        self.frames: list[pl.DataFrame] = []
        self.rows = 0

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.frames.append(frame)
            self.rows += frame.height

    def flush(self) -> int:
        if not self.frames:
            return 0
        batch = pl.concat(self.frames, how="vertical")
        self.frames, self.rows = [], 0
        return self.writer.append(batch)


def _read_file(
    path: Path, detection: Detection, options: ReadOptions, book: PriceBook
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    adapter = detection.adapter
    assert adapter is not None
    for chunk in adapter.read(path, options):
        finished = finish(
            chunk, source=adapter.name, source_file=str(path), granularity=adapter.granularity
        )
        good, bad = split(finished)
        rows, rejects = pl.collect_all([good, bad])
        yield resolve_models(rows, book), rejects


class IngestObserver:
    """Hooks for showing progress; the default does nothing (library use, tests, cron)."""

    def started(self, files: list[tuple[Path, int]]) -> None:
        """The run found these files (path, size in bytes)."""

    def file_started(self, path: Path, size: int) -> None:
        """Work on one file begins."""

    def file_done(self, result: FileResult, size: int) -> None:
        """One file is finished (loaded, skipped or failed)."""

    def finished(self, summary: IngestSummary) -> None:
        """The run is over."""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def ingest(
    paths: Iterable[Path],
    store: Store,
    *,
    options: ReadOptions | None = None,
    observer: IngestObserver | None = None,
    book: PriceBook | None = None,
) -> IngestSummary:
    """Ingest files and folders into ``store``; see the module docstring for the contract.

    ``book`` resolves canonical model names (default: the bundled price tables plus the
    config's ``prices``).
    """
    options = options or ReadOptions()
    book = book or load_price_book(options.config.prices)
    observer = observer or IngestObserver()
    files = [(path, _size(path)) for path in discover(paths)]
    summary = IngestSummary(store=str(store.root))
    observer.started(files)
    with store.writer() as writer:
        for path, size in files:
            observer.file_started(path, size)
            result = _ingest_one(path, writer, options, book)
            if result.status in {"unrecognised", "empty", "unreadable"}:
                problem = {
                    "status": result.status,
                    "message": result.message,
                    "candidates": result.candidates,
                }
                writer.record_problem(result.path, problem)
                writer.commit()
            elif result.status == "unchanged":
                writer.record_problem(result.path, None)
            summary.files.append(result)
            observer.file_done(result, size)
            fault_point("between-files")
        writer.commit()
    observer.finished(summary)
    return summary


def _ingest_one(
    path: Path, writer: StoreWriter, options: ReadOptions, book: PriceBook
) -> FileResult:
    shown = str(path)
    if any(fnmatch.fnmatchcase(path.name, pattern) for pattern in DOCUMENTATION):
        return FileResult(shown, "skipped", message="documentation, not an export")
    if path.name in SETTINGS_FILES:
        return FileResult(shown, "skipped", message="tokaudit settings, not an export")
    try:
        stat = path.stat()
        if stat.st_size == 0:
            return FileResult(shown, "empty", message="empty file (0 bytes)")
        digest = writer.manifest.find_unchanged(shown, stat.st_size, stat.st_mtime_ns)
        if digest is None:
            digest = file_digest(path)
        if digest in writer.manifest.files:
            previous = writer.manifest.files[digest]
            return FileResult(shown, "unchanged", format=previous.get("format"))
        detection = detect(Sample.of(path, options))
    except OSError as exc:
        return FileResult(shown, "unreadable", message=f"cannot read: {exc.strerror or exc}")
    if detection.adapter is None:
        closest = detection.candidates()
        return FileResult(
            shown,
            "unrecognised",
            message="format not recognised"
            if detection.scores
            else "not a text export (binary file)",
            candidates=closest,
        )
    result = FileResult(shown, "loaded", format=detection.adapter.name)
    buffer = _Buffer(writer)
    rejects: list[pl.DataFrame] = []
    months: set[str] = set()
    try:
        for rows, bad in _read_file(path, detection, options, book):
            result.rows_read += rows.height + bad.height
            result.rows_rejected += bad.height
            if bad.height:
                rejects.append(bad)
            if rows.height:
                months.update(rows.get_column("ts").dt.strftime("%Y-%m").unique().to_list())
            buffer.add(rows)
            if buffer.rows >= FLUSH_ROWS:
                result.rows_loaded += buffer.flush()
                writer.commit()  # progress survives a crash; re-ingest dedups the rest
        result.rows_loaded += buffer.flush()
    except (OSError, EOFError, zlib.error, PolarsError, AuditError) as exc:
        # Whatever was flushed stays (it is deduplicated on the next run); the file is not
        # recorded as done, so fixing it and re-running picks it up again.
        result.status = "unreadable"
        result.message = _describe(exc)
        writer.commit()
        return result
    all_rejects = pl.concat(rejects) if rejects else None
    if all_rejects is not None:
        writer.append_rejects(all_rejects)
        result.reasons = _reason_counts(all_rejects)
    result.rows_duplicate = result.rows_read - result.rows_rejected - result.rows_loaded
    writer.record_file(
        digest,
        {
            "path": shown,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "format": result.format,
            "rows_read": result.rows_read,
            "rows_loaded": result.rows_loaded,
            "rows_duplicate": result.rows_duplicate,
            "rows_rejected": result.rows_rejected,
            "reasons": result.reasons[:20],
            "months": sorted(months),
            "ingested_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    writer.commit()
    return result


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return exc.message
    if isinstance(exc, OSError | EOFError | zlib.error):
        return f"cannot read: {getattr(exc, 'strerror', None) or exc}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
