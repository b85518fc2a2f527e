"""One ``tokaudit report`` run as a library call: the monthly cron job's whole policy.

Order matters for cron: everything a user can get wrong (arguments, tokaudit.yaml, SMTP
settings, recipients, rules, price tables) is checked before any work, so a typo fails fast
with exit 2; the report file is written before mail is attempted, so a delivery failure
(exit 1) never loses the report; ``--fail-on`` / ``--fail-over-budget`` exit codes come last.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from audit.config import Config, find_config, load_config
from audit.delivery import email_report, over_budget
from audit.detectors.spec import load_rules
from audit.errors import ExitCode, NoDataError, UsageError
from audit.mail import MailSettings, mail_settings, parse_recipients
from audit.period import parse_month
from audit.pricing import load_price_book
from audit.report import FORMATS, RenderContext, render
from audit.report.model import COST_MODES, Report, ReportOptions, build_report
from audit.store import DEFAULT_STORE, Store

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True)
class ReportRequest:
    """What the user asked for (CLI options, unvalidated)."""

    month: str = "last"
    fmt: str = "terminal"
    out: Path | None = None
    store: Path | None = None
    config: Path | None = None
    prices: tuple[Path, ...] = ()
    rules: tuple[Path, ...] = ()
    no_rules: bool = False
    fail_on: str | None = None
    fail_over_budget: bool = False
    cost_mode: str = "auto"
    timezone: str | None = None
    now: str | None = None
    email_to: tuple[str, ...] = ()
    color: bool = False


@dataclass
class ReportOutcome:
    """What happened: the rendered text (unless written to a file), notes, and the exit code."""

    report: Report
    text: str | None
    exit_code: ExitCode = ExitCode.OK
    notes: list[str] = field(default_factory=list)


def report_clock(value: str | None) -> datetime:
    """--now, else SOURCE_DATE_EPOCH (reproducible builds), else the real time."""
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


def settings_from(path: Path | None) -> Config:
    """The tokaudit.yaml in force (explicit, local, or XDG), or the defaults."""
    return load_config(find_config(path))


def store_from(option: Path | None, config: Config) -> Store:
    """--store (or TOKAUDIT_STORE), else the config's store, else ./.tokaudit."""
    return Store(option or config.store or Path(DEFAULT_STORE))


def _validate(request: ReportRequest) -> None:
    if request.fmt not in FORMATS:
        raise UsageError(
            f"unknown format {request.fmt!r} (choose from {', '.join(FORMATS.names())})"
        )
    if request.fail_on is not None and request.fail_on not in SEVERITY_RANK:
        raise UsageError(
            f"unknown severity {request.fail_on!r} for --fail-on (low, medium or high)"
        )
    if request.cost_mode not in COST_MODES:
        raise UsageError(
            f"unknown cost mode {request.cost_mode!r} (choose from {', '.join(COST_MODES)})"
        )


def run_report(request: ReportRequest) -> ReportOutcome:
    """Build, render, write, mail, and decide the exit code (see the module docstring)."""
    _validate(request)
    config = settings_from(request.config)
    recipients: list[str] = []
    mail: MailSettings | None = None
    if request.email_to:
        recipients = parse_recipients(list(request.email_to))
        mail = mail_settings(config.raw.get("smtp"), os.environ, path=config.path)
    clock = report_clock(request.now)
    period = parse_month(
        request.month, now=clock, timezone=request.timezone or config.timezone or "UTC"
    )
    book = load_price_book([*config.prices, *request.prices])
    rules = () if request.no_rules else tuple(load_rules([*config.rules, *request.rules]))
    store = store_from(request.store, config)
    if not store.exists():
        raise NoDataError("the store is empty: run 'tokaudit ingest PATH' first", path=store.root)
    options = ReportOptions(period, clock, request.cost_mode, rules, config.insights)
    report = build_report(store, book, options)
    if report.is_empty:
        held = ", ".join(store.manifest().months()) or "none"
        raise NoDataError(
            f"no usage for {period.label} in the store (months held: {held})", path=store.root
        )
    text = render(report, request.fmt, RenderContext(color=request.color and request.out is None))
    outcome = ReportOutcome(report, text)
    if request.out is not None:
        request.out.parent.mkdir(parents=True, exist_ok=True)
        request.out.write_text(text, encoding="utf-8")
        outcome.text = None
        outcome.notes.append(f"wrote {request.out}")
    if mail is not None:
        email_report(report, recipients, mail)  # MailError (exit 1) after the file is safe
        outcome.notes.append(f"sent the report to {', '.join(recipients)} via {mail.describe()}")
    if request.fail_on is not None:
        worst = [
            f
            for f in report.findings
            if SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK[request.fail_on]
        ]
        if worst:
            outcome.notes.append(f"{len(worst)} finding(s) at or above {request.fail_on}")
            outcome.exit_code = ExitCode.FINDINGS
    if request.fail_over_budget:
        exceeded = over_budget(report)
        if exceeded:
            outcome.notes.append(f"over budget: {', '.join(exceeded)}")
            outcome.exit_code = ExitCode.OVER_BUDGET
    return outcome


def interactive() -> bool:
    """Whether progress notes belong on stderr (a person watching, not cron)."""
    return sys.stderr.isatty()
