"""Rendering of command results that are not reports (ingest summaries, price listings).

Kept out of :mod:`audit.cli` so the CLI stays a thin layer, and testable on their own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from audit.detectors.base import Rule
from audit.ingest import FileResult, IngestObserver, IngestSummary
from audit.pricing import PriceBook
from audit.report.terminal import safe

_STATUS_STYLE = {
    "loaded": "green",
    "unchanged": "dim",
    "skipped": "dim",
    "unrecognised": "yellow",
    "empty": "yellow",
    "unreadable": "red",
}


def wants_color(stream: TextIO) -> bool:
    """Colour only on a real terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def make_console(stream: TextIO | None = None, *, width: int | None = None) -> Console:
    """A console for command output: plain and 100 columns wide unless on a colour terminal."""
    stream = stream or sys.stdout
    color = wants_color(stream)
    return Console(
        file=stream,
        width=width or (None if color else 100),
        force_terminal=color,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        emoji=False,
        soft_wrap=True,  # log lines stay whole in cron logs and pipes
    )


def file_line(result: FileResult) -> Text:
    """Two lines per file: status and path, then format and counts; reasons follow indented."""
    style = _STATUS_STYLE.get(result.status, "")
    indent = " " * 13
    line = Text()
    line.append(f"{result.status:<13}", style=style)
    line.append(safe(result.path))
    details: list[str] = []
    if result.format:
        details.append(result.format)
    if result.status == "loaded":
        details.append(
            f"read {result.rows_read:,} · new {result.rows_loaded:,}"
            f" · duplicates {result.rows_duplicate:,} · rejected {result.rows_rejected:,}"
        )
    elif result.message:
        message = safe(result.message)
        if result.candidates:
            message += f" (closest formats: {', '.join(result.candidates)})"
        details.append(message)
    if details:
        line.append(
            f"\n{indent}{' · '.join(details)}", style="dim" if result.status == "unchanged" else ""
        )
    for reason in result.reasons[:5]:
        line.append(
            f"\n{indent}rejected {reason['rows']:,} × {safe(reason['reason'])}"
            f" (first at line {reason['first_line']})",
            style="yellow",
        )
    if len(result.reasons) > 5:
        line.append(f"\n{indent}… and {len(result.reasons) - 5} more reasons", style="yellow")
    return line


class RichIngestObserver(IngestObserver):
    """Prints one entry per file as it finishes, and a byte-based progress bar on stderr."""

    #: Below this much input a bar only flickers; it appears for large runs.
    BAR_BYTES = 32 * 1024 * 1024

    def __init__(self, out: Console, *, quiet: bool, progress: bool | None) -> None:
        """``progress``: True always shows the bar, False never, None on a terminal for big runs."""
        self.out = out
        self.quiet = quiet
        self.want_bar = progress
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def started(self, files: list[tuple[Path, int]]) -> None:
        total = sum(size for _, size in files)
        if self.want_bar is False:
            return
        if self.want_bar is None and (total < self.BAR_BYTES or not wants_color(sys.stderr)):
            return
        self.bar = Progress(
            TextColumn("ingesting"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[name]}"),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("ingest", total=total, name="")
        self.bar.start()

    def file_started(self, path: Path, size: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, name=path.name[-40:])

    def file_done(self, result: FileResult, size: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task, size)
        if not self.quiet or result.problem:
            if self.bar is not None:
                self.bar.console.print(file_line(result))
            else:
                self.out.print(file_line(result))

    def finished(self, summary: IngestSummary) -> None:
        if self.bar is not None:
            self.bar.stop()


def summary_line(summary: IngestSummary) -> Text:
    """The closing line: what the run did overall."""
    counts: dict[str, int] = {}
    for item in summary.files:
        counts[item.status] = counts.get(item.status, 0) + 1
    files = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no files"
    text = Text()
    text.append("ingest: ", style="bold")
    text.append(
        f"{len(summary.files)} files ({files}); "
        f"{summary.total('rows_loaded'):,} rows loaded, "
        f"{summary.total('rows_duplicate'):,} duplicates merged, "
        f"{summary.total('rows_rejected'):,} rejected → {safe(summary.store)}"
    )
    if summary.parts_merged:
        text.append(f" ({summary.parts_merged:,} small store parts merged)")
    return text


def _short(path: str) -> str:
    """Bundled files by name; a user's own by path (so the two are told apart)."""
    shown = Path(path)
    return shown.name if "_bundled" in shown.parts or shown.parent.name == "rules" else str(shown)


def rules_table(rules: list[Rule]) -> Table:
    """``tokaudit rules list``: the active rules."""
    table = Table(title="Active waste rules", title_justify="left")
    for name in ("id", "detector", "severity", "title", "file"):
        table.add_column(name, overflow="fold")
    for rule in sorted(rules, key=lambda r: r.id):
        table.add_row(
            Text(rule.id),
            Text(rule.detector),
            Text(rule.severity),
            Text(rule.title),
            Text(safe(rule.path)),
        )
    return table


def price_table(book: PriceBook) -> Table:
    """``tokaudit prices list``: every model, its class, current price and alias count."""
    table = Table(title="Price tables (USD per 1M tokens, latest period)", title_justify="left")
    for name, justify in (
        ("model", "left"),
        ("table", "left"),
        ("class", "left"),
        ("since", "left"),
        ("input", "right"),
        ("cached", "right"),
        ("output", "right"),
        ("aliases", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for model in sorted(book.models.values(), key=lambda m: (m.vendor, m.id)):
        latest = model.periods[-1]
        table.add_row(
            Text(model.id),
            Text(safe(model.table)),
            Text(model.cls or ""),
            Text(latest.effective_from.isoformat()),
            Text(f"{latest.rates.input:g}"),
            Text(f"{latest.rates.cached_input:g}"),
            Text(f"{latest.rates.output:g}"),
            Text(str(len(model.aliases))),
        )
    return table
