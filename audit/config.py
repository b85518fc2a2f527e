"""``tokaudit.yaml``: the settings a monthly cron run needs in one reviewed file.

Searched in the current directory, then ``$XDG_CONFIG_HOME/tokaudit/`` (default
``~/.config/tokaudit/``); ``--config FILE`` names one explicitly. Every key is optional.
Command-line options win over the file, the file wins over built-in defaults. Unknown
keys are errors (a typo must not silently do nothing), reported with file and line.

```yaml
store: .tokaudit                 # where ingested rows live
timezone: Europe/Paris           # month and day boundaries of reports
prices: [our-prices/]            # extra price tables (see price_tables/README.md)
rules: [our-rules/]              # extra waste rules (a rule with a bundled rule's id replaces it)
attribution:                     # metadata/property keys that name a canonical column
  team: [team, department]
  project: [project, repo]
  purpose: [purpose, feature]
mappings:                        # home-made CSV/JSONL logs: your column -> canonical field
  - name: billing-proxy
    columns: {timestamp: ts, model: model_name, input_tokens: tokens_in, output_tokens: tokens_out}
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.errors import ConfigError
from audit.insights_config import InsightSettings, parse_insights
from audit.period import check_timezone
from audit.yamlio import line_of, load_yaml

CONFIG_NAME = "tokaudit.yaml"

#: Canonical attribution columns that metadata keys may be mapped onto.
ATTRIBUTION_TARGETS = (
    "user",
    "team",
    "project",
    "environment",
    "purpose",
    "app",
    "key_name",
    "session_id",
)
#: Metadata/property keys recognised by default (case-insensitive), per canonical column.
DEFAULT_ATTRIBUTION: dict[str, tuple[str, ...]] = {
    "user": ("user", "user_id", "userid", "_user", "end_user"),
    "team": ("team", "team_name", "department"),
    "project": ("project", "project_name", "repo", "repository"),
    "environment": ("environment", "env", "stage"),
    "purpose": ("purpose", "feature", "task", "use_case"),
    "app": ("app", "app_name", "application", "service"),
    "key_name": ("key_name", "api_key_name", "key_alias"),
    "session_id": ("session_id", "session", "trace_id", "conversation_id"),
}
#: Fields a user column mapping may fill (the generic-mapped adapter's vocabulary).
MAPPABLE_FIELDS = (
    "request_id",
    "timestamp",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "api_key",
    "key_name",
    "user",
    "team",
    "project",
    "environment",
    "purpose",
    "app",
    "session_id",
    "prompt_hash",
    "status",
    "http_status",
    "error_type",
    "latency_ms",
    "outcome",
    "cost_usd",
    "service_tier",
)
_TOP_KEYS = {
    "store",
    "timezone",
    "prices",
    "rules",
    "attribution",
    "mappings",
    "budgets",
    "smtp",
    "alerts",
    "anomalies",
}


@dataclass(frozen=True)
class ColumnMapping:
    """A user's own log layout: which of their columns holds which canonical field.

    ``input_includes_cached`` says their input count includes cache reads (OpenAI style),
    so tokaudit subtracts them; the default follows our convention (it does not).
    """

    name: str
    columns: dict[str, str]
    provider: str | None = None
    input_includes_cached: bool = False
    granularity: str = "request"
    line: int | None = None

    def signature(self) -> set[str]:
        """The source column names that identify a file as this layout (lower-case)."""
        return {name.lower() for name in self.columns.values()}


@dataclass(frozen=True)
class Config:
    """Settings from ``tokaudit.yaml`` (all optional)."""

    path: Path | None = None
    store: Path | None = None
    timezone: str | None = None
    prices: tuple[Path, ...] = ()
    rules: tuple[Path, ...] = ()
    attribution: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_ATTRIBUTION)
    )
    mappings: tuple[ColumnMapping, ...] = ()
    insights: InsightSettings = field(default_factory=InsightSettings)
    raw: dict[str, Any] = field(default_factory=dict)

    def attribution_lookup(self) -> dict[str, str]:
        """metadata key (lower-case) -> canonical column; the first column to claim a key wins."""
        lookup: dict[str, str] = {}
        for column, keys in self.attribution.items():
            for key in keys:
                lookup.setdefault(key.lower(), column)
        return lookup


def find_config(explicit: Path | None = None, cwd: Path | None = None) -> Path | None:
    """The config file to use: ``explicit``, else ./tokaudit.yaml, else the XDG location."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError("config file not found", path=explicit)
        return explicit
    local = (cwd or Path.cwd()) / CONFIG_NAME
    if local.is_file():
        return local
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    user = Path(base) / "tokaudit" / CONFIG_NAME
    return user if user.is_file() else None


def _strings(value: Any, where: str, path: Path, line: int | None) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ConfigError(f"{where} must be a name or a list of names", path=path, line=line)


def _mapping(spec: Any, index: int, path: Path) -> ColumnMapping:
    where = f"mappings[{index}]"
    line = line_of(spec)
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a mapping", path=path, line=line)
    unknown = set(spec) - {"name", "columns", "provider", "input_includes_cached", "granularity"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}", path=path, line=line
        )
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' is required", path=path, line=line)
    columns = spec.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ConfigError(
            f"{where}: 'columns' must map fields to your column names", path=path, line=line
        )
    bad = sorted(set(columns) - set(MAPPABLE_FIELDS))
    if bad:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(bad)} (fields: {', '.join(MAPPABLE_FIELDS)})",
            path=path,
            line=line_of(columns, line),
        )
    for required in ("timestamp", "model"):
        if required not in columns:
            raise ConfigError(f"{where}: the '{required}' column is required", path=path, line=line)
    if not {"input_tokens", "output_tokens", "cost_usd"} & set(columns):
        raise ConfigError(f"{where}: map token columns or cost_usd", path=path, line=line)
    if not all(isinstance(v, str) and v for v in columns.values()):
        raise ConfigError(
            f"{where}: every column name must be a non-empty string", path=path, line=line
        )
    granularity = spec.get("granularity", "request")
    if granularity not in {"request", "aggregate"}:
        raise ConfigError(f"{where}.granularity must be request or aggregate", path=path, line=line)
    return ColumnMapping(
        name=name,
        columns={k: str(v) for k, v in columns.items()},
        provider=spec.get("provider"),
        input_includes_cached=bool(spec.get("input_includes_cached", False)),
        granularity=granularity,
        line=line,
    )


def load_config(path: Path | None) -> Config:
    """Parse and validate a config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    doc = load_yaml(path)
    if doc is None:
        return Config(path=path)
    if not isinstance(doc, dict):
        raise ConfigError("tokaudit.yaml must be a mapping", path=path)
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(sorted(unknown))}"
            f" (known: {', '.join(sorted(_TOP_KEYS))})",
            path=path,
            line=line_of(doc),
        )
    base = path.parent
    store = Path(doc["store"]) if "store" in doc else None
    timezone = doc.get("timezone")
    if timezone is not None:
        check_timezone(str(timezone))
    prices = (
        tuple(base / p for p in _strings(doc.get("prices", []), "prices", path, line_of(doc)))
        if doc.get("prices")
        else ()
    )
    rules = (
        tuple(base / p for p in _strings(doc["rules"], "rules", path, line_of(doc)))
        if doc.get("rules")
        else ()
    )
    attribution = dict(DEFAULT_ATTRIBUTION)
    spec = doc.get("attribution") or {}
    if not isinstance(spec, dict):
        raise ConfigError("attribution must map columns to key names", path=path, line=line_of(doc))
    for column, keys in spec.items():
        if column not in ATTRIBUTION_TARGETS:
            raise ConfigError(
                f"attribution: unknown column {column!r} (one of {', '.join(ATTRIBUTION_TARGETS)})",
                path=path,
                line=line_of(spec),
            )
        attribution[column] = _strings(keys, f"attribution.{column}", path, line_of(spec))
    mappings_spec = doc.get("mappings") or []
    if not isinstance(mappings_spec, list):
        raise ConfigError("mappings must be a list", path=path, line=line_of(doc))
    mappings = tuple(_mapping(item, i, path) for i, item in enumerate(mappings_spec))
    names = [m.name for m in mappings]
    if len(set(names)) != len(names):
        raise ConfigError("mapping names must be unique", path=path, line=line_of(doc))
    return Config(
        path=path,
        store=(base / store) if store is not None and not store.is_absolute() else store,
        timezone=str(timezone) if timezone is not None else None,
        prices=prices,
        rules=rules,
        attribution=attribution,
        mappings=mappings,
        insights=parse_insights(doc, path),
        raw=dict(doc),
    )
