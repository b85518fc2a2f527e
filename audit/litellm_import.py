"""``tokaudit prices import``: LiteLLM's community price map → a tokaudit price table.

LiteLLM's ``model_prices_and_context_window.json`` is the de-facto shared price list
(USD per *token*; keys documented in its ``sample_spec``). Converting it into our format
gives users thousands of models at once, while keeping our own tables the reviewed
default: the import is written to a file the user passes with ``--prices``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from audit.errors import ConfigError, UsageError
from audit.pricing import SCHEMA_ID

_SKIP_KEYS = {"sample_spec", "fallback_generalizations", "last_updated"}
_MODES = {"chat", "completion", "responses", None}
_TIER = re.compile(r"^input_cost_per_token_above_(\d+)(k?)_tokens$")
_NINE = Decimal("0.000000001")
#: litellm_provider values → the vendor name our tables use.
_VENDORS = {
    "gemini": "google",
    "vertex_ai-language-models": "google",
    "vertex_ai-anthropic_models": "anthropic",
    "text-completion-openai": "openai",
    "x-ai": "xai",
}


@dataclass(frozen=True)
class ImportResult:
    models: int
    skipped: int


def _per_million(value: Any, key: str, model: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{model}: {key} is not a number ({value!r})")
    try:
        number = Decimal(str(value)) * 1_000_000
    except InvalidOperation as exc:
        raise ConfigError(f"{model}: {key} is not a number ({value!r})") from exc
    if number < 0:
        raise ConfigError(f"{model}: {key} is negative")
    # LiteLLM stores binary floats (1.4999999999999999e-07); nine decimals per million is
    # far below a cent on any real bill and is what our tables allow.
    return number.quantize(_NINE, rounding=ROUND_HALF_EVEN).normalize()


def _rates(entry: dict[str, Any], model: str, suffix: str = "") -> dict[str, Decimal]:
    mapping = {
        "input": "input_cost_per_token",
        "output": "output_cost_per_token",
        "cached_input": "cache_read_input_token_cost",
        "cache_write_5m": "cache_creation_input_token_cost",
        "cache_write_1h": "cache_creation_input_token_cost_above_1hr",
        "reasoning": "output_cost_per_reasoning_token",
    }
    out: dict[str, Decimal] = {}
    for ours, theirs in mapping.items():
        value = _per_million(entry.get(theirs + suffix), theirs + suffix, model)
        if value is not None:
            out[ours] = value
    return out


def _period(entry: dict[str, Any], model: str, start: date) -> dict[str, Any] | None:
    rates = _rates(entry, model)
    if "input" not in rates or "output" not in rates:
        return None
    period: dict[str, Any] = {"effective_from": start, **rates}
    if rates.get("reasoning") == rates["output"]:
        del period["reasoning"]
    batch_in = _per_million(
        entry.get("input_cost_per_token_batches"), "input_cost_per_token_batches", model
    )
    if batch_in is not None and rates["input"] > 0:
        period["batch_multiplier"] = (
            (batch_in / rates["input"]).quantize(Decimal("0.0001")).normalize()
        )
    tiers = sorted(
        (int(m.group(1)) * (1000 if m.group(2) else 1), m.group(1) + m.group(2))
        for key in entry
        if (m := _TIER.match(key))
    )
    if tiers:
        threshold, label = tiers[0]  # our format has one tier: keep the first, as most models have
        tier = _rates(entry, model, suffix=f"_above_{label}_tokens")
        if "input" in tier:
            period["long_context"] = {
                "threshold": threshold,
                "inclusive": entry.get("litellm_provider") == "xai",
                **tier,
            }
    return period


class _Dumper(yaml.SafeDumper):
    pass


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:float", format(value, "f"))


_Dumper.add_representer(Decimal, _represent_decimal)


def convert_litellm(
    source: Path, out: Path, *, effective_from: str, providers: list[str] | None = None
) -> ImportResult:
    """Write a tokaudit price table from a LiteLLM price map; returns what was converted."""
    try:
        start = date.fromisoformat(effective_from)
    except ValueError as exc:
        raise UsageError(
            f"invalid --effective-from {effective_from!r}: expected YYYY-MM-DD"
        ) from exc
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror or exc}", path=source) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a JSON file: {exc}", path=source) from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object of model name → price entry", path=source)
    wanted = {p.lower() for p in providers or []}
    models: dict[str, Any] = {}
    skipped = 0
    for key, entry in data.items():
        if key in _SKIP_KEYS or not isinstance(entry, dict):
            continue
        vendor_raw = str(entry.get("litellm_provider") or "unknown")
        if wanted and vendor_raw.lower() not in wanted:
            continue
        model_id = key.strip().lower()
        if entry.get("mode") not in _MODES or model_id in models or not model_id or " " in model_id:
            skipped += 1
            continue
        try:
            period = _period(entry, key, start)
        except ConfigError as exc:
            raise ConfigError(exc.message, path=source) from exc
        if period is None:
            skipped += 1
            continue
        vendor = _VENDORS.get(vendor_raw, vendor_raw.split("-")[0].split("_")[0])
        models[model_id] = {"provider": vendor, "prices": [period]}
    if not models:
        raise ConfigError("no priced chat/completion models found", path=source)
    table = {
        "schema": SCHEMA_ID,
        "provider": "litellm",
        "sources": {"litellm": {"url": str(source), "retrieved": date.today()}},
        "models": models,
    }
    header = (
        f"# Imported by `tokaudit prices import` from {source.name}.\n"
        "# Prices are LiteLLM's, converted from USD per token to USD per 1M tokens.\n"
        f"# They apply from {start.isoformat()}; use with: tokaudit report --prices {out.name}\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        header + yaml.dump(table, Dumper=_Dumper, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return ImportResult(len(models), skipped)
