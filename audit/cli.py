"""The ``tokaudit`` command: parse arguments, call the library, render. Nothing else.

Exit codes (documented in the README, read by cron): 0 ok · 1 error · 2 usage or
configuration error · 3 data problem (rows or files rejected, or no data for the month).
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from audit import __version__
from audit.config import Config, find_config, load_config
from audit.console import (
    RichIngestObserver,
    make_console,
    price_table,
    rules_table,
    summary_line,
    wants_color,
)
from audit.detectors.spec import check_rules, load_rules
from audit.errors import AuditError, ExitCode, NoDataError, UsageError
from audit.ingest import ingest
from audit.litellm_import import convert_litellm
from audit.period import parse_month
from audit.pricing import load_price_book
from audit.report import FORMATS, RenderContext, render
from audit.report.model import COST_MODES, ReportOptions, build_report
from audit.sources import SOURCES, ReadOptions
from audit.store import DEFAULT_STORE, Store

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
prices_app = typer.Typer(help="Inspect, check and import price tables.", no_args_is_help=True)
app.add_typer(prices_app, name="prices")
rules_app = typer.Typer(help="List and validate the waste-detection rules.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")

F = TypeVar("F", bound=Callable[..., Any])
_state = {"debug": False}

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store", envvar="TOKAUDIT_STORE", metavar="DIR", help="Store folder [default: .tokaudit]."
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="TOKAUDIT_CONFIG",
        metavar="FILE",
        help="Settings file [default: ./tokaudit.yaml, else $XDG_CONFIG_HOME/tokaudit/].",
    ),
]
PricesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--prices",
        metavar="PATH",
        help="Your own price table file or folder (overrides ours). Repeatable.",
    ),
]


def _settings(config_path: Path | None) -> Config:
    return load_config(find_config(config_path))


def _store(option: Path | None, config: Config) -> Store:
    """--store (or TOKAUDIT_STORE), else the config file's store, else ./.tokaudit."""
    return Store(option or config.store or Path(DEFAULT_STORE))


RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules", metavar="DIR", help="A folder (or file) of your own rules. Repeatable."
    ),
]
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


def _fail(message: str, code: int) -> typer.Exit:
    print(f"tokaudit: error: {message}", file=sys.stderr)
    return typer.Exit(code)


def handled(func: F) -> F:
    """Turn library errors into one line on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AuditError as exc:
            if _state["debug"]:
                traceback.print_exc()
            raise _fail(str(exc), int(exc.exit_code)) from exc
        except OSError as exc:
            if _state["debug"]:
                traceback.print_exc()
            where = f"{exc.filename}: " if exc.filename else ""
            raise _fail(f"{where}{exc.strerror or exc}", int(ExitCode.ERROR)) from exc

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        print(f"tokaudit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    """Offline cost audit for LLM spend: ingest exports, price them, report.

    \b
    Monthly, from cron:
      tokaudit ingest exports/ && tokaudit report --month last

    Exit codes: 0 ok, 1 error, 2 usage or configuration error, 3 input rejected or no
    data for the month.
    """
    _state["debug"] = debug


@app.command("ingest")
@handled
def ingest_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(metavar="PATH", help="Export files or folders (searched recursively)."),
    ],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only problems and the summary.")
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress bar on stderr (default: on a terminal)."
        ),
    ] = None,
) -> None:
    """Load export files into the store (safe to re-run).

    The format of each file is detected from its content. Files already ingested and rows
    already stored are skipped, so re-running never double-counts. Bad rows are kept aside
    with file, line and reason, and counted; exit code 3 says something was rejected.
    """
    out = make_console()
    observer = RichIngestObserver(out, quiet=quiet, progress=progress)
    settings = _settings(config)
    options = ReadOptions(config=settings)
    summary = ingest(paths, _store(store, settings), options=options, observer=observer)
    out.print(summary_line(summary))
    raise typer.Exit(int(summary.exit_code))


def _now(value: str | None) -> datetime:
    """The report clock: --now, else SOURCE_DATE_EPOCH (reproducible builds), else real time."""
    if value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(f"invalid --now {value!r}: expected an ISO 8601 time") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), tz=UTC)
        except ValueError as exc:
            raise UsageError(f"invalid SOURCE_DATE_EPOCH {epoch!r}") from exc
    return datetime.now(UTC).replace(microsecond=0)


@app.command("report")
@handled
def report_cmd(
    month: Annotated[
        str,
        typer.Option(
            "--month", "-m", metavar="YYYY-MM", help="The month, or 'last' for the previous one."
        ),
    ] = "last",
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", metavar="|".join(FORMATS.names()), help="Output format."),
    ] = "terminal",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    prices: PricesOpt = None,
    rules: RulesOpt = None,
    no_rules: Annotated[bool, typer.Option("--no-rules", help="Skip waste detection.")] = False,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            metavar="low|medium|high",
            help="Exit 4 when a finding of this severity or higher exists (for pipelines).",
        ),
    ] = None,
    cost_mode: Annotated[
        str,
        typer.Option(
            "--cost-mode",
            metavar="|".join(COST_MODES),
            help="auto: what sources reported, else our price tables; "
            "calculate: price tables only; reported: source figures only.",
        ),
    ] = "auto",
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone", metavar="ZONE", help="IANA timezone for months and days [default: UTC]."
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now", metavar="TIME", help="Pin the report clock (ISO 8601) for reproducible output."
        ),
    ] = None,
) -> None:
    """Report one month's spend.

    Totals; spend by provider, model, API key, user and project; a daily chart; unpriced
    models and rejected input. Billed exports and request logs are never added together
    for the same provider and day.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS.names())})")
    if fail_on is not None and fail_on not in SEVERITY_RANK:
        raise UsageError(f"unknown severity {fail_on!r} for --fail-on (low, medium or high)")
    if cost_mode not in COST_MODES:
        raise UsageError(f"unknown cost mode {cost_mode!r} (choose from {', '.join(COST_MODES)})")
    settings = _settings(config)
    clock = _now(now)
    period = parse_month(month, now=clock, timezone=timezone or settings.timezone or "UTC")
    book = load_price_book([*settings.prices, *(prices or [])])
    active = () if no_rules else tuple(load_rules([*settings.rules, *(rules or [])]))
    the_store = _store(store, settings)
    if not the_store.exists():
        raise NoDataError(
            "the store is empty: run 'tokaudit ingest PATH' first", path=the_store.root
        )
    report = build_report(
        the_store, book, ReportOptions(period, clock, cost_mode, active, settings.insights)
    )
    if report.is_empty:
        held = ", ".join(the_store.manifest().months()) or "none"
        raise NoDataError(
            f"no usage for {period.label} in the store (months held: {held})", path=the_store.root
        )
    color = out is None and fmt == "terminal" and wants_color(sys.stdout)
    text = render(report, fmt, RenderContext(color=color))
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    if fail_on is not None:
        worst = [
            f for f in report.findings if SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[fail_on]
        ]
        if worst:
            print(f"tokaudit: {len(worst)} finding(s) at or above {fail_on}", file=sys.stderr)
            raise typer.Exit(int(ExitCode.FINDINGS))


@app.command("formats")
def formats_cmd() -> None:
    """List the export formats tokaudit reads, and how to obtain each."""
    for name, adapter in SOURCES.items():
        print(f"{name:<30} {adapter.granularity:<9} {adapter.title}")
        print(f"{'':30} how to get it: {adapter.obtain}")


@prices_app.command("list")
@handled
def prices_list(prices: PricesOpt = None, config: ConfigOpt = None) -> None:
    """Show every priced model and its latest price."""
    make_console().print(price_table(load_price_book([*_settings(config).prices, *(prices or [])])))


@prices_app.command("check")
@handled
def prices_check(prices: PricesOpt = None, config: ConfigOpt = None) -> None:
    """Validate the price tables; an error names its file and line."""
    book = load_price_book([*_settings(config).prices, *(prices or [])])
    aliases = sum(len(m.aliases) for m in book.models.values())
    print(f"ok: {len(book.models)} models, {aliases} aliases in {len(book.tables)} tables")


@prices_app.command("import")
@handled
def prices_import(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="A local copy of LiteLLM's model_prices_and_context_window.json."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="FILE", help="Where to write the price table.")
    ] = Path("litellm-prices.yaml"),
    effective_from: Annotated[
        str,
        typer.Option(
            "--effective-from", metavar="DATE", help="Date (YYYY-MM-DD) the prices apply from."
        ),
    ] = "2024-01-01",
    provider: Annotated[
        list[str] | None,
        typer.Option("--provider", metavar="NAME", help="Only this litellm_provider. Repeatable."),
    ] = None,
) -> None:
    """Convert LiteLLM's price map into a price table (then use it with --prices)."""
    result = convert_litellm(source, out, effective_from=effective_from, providers=provider or [])
    print(
        f"wrote {out}: {result.models} models ({result.skipped} entries skipped: "
        f"no per-token price or not a chat/completion model)"
    )


@rules_app.command("list")
@handled
def rules_list(rules: RulesOpt = None, config: ConfigOpt = None) -> None:
    """Show the active rules: id, detector, severity, title and where each comes from."""
    make_console().print(rules_table(load_rules([*_settings(config).rules, *(rules or [])])))


@rules_app.command("check")
@handled
def rules_check(rules: RulesOpt = None, config: ConfigOpt = None) -> None:
    """Validate every rule file and list every problem (file, line, reason)."""
    found, errors = check_rules([*_settings(config).rules, *(rules or [])])
    for error in errors:
        print(f"tokaudit: error: {error}", file=sys.stderr)
    if errors:
        raise typer.Exit(int(ExitCode.USAGE))
    print(f"ok: {len(found)} rules ({sum(r.enabled for r in found)} enabled)")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
