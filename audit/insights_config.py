"""Budgets, alert thresholds and anomaly sensitivity from ``tokaudit.yaml``.

```yaml
budgets:
  warn_at: 0.8                   # a budget at 80% of its limit is "warn"
  monthly:
    total: 150                   # the whole organisation
    team: {platform: 40, web: 30}
    project: {monorepo: 60}
    api_key: {prod-backend: 20}  # key name (or masked id) as reports show it
    model: {claude-opus-4-8: 10}
  daily:
    user: 5                      # every user's daily allocation
    users: {amartin: 12}         # per-user overrides
  automation:                    # a cap on CI / automated spend
    limit: 20
    match: {environment: [ci], app: [ci-pipeline]}   # a request matching any listed value
alerts:
  daily_spike: 1.2               # a day above 120% of its trailing average
  trailing_days: 7
  min_daily_usd: 1.0             # quiet days never alert
anomalies:
  threshold: 5.0                 # robust z-score (median/MAD) that counts as a jump
  min_change_usd: 1.0
  min_days: 7                    # a series needs this many active days for a baseline
```
All money is exact decimal; every error names the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from audit.errors import ConfigError
from audit.yamlio import line_of

MONTHLY_SCOPES = ("total", "team", "project", "api_key", "model")
AUTOMATION_FIELDS = (
    "environment",
    "app",
    "purpose",
    "project",
    "team",
    "user",
    "key_name",
    "api_key",
)


@dataclass(frozen=True)
class Budget:
    """One limit: ``scope`` total/team/project/api_key/model/automation, ``name`` within it."""

    scope: str
    name: str
    limit_usd: Decimal


@dataclass(frozen=True)
class InsightSettings:
    """Everything beyond the plain spend report that a config can tune."""

    monthly: tuple[Budget, ...] = ()
    warn_at: Decimal = Decimal("0.8")
    user_daily_default: Decimal | None = None
    user_daily: dict[str, Decimal] = field(default_factory=dict)
    automation: Budget | None = None
    automation_match: dict[str, tuple[str, ...]] = field(default_factory=dict)
    daily_spike: Decimal = Decimal("1.2")
    trailing_days: int = 7
    min_daily_usd: Decimal = Decimal("1")
    anomaly_threshold: float = 5.0
    anomaly_min_change_usd: Decimal = Decimal("1")
    anomaly_min_days: int = 7

    @property
    def has_budgets(self) -> bool:
        return bool(
            self.monthly
            or self.user_daily_default is not None
            or self.user_daily
            or self.automation
        )


def _amount(value: Any, where: str, path: Path | None, line: int | None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ConfigError(f"{where} must be an amount in USD, got {value!r}", path=path, line=line)
    amount = Decimal(str(value))
    if amount < 0:
        raise ConfigError(f"{where} must not be negative", path=path, line=line)
    return amount


def _mapping(value: Any, where: str, path: Path | None, line: int | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping", path=path, line=line_of(value, line))
    return value


def _check_keys(doc: dict[str, Any], allowed: set[str], where: str, path: Path | None) -> None:
    unknown = set(doc) - allowed
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}"
            f" (keys: {', '.join(sorted(allowed))})",
            path=path,
            line=line_of(doc),
        )


def parse_insights(raw: dict[str, Any], path: Path | None) -> InsightSettings:
    """Read the ``budgets``, ``alerts`` and ``anomalies`` sections of a config document."""
    settings: dict[str, Any] = {}
    budgets = raw.get("budgets")
    if budgets is not None:
        budgets = _mapping(budgets, "budgets", path, line_of(raw))
        _check_keys(budgets, {"warn_at", "monthly", "daily", "automation"}, "budgets", path)
        line = line_of(budgets)
        if "warn_at" in budgets:
            warn = _amount(budgets["warn_at"], "budgets.warn_at", path, line)
            if not 0 < warn <= 1:
                raise ConfigError(
                    "budgets.warn_at must be a share between 0 and 1", path=path, line=line
                )
            settings["warn_at"] = warn
        monthly: list[Budget] = []
        if "monthly" in budgets:
            spec = _mapping(budgets["monthly"], "budgets.monthly", path, line)
            _check_keys(spec, set(MONTHLY_SCOPES), "budgets.monthly", path)
            for scope in MONTHLY_SCOPES:
                if scope not in spec:
                    continue
                if scope == "total":
                    monthly.append(
                        Budget(
                            "total",
                            "organisation",
                            _amount(spec[scope], "budgets.monthly.total", path, line_of(spec)),
                        )
                    )
                    continue
                items = _mapping(spec[scope], f"budgets.monthly.{scope}", path, line_of(spec))
                for name, limit in items.items():
                    where = f"budgets.monthly.{scope}.{name}"
                    monthly.append(
                        Budget(scope, str(name), _amount(limit, where, path, line_of(items)))
                    )
        settings["monthly"] = tuple(monthly)
        if "daily" in budgets:
            spec = _mapping(budgets["daily"], "budgets.daily", path, line)
            _check_keys(spec, {"user", "users"}, "budgets.daily", path)
            if "user" in spec:
                settings["user_daily_default"] = _amount(
                    spec["user"], "budgets.daily.user", path, line_of(spec)
                )
            if "users" in spec:
                users = _mapping(spec["users"], "budgets.daily.users", path, line_of(spec))
                settings["user_daily"] = {
                    str(k): _amount(v, f"budgets.daily.users.{k}", path, line_of(users))
                    for k, v in users.items()
                }
        if "automation" in budgets:
            spec = _mapping(budgets["automation"], "budgets.automation", path, line)
            _check_keys(spec, {"limit", "match"}, "budgets.automation", path)
            if "limit" not in spec or "match" not in spec:
                raise ConfigError(
                    "budgets.automation needs 'limit' and 'match'", path=path, line=line_of(spec)
                )
            match = _mapping(spec["match"], "budgets.automation.match", path, line_of(spec))
            parsed: dict[str, tuple[str, ...]] = {}
            for key, values in match.items():
                if key not in AUTOMATION_FIELDS:
                    raise ConfigError(
                        f"budgets.automation.match: unknown field {key!r}"
                        f" (fields: {', '.join(AUTOMATION_FIELDS)})",
                        path=path,
                        line=line_of(match),
                    )
                values = values if isinstance(values, list) else [values]
                parsed[key] = tuple(str(v) for v in values)
            limit = _amount(spec["limit"], "budgets.automation.limit", path, line_of(spec))
            settings["automation"] = Budget("automation", "CI / automation", limit)
            settings["automation_match"] = parsed
    alerts = raw.get("alerts")
    if alerts is not None:
        alerts = _mapping(alerts, "alerts", path, line_of(raw))
        _check_keys(alerts, {"daily_spike", "trailing_days", "min_daily_usd"}, "alerts", path)
        line = line_of(alerts)
        if "daily_spike" in alerts:
            spike = _amount(alerts["daily_spike"], "alerts.daily_spike", path, line)
            if spike <= 1:
                raise ConfigError(
                    "alerts.daily_spike is a multiple of the average and must be above 1",
                    path=path,
                    line=line,
                )
            settings["daily_spike"] = spike
        if "trailing_days" in alerts:
            days = alerts["trailing_days"]
            if isinstance(days, bool) or not isinstance(days, int) or not 2 <= days <= 31:
                raise ConfigError(
                    "alerts.trailing_days must be a whole number of days, 2..31",
                    path=path,
                    line=line,
                )
            settings["trailing_days"] = days
        if "min_daily_usd" in alerts:
            settings["min_daily_usd"] = _amount(
                alerts["min_daily_usd"], "alerts.min_daily_usd", path, line
            )
    anomalies = raw.get("anomalies")
    if anomalies is not None:
        anomalies = _mapping(anomalies, "anomalies", path, line_of(raw))
        _check_keys(anomalies, {"threshold", "min_change_usd", "min_days"}, "anomalies", path)
        line = line_of(anomalies)
        if "threshold" in anomalies:
            settings["anomaly_threshold"] = float(
                _amount(anomalies["threshold"], "anomalies.threshold", path, line)
            )
        if "min_change_usd" in anomalies:
            settings["anomaly_min_change_usd"] = _amount(
                anomalies["min_change_usd"], "anomalies.min_change_usd", path, line
            )
        if "min_days" in anomalies:
            days = anomalies["min_days"]
            if isinstance(days, bool) or not isinstance(days, int) or days < 3:
                raise ConfigError(
                    "anomalies.min_days must be a whole number, at least 3", path=path, line=line
                )
            settings["anomaly_min_days"] = days
    return InsightSettings(**settings)
