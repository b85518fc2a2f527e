"""Report periods: a calendar month in a timezone, given as ``YYYY-MM`` or ``last``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from audit.errors import UsageError

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class Month:
    """A calendar month; ``start``/``end`` are the UTC instants of its local midnights."""

    year: int
    month: int
    timezone: str

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    def days(self) -> list[date]:
        """Every day of the month, for charts that must show quiet days as zero."""
        count = (self.next_first_day - self.first_day).days
        return [self.first_day + timedelta(days=i) for i in range(count)]

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day, self.timezone)

    @property
    def end(self) -> datetime:
        return local_midnight(self.next_first_day, self.timezone)

    def previous(self) -> Month:
        if self.month == 1:
            return Month(self.year - 1, 12, self.timezone)
        return Month(self.year, self.month - 1, self.timezone)

    def storage_months(self) -> list[str]:
        """The UTC month partitions that can hold rows of this local month."""
        labels = {
            self.start.strftime("%Y-%m"),
            (self.end - timedelta(microseconds=1)).strftime("%Y-%m"),
        }
        return sorted(labels)


def local_midnight(day: date, timezone: str) -> datetime:
    """The UTC instant at which ``day`` begins in ``timezone``: where months and cut-offs
    start, so that they follow the user's calendar rather than UTC's."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def check_timezone(name: str) -> str:
    """Validate an IANA timezone name, so a typo fails before any work is done."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(
            f"unknown timezone {name!r} (use an IANA name such as Europe/Paris or UTC)"
        ) from exc
    return name


def parse_month(text: str, *, now: datetime, timezone: str = "UTC") -> Month:
    """``YYYY-MM`` or ``last`` (the calendar month before ``now`` in ``timezone``).

    Anything else is a usage error: a report must never guess which month was meant.
    """
    check_timezone(timezone)
    value = text.strip().lower()
    if value == "last":
        local = now.astimezone(ZoneInfo(timezone))
        return Month(local.year, local.month, timezone).previous()
    if value in {"this", "current"}:
        local = now.astimezone(ZoneInfo(timezone))
        return Month(local.year, local.month, timezone)
    match = _MONTH.match(value)
    if not match:
        raise UsageError(f"invalid month {text!r}: expected YYYY-MM (e.g. 2026-06) or 'last'")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise UsageError(f"invalid month {text!r}: month must be 01..12")
    if not 2015 <= year <= 2099:
        raise UsageError(f"invalid month {text!r}: year must be 2015..2099")
    return Month(year, month, timezone)


def parse_since(text: str, *, now: datetime, timezone: str = "UTC") -> datetime:
    """The instant ``ingest --modified-since`` names: the local midnight that starts a day
    (``YYYY-MM-DD``) or a month (``YYYY-MM``, ``last``, ``this``) in ``timezone``, in UTC.

    Local, like the report's months: a log written at 00:30 on the 1st in Paris holds rows
    of that month, although it is still the previous month in UTC.
    """
    value = text.strip().lower()
    match = _DAY.match(value)
    if not match:
        try:
            return parse_month(value, now=now, timezone=timezone).start
        except UsageError:
            raise UsageError(
                f"invalid date {text!r}: expected YYYY-MM-DD, YYYY-MM, 'last' or 'this'"
            ) from None
    check_timezone(timezone)
    try:
        day = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError as exc:
        raise UsageError(f"invalid date {text!r}: {exc}") from None
    return local_midnight(day, timezone)
