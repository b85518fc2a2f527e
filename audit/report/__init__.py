"""Report formats: one module per format, each registered with ``@report_format``.

Every format renders the same :class:`~audit.report.model.Report`; the CLI's ``--format``
choices are the registry's names, so a new format is one module and one import line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from audit.registry import Registry
from audit.report.model import Report


@dataclass(frozen=True)
class RenderContext:
    """How the output will be shown: colour only on a real terminal, a fixed width in tests."""

    color: bool = False
    width: int = 100


class ReportFormat(ABC):
    """One output format."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    description: ClassVar[str]

    @abstractmethod
    def render(self, report: Report, context: RenderContext) -> str:
        """The whole report as text (deterministic for the same report)."""


FORMATS: Registry[ReportFormat] = Registry("report format")
FormatT = TypeVar("FormatT", bound=type[ReportFormat])


def report_format(cls: FormatT) -> FormatT:
    """Class decorator registering a format under its ``name``."""
    FORMATS.register(cls.name)(cls())
    return cls


def render(report: Report, name: str, context: RenderContext | None = None) -> str:
    """Render ``report`` with the named format."""
    return FORMATS.get(name).render(report, context or RenderContext())


from audit.report import terminal, json_format, html, csv_format  # noqa: E402, F401, I001

__all__ = ["FORMATS", "RenderContext", "Report", "ReportFormat", "render", "report_format"]
