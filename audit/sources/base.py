"""The source-adapter contract.

An adapter recognises one export format from its *content* (never its file name) and maps
its fields onto the canonical columns. Parsing, validation, masking and record ids are
shared (:mod:`audit.normalize`), so an adapter is mostly a field mapping.
"""

from __future__ import annotations

import csv
import io
import json
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import polars as pl

from audit.config import Config

SNIFF_BYTES = 64 * 1024
#: How far detection reads to find the end of a first JSON line longer than SNIFF_BYTES.
FIRST_LINE_LIMIT = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class GzipStream(io.RawIOBase):
    """Streaming gzip decompression that keeps every byte it could decode.

    Unlike :class:`gzip.GzipFile`, a truncated or corrupt stream does not throw away the
    data before the damage: reading simply ends, and :attr:`error` says what went wrong.
    Concatenated members (common when log shippers append) are read one after another.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._raw = path.open("rb")
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = b""
        self._done = False
        self.error: str | None = None

    def readable(self) -> bool:
        return True

    def _fill(self, want: int) -> None:
        while not self._done and (want < 0 or len(self._pending) < want):
            chunk = self._raw.read(1 << 16)
            if not chunk:
                if not self._inflate.eof:
                    self.error = "compressed stream ends early (truncated file?)"
                self._done = True
                return
            try:
                self._pending += self._inflate.decompress(chunk)
                while self._inflate.eof and self._inflate.unused_data:
                    rest = self._inflate.unused_data
                    self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    self._pending += self._inflate.decompress(rest)
            except zlib.error as exc:
                self.error = f"compressed stream is corrupt ({exc})"
                self._done = True

    def read(self, size: int | None = -1) -> bytes:
        want = -1 if size is None else size
        self._fill(want)
        if want < 0:
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:want], self._pending[want:]
        return out

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_binary(path: Path) -> BinaryIO:
    """Open a file for reading bytes, decompressing gzip transparently (S3 log objects are .gz)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return GzipStream(path)  # type: ignore[return-value]
    return path.open("rb")


@dataclass(frozen=True)
class ReadOptions:
    """Per-run settings an adapter may need: the user's config and chunk sizes."""

    chunk_lines: int = 250_000
    #: Input per chunk of a big file. Small chunks keep memory flat (and are no slower:
    #: one chunk is mapped on the worker while the next is read).
    chunk_bytes: int = 8 * 1024 * 1024
    config: Config = field(default_factory=Config)


class Sample:
    """The head of a file, decoded lazily in the ways adapters sniff for.

    ``options`` carries the run's settings, so an adapter whose format is defined by the
    user (column mappings in tokaudit.yaml) can recognise it.
    """

    def __init__(
        self,
        path: Path,
        head: bytes,
        options: ReadOptions | None = None,
        *,
        truncated: bool | None = None,
    ) -> None:
        self.path = path
        self.head = head
        self.options = options or ReadOptions()
        #: Whether the file goes on after ``head`` (its last line may be cut).
        self.truncated = len(head) >= SNIFF_BYTES if truncated is None else truncated
        self._narrowed = False

    def narrowed(self, size: int) -> Sample:
        """The first ``size`` bytes only, never reading further in the file.

        Enough for the format of the previous file in a folder to claim the next one: a
        transcript tree's thousands of files each pay for a few lines of JSON, not 64 KiB.
        A sample too small to judge scores low, and the caller falls back to the full one.
        """
        if len(self.head) <= size:
            return self
        sample = Sample(self.path, self.head[:size], self.options, truncated=True)
        sample._narrowed = True
        return sample

    @classmethod
    def of(
        cls, path: Path, options: ReadOptions | None = None, data: bytes | None = None
    ) -> Sample:
        """Read the first 64 KiB (decompressed for gzip): enough for a header or a few lines.

        ``data``: the file's uncompressed content, when the caller has already read it.
        """
        if data is not None:
            return cls(path, data[:SNIFF_BYTES], options)
        with open_binary(path) as handle:
            return cls(path, handle.read(SNIFF_BYTES), options)

    @cached_property
    def text(self) -> str:
        """The head as text; undecodable bytes become U+FFFD (sniffing only, never stored)."""
        return self.head.decode("utf-8-sig", errors="replace")

    @cached_property
    def is_binary(self) -> bool:
        """NUL bytes or mostly undecodable text: not an export any adapter reads."""
        if b"\x00" in self.head[:8192]:
            return True
        sample = self.text[:8192]
        return bool(sample) and sample.count("\ufffd") > len(sample) * 0.1

    @cached_property
    def csv_header(self) -> list[str] | None:
        """Column names if the first line reads as a CSV header with at least two columns."""
        first = self.text.lstrip().split("\n", 1)[0].rstrip("\r")
        if not first or first[0] in "{[" or "," not in first:
            return None
        try:
            row = next(csv.reader(io.StringIO(first)))
        except (csv.Error, StopIteration):
            return None
        names = [name.strip() for name in row]
        return names if len(names) >= 2 and all(names) else None

    @cached_property
    def json_lines(self) -> list[dict[str, Any]]:
        """The first complete JSON-object lines (up to 20), for JSONL formats."""
        found: list[dict[str, Any]] = []
        lines = self.text.split("\n")
        if self.truncated:
            lines = lines[:-1]  # the last line may be cut by the sniff window
            if not lines and not self._narrowed and self.text.lstrip().startswith("{"):
                # One record longer than the window (a huge tool output in a log line):
                # read just that line, so a file is not "unrecognised" for one long row.
                lines = [self._first_line()]
        for line in lines:
            stripped = line.strip()
            if not stripped:
                continue
            try:
                value = json.loads(stripped)
            except (ValueError, RecursionError):
                continue
            if isinstance(value, dict):
                found.append(value)
            if len(found) >= 20:
                break
        return found

    def _first_line(self, limit: int = FIRST_LINE_LIMIT) -> str:
        parts: list[bytes] = []
        size = 0
        with open_binary(self.path) as handle:
            while size < limit:
                chunk = handle.read(1 << 20)
                cut = chunk.find(b"\n")
                parts.append(chunk if cut < 0 else chunk[:cut])
                size += len(parts[-1])
                if cut >= 0 or len(chunk) < 1 << 20:
                    return b"".join(parts).decode("utf-8-sig", errors="replace")
        return ""  # no line end within the limit: not a line we can sniff

    @cached_property
    def json_document(self) -> Any | None:
        """The whole file as one JSON document, when it fits in the sniff window."""
        if self.truncated:
            return None
        try:
            return json.loads(self.text)
        except (ValueError, RecursionError):
            return None


def header_score(
    header: list[str] | None, required: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> float:
    """How well a CSV header matches a format: all required columns present, plus optional ones.

    With every required column: 0.6 + 0.4 × the optional share, so a header with more of the
    format's columns wins over a looser match. Without: at most 0.4 (below the detection
    threshold) by overlap, which still ranks the format as a "closest candidate" in messages.
    """
    if not header:
        return 0.0
    return key_score(
        {name.strip().lower() for name in header},
        {name.lower() for name in required},
        {name.lower() for name in optional},
    )


def key_score(
    keys: set[str], required: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> float:
    """The JSON analogue of :func:`header_score`, over an object's keys."""
    if not required <= keys:
        known = required | set(optional)
        return 0.4 * len(known & keys) / len(known)
    if not optional:
        return 1.0
    return 0.6 + 0.4 * len(set(optional) & keys) / len(optional)


class SourceAdapter(ABC):
    """One export format. Subclasses set the class attributes and implement two methods."""

    #: Kebab-case name shown in ingest output and stored in the ``source`` column.
    name: ClassVar[str]
    #: One line for ``tokaudit formats``.
    title: ClassVar[str]
    #: "request" or "aggregate" (billing/usage buckets).
    granularity: ClassVar[str]
    #: How a user obtains this export.
    obtain: ClassVar[str]
    #: For aggregate formats: which billing source wins when several describe the same
    #: provider and day (lower wins). They are the same money and are never added together:
    #: 10 invoice-grade (FOCUS), 20 a vendor's own exact cost export, 25 one rounded to the
    #: cent, 30 a usage export that states cost, 40 a usage export with tokens only (priced
    #: by our tables).
    aggregate_rank: ClassVar[int] = 50

    @abstractmethod
    def sniff(self, sample: Sample) -> float:
        """Confidence 0..1 that the file is in this format, from its content."""

    #: A score at or above which no other format can claim a file (set only when the
    #: format's markers are unique to it); lets :func:`audit.sources.detect` skip the rest.
    distinctive: ClassVar[float | None] = None
    #: Whether the adapter reads in two stages (:meth:`extract`, :meth:`transform`), so that
    #: ingest can map the rows of many small files in one query. Thousands of small files
    #: (a Claude Code projects tree) would otherwise pay Polars' planning cost once each.
    batchable: ClassVar[bool] = False

    def extract(
        self, path: Path, options: ReadOptions, data: bytes | None = None
    ) -> Iterator[pl.DataFrame]:
        """Batchable adapters: the per-file stage, eager and cheap (lines decoded, raw fields).

        Frames carry ``source_line`` and ``_error``; anything that must be decided per file
        (a header, which keys the file uses) is decided here. ``data`` is the file's
        uncompressed content when ingest has already read it (a small file is read once,
        for its hash, its detection and its rows); read ``path`` when it is None.
        """
        raise NotImplementedError(f"{self.name} is not batchable")

    def transform(self, frame: pl.DataFrame, options: ReadOptions) -> pl.LazyFrame:
        """Batchable adapters: map raw rows of one or many files onto canonical columns.

        ``frame`` is :meth:`extract` output with a ``source_file`` column, possibly from
        several files; the result keeps ``source_file``, and any per-file rule (such as
        deduplication within a file) must partition by it.
        """
        raise NotImplementedError(f"{self.name} is not batchable")

    def prepare(self, frame: pl.DataFrame, options: ReadOptions) -> pl.DataFrame:
        """Batchable adapters: heavy eager work on a batch before :meth:`transform` (default:
        none), such as decoding the JSON of many small files' lines at once.

        Ingest runs it on whichever thread is free: the reading thread while the worker
        maps the previous batch, else the worker, so the two cores share a batch's work.
        Same input and output contract as :meth:`transform`'s input.
        """
        return frame

    def staged(self, raw: pl.DataFrame, path: Path, options: ReadOptions) -> pl.LazyFrame:
        """One file's :meth:`extract` output through :meth:`prepare` and :meth:`transform`."""
        named = raw.with_columns(pl.lit(str(path)).alias("source_file"))
        return self.transform(self.prepare(named, options), options).drop("source_file")

    def read_in_stages(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        """:meth:`read` for a batchable adapter: its stages applied to one file."""
        for raw in self.extract(path, options):
            yield self.staged(raw, path, options)

    @abstractmethod
    def read(self, path: Path, options: ReadOptions) -> Iterator[pl.LazyFrame]:
        """Yield frames of mapped rows (canonical names, plus ``source_line`` and ``_error``).

        Each frame is passed through :func:`audit.normalize.finish` by the ingest pipeline;
        an adapter never validates timestamps or token ranges itself.
        """
