"""The local store: immutable Parquet parts partitioned by month, committed by a manifest.

Layout under the store root (default ``./.tokaudit``)::

    manifest.json                    the commit point: which parts and source files exist
    data/month=YYYY-MM/part-N.parquet canonical rows, never rewritten once committed
    rejects/part-N.parquet           rejected input rows (file, line, reason — no content)
    lock                             held by a writer for the whole ingest

A writer writes parts to temporary names, renames them into place, and only then replaces
``manifest.json`` atomically (write + fsync + rename). Readers read only the parts the
manifest lists, so a crash at any point leaves the previous committed state intact, and a
part written but never committed is invisible (and removed by the next writer). Every row
is unique on ``record_id`` within its month: a writer anti-joins new rows against the
month's committed ids before writing, which makes ingest at-least-once *with* dedup.
"""

from __future__ import annotations

import contextlib
import fcntl
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
#: Names a crash point for the crash-safety tests (see :func:`fault_point`).
FAULT_ENV = "TOKAUDIT_FAULT"
SCHEMA_ID = "tokaudit.store/1"
DEFAULT_STORE = ".tokaudit"


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
    _by_stat: dict[tuple[Any, Any, Any], str] | None = field(
        default=None, repr=False, compare=False
    )
    #: The records of ``files`` already encoded (see :meth:`to_json`): their digests and
    #: their JSON. Records are only ever added or replaced (:meth:`record_file`).
    _encoded: tuple[frozenset[str], bytes] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> bytes:
        """The manifest as written on every commit.

        It lists every source file ever ingested: a year of monthly Claude Code trees is
        some 36,000 records, 14 MB of JSON that took 0.1 s of the C encoder to write, on
        every commit (dozens per run: a month's tree ingested 60% slower than into an empty
        store). A record once written does not change, so each is encoded once: a commit
        encodes only the records added since the one before, after the others (each
        commit's in digest order). Compact, so the C encoder does it.
        """
        body = {
            "schema": SCHEMA_ID,
            "next_part": self.next_part,
            "parts": self.parts,
            "rejects": self.rejects,
            "problems": self.problems,
        }
        rest = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        if self._encoded is None:
            self._encoded = (frozenset(self.files), _records_json(self.files, sorted(self.files)))
        known, encoded = self._encoded
        new = set(self.files) - known
        if new:
            added = _records_json(self.files, sorted(new))
            encoded = b",".join(part for part in (encoded, added) if part)
            self._encoded = (known | new, encoded)
        # "files" sorts first among the keys; one copy of the 14 MB, not one per step.
        return b"".join((b'{"files":{', encoded, b"},", rest[1:]))

    @classmethod
    def from_json(cls, data: bytes, path: Path) -> Manifest:
        try:
            body = json.loads(data)
        except ValueError as exc:
            raise StoreError(f"manifest is not valid JSON: {exc}", path=path) from exc
        if not isinstance(body, dict) or body.get("schema") != SCHEMA_ID:
            raise StoreError(
                f"not a tokaudit store manifest (expected schema {SCHEMA_ID})", path=path
            )
        return cls(
            files=dict(body.get("files", {})),
            parts=list(body.get("parts", [])),
            rejects=list(body.get("rejects", [])),
            problems=dict(body.get("problems", {})),
            next_part=int(body.get("next_part", 1)),
        )

    def months(self) -> list[str]:
        """Months with committed rows, ascending."""
        return sorted({part["month"] for part in self.parts})

    def find_unchanged(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The content hash of a file already ingested from this path with this size and mtime.

        Indexed on first use: a re-run over a tree of thousands of unchanged files must cost
        a dictionary lookup per file, not a scan of the whole manifest.
        """
        if self._by_stat is None:
            self._by_stat = {_stat_key(record): digest for digest, record in self.files.items()}
        return self._by_stat.get((path, size, mtime_ns))

    def record_file(self, digest: str, record: dict[str, Any]) -> None:
        """Add or replace a source file's record, keeping the lookup index exact."""
        previous = self.files.get(digest)
        if self._encoded is not None and digest in self._encoded[0]:
            self._encoded = None  # a record encoded already changes: encode them all again
        if self._by_stat is not None:
            if previous is not None:
                self._by_stat.pop(_stat_key(previous), None)
            self._by_stat[_stat_key(record)] = digest
        self.files[digest] = record


def _records_json(files: dict[str, dict[str, Any]], digests: list[str]) -> bytes:
    """``files``' records of ``digests`` as the members of a JSON object, in that order."""
    members = (
        json.dumps(digest) + ":" + json.dumps(files[digest], sort_keys=True, separators=(",", ":"))
        for digest in digests
    )
    return ",".join(members).encode()


def _stat_key(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    return record.get("path"), record.get("size"), record.get("mtime_ns")


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
        """The committed state; an absent store reads as empty."""
        if not self.exists():
            return Manifest()
        try:
            data = self.manifest_path.read_bytes()
        except OSError as exc:
            raise StoreError(
                f"cannot read manifest: {exc.strerror}", path=self.manifest_path
            ) from exc
        return Manifest.from_json(data, self.manifest_path)

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


class StoreWriter:
    """Appends deduplicated parts and commits them with a new manifest."""

    def __init__(self, store: Store, manifest: Manifest) -> None:
        self.store = store
        self.manifest = manifest
        self._known: dict[str, _MonthIds] = {}

    def remove_orphans(self) -> None:
        """Delete part files a crashed writer left behind without committing them."""
        for stale in self.store.root.glob(f".{MANIFEST}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        listed = {part["path"] for part in self.manifest.parts}
        listed |= {item["path"] for item in self.manifest.rejects}
        for folder in ("data", "rejects"):
            base = self.store.root / folder
            if not base.is_dir():
                continue
            for path in base.rglob("*"):
                if path.is_file() and str(path.relative_to(self.store.root)) not in listed:
                    with contextlib.suppress(OSError):
                        path.unlink()

    def _write_part(self, frame: pl.DataFrame, relative: str) -> None:
        target = self.store.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        frame.write_parquet(tmp, compression="zstd", statistics=True)
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
        """The rows of ``group`` (one month, unique ids) whose ids the month does not hold.

        A 64-bit hash of every stored id is kept in memory (80 MB for ten million), so a
        flush does not read the month's ids back from disk: only ids whose hash matches
        are checked exactly, so a hash collision can never drop a row.
        """
        known = self._month_ids(month)
        hashed = group.with_columns(_id_hash().alias(_HASH))
        hits = known.matching(hashed.get_column(_HASH))
        if hits.len() == 0:
            return hashed.drop(_HASH)
        suspects = hashed.filter(pl.col(_HASH).is_in(hits.implode()))
        stored = (
            self.existing_ids(month)
            .filter(pl.col("record_id").is_in(suspects.get_column("record_id").implode()))
            .collect()
        )
        return hashed.drop(_HASH).join(stored, on="record_id", how="anti", maintain_order="left")

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
        counts: dict[str, int] = {}
        if rows.height == 0:
            return counts
        rows = rows.unique(subset="record_id", keep="first", maintain_order=True)
        rows = rows.with_columns(pl.col("ts").dt.strftime("%Y-%m").alias("_month"))
        for (month,), group in rows.group_by("_month", maintain_order=True):
            fresh = self._fresh(group.drop("_month"), str(month))
            if fresh.height == 0:
                continue
            relative = f"data/month={month}/part-{self.manifest.next_part:06d}.parquet"
            self._write_part(fresh, relative)
            self.manifest.parts.append(
                {"path": relative, "month": str(month), "rows": fresh.height}
            )
            self.manifest.next_part += 1
            self._month_ids(str(month)).add([relative], fresh.select(_id_hash()).to_series())
            for name, rows_new in fresh.group_by("source_file").len().iter_rows():
                counts[name] = counts.get(name, 0) + rows_new
        return counts

    def append_rejects(self, rejects: pl.DataFrame) -> None:
        """Record rejected rows (file, line, reason) so reports can count and list them."""
        if rejects.height == 0:
            return
        relative = f"rejects/part-{self.manifest.next_part:06d}.parquet"
        self._write_part(rejects.select(list(REJECT_SCHEMA)), relative)
        self.manifest.rejects.append({"path": relative, "rows": rejects.height})
        self.manifest.next_part += 1

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
        atomic_write_bytes(self.store.manifest_path, self.manifest.to_json())
