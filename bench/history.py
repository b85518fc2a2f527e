"""Does a monthly ingest stay as fast when the store already holds years of history?

The store lists every source file ever ingested, so the file records are the part of an
ingest that grows with history rather than with the month. This times ``tokaudit ingest``
of one tree into an empty store and into a store already holding ``--records`` file
records of earlier months (synthetic: a copy of a real record per earlier file, paths and
digests made unique; written through the store's own writer, so the ``audit`` package this
interpreter imports must be the measured one), interleaved, in fresh processes, and prints
wall time and peak RSS for each.

    python bench/history.py bench/data/claude-code-200k/projects --records 36000 --runs 2

36,000 records is a year of monthly 3,000-file Claude Code trees. Nothing here runs in the
test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import gnu_time, measure  # bench/ is not a package: imported by path

from audit.ingest import content_digest


def history_records(records: int) -> dict[str, dict[str, Any]]:
    """``records`` file records of earlier months, as an ingest writes them."""
    files = {}
    for index in range(records):
        digest = content_digest(f"earlier-{index}".encode())
        month = f"{2025 - index // 36000:04d}-{1 + index // 3000 % 12:02d}"
        files[digest] = {
            "format": "claude-code",
            "ingested_at": f"{month}-28T06:00:00Z",
            "months": [month],
            "mtime_ns": 1_700_000_000_000_000_000 + index,
            "path": f"/home/dev/.claude/projects/earlier-{index // 3000}/{digest[:36]}.jsonl",
            "reasons": [],
            "rows_duplicate": 0,
            "rows_loaded": 70,
            "rows_read": 70,
            "rows_rejected": 0,
            "size": 500_000 + index,
        }
    return files


def seed(store: Path, files: dict[str, dict[str, Any]]) -> None:
    """A committed store holding ``files`` and no rows, written by the code under test.

    Through its own writer, so the store is in the format that version reads (the first
    commit of an older format would otherwise rewrite it inside the timed ingest).
    """
    from audit.store import Store

    with Store(store).writer() as writer:
        for digest, record in files.items():
            writer.record_file(digest, record)
        writer.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "tree", type=Path, help="the exports of one month (e.g. a Claude Code tree)"
    )
    parser.add_argument("--records", type=int, default=36_000, help="earlier file records")
    parser.add_argument("--runs", type=int, default=2, help="runs of each, interleaved")
    parser.add_argument("--tokaudit", default=shutil.which("tokaudit") or "tokaudit")
    args = parser.parse_args(argv)
    files = history_records(args.records)
    size = len(json.dumps(files, separators=(",", ":")))
    timer = gnu_time()
    print(f"{args.records:,} earlier file records: {size / 2**20:.1f} MiB of JSON")
    print(f"{'store':<28} {'run':>3} {'wall s':>8} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory(prefix="tokaudit-history-") as scratch:
        for run in range(1, args.runs + 1):
            for name, seeded in (("empty", False), (f"{args.records:,} earlier files", True)):
                store = Path(scratch) / "store"
                shutil.rmtree(store, ignore_errors=True)
                if seeded:
                    seed(store, files)
                done = measure(
                    [args.tokaudit, "ingest", str(args.tree), "--store", str(store)], timer=timer
                )
                if done.returncode != 0:
                    sys.exit(f"ingest failed ({done.returncode}): {done.stderr.strip()}")
                peak = f"{done.rss_mib:,.0f}" if done.rss_mib is not None else "?"
                print(f"{name:<28} {run:>3} {done.wall:>8.2f} {peak:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
