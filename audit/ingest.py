"""Ingest: find files, detect their format, normalise, and append them to the store.

Per file the outcome is one :class:`FileResult` (format, rows loaded / duplicate / rejected
with reasons), so the CLI can print a line per file and cron can branch on the exit code.
A file whose content hash is already in the manifest is skipped: re-running an ingest is
free and never double-counts. A file that cannot be read is reported and the run goes on.
"""

from __future__ import annotations

import fnmatch
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import polars as pl
import xxhash
from polars.exceptions import PolarsError

from audit.errors import AuditError, ExitCode, SourceError, UsageError
from audit.normalize import finished_rows
from audit.pricing import PriceBook, load_price_book, resolve_models
from audit.sources import ReadOptions, Sample, SourceAdapter, detect
from audit.sources.base import GZIP_MAGIC
from audit.store import PreparedAppend, Store, StoreWriter, fault_point, prepare_append

#: Rows of a big (streamed) file buffered in memory before they are written as parts
#: (bounds peak memory). A stored row takes about 500 bytes in memory and the flush briefly
#: holds it twice; at 100k rows the peak of a 10M-row CSV ingest fell from ~780 to ~640 MiB
#: against 250k, in the same time, with 86 parts in the month instead of 37 (the report
#: reads them as fast); at 50k to ~600 MiB (1M rows: 513 -> 458 MiB, 3 interleaved runs),
#: again in the same time. Small files are written per batch instead (see BATCH_ROWS).
FLUSH_ROWS = 50_000
#: Files up to this size are batched with other files of the same batchable format.
BATCH_FILE_BYTES = 16 * 1024 * 1024
#: A batch is mapped and committed once it holds this many extracted rows, bytes or files;
#: rows and bytes bound memory, the file count bounds the work a crash makes the next run redo.
BATCH_ROWS = 250_000
BATCH_BYTES = 32 * 1024 * 1024
BATCH_FILES = 5_000
#: A batch is prepared on the reading thread in up to this many parts, checking between
#: parts whether the worker is free to take the rest (see _Run.flush_batch).
PREPARE_PARTS = 4
#: What a file can raise while it is read (it vanished, it is corrupt, a parser gave up).
READ_ERRORS = (OSError, EOFError, zlib.error, PolarsError, AuditError)
#: Statuses of a file that could not be ingested (whole); the report lists them.
FAILED = frozenset({"unrecognised", "empty", "unreadable"})
#: Good rows and rejects of a chunk or a batch, after shared validation.
_Mapped = tuple[pl.DataFrame, pl.DataFrame]
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
        return self.status in FAILED or self.rows_rejected > 0


@dataclass
class IngestSummary:
    """The whole run: one result per file, plus totals for the closing line."""

    store: str
    files: list[FileResult] = field(default_factory=list)
    #: Small parts of the store merged at the end of the run (see StoreWriter.compact).
    parts_merged: int = 0

    def total(self, attribute: str) -> int:
        return sum(int(getattr(item, attribute)) for item in self.files)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every file loaded cleanly (or was unchanged), 3 when anything was rejected."""
        return ExitCode.DATA if any(item.problem for item in self.files) else ExitCode.OK


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files under the given paths, recursively, sorted, each once; hidden entries skipped.

    A file reached by several paths (a symlink to it, or roots that overlap) is listed
    once, under the path that sorts first. Symlink loops and unreadable folders do not
    stop the walk. A path that does not exist is a usage error: a typo in a cron line must
    not pass silently.
    """
    found: dict[str, Path] = {}
    for root in paths:
        if not root.exists():
            raise UsageError("no such file or folder", path=root)
        pairs = [(str(root.resolve()), str(root))] if root.is_file() else _walk(str(root))
        for real, path in pairs:
            shown = Path(path)
            if real not in found or str(shown) < str(found[real]):
                found[real] = shown
    return sorted(found.values(), key=str)


def _walk(folder: str) -> Iterator[tuple[str, str]]:
    """(real path, path as found) of every regular file under ``folder``, not hidden.

    The directory entries already say which names are folders, files or symlinks, so a
    plain file costs no system call of its own, and its real path is its folder's (worked
    out once per folder) plus its name; only a symlinked file is resolved on its own.
    Symlinked folders are not entered (no loops; a tree reached twice is not read twice).
    A Claude Code tree of 2,698 files: 0.12 s with a stat and a resolve per file.
    """
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return  # unreadable: skipped, like a folder that vanished mid-walk
    real_folder: str | None = None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path)
                continue
            if not entry.is_file():  # follows a symlink: a link to a file is a file
                continue
            if entry.is_symlink():
                yield os.path.realpath(entry.path), entry.path
                continue
        except OSError:
            continue
        if real_folder is None:
            real_folder = os.path.realpath(folder)
        yield os.path.join(real_folder, entry.name), entry.path  # noqa: PTH118 (str: no Path per file)


#: Names the hash in every digest, so a store can hold records of more than one (a store
#: written before 2026-12 keys its records by bare SHA-256 hex, which never matches one of
#: these: such a file is simply read again when it is next touched).
DIGEST_PREFIX = "xxh3_128:"


def content_digest(data: bytes) -> str:
    """The manifest's identity for "already ingested": a 128-bit XXH3 of the content.

    Not a security boundary (a user's own exports, compared with each other), so a
    non-cryptographic hash does: XXH3 runs at ~30 GB/s where SHA-256 ran at ~2 GB/s, and
    every new or grown file is hashed whole on the thread a Claude Code ingest waits on
    (SHA-256 was 8% of that ingest's CPU). 128 bits keep accidental collisions out of reach
    for any number of files a store will ever see.
    """
    return DIGEST_PREFIX + xxhash.xxh3_128_hexdigest(data)


def file_digest(path: Path) -> str:
    """:func:`content_digest` of a file, streamed (a big file is never held whole)."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return DIGEST_PREFIX + digest.hexdigest()


def file_content(path: Path) -> bytes:
    """A small file's bytes, read once for its hash, its detection and its rows."""
    with path.open("rb") as handle:
        return handle.read()


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


def _finished(
    mapped: pl.LazyFrame, adapter: SourceAdapter, source_file: str | None, book: PriceBook
) -> _Mapped:
    """Good rows (models resolved) and rejects of an adapter's mapped rows, in one query."""
    rows, rejects = finished_rows(
        mapped, source=adapter.name, source_file=source_file, granularity=adapter.granularity
    )
    return resolve_models(rows, book), rejects


class _Chunks:
    """A file's chunks, validated; each chunk is mapped on ``pool`` while the next is read.

    Reading a chunk (bytes, lines, JSON decoding) and mapping the previous one both
    release the GIL in Polars, so a big file keeps two cores busy instead of one. At
    most two chunks are held at once. For a batchable adapter the worker also runs the
    chunk's :meth:`~SourceAdapter.prepare` and :meth:`~SourceAdapter.transform` stages,
    which are eager: run here, they would leave the worker idle.

    :meth:`ahead` hands over every chunk but the last, whose mapping stays on the worker:
    the run reads the next file meanwhile and collects it with :meth:`last`.
    """

    def __init__(
        self,
        path: Path,
        adapter: SourceAdapter,
        options: ReadOptions,
        book: PriceBook,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.path, self.adapter, self.options, self.book = path, adapter, options, book
        self.pool = pool
        self.chunks: Iterator[pl.DataFrame | pl.LazyFrame] = (
            adapter.extract(path, options) if adapter.batchable else adapter.read(path, options)
        )
        self.pending: Future[_Mapped] | None = None

    def start(self) -> None:
        """Read the first chunk and hand it to the worker, without waiting for anything."""
        first = next(self.chunks, None)
        if first is not None:
            self.pending = self._submit(first)

    def ahead(self) -> Iterator[_Mapped]:
        for chunk in self.chunks:
            future = self._submit(chunk)
            if self.pending is not None:
                done, self.pending = self.pending, future
                yield done.result()
            else:
                self.pending = future

    def last(self) -> _Mapped | None:
        if self.pending is None:
            return None
        done, self.pending = self.pending, None
        return done.result()

    def abandon(self) -> None:
        """After a failure: let a chunk still mapping finish, its result unused."""
        if self.pending is not None and not self.pending.cancel():
            self.pending.exception()
        self.pending = None

    def _submit(self, chunk: pl.DataFrame | pl.LazyFrame) -> Future[_Mapped]:
        return self.pool.submit(_map_chunk, chunk, self.adapter, self.path, self.options, self.book)


def _map_chunk(
    chunk: pl.DataFrame | pl.LazyFrame,
    adapter: SourceAdapter,
    path: Path,
    options: ReadOptions,
    book: PriceBook,
) -> _Mapped:
    """One chunk of a streamed file, on the worker: mapped rows (a batchable adapter's
    extracted rows go through its remaining stages first), validated."""
    mapped = adapter.staged(chunk, path, options) if isinstance(chunk, pl.DataFrame) else chunk
    return _finished(mapped, adapter, str(path), book)


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
    modified_since: datetime | None = None,
) -> IngestSummary:
    """Ingest files and folders into ``store``; see the module docstring for the contract.

    ``book`` resolves canonical model names (default: the bundled price tables plus the
    config's ``prices``).

    ``modified_since`` (an aware instant) skips, unread, every file not yet ingested whose
    last modification is older: a log is appended to as requests happen, so a file last
    written before a month began holds none of its rows. This is the cheap first run over
    years of history when only recent months matter. Skipped files are listed with the
    reason and not recorded, so a later run without the cut-off still loads them.
    """
    options = options or ReadOptions()
    book = book or load_price_book(options.config.prices)
    observer = observer or IngestObserver()
    files = [(path, _size(path)) for path in discover(paths)]
    summary = IngestSummary(store=str(store.root))
    observer.started(files)
    with store.writer() as writer:
        run = _Run(writer, options, book, observer, summary, modified_since)
        try:
            for path, size in files:
                observer.file_started(path, size)
                run.add(path, size)
        finally:
            run.close()
        writer.commit()
        now = time.time()
        removed = writer.remove_retired(now)
        summary.parts_merged = writer.compact(now)
        if removed or summary.parts_merged:
            writer.commit()
    observer.finished(summary)
    return summary


@dataclass
class _Pending:
    """A small file read and waiting in a batch: its rows are mapped with the others'."""

    size: int
    digest: str
    mtime_ns: int
    adapter: SourceAdapter
    result: FileResult
    raws: list[pl.DataFrame]


class _Run:
    """One ingest run: results in file order, and the batch of small files being gathered.

    Small files of a batchable format (see :attr:`SourceAdapter.batchable`) are extracted
    one by one but mapped, validated, written and committed together, so a tree of
    thousands of session files costs a few queries instead of thousands. A file is
    recorded in the manifest in the same commit that makes its rows visible, so a crash
    mid-batch loses nothing: the next run re-reads the files that were not recorded.

    One batch is mapped on a worker thread while the next is read: Polars releases the
    GIL, so reading and splitting files overlaps with decoding on a second core. Writes
    stay on this thread and in file order (the first file to state a record wins).
    """

    def __init__(
        self,
        writer: StoreWriter,
        options: ReadOptions,
        book: PriceBook,
        observer: IngestObserver,
        summary: IngestSummary,
        modified_since: datetime | None = None,
    ) -> None:
        self.writer = writer
        self.modified_since = modified_since
        self.options = options
        self.book = book
        self.observer = observer
        self.summary = summary
        self.batch: list[_Pending] = []
        self.batch_rows = 0
        self.batch_bytes = 0
        self.unannounced: list[tuple[FileResult, int]] = []
        self.formats: dict[Path, SourceAdapter] = {}  # folder -> format of its last file
        self.last_format: SourceAdapter | None = None  # of the last file in any folder
        self.unfinished: set[int] = set()  # id() of results whose batch is not written yet
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokaudit-map")
        self.in_flight: tuple[list[_Pending], Future[_Ready]] | None = None
        #: A streamed file whose last chunk may still be mapping (see :meth:`_finish_streamed`).
        self.streamed: _StreamedFile | None = None

    def add(self, path: Path, size: int) -> None:
        """Handle one file: at once, or by adding it to the batch."""
        # The folder's last format, else the run's: only a distinctive format claiming the
        # file outright is trusted (see detect), and a Claude Code tree puts a few files in
        # each of hundreds of folders (a session's subagents).
        likely = self.formats.get(path.parent) or self.last_format
        # If the file before was streamed, its last chunk may still be mapping: this file is
        # checked and read (its first chunk handed over, if streamed) meanwhile, and the
        # one before is finished before anything more is written.
        prepared = _prepare(path, self.writer, self.options, likely, self.modified_since)
        if isinstance(prepared, FileResult):
            self._finish_streamed()
            self._settled(prepared, size)
            return
        result, stat, digest, adapter, content = prepared
        self.formats[path.parent] = self.last_format = adapter
        if adapter.batchable and stat.st_size <= BATCH_FILE_BYTES:
            if self.batch and self.batch[0].adapter is not adapter:
                self.flush_batch()
            try:
                raws = [raw for raw in adapter.extract(path, self.options, content) if raw.height]
            except READ_ERRORS as exc:
                result.status, result.message = "unreadable", _describe(exc)
                self._finish_streamed()
                self._settled(result, size)
                return
            self._finish_streamed()
            self.batch.append(_Pending(size, digest, stat.st_mtime_ns, adapter, result, raws))
            self.batch_rows += sum(raw.height for raw in raws)
            self.batch_bytes += sum(int(raw.estimated_size()) for raw in raws)
            self.unfinished.add(id(result))
            self._announce_later(result, size)
            if (
                self.batch_rows >= BATCH_ROWS
                or self.batch_bytes >= BATCH_BYTES
                or len(self.batch) >= BATCH_FILES
            ):
                self.flush_batch()
            return
        del content  # a big or one-stage file is streamed from disk, not held
        chunks = _Chunks(path, adapter, self.options, self.book, self.pool)
        streamed = _StreamedFile(result, stat, digest, self.writer, chunks)
        streamed.start()  # while the file before it may still be mapping its last chunk
        self.drain()  # the batch before it, and the streamed file before that, are written
        self._announce_later(result, size)
        self.unfinished.add(id(result))
        streamed.read()
        self.streamed = streamed

    def _note_problem(self, result: FileResult) -> None:
        """Remember a file that could not be ingested, for the report's data-quality list."""
        problem = {
            "status": result.status,
            "message": result.message,
            "candidates": result.candidates,
        }
        self.writer.record_problem(result.path, problem)
        self.writer.commit()

    def _settled(self, result: FileResult, size: int) -> None:
        if result.status in FAILED:
            self._note_problem(result)
        elif result.status == "unchanged":
            self.writer.record_problem(result.path, None)
        self._announce_later(result, size)
        self._announce()

    def _announce_later(self, result: FileResult, size: int) -> None:
        self.summary.files.append(result)
        self.unannounced.append((result, size))

    def _announce(self) -> None:
        """Report finished files in input order, up to the first one still in a batch."""
        done = 0
        for result, size in self.unannounced:
            if id(result) in self.unfinished:
                break
            self.observer.file_done(result, size)
            done += 1
        if done:
            del self.unannounced[:done]
            fault_point("between-files")

    def flush_batch(self) -> None:
        """Hand the gathered batch to the worker (after writing the one it is mapping).

        Who prepares the batch (:meth:`SourceAdapter.prepare`, e.g. decoding its JSON)
        depends on who is free: while the worker is still mapping the previous batch, this
        thread prepares the new one, a few files at a time; whatever is left when the
        worker frees up, the worker prepares with the mapping, and this thread goes back to
        reading files. Both cores stay busy whichever side of the work dominates for the
        format at hand, and neither waits long for the other: prepared whole here, a batch
        kept the worker idle for a third of a Claude Code tree's ingest. (Any grouping of
        files into batches is valid, so a batch may be prepared in parts.)
        """
        batch, self.batch, self.batch_rows, self.batch_bytes = self.batch, [], 0, 0
        if not batch:
            return
        adapter, options, book = batch[0].adapter, self.options, self.book
        work: Callable[[], _Ready] | Exception
        step = max(1, -(-len(batch) // PREPARE_PARTS))
        done: list[pl.DataFrame] = []
        rest = batch
        try:
            while rest and self._worker_busy():
                part, rest = rest[:step], rest[step:]
                done.append(_prepared(adapter, part, options))
            work = partial(_map_parts, adapter, done, rest, options, book)
        except (PolarsError, AuditError) as exc:
            work = exc  # handled as a failed mapping: the files are retried alone
        self._complete()
        future: Future[_Ready]
        if isinstance(work, Exception):
            future = Future()
            future.set_exception(work)
        else:
            future = self.pool.submit(work)
        self.in_flight = (batch, future)

    def _worker_busy(self) -> bool:
        return self.in_flight is not None and not self.in_flight[1].done()

    def drain(self) -> None:
        """Write everything gathered so far: before a streamed file, and at the end."""
        self._finish_streamed()
        self.flush_batch()
        self._complete()

    def _finish_streamed(self) -> None:
        """Write the rest of the streamed file left with its last chunk mapping."""
        if self.streamed is None:
            return
        streamed, self.streamed = self.streamed, None
        streamed.finish()
        self.unfinished.discard(id(streamed.result))
        if streamed.result.status in FAILED:
            self._note_problem(streamed.result)
        self._announce()

    def close(self) -> None:
        """Finish the run's batches and stop the worker."""
        try:
            self.drain()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def _complete(self) -> None:
        if self.in_flight is None:
            return
        batch, future = self.in_flight
        self.in_flight = None
        mapped: _Ready | Exception
        try:
            mapped = future.result()
        except (PolarsError, AuditError) as exc:
            mapped = exc
        self._write_batch(batch, mapped)
        for item in batch:
            self.unfinished.discard(id(item.result))
        self._announce()

    def _write_batch(self, batch: list[_Pending], mapped: _Ready | Exception) -> None:
        if isinstance(mapped, Exception):
            if len(batch) > 1:
                # One file's content broke the shared query: map each file alone, so only
                # that file is reported and every other file still loads.
                for item in batch:
                    try:
                        alone: _Ready | Exception = _ready(
                            _map_batch(item.adapter, [item], self.options, self.book)
                        )
                    except (PolarsError, AuditError) as exc:
                        alone = exc
                    self._write_batch([item], alone)
                return
            result = batch[0].result
            result.status, result.message = "unreadable", _describe(mapped)
            self._note_problem(result)
            return
        written = self.writer.append_prepared(mapped.append)
        if mapped.rejects.height:
            self.writer.append_rejects(mapped.rejects)
        stats = mapped.stats
        for item in batch:
            result = item.result
            result.rows_read, result.rows_rejected, months, result.reasons = stats.get(
                result.path, (0, 0, [], [])
            )
            result.rows_loaded = written.get(result.path, 0)
            result.rows_duplicate = result.rows_read - result.rows_rejected - result.rows_loaded
            _record(self.writer, item.digest, result, item.size, item.mtime_ns, months)
        self.writer.commit()


def _batch_frame(batch: list[_Pending]) -> pl.DataFrame:
    """The extracted rows of a batch's files in one frame (``source_file`` tells them apart)."""
    frames = [
        raw.with_columns(pl.lit(item.result.path).alias("source_file"))
        for item in batch
        for raw in item.raws
    ]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _map_prepared(
    adapter: SourceAdapter, prepared: pl.DataFrame, options: ReadOptions, book: PriceBook
) -> _Mapped:
    """:func:`_finished` over a prepared batch. Runs on the worker thread: it only reads
    its arguments and touches no shared state."""
    if not prepared.width:
        return pl.DataFrame(), pl.DataFrame()
    return _finished(adapter.transform(prepared, options), adapter, None, book)


@dataclass(frozen=True)
class _Ready:
    """A mapped batch made ready to write, by the worker (see :func:`prepare_append`)."""

    append: PreparedAppend
    rejects: pl.DataFrame
    stats: dict[str, tuple[int, int, list[str], list[dict[str, object]]]]


def _ready(mapped: _Mapped) -> _Ready:
    rows, rejects = mapped
    return _Ready(prepare_append(rows), rejects, _per_file(rows, rejects))


def _map_parts(
    adapter: SourceAdapter,
    done: list[pl.DataFrame],
    rest: list[_Pending],
    options: ReadOptions,
    book: PriceBook,
) -> _Ready:
    """A batch whose first files are prepared (``done``, in order) and the rest not: the
    rest prepared here, then all mapped together and made ready to write. Runs on the
    worker thread."""
    parts = [*done, _prepared(adapter, rest, options)] if rest else done
    parts = [frame for frame in parts if frame.width]
    prepared = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
    return _ready(_map_prepared(adapter, prepared, options, book))


def _map_batch(
    adapter: SourceAdapter, batch: list[_Pending], options: ReadOptions, book: PriceBook
) -> _Mapped:
    """A batch prepared and mapped in one go (a file retried alone after its batch failed)."""
    return _map_prepared(adapter, _prepared(adapter, batch, options), options, book)


def _prepared(adapter: SourceAdapter, batch: list[_Pending], options: ReadOptions) -> pl.DataFrame:
    """A batch's extracted rows through the adapter's :meth:`~SourceAdapter.prepare` (a
    batch of files that gave no rows stays an empty frame)."""
    raw = _batch_frame(batch)
    return adapter.prepare(raw, options) if raw.width else raw


def _per_file(
    rows: pl.DataFrame, rejects: pl.DataFrame
) -> dict[str, tuple[int, int, list[str], list[dict[str, object]]]]:
    """Per source file of a batch: rows read, rows rejected, months touched, reject reasons."""
    stats: dict[str, tuple[int, int, list[str], list[dict[str, object]]]] = {}
    if rows.height:
        per_file = rows.group_by("source_file").agg(
            pl.len().alias("n"),
            pl.col("ts").dt.truncate("1mo").unique().sort().dt.strftime("%Y-%m").alias("m"),
        )
        for name, count, months in per_file.iter_rows():
            stats[name] = (count, 0, list(months), [])
    if rejects.height:
        for (name,), group in rejects.group_by("source_file"):
            count, _, months, _ = stats.get(str(name), (0, 0, [], []))
            stats[str(name)] = (count + group.height, group.height, months, _reason_counts(group))
    return stats


def _record(
    writer: StoreWriter,
    digest: str,
    result: FileResult,
    size: int,
    mtime_ns: int,
    months: Iterable[str],
) -> None:
    writer.record_file(
        digest,
        {
            "path": result.path,
            "size": size,
            "mtime_ns": mtime_ns,
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


def _prepare(
    path: Path,
    writer: StoreWriter,
    options: ReadOptions,
    likely: SourceAdapter | None = None,
    modified_since: datetime | None = None,
) -> FileResult | tuple[FileResult, os.stat_result, str, SourceAdapter, bytes | None]:
    """Everything decided before reading rows: skipped, unchanged, or which format it is.

    A small file is read once, here: the same bytes are hashed, sniffed and (for a
    batchable format) split into rows, instead of reading it again for each. They are
    returned uncompressed, or None for a big or gzip file, which is streamed from disk.
    """
    shown = str(path)
    if any(fnmatch.fnmatchcase(path.name, pattern) for pattern in DOCUMENTATION):
        return FileResult(shown, "skipped", message="documentation, not an export")
    if path.name in SETTINGS_FILES:
        return FileResult(shown, "skipped", message="tokaudit settings, not an export")
    try:
        stat = path.stat()
        digest = writer.manifest.find_unchanged(shown, stat.st_size, stat.st_mtime_ns)
        if digest is None and modified_since is not None:
            written = datetime.fromtimestamp(stat.st_mtime, UTC)
            if written < modified_since:  # before any check of its content: never read
                return FileResult(shown, "skipped", message=_older(written, modified_since))
        if stat.st_size == 0:
            return FileResult(shown, "empty", message="empty file (0 bytes)")
        content: bytes | None = None
        if digest is None and stat.st_size <= BATCH_FILE_BYTES:
            content = file_content(path)
            digest = content_digest(content)
            if content.startswith(GZIP_MAGIC):
                content = None  # rows and sniffing need it decompressed: streamed instead
        elif digest is None:
            digest = file_digest(path)
        if digest in writer.manifest.files:
            previous = writer.manifest.files[digest]
            writer.manifest.remember_stat(digest, shown, stat.st_size, stat.st_mtime_ns)
            return FileResult(shown, "unchanged", format=previous.get("format"))
        detection = detect(Sample.of(path, options, content), likely)
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
    return (
        FileResult(shown, "loaded", format=detection.adapter.name),
        stat,
        digest,
        detection.adapter,
        content,
    )


def _older(written: datetime, cutoff: datetime) -> str:
    return (
        f"last modified {written:%Y-%m-%d %H:%M} UTC, before the cut-off "
        f"{cutoff.astimezone(UTC):%Y-%m-%d %H:%M} UTC (--modified-since)"
    )


class _StreamedFile:
    """A large file (or a format read in one stage): chunk by chunk, flushed in bounded
    batches. :meth:`read` goes up to the last chunk, whose mapping is left running so the
    run can read the next file meanwhile; :meth:`finish` writes the rest and records the
    file (the run calls it before anything else is written, so files are written in order).
    """

    def __init__(
        self,
        result: FileResult,
        stat: os.stat_result,
        digest: str,
        writer: StoreWriter,
        chunks: _Chunks,
    ) -> None:
        self.result, self.stat, self.digest = result, stat, digest
        self.writer, self.chunks = writer, chunks
        self.buffer = _Buffer(writer)
        self.rejects: list[pl.DataFrame] = []
        self.months: set[str] = set()
        self.failed = False

    def start(self) -> None:
        """Hand the first chunk to the worker (the file before may still be finishing)."""
        self._guarded(self.chunks.start)

    def read(self) -> None:
        """Every chunk but the last, written in bounded flushes."""
        self._guarded(self._read)

    def finish(self) -> None:
        """Write what is left and record the file (or leave it unrecorded if it failed)."""
        self._guarded(self._last)
        if self.failed:
            return  # the caller records the problem and commits (flushed parts included)
        result = self.result
        all_rejects = pl.concat(self.rejects) if self.rejects else None
        if all_rejects is not None:
            self.writer.append_rejects(all_rejects)
            result.reasons = _reason_counts(all_rejects)
        result.rows_duplicate = result.rows_read - result.rows_rejected - result.rows_loaded
        _record(
            self.writer, self.digest, result, self.stat.st_size, self.stat.st_mtime_ns, self.months
        )
        self.writer.commit()

    def _read(self) -> None:
        for mapped in self.chunks.ahead():
            self._take(mapped)
            if self.buffer.rows >= FLUSH_ROWS:
                self.result.rows_loaded += self.buffer.flush()
                self.writer.commit()  # progress survives a crash; re-ingest dedups the rest

    def _last(self) -> None:
        mapped = self.chunks.last()
        if mapped is not None:
            self._take(mapped)
        self.result.rows_loaded += self.buffer.flush()

    def _take(self, mapped: _Mapped) -> None:
        rows, bad = mapped
        self.result.rows_read += rows.height + bad.height
        self.result.rows_rejected += bad.height
        if bad.height:
            self.rejects.append(bad)
        if rows.height:
            starts = rows.get_column("ts").dt.truncate("1mo").unique()
            self.months.update(starts.dt.strftime("%Y-%m").to_list())
        self.buffer.add(rows)

    def _guarded(self, step: Callable[[], None]) -> None:
        # Whatever was flushed stays (it is deduplicated on the next run); the file is not
        # recorded as done, so fixing it and re-running picks it up again.
        if self.failed:
            return
        try:
            step()
        except READ_ERRORS as exc:
            self.chunks.abandon()
            self.failed = True
            self.result.status = "unreadable"
            self.result.message = _describe(exc)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return exc.message
    if isinstance(exc, OSError | EOFError | zlib.error):
        return f"cannot read: {getattr(exc, 'strerror', None) or exc}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
