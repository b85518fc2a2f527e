"""``--format csv``: findings and breakdowns as one spreadsheet-ready table.

One UTF-8 CSV with a header row and RFC 4180 quoting (``\\r\\n`` line ends). The first
column, ``section``, says what a row is:

- ``total`` — the month (``key`` is the month), ``total:basis`` — the parts of the total
  (``key`` is ``billed``/``reported``/``calculated``),
- ``finding`` — a waste finding (``key`` is its subject), largest savings first,
- ``breakdown:<name>`` — one row per key of every breakdown (``provider``, ``model``, …,
  ``day``), in the report's order, all rows (no "top 10").

The columns are :data:`COLUMNS`, always all of them in that order, empty where they do not
apply. Money is a plain decimal string in USD to the micro-dollar (``137.427472``), shares
are fractions (``0.4624``), counts are integers.

Spreadsheet formula injection: a *text* cell that starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return gets a leading ``'`` so spreadsheets show it as text instead of
evaluating it (a user named ``=HYPERLINK(…)`` stays text). *Numeric* cells are exempt: they
are written by this module from numbers (never from source text), so a residual of
``-3.5`` stays the number ``-3.5``. A number-looking name such as ``"-1"`` is text and is
guarded.

:func:`findings_csv` renders only the findings (the email attachment), with their own
columns (:data:`FINDING_COLUMNS`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from audit.money import round_micro
from audit.report import RenderContext, ReportFormat, report_format
from audit.report.model import Report
from audit.report.serialize import BREAKDOWN_ORDER, report_dict

#: Columns of ``--format csv``, in order.
COLUMNS = (
    "section",
    "rank",
    "key",
    "basis",
    "cost_usd",
    "share",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "rule",
    "severity",
    "title",
    "records",
    "savings_usd",
    "recommendation",
)
#: Columns of the findings-only CSV (the email attachment), in order.
FINDING_COLUMNS = (
    "rank",
    "severity",
    "rule",
    "title",
    "subject",
    "records",
    "cost_usd",
    "savings_usd",
    "recommendation",
    "evidence_record_ids",
)
#: Leading characters that make a spreadsheet treat a cell as a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_MONEY_COLUMNS = frozenset({"cost_usd", "savings_usd"})
_TOKEN_COLUMNS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def guard_text(text: str) -> str:
    """A text cell made inert for spreadsheets: ``'`` before a formula-starting character."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def money_cell(value: object) -> str:
    """Money as a plain decimal string to the micro-dollar: ``137.427472``, ``-3.500000``."""
    if value is None or isinstance(value, bool):
        return ""
    if not isinstance(value, int | float | Decimal):
        raise TypeError(f"money must be a number, got {type(value).__name__}")
    return format(round_micro(Decimal(str(value))), "f")


def number_cell(value: object) -> str:
    """A count or fraction written from a number (never guarded: it is not text)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        text = format(Decimal(str(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    raise TypeError(f"expected a number, got {type(value).__name__}")


def cell(column: str, value: object) -> str:
    """One cell: money and numbers from numbers as written, anything else as guarded text."""
    if value is None:
        return ""
    if column in _MONEY_COLUMNS and isinstance(value, int | float | Decimal):
        return money_cell(value)
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return number_cell(value)
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return guard_text(str(value))


def _write(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(column, row.get(column)) for column in columns])
    return buffer.getvalue()


def _finding_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for rank, item in enumerate(data.get("findings") or [], start=1):
        if not isinstance(item, Mapping):
            continue
        evidence = item.get("evidence") or []
        ids = [str(e.get("record_id", "")) for e in evidence if isinstance(e, Mapping)]
        rows.append(
            {
                "rank": rank,
                "severity": item.get("severity"),
                "rule": item.get("rule"),
                "title": item.get("title"),
                "subject": item.get("subject"),
                "key": item.get("subject"),
                "records": item.get("records"),
                "cost_usd": item.get("cost_usd"),
                "savings_usd": item.get("savings_usd"),
                "recommendation": item.get("recommendation"),
                "evidence_record_ids": " ".join(i for i in ids if i),
            }
        )
    return rows


def csv_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of ``--format csv`` as dicts keyed by :data:`COLUMNS` (values unformatted)."""
    totals: Mapping[str, Any] = data.get("totals") or {}
    rows: list[dict[str, Any]] = [
        {
            "section": "total",
            "key": data.get("month"),
            "cost_usd": totals.get("cost_usd"),
            "share": 1 if totals.get("cost_usd") else 0,
            "requests": totals.get("requests"),
            **{column: totals.get(column) for column in _TOKEN_COLUMNS},
            "savings_usd": totals.get("savings_usd"),
        }
    ]
    total = Decimal(str(totals.get("cost_usd") or 0))
    for basis, amount in (totals.get("cost_by_basis") or {}).items():
        share = float(Decimal(str(amount)) / total) if total else 0.0
        rows.append(
            {
                "section": "total:basis",
                "key": basis,
                "cost_usd": amount,
                "share": round(share, 4),
            }
        )
    rows += [{"section": "finding", **row} for row in _finding_rows(data)]
    breakdowns = data.get("breakdowns") or {}
    names = [n for n in BREAKDOWN_ORDER if n in breakdowns]
    names += sorted(n for n in breakdowns if n not in BREAKDOWN_ORDER)
    for name in names:
        for rank, item in enumerate(breakdowns[name], start=1):
            rows.append(
                {
                    "section": f"breakdown:{name}",
                    "rank": rank,
                    "key": item.get("key"),
                    "basis": item.get("basis"),
                    "cost_usd": item.get("cost_usd"),
                    "share": item.get("share"),
                    "requests": item.get("requests"),
                    **{column: item.get(column) for column in _TOKEN_COLUMNS},
                }
            )
    return rows


def render_csv(data: Mapping[str, Any]) -> str:
    """``--format csv`` for report data shaped like :func:`report_dict`."""
    return _write(COLUMNS, csv_rows(data))


def findings_csv(data: Mapping[str, Any]) -> str:
    """Only the findings (header row even when there are none): the email attachment.

    Note: the "total" line is deliberately absent, so a spreadsheet sum of ``savings_usd``
    is the month's estimated avoidable spend.
    """
    return _write(FINDING_COLUMNS, _finding_rows(data))


@report_format
class CsvFormat(ReportFormat):
    """Findings and every breakdown as one CSV, for spreadsheets."""

    name = "csv"
    suffix = ".csv"
    description = "findings and breakdowns as one CSV for spreadsheets (formula-safe)"

    def render(self, report: Report, context: RenderContext) -> str:
        return render_csv(report_dict(report))


__all__ = [
    "COLUMNS",
    "FINDING_COLUMNS",
    "CsvFormat",
    "cell",
    "csv_rows",
    "findings_csv",
    "guard_text",
    "render_csv",
]
