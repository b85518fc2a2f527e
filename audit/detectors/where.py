"""``where:`` filters of rule files, compiled to Polars expressions.

A filter is a condition or a list of conditions (all must hold). A condition is either
``{field: F, op: OP, value: V}`` or a combinator ``{all: [...]}`` / ``{any: [...]}`` /
``{not: condition}`` (``and``/``or`` are accepted as spellings of ``all``/``any``). The
operator is always explicit — a silent default operator is a classic source of rules that
match nothing. Comparisons never match a missing value; use ``absent``/``present`` for that.

Fields: every canonical column, the priced columns (``cost_usd``, ``calculated_cost_usd``,
``model_class``, …), derived ones (``prompt_tokens``, ``total_tokens``, ``hour``,
``weekday``) and ``tags.<key>`` for any key of the ``tags`` JSON object.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import polars as pl

from audit.errors import ConfigError
from audit.schema import CANONICAL
from audit.yamlio import line_of

OPERATORS = (
    "eq",
    "ne",
    "gt",
    "ge",
    "lt",
    "le",
    "in",
    "not-in",
    "glob",
    "regex",
    "absent",
    "present",
)
_NUMERIC_OPS = {"gt", "ge", "lt", "le"}
_TAG = re.compile(r"^tags\.([A-Za-z_][A-Za-z0-9_-]{0,63})$")

#: Fields computed from canonical ones, available to every rule.
DERIVED: dict[str, pl.Expr] = {
    "prompt_tokens": pl.col("input_tokens").fill_null(0)
    + pl.col("cached_input_tokens").fill_null(0)
    + pl.col("cache_write_tokens").fill_null(0),
    "total_tokens": pl.col("input_tokens").fill_null(0)
    + pl.col("cached_input_tokens").fill_null(0)
    + pl.col("cache_write_tokens").fill_null(0)
    + pl.col("output_tokens").fill_null(0),
    "hour": pl.col("ts").dt.hour(),
    "weekday": pl.col("ts").dt.weekday(),
}
PRICED_FIELDS = (
    "cost_usd",
    "calculated_cost_usd",
    "model_class",
    "price_match",
    "price_table",
    "unpriced_reason",
)
FIELDS: tuple[str, ...] = (*CANONICAL, *PRICED_FIELDS, *DERIVED)
_NUMERIC_FIELDS = {
    name for name, dtype in CANONICAL.items() if dtype.is_numeric() or isinstance(dtype, pl.Decimal)
} | {"cost_usd", "calculated_cost_usd", *DERIVED}


def tag_key(name: str) -> str | None:
    """The key of a ``tags.<key>`` field name; None for any other field."""
    tag = _TAG.match(name)
    return tag.group(1) if tag else None


def row_field(rows: pl.LazyFrame, name: str) -> pl.Expr:
    """:func:`field_expr`, or the column of that name when ``rows`` carry the field ready.

    The report reads each ``tags.<key>`` field its rules use once per distinct ``tags``
    value and hands it to the detectors as a column of that name: the same values, without
    parsing the JSON of every request.
    """
    if tag_key(name) and name in rows.collect_schema().names():
        return pl.col(name)
    return field_expr(name)


def spec_fields(spec: Any) -> set[str]:
    """Every field name a (compiled, so valid) ``where`` spec mentions."""
    if isinstance(spec, list):
        return {name for item in spec for name in spec_fields(item)}
    if not isinstance(spec, dict):
        return set()
    found = {spec["field"]} if isinstance(spec.get("field"), str) else set()
    for key in ("all", "and", "any", "or", "not"):
        if key in spec:
            found |= spec_fields(spec[key])
    return found


def field_expr(name: str) -> pl.Expr:
    """The expression for a field name (see module docstring)."""
    tag = _TAG.match(name)
    if tag:
        return pl.col("tags").str.json_path_match(f"$.{tag.group(1)}")
    if name in DERIVED:
        return DERIVED[name]
    return pl.col(name)


def glob_to_regex(pattern: str) -> str:
    """A shell glob (``*``, ``?``, ``[abc]``) as an anchored regular expression."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    out.append("$")
    return "".join(out)


class WhereCompiler:
    """Compiles one rule file's ``where`` with errors pointing at the file and line."""

    def __init__(self, path: str, default_line: int | None) -> None:
        self.path = path
        self.default_line = default_line

    def fail(self, message: str, node: Any = None) -> ConfigError:
        return ConfigError(
            f"where: {message}", path=self.path, line=line_of(node, self.default_line)
        )

    def compile(self, spec: Any) -> pl.Expr:
        if spec is None:
            return pl.lit(True)
        if isinstance(spec, list):
            if not spec:
                raise self.fail("an empty list matches nothing; remove 'where' to match all rows")
            return pl.all_horizontal([self.compile(item) for item in spec])
        if not isinstance(spec, dict):
            raise self.fail(f"expected a condition mapping, got {spec!r}", spec)
        combinators = {"all", "and", "any", "or", "not"} & set(spec)
        if combinators:
            if len(spec) != 1:
                raise self.fail(
                    f"'{sorted(combinators)[0]}' must be the only key of its mapping", spec
                )
            key, body = next(iter(spec.items()))
            if key == "not":
                return ~self.compile(body).fill_null(False)
            if not isinstance(body, list) or not body:
                raise self.fail(f"'{key}' needs a non-empty list of conditions", spec)
            parts = [self.compile(item) for item in body]
            return pl.all_horizontal(parts) if key in {"all", "and"} else pl.any_horizontal(parts)
        return self.condition(spec)

    def condition(self, spec: dict[str, Any]) -> pl.Expr:
        unknown = set(spec) - {"field", "op", "value"}
        if unknown:
            raise self.fail(
                f"unknown key(s) {', '.join(sorted(unknown))} (a condition is field/op/value)", spec
            )
        name = spec.get("field")
        if not isinstance(name, str) or not (name in FIELDS or _TAG.match(name)):
            known = ", ".join(FIELDS)
            raise self.fail(f"unknown field {name!r} (fields: {known}, tags.<key>)", spec)
        op = spec.get("op")
        if op not in OPERATORS:
            raise self.fail(
                f"unknown or missing op {op!r} for {name} (ops: {', '.join(OPERATORS)})", spec
            )
        column = field_expr(name)
        if op in {"absent", "present"}:
            if "value" in spec:
                raise self.fail(f"'{op}' takes no value", spec)
            return column.is_null() if op == "absent" else column.is_not_null()
        if "value" not in spec:
            raise self.fail(f"'{op}' needs a value", spec)
        value = spec["value"]
        numeric = name in _NUMERIC_FIELDS
        if op in _NUMERIC_OPS or (numeric and op in {"eq", "ne"}):
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise self.fail(f"'{op}' on {name} needs a number, got {value!r}", spec)
            if not numeric:
                raise self.fail(f"'{op}' compares numbers but {name} is text", spec)
            number = pl.lit(float(value))
            left = column.cast(pl.Float64)
            ops = {
                "gt": left > number,
                "ge": left >= number,
                "lt": left < number,
                "le": left <= number,
                "eq": left == number,
                "ne": left != number,
            }
            return ops[op].fill_null(False)
        if op in {"in", "not-in"}:
            if (
                not isinstance(value, list)
                or not value
                or any(isinstance(v, dict | list) for v in value)
            ):
                raise self.fail(f"'{op}' needs a non-empty list of values", spec)
            if numeric:
                numbers = [
                    float(v)
                    for v in value
                    if not isinstance(v, bool) and isinstance(v, int | float | Decimal)
                ]
                if len(numbers) != len(value):
                    raise self.fail(f"'{op}' on {name} needs numbers", spec)
                member = column.cast(pl.Float64).is_in(numbers)
            else:
                texts = [str(v) for v in value]
                member = _as_text(name, column, texts).is_in(texts)
            found = member if op == "in" else ~member
            return (found & column.is_not_null()).fill_null(False)
        if not isinstance(value, str):
            raise self.fail(f"'{op}' needs a text value, got {value!r}", spec)
        text = column.cast(pl.String)
        if op in {"eq", "ne"}:
            text = _as_text(name, column, [value])
            return ((text == value) if op == "eq" else (text != value)).fill_null(False)
        if op == "glob":
            return text.str.contains(glob_to_regex(value)).fill_null(False)
        try:
            re.compile(value)
            pl.Series([""]).str.contains(value)
        except (re.error, pl.exceptions.PolarsError) as exc:
            raise self.fail(f"invalid regex {value!r}: {exc}", spec) from exc
        return text.str.contains(value).fill_null(False)


def _as_text(name: str, column: pl.Expr, values: list[str]) -> pl.Expr:
    """``column`` as compared with the text ``values``: as text, except a column of the
    canonical schema's enums (``status``, ``outcome``, …) when every value is one of its
    categories, which compares as it is: the same answer (row by row, nulls included),
    without writing out a string per row of a month of millions."""
    dtype = CANONICAL.get(name)
    if isinstance(dtype, pl.Enum) and set(values) <= set(dtype.categories.to_list()):
        return column
    return column.cast(pl.String)


def compile_where(spec: Any, *, path: str, line: int | None = None) -> pl.Expr:
    """Compile a ``where`` spec (see module docstring); raises ConfigError with file and line."""
    return WhereCompiler(path, line).compile(spec)
