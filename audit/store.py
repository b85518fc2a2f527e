"""The local store: immutable Parquet parts partitioned by month, committed by a manifest.

Layout under the store root (default ``./.tokaudit``)::

    manifest.json                    the commit point: which parts and source files exist
    data/month=YYYY-MM/part-N.parquet canonical rows, never rewritten once committed
    rejects/part-N.parquet           rejected input rows (file, line, reason — no content)
    files/records-N.jsonl            one line per ingested source file, appended at commits
    lock                             held by a writer for the whole ingest

A writer writes parts to temporary names, renames them into place, and only then replaces
``manifest.json`` atomically (write + fsync + rename). Readers read only the parts the
manifest lists, so a crash at any point leaves the previous committed state intact, and a
part written but never committed is invisible (and removed by the next writer). Every row
is unique on ``record_id`` within its month: a writer anti-joins new rows against the
month's committed ids before writing, which makes ingest at-least-once *with* dedup.

The source files' records live in an append-only log beside the manifest, which names the
log and how many of its bytes are committed: a store ingested into monthly for years holds
tens of thousands of records, and rewriting all of them at every commit made a month's
ingest slower with every year of history. Bytes past the committed length (a run killed
between appending and committing) are ignored by readers and cut off by the next writer.

A month fed by frequent small ingests (an hourly cron over a Claude Code tree) piles up
parts of a few hundred rows, and each part costs a report about a millisecond to open
whatever its size: a writer merges a month's runs of small parts once it holds many
(:meth:`StoreWriter.compact`). The parts a merge replaces stay on disk for an hour, listed
as retired, so a report that read the manifest before the merge still finds them.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from audit.errors import StoreError
from audit.schema import REJECT_SCHEMA, canonical_schema, empty_frame

MANIFEST = "manifest.json"
FILE_LOG_DIR = "files"
#: Names a crash point for the crash-safety tests (see :func:`fault_point`).
FAULT_ENV = "TOKAUDIT_FAULT"
SCHEMA_ID = "tokaudit.store/2"
#: Stores whose manifest holds every file record inline. Read as they are; the next commit
#: moves the records to a log and writes :data:`SCHEMA_ID`.
LEGACY_SCHEMAS = ("tokaudit.store/1",)
DEFAULT_STORE = ".tokaudit"
#: A month holding more parts than this has its runs of small parts merged.
COMPACT_PARTS = 64
#: A part with fewer rows is small: opening it costs a report more than reading its rows.
SMALL_PART_ROWS = 20_000
#: A merged part holds at most about this many rows (merges stream; this bounds rewrites).
MERGED_PART_ROWS = 1_000_000
#: How long parts a merge replaced stay on disk for reports that read the older manifest.
RETIRED_SECONDS = 3600
#: Sightings of a file's content under another path, size or mtime kept per record.
SEEN_AS = 4
#: What to do about a store whose committed metadata is damaged: the exports are the source.
DAMAGED_HINT = "restore the store from a backup, or move it aside and ingest the exports again"


def fault_point(name: str) -> None:
    """Die here, as hard as a power cut, when ``TOKAUDIT_FAULT`` names this point.

    The crash-safety tests kill a real ingest at each moment that matters (a part written
    but not committed, a manifest half replaced, between files) and check that the next run
    recovers exactly. Unset, this is a dictionary lookup.
    """
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        fault_point(f"before-replace:{path.name}")
        Path(tmp).replace(path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


@dataclass
class Manifest:
    """What the store holds: committed parts and the source files they came from."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 -> file record
    parts: list[dict[str, Any]] = field(default_factory=list)  # {path, month, rows}
    rejects: list[dict[str, Any]] = field(default_factory=list)  # {path, rows}
    problems: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # path -> unreadable/unrecognised
    next_part: int = 1
    #: Parts a merge replaced, kept on disk for a while: ``{path, since}`` (epoch seconds).
    retired: list[dict[str, Any]] = field(default_factory=list)
    #: Where ``files`` is kept: ``{path, bytes, lines}``, the committed length of the log.
    #: None until the first record is committed (and for a legacy store, until its next
    #: commit moves the records out of the manifest).
    file_log: dict[str, Any] | None = None
    _by_stat: dict[tuple[Any, Any, Any], str] | None = field(
        default=None, repr=False, compare=False
    )
    #: Records added or replaced since the last commit, in the order they came.
    _pending: dict[str, None] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> bytes:
        """The manifest as written on every commit: small, whatever the history.

        The file records are not in it (see :meth:`StoreWriter.commit`), only the length of
        their log that this commit vouches for.
        """
        body = {
            "schema": SCHEMA_ID,
            "next_part": self.next_part,
            "file_log": self.file_log,
            "parts": self.parts,
            "rejects": self.rejects,
            "problems": self.problems,
            "retired": self.retired,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes, path: Path) -> Manifest:
        """The manifest without its file records, unless a legacy manifest holds them inline.

        :meth:`Store.manifest` reads the records from the log this names.
        """
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise StoreError(f"manifest is not valid JSON: {exc}", path=path) from exc
        schema = body.get("schema") if isinstance(body, dict) else None
        if schema != SCHEMA_ID and schema not in LEGACY_SCHEMAS:
            raise StoreError(
                f"not a tokaudit store manifest (expected schema {SCHEMA_ID})", path=path
            )
        manifest = cls(
            files=dict(body.get("files", {})),
            parts=list(body.get("parts", [])),
            rejects=list(body.get("rejects", [])),
            problems=dict(body.get("problems", {})),
            next_part=int(body.get("next_part", 1)),
            retired=list(body.get("retired", [])),
            file_log=body.get("file_log"),
        )
        if schema in LEGACY_SCHEMAS:
            manifest._pending = dict.fromkeys(manifest.files)  # all to the log at next commit
        return manifest

    def months(self) -> list[str]:
        """Months with committed rows, ascending."""
        return sorted({part["month"] for part in self.parts})

    def find_unchanged(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The content hash of a file already ingested from this path with this size and mtime.

        Indexed on first use: a re-run over a tree of thousands of unchanged files must cost
        a dictionary lookup per file, not a scan of the whole manifest.
        """
        if self._by_stat is None:
            self._by_stat = {
                key: digest for digest, record in self.files.items() for key in _stat_keys(record)
            }
        return self._by_stat.get((path, size, mtime_ns))

    def record_file(self, digest: str, record: dict[str, Any]) -> None:
        """Add or replace a source file's record, keeping the lookup index exact."""
        previous = self.files.get(digest)
        if self._by_stat is not None:
            if previous is not None:
                for key in _stat_keys(previous):
                    self._by_stat.pop(key, None)
            for key in _stat_keys(record):
                self._by_stat[key] = digest
        self.files[digest] = record
        self._pending.pop(digest, None)
        self._pending[digest] = None  # re-appended: the log's last line for a digest wins

    def remember_stat(self, digest: str, path: str, size: int, mtime_ns: int) -> None:
        """Note that the content ``digest`` was found again under this path, size and mtime.

        A file touched without changing (copied again by a sync that does not keep times,
        checked out anew) misses the stat lookup and is hashed to be recognised; noted
        here, the next run skips it unread. The last :data:`SEEN_AS` such sightings are
        kept per record (two copies of one export, each touched now and then).
        """
        record = self.files[digest]
        seen = [list(key) for key in record.get("seen_as", [])]
        key = [path, size, mtime_ns]
        if _stat_key(record) == tuple(key) or key in seen:
            return
        self.record_file(digest, {**record, "seen_as": [*seen, key][-SEEN_AS:]})

    def take_pending(self) -> list[str]:
        """The digests whose records the log lacks, oldest first; none are left pending."""
        pending, self._pending = list(self._pending), {}
        return pending


def encode_records(files: dict[str, dict[str, Any]], digests: list[str]) -> bytes:
    """Log lines for ``files``' records of ``digests``: ``[digest, record]``, one per line.

    ASCII-only compact JSON never contains a raw newline, so lines are records.
    """
    return b"".join(
        json.dumps([digest, files[digest]], sort_keys=True, separators=(",", ":")).encode() + b"\n"
        for digest in digests
    )


def decode_records(data: bytes, path: Path) -> dict[str, dict[str, Any]]:
    """The records of a log's committed bytes; a digest's last line wins.

    Parsed as one JSON array (one call into the C decoder, not one per line): a year of
    history is tens of thousands of lines, read by every ingest and report.
    """
    if not data:
        return {}
    try:
        pairs = json.loads(b"[" + data.rstrip(b"\n").replace(b"\n", b",") + b"]")
        return {str(digest): dict(record) for digest, record in pairs}
    except (ValueError, TypeError) as exc:
        raise StoreError(
            f"file record log is damaged: {exc}", path=path, hint=DAMAGED_HINT
        ) from exc


def _merge_groups(parts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The runs of consecutive small parts in ``parts`` (one month, in order), cut where a
    run would pass :data:`MERGED_PART_ROWS`; only runs of two or more."""
    groups: list[list[dict[str, Any]]] = [[]]
    for part in parts:
        small = int(part["rows"]) < SMALL_PART_ROWS
        full = sum(int(p["rows"]) for p in groups[-1]) + int(part["rows"]) > MERGED_PART_ROWS
        if not small or full:
            groups.append([])
        if small:
            groups[-1].append(part)
    return [group for group in groups if len(group) >= 2]


def _stat_key(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    return record.get("path"), record.get("size"), record.get("mtime_ns")


def _stat_keys(record: dict[str, Any]) -> list[tuple[Any, Any, Any]]:
    """Every (path, size, mtime) the record's content was seen under: ingested, then again."""
    return [_stat_key(record), *(tuple(key) for key in record.get("seen_as", []))]


class Store:
    """Read access to a store; :meth:`writer` for the single writer at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def exists(self) -> bool:
        """Whether anything was ever committed here."""
        return self.manifest_path.is_file()

    def manifest(self) -> Manifest:
        """The committed state, file records included; an absent store reads as empty."""
        for attempt in (1, 2):
            if not self.exists():
                return Manifest()
            try:
                data = self.manifest_path.read_bytes()
            except OSError as exc:
                raise StoreError(
                    f"cannot read manifest: {exc.strerror}", path=self.manifest_path
                ) from exc
            manifest = Manifest.from_json(data, self.manifest_path)
            try:
                return self._with_records(manifest)
            except FileNotFoundError as exc:
                # Once: a writer may have compacted the log and committed between our two
                # reads, and the manifest now names the new log.
                if attempt == 2:
                    raise StoreError(
                        "the file record log the manifest names is missing",
                        path=exc.filename,
                        hint=DAMAGED_HINT,
                    ) from exc
        raise AssertionError("unreachable")

    def _with_records(self, manifest: Manifest) -> Manifest:
        """``manifest`` with the committed records of its log (bytes past them are not)."""
        log = manifest.file_log
        if log is None:
            return manifest
        path = self.root / str(log["path"])
        committed = int(log["bytes"])
        try:
            with path.open("rb") as handle:
                data = handle.read(committed)
        except FileNotFoundError:
            raise  # Store.manifest reads the manifest again: a compaction may have replaced it
        except OSError as exc:
            raise StoreError(f"cannot read file record log: {exc.strerror}", path=path) from exc
        if len(data) < committed:
            raise StoreError(
                f"file record log is cut short: {len(data)} of {committed} committed bytes",
                path=path,
                hint=DAMAGED_HINT,
            )
        manifest.files = decode_records(data, path)
        return manifest

    def scan(
        self,
        months: list[str] | None = None,
        manifest: Manifest | None = None,
        *,
        row_index: str | None = None,
    ) -> pl.LazyFrame:
        """Canonical rows of the given months (all when None), lazily; only their parts are read.

        ``row_index`` names a column numbering the rows of those parts in order, before any
        filter: committed parts never change, so with the same manifest a number always
        finds the same row again (the report reads some columns of a few rows that way).
        """
        manifest = manifest or self.manifest()
        paths = [
            str(self.root / part["path"])
            for part in manifest.parts
            if months is None or part["month"] in months
        ]
        if not paths:
            empty = empty_frame().lazy()
            return empty if row_index is None else empty.with_row_index(row_index)
        return pl.scan_parquet(paths, schema=canonical_schema(), row_index_name=row_index)

    def scan_rejects(self, manifest: Manifest | None = None) -> pl.LazyFrame:
        """Every rejected row ever recorded (file, line, source, reason)."""
        manifest = manifest or self.manifest()
        paths = [str(self.root / item["path"]) for item in manifest.rejects]
        if not paths:
            return pl.LazyFrame(schema=pl.Schema(REJECT_SCHEMA))
        return pl.scan_parquet(paths, schema=pl.Schema(REJECT_SCHEMA))

    @contextlib.contextmanager
    def writer(self) -> Iterator[StoreWriter]:
        """Exclusive write access: two overlapping ingests serialise here instead of racing."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = (self.root / "lock").open("a+")
        except OSError as exc:
            raise StoreError(f"cannot open store: {exc.strerror}", path=self.root) from exc
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            writer = StoreWriter(self, self.manifest())
            writer.remove_orphans()
            yield writer
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            lock.close()


_HASH = "_id_hash"
#: A fixed seed: the hashes of stored ids and of new rows must agree within a run.
_SEED = 0x70CA


def _id_hash() -> pl.Expr:
    return pl.col("record_id").hash(_SEED).alias(_HASH)


@dataclass
class _MonthIds:
    """An ingest run's in-memory index of one month's stored ids: which parts, which hashes."""

    parts: set[str]
    hashes: list[pl.Series]

    def add(self, parts: list[str], hashes: pl.Series) -> None:
        self.parts.update(parts)
        if hashes.len():
            self.hashes.append(hashes)
            if len(self.hashes) > 8:  # keep the probe one query over a few arrays
                self.hashes = [pl.concat(self.hashes)]

    def matching(self, probe: pl.Series) -> pl.Series:
        """The hashes in ``probe`` that some stored id also has (usually none)."""
        if not self.hashes:
            return probe.clear()
        stored = pl.DataFrame([pl.concat(self.hashes, rechunk=False).alias(_HASH)])
        # Semi-join with the (small) new batch as the hash table, probed by the stored ids.
        found = stored.join(pl.DataFrame([probe.alias(_HASH)]), on=_HASH, how="semi")
        return found.get_column(_HASH).unique()


#: How every part is written (an encoded part must come out as the writer would write it).
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "statistics": True}


@dataclass(frozen=True)
class _MonthRows:
    month: str
    rows: pl.DataFrame  # unique ids, each with its hash in ``_id_hash``
    encoded: bytes | None  # ``rows`` without the hash, as the part file (None: not encoded)
    per_file: dict[str, int]


@dataclass(frozen=True)
class PreparedAppend:
    """Rows made ready to append: ids hashed and made unique, split by month, each month's
    part encoded. Built by :func:`prepare_append` on any thread; written by
    :meth:`StoreWriter.append_prepared` on the writer's."""

    groups: tuple[_MonthRows, ...]


def prepare_append(rows: pl.DataFrame, *, encode: bool = True) -> PreparedAppend:
    """The part of an append that needs nothing from the store, so it can run elsewhere.

    An ingest's reading thread is the one a Claude Code ingest waits on, while its worker
    thread idles a fifth of the run: the worker does this for each batch it maps (hashing,
    splitting and encoding were ~0.3 s of the reading thread's 4.5 s). Encoding before the
    check against the stored ids is wasted on rows already stored (a grown log read
    again), so ``encode=False`` leaves it to :meth:`StoreWriter.append_prepared`, for the
    fresh rows only: what an append on the writer's own thread does.
    """
    if rows.height == 0:
        return PreparedAppend(())
    # Each id hashed once: to prove the ids distinct (distinct 64-bit hashes do, for a
    # tenth of the cost of an exact unique over the text; ids repeated or hashes
    # colliding take the exact one), to check them against the month's, to remember them.
    rows = rows.with_columns(_id_hash())
    if rows.get_column(_HASH).n_unique() < rows.height:
        rows = rows.unique(subset="record_id", keep="first", maintain_order=True)
    # The month as a number (YYYYMM): formatting every timestamp as text cost more.
    key = (pl.col("ts").dt.year() * 100 + pl.col("ts").dt.month()).alias("_month")
    groups = []
    for (number,), group in rows.with_columns(key).group_by("_month", maintain_order=True):
        month_rows = group.drop("_month")
        encoded = None
        if encode:
            buffer = io.BytesIO()
            month_rows.drop(_HASH).write_parquet(buffer, **PARQUET_OPTIONS)
            encoded = buffer.getvalue()
        month = f"{number // 100:04d}-{number % 100:02d}"
        groups.append(_MonthRows(month, month_rows, encoded, _rows_per_file(month_rows)))
    return PreparedAppend(tuple(groups))


def _rows_per_file(rows: pl.DataFrame) -> dict[str, int]:
    return dict(rows.group_by("source_file").len().iter_rows())


class StoreWriter:
    """Appends deduplicated parts and commits them with a new manifest."""

    def __init__(self, store: Store, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self._known: dict[str, _MonthIds] = {}

    def remove_orphans(self) -> None:
        """Delete what a crashed writer left behind without committing it."""
        for stale in self.store.root.glob(f".{MANIFEST}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        listed = {part["path"] for part in self.manifest.parts}
        listed |= {item["path"] for item in self.manifest.rejects}
        listed |= {item["path"] for item in self.manifest.retired}
        log = self.manifest.file_log
        if log is not None:
            listed.add(log["path"])
            with contextlib.suppress(OSError), (self.store.root / log["path"]).open("r+b") as file:
                file.truncate(int(log["bytes"]))  # what a killed run appended, never committed
        for folder in ("data", "rejects", FILE_LOG_DIR):
            base = self.store.root / folder
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                if path.is_file() and str(path.relative_to(self.store.root)) not in listed:
                    with contextlib.suppress(OSError):
                        path.unlink()

    def remove_retired(self, now: float) -> int:
        """Delete the parts merges replaced more than :data:`RETIRED_SECONDS` ago; returns
        how many (0: nothing to commit).

        They leave the manifest with the next commit; deleted first, a crash in between
        leaves a name whose file is already gone, which the next run drops the same way.
        """
        expired = [p for p in self.manifest.retired if now - p["since"] >= RETIRED_SECONDS]
        for item in expired:
            with contextlib.suppress(OSError):
                (self.store.root / item["path"]).unlink()
        self.manifest.retired = [p for p in self.manifest.retired if p not in expired]
        return len(expired)

    def compact(self, now: float) -> int:
        """Merge each run of consecutive small parts of a month holding many; returns how
        many parts were merged (0: nothing to do). Commit to make it visible.

        Only consecutive parts are merged, in order, so a month's rows keep their order
        and every report stays the same; a merged part holds at most about
        :data:`MERGED_PART_ROWS`. The merge streams from the old parts to the new one, so
        memory stays bounded whatever the month holds. The old parts are retired, not
        deleted (see :meth:`remove_retired`).
        """
        merged = 0
        for month in self.manifest.months():
            parts = [p for p in self.manifest.parts if p["month"] == month]
            if len(parts) <= COMPACT_PARTS:
                continue
            for group in _merge_groups(parts):
                merged += len(group)
                self._merge(group, now)
        return merged

    def _new_path(self, folder: str, stem: str, suffix: str) -> str:
        """A new file's path, ``folder/stem-N.suffix``: N comes from the manifest's counter,
        so no name is ever used twice (a part, a log, rejects)."""
        relative = f"{folder}/{stem}-{self.manifest.next_part:06d}.{suffix}"
        self.manifest.next_part += 1
        return relative

    def _merge(self, group: list[dict[str, Any]], now: float) -> None:
        month = group[0]["month"]
        relative = self._new_path(f"data/month={month}", "part", "parquet")
        rows = pl.scan_parquet(
            [str(self.store.root / part["path"]) for part in group], schema=canonical_schema()
        )
        self._write_part(rows, relative)
        fault_point("part-merged")
        first = self.manifest.parts.index(group[0])
        replaced = {part["path"] for part in group}
        entry = {"path": relative, "month": month, "rows": sum(p["rows"] for p in group)}
        self.manifest.parts = [
            entry if index == first else part
            for index, part in enumerate(self.manifest.parts)
            if index == first or part["path"] not in replaced
        ]
        self.manifest.retired += [{"path": path, "since": now} for path in sorted(replaced)]

    def _write_part(self, frame: pl.DataFrame | pl.LazyFrame | bytes, relative: str) -> None:
        """Write a part durably under a temporary name, then rename it into place.

        ``frame`` may be the Parquet file already encoded (see :func:`prepare_append`).
        """
        target = self.store.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        if isinstance(frame, bytes):
            tmp.write_bytes(frame)
        elif isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp, **PARQUET_OPTIONS)
        else:
            frame.write_parquet(tmp, **PARQUET_OPTIONS)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        fault_point("part-temp")
        tmp.replace(target)
        _fsync_dir(target.parent)
        fault_point("part-written")

    def existing_ids(self, month: str) -> pl.LazyFrame:
        """The record ids of one month, committed or written by this writer."""
        return self.store.scan([month], self.manifest).select("record_id")

    def _month_ids(self, month: str) -> _MonthIds:
        """Hashes of the month's stored ids, kept in step with the manifest's parts."""
        listed = [part["path"] for part in self.manifest.parts if part["month"] == month]
        known = self._known.get(month)
        if known is None or not known.parts <= set(listed):
            known = self._known[month] = _MonthIds(set(), [])
        missing = [path for path in listed if path not in known.parts]
        if missing:
            ids = pl.scan_parquet([str(self.store.root / path) for path in missing])
            known.add(missing, ids.select(_id_hash()).collect().to_series())
        return known

    def _fresh(self, group: pl.DataFrame, month: str) -> pl.DataFrame:
        """The rows of ``group`` (one month, unique ids, their hashes in ``_id_hash``) whose
        ids the month does not hold.

        A 64-bit hash of every stored id is kept in memory (80 MB for ten million), so a
        flush does not read the month's ids back from disk: only ids whose hash matches
        are checked exactly, so a hash collision can never drop a row.
        """
        known = self._month_ids(month)
        hits = known.matching(group.get_column(_HASH))
        if hits.len() == 0:
            return group
        suspects = group.filter(pl.col(_HASH).is_in(hits.implode()))
        stored = (
            self.existing_ids(month)
            .filter(pl.col("record_id").is_in(suspects.get_column("record_id").implode()))
            .collect()
        )
        return group.join(stored, on="record_id", how="anti", maintain_order="left")

    def append(self, rows: pl.DataFrame) -> int:
        """Write the rows not already stored (by ``record_id`` within their month).

        Returns how many rows were new. Nothing is visible to readers until :meth:`commit`.
        """
        return sum(self.append_by_file(rows).values())

    def append_by_file(self, rows: pl.DataFrame) -> dict[str, int]:
        """:meth:`append`, returning how many rows were new per ``source_file``.

        A batch of many files is written in one go; each file's ingest line still says how
        many of its rows were new and how many were duplicates.
        """
        return self.append_prepared(prepare_append(rows, encode=False))

    def append_prepared(self, prepared: PreparedAppend) -> dict[str, int]:
        """:meth:`append_by_file` for rows :func:`prepare_append` made ready elsewhere.

        Only what needs the store's state happens here: the check against the stored ids,
        and the part files, written from the bytes already encoded when every row is new
        (encoded here, from the fresh rows, otherwise).
        """
        counts: dict[str, int] = {}
        for group in prepared.groups:
            fresh = self._fresh(group.rows, group.month)
            if fresh.height == 0:
                continue
            relative = self._new_path(f"data/month={group.month}", "part", "parquet")
            whole = fresh.height == group.rows.height
            encoded = group.encoded if whole else None
            self._write_part(fresh.drop(_HASH) if encoded is None else encoded, relative)
            self.manifest.parts.append(
                {"path": relative, "month": group.month, "rows": fresh.height}
            )
            self._month_ids(group.month).add([relative], fresh.get_column(_HASH))
            per_file = group.per_file if whole else _rows_per_file(fresh)
            for name, rows_new in per_file.items():
                counts[name] = counts.get(name, 0) + rows_new
        return counts

    def append_rejects(self, rejects: pl.DataFrame) -> None:
        """Record rejected rows (file, line, reason) so reports can count and list them."""
        if rejects.height == 0:
            return
        relative = self._new_path("rejects", "part", "parquet")
        self._write_part(rejects.select(list(REJECT_SCHEMA)), relative)
        self.manifest.rejects.append({"path": relative, "rows": rejects.height})

    def record_file(self, digest: str, record: dict[str, Any]) -> None:
        """Note a fully ingested source file (committed with the next :meth:`commit`)."""
        self.manifest.record_file(digest, record)
        self.manifest.problems.pop(record["path"], None)

    def record_problem(self, path: str, problem: dict[str, Any] | None) -> None:
        """Remember (or, with None, forget) a file that could not be ingested, for the report."""
        if problem is None:
            self.manifest.problems.pop(path, None)
        else:
            self.manifest.problems[path] = {"path": path, **problem}

    def commit(self) -> None:
        """Make everything appended so far visible, atomically."""
        replaced = self._write_records()
        atomic_write_bytes(self.store.manifest_path, self.manifest.to_json())
        if replaced is not None:
            with contextlib.suppress(OSError):
                (self.store.root / replaced).unlink()

    def _write_records(self) -> str | None:
        """Append the records added since the last commit to the log, before the manifest.

        The manifest written next vouches for the new length; until it is, readers stop at
        the old one. The log is written afresh instead (returning the old log's path, to
        delete once committed) when there is none yet, when a legacy manifest held the
        records, or when lines of replaced records outnumber the live ones.
        """
        manifest = self.manifest
        digests = manifest.take_pending()
        if not digests:
            return None
        log = manifest.file_log
        live = len(manifest.files)
        if log is None or int(log["lines"]) + len(digests) > 2 * live:
            relative = self._new_path(FILE_LOG_DIR, "records", "jsonl")
            data = encode_records(manifest.files, sorted(manifest.files))
            atomic_write_bytes(self.store.root / relative, data)
            manifest.file_log = {"path": relative, "bytes": len(data), "lines": live}
            return None if log is None else str(log["path"])
        data = encode_records(manifest.files, digests)
        path = self.store.root / str(log["path"])
        try:
            with path.open("r+b") as handle:
                handle.seek(int(log["bytes"]))
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise StoreError(
                f"cannot append to file record log: {exc.strerror}", path=path
            ) from exc
        fault_point("file-log-appended")
        manifest.file_log = {
            "path": log["path"],
            "bytes": int(log["bytes"]) + len(data),
            "lines": int(log["lines"]) + len(digests),
        }
        return None
