"""One exception tree for every mistake a user can cause, and the exit codes cron reads.

The CLI catches :class:`AuditError` once and prints it as a single line
(``file:line: message``), so library code raises these instead of printing.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes, documented in the README; cron jobs and CI branch on them."""

    OK = 0
    ERROR = 1  # something failed: I/O, store, mail delivery, an unexpected bug
    USAGE = 2  # bad arguments, missing path, invalid config, price table or rule file
    DATA = 3  # the run finished but input was rejected, or there is no data for the month
    FINDINGS = 4  # --fail-on SEVERITY matched at least one finding
    OVER_BUDGET = 5  # --fail-over-budget and a budget was exceeded


class AuditError(Exception):
    """A problem the user can act on; carries where it happened so the message can say so."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.hint = hint

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        text = f"{where}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class UsageError(AuditError):
    """Bad command-line input: a malformed --month, a path that does not exist."""

    exit_code = ExitCode.USAGE


class ConfigError(AuditError):
    """An invalid tokaudit.yaml, price table or rule file; nothing runs until it is fixed."""

    exit_code = ExitCode.USAGE


class PriceTableError(ConfigError):
    """A price table that cannot be trusted to price money."""


class SourceError(AuditError):
    """An input file that cannot be read at all (not a bad row: those are kept as rejects)."""

    exit_code = ExitCode.DATA


class StoreError(AuditError):
    """The local store is unreadable or could not be updated."""

    exit_code = ExitCode.ERROR


class NoDataError(AuditError):
    """The store holds nothing for the requested month: usually an ingest that did not run."""

    exit_code = ExitCode.DATA
