"""The ``tokaudit`` command: parse arguments, call the library, render. Nothing else.

Exit codes (documented in the README, read by cron): 0 ok · 1 error · 2 usage or
configuration error · 3 data problem (rows or files rejected, or no data for the month).
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from audit import __version__
from audit.console import (
    RichIngestObserver,
    make_console,
    price_table,
    rules_table,
    summary_line,
    wants_color,
)
from audit.detectors.spec import check_rules, load_rules
from audit.errors import AuditError, ExitCode
from audit.ingest import ingest
from audit.litellm_import import convert_litellm
from audit.period import parse_since
from audit.pricing import load_price_book
from audit.report import FORMATS
from audit.report.model import COST_MODES
from audit.report_run import ReportRequest, interactive, run_report, settings_from, store_from
from audit.sources import SOURCES, ReadOptions

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


_settings = settings_from
_store = store_from


RulesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--rules", metavar="DIR", help="A folder (or file) of your own rules. Repeatable."
    ),
]


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
    data for the month, 4 report --fail-on matched, 5 report --fail-over-budget matched.
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
        bool | None,
        typer.Option(
            "--quiet/--verbose",
            "-q/-v",
            help="Print only problems and the summary, or every file [default: quiet unless "
            "on a terminal, so cron mails only what matters].",
        ),
    ] = None,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress bar on stderr (default: on a terminal)."
        ),
    ] = None,
    modified_since: Annotated[
        str | None,
        typer.Option(
            "--modified-since",
            metavar="YYYY-MM[-DD]|last|this",
            help="Skip, unread, files last modified before this day or month (local midnight "
            "in the config's timezone; 'last' / 'this' = start of the previous / current "
            "month). Skipped files are listed and not recorded: a later run without it still "
            "loads them.",
        ),
    ] = None,
) -> None:
    """Load export files into the store (safe to re-run).

    The format of each file is detected from its content. Files already ingested and rows
    already stored are skipped, so re-running never double-counts. Bad rows are kept aside
    with file, line and reason, and counted; exit code 3 says something was rejected.
    Run as often as you like: the small store parts frequent runs leave are merged as a
    month gathers many of them, so reports stay fast.
    """
    out = make_console()
    observer = RichIngestObserver(
        out, quiet=not sys.stdout.isatty() if quiet is None else quiet, progress=progress
    )
    settings = _settings(config)
    cutoff = None
    if modified_since is not None:
        zone = settings.timezone or "UTC"
        cutoff = parse_since(modified_since, now=datetime.now(UTC), timezone=zone)
    options = ReadOptions(config=settings)
    summary = ingest(
        paths, _store(store, settings), options=options, observer=observer, modified_since=cutoff
    )
    out.print(summary_line(summary))
    raise typer.Exit(int(summary.exit_code))


@app.command("report")
@handled
def report_cmd(
    month: Annotated[
        str, typer.Option("--month", "-m", metavar="YYYY-MM", help="The month, or 'last'.")
    ] = "last",
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", metavar="|".join(FORMATS.names()), help="Output format."),
    ] = "terminal",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="FILE", help="Write to FILE, not stdout.")
    ] = None,
    email_to: Annotated[
        list[str] | None,
        typer.Option(
            "--email-to",
            metavar="ADDR[,ADDR]",
            help="Email the HTML report (text part, findings CSV attached). SMTP: tokaudit.yaml "
            "or TOKAUDIT_SMTP_* variables.",
        ),
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    prices: PricesOpt = None,
    rules: RulesOpt = None,
    no_rules: Annotated[bool, typer.Option("--no-rules", help="Skip waste detection.")] = False,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on", metavar="low|medium|high", help="Exit 4 if a finding this severe exists."
        ),
    ] = None,
    fail_over_budget: Annotated[
        bool, typer.Option("--fail-over-budget", help="Exit 5 if a budget was exceeded.")
    ] = False,
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
        typer.Option("--timezone", metavar="ZONE", help="IANA timezone [default: UTC]."),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option("--now", metavar="TIME", help="Pin the report clock (ISO 8601)."),
    ] = None,
) -> None:
    """Report one month's spend, findings, budgets and alerts.

    Billed exports and request logs are never added together for the same provider and
    day. Exit codes: 0 ok, 1 error (including mail delivery), 2 usage/config, 3 no data,
    4 --fail-on matched, 5 --fail-over-budget matched.
    """
    request = ReportRequest(
        month=month,
        fmt=fmt,
        out=out,
        store=store,
        config=config,
        prices=tuple(prices or ()),
        rules=tuple(rules or ()),
        no_rules=no_rules,
        fail_on=fail_on,
        fail_over_budget=fail_over_budget,
        cost_mode=cost_mode,
        timezone=timezone,
        now=now,
        email_to=tuple(email_to or ()),
        color=fmt == "terminal" and wants_color(sys.stdout),
    )
    outcome = run_report(request)
    if outcome.text is not None:
        sys.stdout.write(outcome.text)
    for note in outcome.notes:
        if interactive() or outcome.exit_code != ExitCode.OK:
            print(f"tokaudit: {note}", file=sys.stderr)
    raise typer.Exit(int(outcome.exit_code))


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
