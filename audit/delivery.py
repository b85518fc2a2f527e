"""Sending a finished report by email: the HTML with a plain-text part and the findings CSV.

Kept apart from :mod:`audit.mail` (SMTP mechanics) and the formats, so the CLI only calls
one function and a library user can do the same.
"""

from __future__ import annotations

from audit.mail import MailSettings, build_message, send_message
from audit.report.csv_format import findings_csv
from audit.report.html import render_html, render_text
from audit.report.model import Report
from audit.report.serialize import report_dict


def email_report(report: Report, recipients: list[str], settings: MailSettings) -> None:
    """Render and send ``report``; raises :class:`audit.mail.MailError` when delivery fails."""
    data = report_dict(report)
    message = build_message(
        data, render_html(data), render_text(data), findings_csv(data), recipients, settings.sender
    )
    send_message(message, settings)


def over_budget(report: Report) -> list[str]:
    """Names of the budgets the month exceeded (for ``--fail-over-budget``)."""
    budgets = report.sections.get("budgets") or {}
    return [f"{b['scope']} {b['name']}" for b in budgets.get("items", []) if b["status"] == "over"]
