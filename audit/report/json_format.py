"""``--format json``: the machine-readable report for pipelines and dashboards."""

from __future__ import annotations

import json

from audit.report import RenderContext, ReportFormat, report_format
from audit.report.model import Report
from audit.report.serialize import report_dict


@report_format
class JsonFormat(ReportFormat):
    """Stable, documented JSON (schema ``tokaudit.report/1``)."""

    name = "json"
    suffix = ".json"
    description = "machine-readable report (schema tokaudit.report/1)"

    def render(self, report: Report, context: RenderContext) -> str:
        return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
