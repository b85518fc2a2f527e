"""``filter``: flag every request the rule's ``where`` matches; cost it with an expression.

The simplest rules need no Python: ``where`` picks the waste, ``params.savings`` says what
share of it is avoidable, as arithmetic over fields (``cost_usd * 0.5``,
``output_tokens * rate_output``, ``max(prompt_tokens - 8000, 0) * rate_input``).

Example::

    id: premium-models-in-dev
    title: Premium models in development
    severity: low
    detector: filter
    where:
      - {field: environment, op: in, value: [dev, staging]}
      - {field: model_class, op: eq, value: premium}
    params: {savings: "cost_usd * 0.6", subject: user}
    recommendation: "{subject} used premium models in dev/staging ({records} requests, {cost})."
"""

from __future__ import annotations

import ast
from typing import Any, ClassVar

import polars as pl

from audit.detectors import detector
from audit.detectors.base import (
    CALLER_COLUMNS,
    DetectContext,
    Detector,
    Param,
    Rule,
    caller,
    field_columns,
    key_label,
    money,
)
from audit.detectors.where import FIELDS, field_expr, row_field
from audit.errors import ConfigError
from audit.money import MONEY
from audit.pricing import RATE_COLUMNS

_NAMES = {*FIELDS, *RATE_COLUMNS.values()}
_SUBJECTS = {"caller": caller, "key": key_label}


def compile_savings(text: str) -> pl.Expr:
    """Safe arithmetic over field names → an exact decimal expression (no eval)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"params.savings: cannot parse {text!r}: {exc.msg}") from exc

    def build(node: ast.AST) -> pl.Expr:
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, ast.Add | ast.Sub | ast.Mult | ast.Div
        ):
            left, right = build(node.left), build(node.right)
            ops: dict[type, Any] = {
                ast.Add: lambda a, b: a + b,
                ast.Sub: lambda a, b: a - b,
                ast.Mult: lambda a, b: a * b,
                ast.Div: lambda a, b: a / b,
            }
            return ops[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return money(0) - build(node.operand)
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            return money(repr(node.value))
        if isinstance(node, ast.Name):
            if node.id not in _NAMES:
                raise ConfigError(f"params.savings: unknown field {node.id!r}")
            return field_expr(node.id).cast(MONEY)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"min", "max"}
            and len(node.args) >= 2
            and not node.keywords
        ):
            args = [build(a) for a in node.args]
            return pl.min_horizontal(args) if node.func.id == "min" else pl.max_horizontal(args)
        raise ConfigError(
            f"params.savings: only numbers, field names, + - * /, min() and max() allowed: {text!r}"
        )

    return build(tree.body)


@detector
class FilterDetector(Detector):
    """Flag what ``where`` matches; savings from an arithmetic expression."""

    name = "filter"
    summary = "flag every request matching `where`; savings = an expression over its fields"
    params: ClassVar[dict[str, Param]] = {
        "savings": Param("str", "cost_usd", "avoidable dollars per request, e.g. 'cost_usd * 0.5'"),
        "subject": Param(
            "str", "caller", "what a finding is about: caller, key, or any field name"
        ),
    }
    evidence = ("input_tokens", "output_tokens")

    def columns(self, rule: Rule) -> set[str] | None:
        subject = rule.params["subject"]
        if subject == "caller":
            reads = set(CALLER_COLUMNS)
        elif subject == "key":
            reads = {"key_name", "api_key"}
        else:
            reads = field_columns(subject)
        try:
            savings = set(compile_savings(rule.params["savings"]).meta.root_names())
        except ConfigError:
            return None  # detect() reports the problem
        return reads | savings | {"input_tokens", "output_tokens"}

    def detect(self, rows: pl.LazyFrame, rule: Rule, ctx: DetectContext) -> pl.LazyFrame:
        subject_name = rule.params["subject"]
        if subject_name in _SUBJECTS:
            subject = _SUBJECTS[subject_name]()
        elif subject_name in FIELDS or subject_name.startswith("tags."):
            subject = row_field(rows, subject_name).cast(pl.String).fill_null("(none)")
        else:
            raise ConfigError(
                f"params.subject: unknown field {subject_name!r}", path=rule.path, line=rule.line
            )
        try:
            savings = compile_savings(rule.params["savings"])
        except ConfigError as exc:
            raise ConfigError(exc.message, path=rule.path, line=rule.line) from exc
        return rows.with_columns(subject.alias("subject"), savings.alias("savings_usd"))
