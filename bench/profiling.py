"""Where tokaudit's time and memory go: ingest or report, in-process, by phase.

Runs the library call the CLI makes (``audit.ingest.ingest`` / ``build_report`` + JSON
rendering) with light wrappers around its main steps. Each step's wall time is accumulated
exclusively (nested steps are subtracted from their parent) and a sampler thread reads the
process RSS every 20 ms, so each step also gets the peak RSS seen while it ran. ``--cprofile``
adds a cProfile listing (Python-level cumulative time; Polars work shows up inside
``collect``/``collect_all``/``json_decode``). For the report, ``--polars`` also runs every
query of the report's ``collect_all`` separately (Polars 2 has no ``LazyFrame.profile()``)
and prints each one's time, slowest first.

    python bench/profiling.py ingest bench/data/jsonl-1M/logs --store /tmp/prof-store
    python bench/profiling.py report --store /tmp/prof-store --polars

Nothing here changes tokaudit; the wrappers only observe. Timings in-process are a little
lower than the CLI's (no process start, imports done once).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import pstats
import shutil
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import polars as pl

PAGE_MIB = 1 / 1024  # /proc/self/status reports kB


def rss_mib() -> float:
    with Path("/proc/self/status").open() as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * PAGE_MIB
    return 0.0


class Phases:
    """Exclusive wall time, calls and peak RSS per named phase (a stack: nesting is fine)."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, float]] = []
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.durations: dict[str, list[float]] = defaultdict(list)  # inclusive, per call
        self.peak: dict[str, float] = defaultdict(float)
        self.current = "(outside)"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.overall_peak = 0.0

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            value = rss_mib()
            name = self.current
            if value > self.peak[name]:
                self.peak[name] = value
            self.overall_peak = max(self.overall_peak, value)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self.stack:
            parent, since = self.stack[-1]
            self.seconds[parent] += now - since
        self.stack.append((name, now))
        self.current = name
        self.calls[name] += 1
        try:
            yield
        finally:
            end = time.perf_counter()
            _name, since = self.stack.pop()
            self.seconds[name] += end - since
            self.durations[name].append(end - now)
            value = rss_mib()
            self.peak[name] = max(self.peak[name], value)
            if self.stack:
                parent, _ = self.stack[-1]
                self.stack[-1] = (parent, end)
                self.current = parent
            else:
                self.current = "(outside)"

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Replace ``owner.attribute`` by a timed version (generators are timed per item).

        A missing attribute is skipped with a note: tokaudit changes, the profiler copes.
        """
        original = getattr(owner, attribute, None)
        if original is None:
            print(f"note: {getattr(owner, '__name__', owner)}.{attribute} not found; not timed")
            return
        phases = self

        if _is_generator_function(original):

            @functools.wraps(original)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                iterator = original(*args, **kwargs)
                while True:
                    with phases.phase(name):
                        try:
                            item = next(iterator)
                        except StopIteration:
                            return
                    yield item

            setattr(owner, attribute, gen_wrapper)
            return

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with phases.phase(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, wrapper)

    def table(self, total: float) -> str:
        rows = sorted(self.seconds.items(), key=lambda kv: kv[1], reverse=True)
        out = [
            f"{'phase':<46} {'seconds':>9} {'share':>6} {'calls':>7} {'peak RSS MiB':>13}",
            "-" * 85,
        ]
        for name, seconds in rows:
            out.append(
                f"{name:<46} {seconds:9.2f} {seconds / total:6.1%} {self.calls[name]:7d} "
                f"{self.peak.get(name, 0):13,.0f}"
            )
        out.append(f"{'total wall':<46} {total:9.2f}")
        out.append("")
        out.append("per call (inclusive seconds): first 3 … last 3, max — growth shows scaling")
        for name, _seconds in rows:
            calls = self.durations.get(name, [])
            if len(calls) < 4:
                continue
            head = " ".join(f"{d:.2f}" for d in calls[:3])
            tail = " ".join(f"{d:.2f}" for d in calls[-3:])
            out.append(f"  {name:<46} {head} … {tail}, max {max(calls):.2f}")
        out.append(f"{'process peak RSS (sampled)':<46} {self.overall_peak:,.0f} MiB")
        return "\n".join(out)


def _is_generator_function(func: Callable[..., Any]) -> bool:
    import inspect

    return inspect.isgeneratorfunction(inspect.unwrap(func))


@contextlib.contextmanager
def polars_collects(
    phases: Phases, each: Callable[[str, list[pl.LazyFrame]], None] | None = None
) -> Iterator[None]:
    """Time every ``LazyFrame.collect`` and ``pl.collect_all`` under the caller's name.

    This is where Polars does the work that lazy code only planned, so naming each collect
    by the tokaudit function that calls it attributes Polars time to tokaudit code.
    ``each(caller, frames)`` runs after a ``collect_all`` (e.g. to time its queries alone).
    """
    original_collect = pl.LazyFrame.collect
    original_all = pl.collect_all

    def caller() -> str:
        frame = sys._getframe(2)
        while frame and "/polars/" in frame.f_code.co_filename:
            frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            return "?"
        return f"{Path(frame.f_code.co_filename).stem}.{frame.f_code.co_name}"

    def collect(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        with phases.phase(f"collect in {caller()}"):
            return original_collect(self, *args, **kwargs)

    def collect_all(frames: Any, *args: Any, **kwargs: Any) -> Any:
        where = caller()
        frames = list(frames)
        with phases.phase(f"collect_all in {where} ({len(frames)} queries)"):
            result = original_all(frames, *args, **kwargs)
        if each is not None:
            each(where, frames)
        return result

    pl.LazyFrame.collect = collect  # type: ignore[method-assign]
    pl.collect_all = collect_all  # type: ignore[assignment]
    try:
        yield
    finally:
        pl.LazyFrame.collect = original_collect  # type: ignore[method-assign]
        pl.collect_all = original_all


# ----------------------------------------------------------------------------- ingest


def profile_ingest(paths: list[Path], store_dir: Path, phases: Phases) -> Any:
    import audit.ingest as ingest_mod
    import audit.normalize as normalize_mod
    import audit.sources.generic_jsonl as jsonl_mod
    import audit.sources.jsonlines as lines_mod
    import audit.sources.tables as tables_mod
    import audit.store as store_mod
    from audit.sources import SOURCES, ReadOptions
    from audit.store import Store

    phases.wrap(ingest_mod, "discover", "discover files")
    phases.wrap(ingest_mod, "file_digest", "XXH3 of each big file (file_digest)")
    phases.wrap(ingest_mod, "detect", "detect format (sniff)")
    phases.wrap(ingest_mod, "load_price_book", "load price book")
    # Reading: the adapter's generator (chunked read + decode + map, lazily built) ...
    for name in SOURCES.names():
        adapter = SOURCES.get(name)
        phases.wrap(type(adapter), "read", f"adapter.read: {name}")
    phases.wrap(lines_mod, "iter_lines", "  iter_lines (read bytes, split, utf-8)")
    phases.wrap(jsonl_mod, "iter_lines", "  iter_lines (read bytes, split, utf-8)")
    phases.wrap(jsonl_mod, "decode_objects", "  decode_objects (json_decode)")
    phases.wrap(jsonl_mod, "_discover_extra_keys", "  _discover_extra_keys")
    phases.wrap(jsonl_mod, "_map", "  generic_jsonl._map (eager stages)")
    phases.wrap(tables_mod, "iter_csv", "  iter_csv (scan_csv batches)")
    # ... then finish/split and the collect that runs everything still lazy.
    phases.wrap(normalize_mod, "finish", "finish (build validation plan)")
    phases.wrap(normalize_mod, "content_key", "finish (build validation plan)")
    phases.wrap(ingest_mod, "resolve_models", "resolve_models (model join)")
    phases.wrap(ingest_mod._Buffer, "flush", "buffer flush (concat)")
    # Appends: ids hashed, months split, parts encoded (on the worker for batches), then
    # checked against the stored ids and written; every append path goes through both.
    for owner in (ingest_mod, store_mod):
        phases.wrap(owner, "prepare_append", "store.prepare_append: hash ids, split, encode")
    phases.wrap(
        store_mod.StoreWriter, "append_prepared", "store.append_prepared: stored-id check + write"
    )
    phases.wrap(store_mod.StoreWriter, "_write_part", "store._write_part (parquet + fsync)")
    phases.wrap(store_mod.StoreWriter, "commit", "store.commit (manifest JSON + fsync)")
    phases.wrap(store_mod.StoreWriter, "append_rejects", "store.append_rejects")
    phases.wrap(store_mod.Manifest, "find_unchanged", "manifest.find_unchanged (path,size,mtime)")
    with polars_collects(phases):
        return ingest_mod.ingest(paths, Store(store_dir), options=ReadOptions())


# ----------------------------------------------------------------------------- report


def profile_report(store_dir: Path, no_rules: bool, phases: Phases, polars_profile: bool) -> str:
    import audit.report.model as model_mod
    from audit.detectors.spec import load_rules
    from audit.period import parse_month
    from audit.pricing import load_price_book
    from audit.report import RenderContext, render
    from audit.report.model import ReportOptions
    from audit.store import Store

    with phases.phase("load price book"):
        book = load_price_book([])
    with phases.phase("load rules"):
        rules = () if no_rules else tuple(load_rules([]))
    clock = datetime(2026, 7, 1, tzinfo=UTC)
    period = parse_month("2026-06", now=clock, timezone="UTC")
    phases.wrap(model_mod, "plan", "detectors: plan (build lazy queries)")
    phases.wrap(model_mod, "_layers", "report: build layers (lazy)")
    phases.wrap(model_mod, "priced_month", "priced_month (incl. distinct model_raw collect)")
    phases.wrap(model_mod, "findings_from", "detectors: findings_from (Python)")
    phases.wrap(model_mod, "_rows", "breakdowns to rows (Python)")
    profiles: list[tuple[str, float, float]] = []

    def each(where: str, frames: list[pl.LazyFrame]) -> None:
        if not polars_profile or not where.endswith("build_report"):
            return
        caller: FrameType | None = sys._getframe(1)
        names: list[object] = list(range(len(frames)))
        while caller is not None:
            if isinstance(caller.f_locals.get("queries"), dict):
                names = list(caller.f_locals["queries"])
                break
            caller = caller.f_back
        # Polars 2 has no LazyFrame.profile(): time each query alone instead. The sum
        # exceeds collect_all's time because collect_all shares common subplans.
        with phases.phase("(timing each query separately)"):
            for name, frame in zip(names, frames, strict=False):
                before = rss_mib()
                started = time.perf_counter()
                frame.collect()
                profiles.append((str(name), time.perf_counter() - started, rss_mib() - before))

    with polars_collects(phases, each):
        with phases.phase("build_report (other)"):
            report = model_mod.build_report(
                Store(store_dir), book, ReportOptions(period, clock, "auto", rules)
            )
        with phases.phase("render json"):
            text = render(report, "json", RenderContext(color=False))
    lines = [f"report: {len(text):,} bytes of JSON, {len(report.findings)} findings"]
    if profiles:
        lines.append("\nEach query of the report's collect_all, collected alone (seconds):")
        for name, wall, grown in sorted(profiles, key=lambda p: p[1], reverse=True):
            lines.append(f"  {name:<16} {wall:7.2f} s   RSS {grown:+,.0f} MiB")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    ing = sub.add_parser("ingest", help="profile an ingest into --store (emptied first)")
    ing.add_argument("paths", nargs="+", type=Path)
    ing.add_argument("--store", type=Path, required=True)
    ing.add_argument("--keep", action="store_true", help="do not empty the store first")
    rep = sub.add_parser("report", help="profile report --format json for 2026-06")
    rep.add_argument("--store", type=Path, required=True)
    rep.add_argument("--no-rules", action="store_true")
    rep.add_argument("--polars", action="store_true", help="time every query alone")
    for p in (ing, rep):
        p.add_argument("--cprofile", type=int, default=0, metavar="N", help="top N functions")
    args = parser.parse_args(argv)
    phases = Phases()
    profiler = cProfile.Profile() if args.cprofile else None
    print(f"rss at start (imports done): {rss_mib():,.0f} MiB  {datetime.now(UTC):%H:%M:%S}")
    phases.start()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    if args.what == "ingest":
        if not args.keep:
            shutil.rmtree(args.store, ignore_errors=True)
        summary = profile_ingest(args.paths, args.store, phases)
        detail = (
            f"ingest: {len(summary.files)} files, {summary.total('rows_loaded'):,} rows loaded, "
            f"{summary.total('rows_rejected'):,} rejected"
        )
    else:
        detail = profile_report(args.store, args.no_rules, phases, args.polars)
    if profiler:
        profiler.disable()
    total = time.perf_counter() - started
    phases.stop()
    print(detail)
    print()
    print(phases.table(total))
    if profiler:
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream).sort_stats("cumulative")
        stats.print_stats(args.cprofile)
        print(stream.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
