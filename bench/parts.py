"""What many small store parts cost a report, and what the merge at the end of an ingest wins.

A frequent cron (hourly over a Claude Code tree) writes a few small parts per run, and a
report opens every part of its month. This copies a month of a benchmark store into
``--parts`` parts of equal size (through the store's own writer, so the ``audit`` package
this interpreter imports must be the measured one), times ``tokaudit report --format json``
on it, lets ``tokaudit ingest`` (of an empty folder) merge the parts, times the merge and
the report again, and checks the two reports are the same bytes.

    python bench/parts.py bench/data/jsonl-1M/store --parts 1000 --runs 2

Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import REPORT_NOW, gnu_time, measure  # bench/ is not a package: imported by path


def split(source: Path, target: Path, parts: int, month: str) -> int:
    """``target``: the month's rows of ``source`` in ``parts`` parts, in order."""
    from audit.store import Store

    rows = Store(source).scan([month]).collect()
    size = -(-rows.height // parts)
    with Store(target).writer() as writer:
        for start in range(0, rows.height, size):
            writer.append(rows.slice(start, size))
        writer.commit()
    return len(Store(target).manifest().parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="a benchmark case's store (bench/data/*/store)")
    parser.add_argument("--parts", type=int, default=1000, help="parts to split the month into")
    parser.add_argument("--month", default="2026-06")
    parser.add_argument("--runs", type=int, default=2, help="reports timed on each layout")
    parser.add_argument("--tokaudit", default=shutil.which("tokaudit") or "tokaudit")
    args = parser.parse_args(argv)
    timer = gnu_time()
    with tempfile.TemporaryDirectory(prefix="tokaudit-parts-") as scratch:
        store, empty = Path(scratch) / "store", Path(scratch) / "empty"
        empty.mkdir()
        count = split(args.store, store, args.parts, args.month)
        report = [
            args.tokaudit, "report", "--month", args.month, "--format", "json",
            "--store", str(store), "--now", REPORT_NOW,
        ]  # fmt: skip
        print(f"{'layout':<24} {'step':<8} {'wall s':>8} {'peak RSS MiB':>13}")
        outputs = {}
        for layout in (f"{count:,} parts", "merged"):
            if layout == "merged":
                merge = measure(
                    [args.tokaudit, "ingest", str(empty), "--store", str(store)], timer=timer
                )
                if merge.returncode != 0:
                    sys.exit(f"ingest failed ({merge.returncode}): {merge.stderr.strip()}")
                _row(layout, "ingest", merge.wall, merge.rss_mib)
                print(f"  {merge.stdout.strip()}")
            for _ in range(args.runs):
                out = Path(scratch) / f"{layout}.json"
                done = measure(report, timer=timer, stdout_path=out)
                if done.returncode not in (0, 3):
                    sys.exit(f"report failed ({done.returncode}): {done.stderr.strip()}")
                _row(layout, "report", done.wall, done.rss_mib)
                outputs[layout] = out.read_bytes()
        same = len(set(outputs.values())) == 1
        print(f"reports identical: {'yes' if same else 'NO'}")
    return 0 if same else 1


def _row(layout: str, step: str, wall: float, rss: float | None) -> None:
    peak = f"{rss:,.0f}" if rss is not None else "?"
    print(f"{layout:<24} {step:<8} {wall:>8.2f} {peak:>13}")


if __name__ == "__main__":
    sys.exit(main())
