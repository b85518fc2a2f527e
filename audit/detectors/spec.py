"""Loading and validating rule files (``rules/*.yaml``), with errors that name file and line.

``tokaudit rules check`` reports every problem in every file, not just the first, so a team
fixing its rules sees the whole list at once.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from audit.detectors.base import SEVERITIES, Detector, Param, Rule
from audit.detectors.where import compile_where
from audit.errors import ConfigError
from audit.registry import Registry
from audit.resources import bundled_dir
from audit.yamlio import line_of, load_yaml

RULE_KEYS = {
    "id",
    "title",
    "description",
    "severity",
    "detector",
    "where",
    "params",
    "recommendation",
    "enabled",
}
REQUIRED = ("id", "title", "severity", "detector", "recommendation")
_ID = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
#: Parameters every rule accepts, whatever its detector.
COMMON_PARAMS = {
    "min_savings_usd": Param("float", 0.0, "drop findings whose savings are below this"),
    "min_records": Param("int", 1, "drop findings with fewer flagged requests"),
}
#: Placeholders every recommendation may use.
BASE_PLACEHOLDERS = ("subject", "records", "cost", "savings", "rule")


def _check_param(name: str, spec: Param, value: Any, fail: Any) -> Any:
    kind = spec.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"params.{name} must be a whole number, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise fail(f"params.{name} must be a number, got {value!r}")
        return float(value)
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise fail(f"params.{name} must be text, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise fail(f"params.{name} must be true or false, got {value!r}")
        return value
    if kind == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"params.{name} must be a list of names, got {value!r}")
        return list(value)
    if kind == "dict[str,str]":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise fail(f"params.{name} must map names to names, got {value!r}")
        return dict(value)
    raise AssertionError(f"unknown param kind {kind}")


def parse_rule(doc: Any, path: Path, detectors: Registry[Detector]) -> Rule:
    """Validate one rule document; the first problem raises ConfigError(file, line)."""
    where = str(path)

    def fail(message: str, node: Any = None) -> ConfigError:
        return ConfigError(message, path=where, line=line_of(node, line_of(doc)))

    if not isinstance(doc, dict):
        raise fail("a rule file holds one mapping (id, title, severity, detector, …)")
    unknown = set(doc) - RULE_KEYS
    if unknown:
        raise fail(
            f"unknown key(s) {', '.join(sorted(unknown))} (keys: {', '.join(sorted(RULE_KEYS))})"
        )
    for key in REQUIRED:
        if key not in doc:
            raise fail(f"'{key}' is required")
    rule_id = doc["id"]
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise fail(f"id {rule_id!r} must be kebab-case (a-z, 0-9, dashes)")
    if doc["severity"] not in SEVERITIES:
        raise fail(f"severity must be one of {', '.join(SEVERITIES)}, got {doc['severity']!r}")
    kind = doc["detector"]
    if kind not in detectors:
        raise fail(f"unknown detector {kind!r} (detectors: {', '.join(detectors.names())})")
    detector = detectors.get(kind)
    for text_key in ("title", "recommendation"):
        if not isinstance(doc[text_key], str) or not doc[text_key].strip():
            raise fail(f"'{text_key}' must be non-empty text")
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise fail("'description' must be text")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("'enabled' must be true or false")
    raw_params = doc.get("params") or {}
    if not isinstance(raw_params, dict):
        raise fail("'params' must be a mapping")
    accepted = {**COMMON_PARAMS, **detector.params}
    unknown_params = set(raw_params) - set(accepted)
    if unknown_params:
        raise fail(
            f"unknown param(s) {', '.join(sorted(unknown_params))} for detector {kind}"
            f" (params: {', '.join(sorted(accepted))})",
            raw_params,
        )
    params = {name: spec.default for name, spec in accepted.items()}
    for name, value in raw_params.items():
        params[name] = _check_param(name, accepted[name], value, lambda m: fail(m, raw_params))
    compiled = compile_where(doc.get("where"), path=where, line=line_of(doc))
    rule = Rule(
        id=rule_id,
        title=doc["title"].strip(),
        description=description.strip(),
        severity=doc["severity"],
        detector=kind,
        where=compiled,
        params=params,
        recommendation=doc["recommendation"].strip(),
        path=where,
        line=line_of(doc),
        enabled=enabled,
        where_spec=doc.get("where"),
    )
    allowed = {*BASE_PLACEHOLDERS, *params, *detector.details(rule)}
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(rule.recommendation) if field}
    except ValueError as exc:
        raise fail(f"recommendation: {exc}") from exc
    bad = sorted(names - allowed)
    if bad:
        raise fail(
            f"recommendation uses unknown placeholder(s) {', '.join('{' + b + '}' for b in bad)}"
            f" (available: {', '.join('{' + a + '}' for a in sorted(allowed))})"
        )
    return rule


def _rule_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise ConfigError("rules folder does not exist", path=folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in {".yaml", ".yml"})


def check_rules(
    extra_dirs: Sequence[Path] = (),
    detectors: Registry[Detector] | None = None,
    *,
    include_bundled: bool = True,
) -> tuple[list[Rule], list[ConfigError]]:
    """Every valid rule (bundled first; a later folder's rule replaces one with the same id)
    and every problem found, so ``rules check`` can list them all."""
    from audit.detectors import DETECTORS

    registry = detectors or DETECTORS
    layers = ([bundled_dir("rules")] if include_bundled else []) + list(extra_dirs)
    rules: dict[str, Rule] = {}
    errors: list[ConfigError] = []
    for folder in layers:
        try:
            files = _rule_files(folder)
        except ConfigError as exc:
            errors.append(exc)
            continue
        seen: dict[str, str] = {}
        for path in files:
            try:
                rule = parse_rule(load_yaml(path), path, registry)
            except ConfigError as exc:
                errors.append(
                    exc if exc.path else ConfigError(exc.message, path=path, line=exc.line)
                )
                continue
            if rule.id in seen:
                errors.append(
                    ConfigError(
                        f"rule id {rule.id!r} is also defined in {seen[rule.id]}",
                        path=path,
                        line=rule.line,
                    )
                )
                continue
            seen[rule.id] = str(path)
            rules[rule.id] = rule
    return list(rules.values()), errors


def load_rules(extra_dirs: Sequence[Path] = (), *, include_bundled: bool = True) -> list[Rule]:
    """The active rules; an invalid rule file stops the run (a report must not silently skip it)."""
    rules, errors = check_rules(extra_dirs, include_bundled=include_bundled)
    if errors:
        raise errors[0]
    return [rule for rule in rules if rule.enabled]
