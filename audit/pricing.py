"""Price tables and pricing.

Tables are effective-dated YAML (format: ``price_tables/README.md``). Pricing joins a small
frame of (model, valid_from, valid_to, per-token rates) onto the usage frame and computes
each row's cost with Polars expressions in exact decimals — never a Python call per row.
The timeline of every known model is covered end to end: before its first price the rates
are null and the row is *unpriced* with a reason, so nothing is silently priced at $0 or
at a price that did not exist yet.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from audit.errors import ConfigError, PriceTableError
from audit.money import MONEY, SCALE, per_token
from audit.resources import bundled_dir
from audit.schema import TS
from audit.yamlio import line_of, load_yaml

SCHEMA_ID = "tokaudit.prices/1"
RATE_KEYS = ("input", "output", "cached_input", "cache_write_5m", "cache_write_1h", "reasoning")
CLASSES = ("premium", "standard", "economy")
_PERIOD_KEYS = {*RATE_KEYS, "effective_from", "long_context", "batch_multiplier", "source", "note"}
_MODEL_KEYS = {"class", "aliases", "prices", "note", "provider"}
_TOP_KEYS = {"schema", "provider", "sources", "defaults", "models"}
_FAR_PAST = datetime(1900, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)

PRICED_COLUMNS = (
    "calculated_cost_usd",
    "price_table",
    "price_entry",
    "price_match",
    "unpriced_reason",
)


@dataclass(frozen=True)
class Rates:
    """USD per 1M tokens, after the documented fallbacks (so every rate is set)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    reasoning: Decimal | None  # None: reasoning bills as output


@dataclass(frozen=True)
class LongContext:
    """Above ``threshold`` prompt tokens the whole request bills at ``rates``."""

    threshold: int
    inclusive: bool
    rates: Rates


@dataclass(frozen=True)
class Period:
    """One price in force from ``effective_from`` until the next period."""

    effective_from: date
    rates: Rates
    long_context: LongContext | None
    batch_multiplier: Decimal | None
    source: str | None
    line: int | None


@dataclass
class ModelPrice:
    """A canonical model: its aliases (with price multipliers) and its price timeline."""

    id: str
    vendor: str
    cls: str | None
    aliases: dict[str, Decimal]
    periods: list[Period]
    table: str
    line: int | None


@dataclass(frozen=True)
class Resolution:
    """How a raw model name mapped onto a canonical model."""

    model: str | None
    multiplier: Decimal
    match: str | None  # exact | alias | normalized | free-variant | None


@dataclass
class PriceBook:
    """Every model from the loaded tables, and the tables' identities for the report."""

    models: dict[str, ModelPrice] = field(default_factory=dict)
    tables: list[dict[str, str]] = field(default_factory=list)  # {name, path, sha256}
    _index: dict[str, tuple[str, Decimal]] = field(default_factory=dict)

    def reindex(self) -> None:
        """Rebuild the lower-cased name index (ids and aliases)."""
        self._index = {}
        for model in self.models.values():
            self._index[model.id.lower()] = (model.id, Decimal(1))
        for model in self.models.values():
            for alias, multiplier in model.aliases.items():
                self._index.setdefault(alias.lower(), (model.id, multiplier))

    def resolve(self, raw: str | None) -> Resolution:
        """Map a model name as a source wrote it to a canonical id (see price_tables/README.md)."""
        if raw is None or not raw.strip():
            return Resolution(None, Decimal(1), None)
        name = raw.strip().lower()
        if name.endswith(":free"):
            inner = self.resolve(name.removesuffix(":free"))
            return Resolution(inner.model or name, Decimal(0), "free-variant")
        hit = self._index.get(name)
        if hit:
            return Resolution(hit[0], hit[1], "exact" if hit[0].lower() == name else "alias")
        for candidate in _normalisations(name):
            hit = self._index.get(candidate)
            if hit:
                return Resolution(hit[0], hit[1], "normalized")
        return Resolution(None, Decimal(1), None)

    def model_map(self, raws: Iterable[str | None]) -> pl.DataFrame:
        """A small frame mapping each distinct raw name to model, vendor, multiplier and match."""
        rows: dict[str, list[Any]] = {
            k: []
            for k in ("model_raw", "_model", "_vendor", "_class", "_alias_mult", "price_match")
        }
        for raw in sorted({r for r in raws if r is not None}):
            found = self.resolve(raw)
            known = self.models.get(found.model) if found.model else None
            rows["model_raw"].append(raw)
            rows["_model"].append(found.model)
            rows["_vendor"].append(known.vendor if known else None)
            rows["_class"].append(known.cls if known else None)
            rows["_alias_mult"].append(str(found.multiplier))
            rows["price_match"].append(found.match)
        frame = pl.DataFrame(rows, schema={k: pl.String for k in rows})
        return frame.with_columns(pl.col("_alias_mult").str.to_decimal(scale=SCALE))

    def price_frame(self) -> pl.DataFrame:
        """Per-token rates per (model, validity window); a gap before a first price has a reason."""
        records: list[dict[str, Any]] = []
        for model in self.models.values():
            first = model.periods[0].effective_from
            records.append(
                {
                    "_model": model.id,
                    "_from": _FAR_PAST,
                    "_to": _at_midnight(first),
                    "_gap": f"no price for {model.id} before {first.isoformat()}",
                }
            )
            for index, period in enumerate(model.periods):
                end = (
                    _at_midnight(model.periods[index + 1].effective_from)
                    if index + 1 < len(model.periods)
                    else _FAR_FUTURE
                )
                record: dict[str, Any] = {
                    "_model": model.id,
                    "_from": _at_midnight(period.effective_from),
                    "_to": end,
                    "_gap": None,
                    "price_table": model.table,
                    "price_entry": f"{model.id}@{period.effective_from.isoformat()}",
                    "_batch": str(period.batch_multiplier)
                    if period.batch_multiplier is not None
                    else None,
                }
                record.update(_rate_columns("_r_", period.rates))
                if period.long_context:
                    record["_lc_threshold"] = period.long_context.threshold
                    record["_lc_inclusive"] = period.long_context.inclusive
                    record.update(_rate_columns("_lc_", period.long_context.rates))
                records.append(record)
        rate_cols = [f"{p}{k}" for p in ("_r_", "_lc_") for k in RATE_KEYS]
        schema: dict[str, pl.DataType] = {
            "_model": pl.String(),
            "_from": TS,
            "_to": TS,
            "_gap": pl.String(),
            "price_table": pl.String(),
            "price_entry": pl.String(),
            "_batch": pl.String(),
            "_lc_threshold": pl.Int64(),
            "_lc_inclusive": pl.Boolean(),
            **{c: pl.String() for c in rate_cols},
        }
        frame = pl.DataFrame(records, schema=schema)
        return frame.with_columns(
            [pl.col(c).str.to_decimal(scale=SCALE) for c in [*rate_cols, "_batch"]]
        )


def _at_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _rate_columns(prefix: str, rates: Rates) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key in RATE_KEYS:
        value = getattr(rates, key)
        out[f"{prefix}{key}"] = None if value is None else str(per_token(value))
    return out


_ROUTE_PREFIX = re.compile(
    r"^(openrouter|azure|azure_ai|bedrock|bedrock_converse|vertex_ai|vertex|gemini|together_ai|"
    r"groq|fireworks_ai|deepseek|mistral|mistralai|xai|x-ai|anthropic|openai|google|googleai|"
    r"meta-llama|deepseek-ai|models)/"
)
_REGION_PREFIX = re.compile(r"^(us|eu|apac|au|jp|global|us-gov)\.")
_VENDOR_DOT = re.compile(r"^(anthropic|amazon|meta|mistral|cohere|deepseek|ai21|openai|google)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
_VARIANT = re.compile(r":[a-z0-9][a-z0-9._-]*$")
_VERTEX_AT = re.compile(r"@[a-z0-9._-]+$")
_DATE = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
_CLAUDE_REORDER = re.compile(r"^claude-(\d[\d.-]*?)-(opus|sonnet|haiku)$")


def _normalisations(name: str) -> list[str]:
    """Progressively stripped spellings of a model name, tried in order after exact lookup."""
    steps: list[str] = []
    current = name
    while _ROUTE_PREFIX.match(current):
        current = _ROUTE_PREFIX.sub("", current, count=1)
        steps.append(current)
    for pattern in (_REGION_PREFIX, _VENDOR_DOT, _BEDROCK_VERSION, _VARIANT, _VERTEX_AT, _DATE):
        stripped = pattern.sub("", current)
        if stripped != current:
            current = stripped
            steps.append(current)
    reordered = _CLAUDE_REORDER.sub(r"claude-\2-\1", current)
    for candidate in (reordered, current):
        dashed = candidate.replace(".", "-")
        steps.extend([candidate, dashed])
    seen: dict[str, None] = {}
    for step in steps:
        seen.setdefault(step, None)
    return list(seen)


# ----------------------------------------------------------------------------- loading


def _fail(message: str, path: Path, line: int | None) -> PriceTableError:
    return PriceTableError(message, path=path, line=line)


def _price(value: Any, what: str, path: Path, line: int | None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise _fail(f"{what} must be a number, got {value!r}", path, line)
    number = Decimal(value)
    if number < 0:
        raise _fail(f"{what} must not be negative ({number})", path, line)
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -9:
        raise _fail(f"{what} has more than 9 decimals ({number})", path, line)
    return number


def _rates(spec: dict[str, Any], base: Rates | None, where: str, path: Path) -> Rates:
    line = line_of(spec)
    found = {k: _price(spec[k], f"{where}.{k}", path, line) for k in RATE_KEYS if k in spec}
    if base is None:
        for required in ("input", "output"):
            if required not in found:
                raise _fail(f"{where}: '{required}' price is required", path, line)
    fallback = base
    input_rate = found.get("input", fallback.input if fallback else Decimal(0))
    output_rate = found.get("output", fallback.output if fallback else Decimal(0))
    cached = found.get("cached_input", fallback.cached_input if fallback else input_rate)
    write_5m = found.get("cache_write_5m", fallback.cache_write_5m if fallback else input_rate)
    write_1h = found.get("cache_write_1h", fallback.cache_write_1h if fallback else write_5m)
    reasoning = found.get("reasoning", fallback.reasoning if fallback else None)
    return Rates(input_rate, output_rate, cached, write_5m, write_1h, reasoning)


def _period(spec: Any, defaults: dict[str, Any], where: str, path: Path) -> Period:
    if not isinstance(spec, dict):
        raise _fail(f"{where}: each price period must be a mapping", path, line_of(spec))
    line = line_of(spec)
    unknown = set(spec) - _PERIOD_KEYS
    if unknown:
        raise _fail(f"{where}: unknown key(s) {', '.join(sorted(unknown))}", path, line)
    start = spec.get("effective_from")
    if not isinstance(start, date) or isinstance(start, datetime):
        raise _fail(
            f"{where}: effective_from must be a date (YYYY-MM-DD), got {start!r}", path, line
        )
    rates = _rates(spec, None, where, path)
    long_context = None
    if "long_context" in spec:
        lc = spec["long_context"]
        if (
            not isinstance(lc, dict)
            or not isinstance(lc.get("threshold"), int)
            or lc["threshold"] <= 0
        ):
            raise _fail(
                f"{where}.long_context needs a positive integer 'threshold'",
                path,
                line_of(lc, line),
            )
        extra = set(lc) - {*RATE_KEYS, "threshold", "inclusive"}
        if extra:
            raise _fail(
                f"{where}.long_context: unknown key(s) {', '.join(sorted(extra))}",
                path,
                line_of(lc, line),
            )
        long_context = LongContext(
            lc["threshold"],
            bool(lc.get("inclusive", False)),
            _rates(lc, rates, f"{where}.long_context", path),
        )
    batch = spec.get("batch_multiplier", defaults.get("batch_multiplier"))
    if batch is not None:
        batch = _price(batch, f"{where}.batch_multiplier", path, line)
    return Period(start, rates, long_context, batch, spec.get("source"), line)


def load_table(path: Path, table_name: str | None = None) -> list[ModelPrice]:
    """Load and validate one price table; errors name the file, line and field."""
    try:
        doc = load_yaml(path)
    except PriceTableError:
        raise
    except ConfigError as exc:
        raise PriceTableError(exc.message, path=exc.path, line=exc.line) from exc
    if not isinstance(doc, dict):
        raise _fail("a price table must be a mapping", path, None)
    if doc.get("schema") != SCHEMA_ID:
        raise _fail(f"'schema: {SCHEMA_ID}' is required", path, line_of(doc))
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise _fail(f"unknown top-level key(s) {', '.join(sorted(unknown))}", path, line_of(doc))
    vendor = doc.get("provider")
    if not isinstance(vendor, str) or not vendor:
        raise _fail("'provider' (the model vendor) is required", path, line_of(doc))
    defaults = doc.get("defaults") or {}
    models_spec = doc.get("models")
    if not isinstance(models_spec, dict) or not models_spec:
        raise _fail("'models' must be a non-empty mapping", path, line_of(doc))
    name = table_name or path.stem
    models: list[ModelPrice] = []
    for model_id, spec in models_spec.items():
        where = f"models.{model_id}"
        line = line_of(spec)
        if not isinstance(spec, dict):
            raise _fail(f"{where} must be a mapping", path, line)
        extra = set(spec) - _MODEL_KEYS
        if extra:
            raise _fail(f"{where}: unknown key(s) {', '.join(sorted(extra))}", path, line)
        if str(model_id) != str(model_id).strip().lower():
            raise _fail(f"{where}: canonical ids are lower-case without spaces", path, line)
        cls = spec.get("class")
        if cls is not None and cls not in CLASSES:
            raise _fail(f"{where}.class must be one of {', '.join(CLASSES)}", path, line)
        aliases: dict[str, Decimal] = {}
        for alias in spec.get("aliases") or []:
            if isinstance(alias, dict):
                alias_id, mult = alias.get("id"), alias.get("multiplier", Decimal(1))
                mult = _price(mult, f"{where} alias multiplier", path, line_of(alias, line))
            else:
                alias_id, mult = alias, Decimal(1)
            if not isinstance(alias_id, str) or not alias_id.strip():
                raise _fail(f"{where}: alias {alias!r} is not a model name", path, line)
            if alias_id.lower() in aliases:
                raise _fail(f"{where}: alias {alias_id!r} listed twice", path, line)
            aliases[alias_id.lower()] = mult
        periods_spec = spec.get("prices")
        if not isinstance(periods_spec, list) or not periods_spec:
            raise _fail(f"{where}: 'prices' must list at least one period", path, line)
        periods = [
            _period(p, defaults, f"{where}.prices[{i}]", path) for i, p in enumerate(periods_spec)
        ]
        for before, after in itertools.pairwise(periods):
            if after.effective_from <= before.effective_from:
                raise _fail(
                    f"{where}: effective_from dates must increase "
                    f"({after.effective_from} follows {before.effective_from})",
                    path,
                    after.line,
                )
        model_vendor = spec.get("provider", vendor)
        if not isinstance(model_vendor, str) or not model_vendor:
            raise _fail(f"{where}.provider must be a vendor name", path, line)
        models.append(ModelPrice(str(model_id), model_vendor, cls, aliases, periods, name, line))
    return models


def _load_table_cached(path: Path, table_name: str) -> list[ModelPrice]:
    """Parse a table once per (path, size, mtime); hand out copies the caller may change."""
    stat = path.stat()
    parsed = _parse_cached(str(path), table_name, stat.st_size, stat.st_mtime_ns)
    return [dataclasses.replace(model, aliases=dict(model.aliases)) for model in parsed]


@functools.lru_cache(maxsize=64)
def _parse_cached(path: str, table_name: str, size: int, mtime_ns: int) -> tuple[ModelPrice, ...]:
    del size, mtime_ns  # part of the cache key only: a changed file is parsed again
    return tuple(load_table(Path(path), table_name))


def _table_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise PriceTableError("price table folder does not exist", path=folder)
    return sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def load_price_book(extra_dirs: Sequence[Path] = (), *, include_bundled: bool = True) -> PriceBook:
    """The bundled tables, then each user folder in order; a later model id replaces an earlier one.

    Within one folder an id or alias may appear once; across layers the user's claim wins.
    """
    layers = ([bundled_dir("price_tables")] if include_bundled else []) + list(extra_dirs)
    book = PriceBook()
    for layer_index, folder in enumerate(layers):
        owners: dict[str, tuple[str, Path]] = {}
        layer_models: list[ModelPrice] = []
        for path in _table_files(folder):
            table_name = path.stem if layer_index == 0 and include_bundled else str(path)
            for model in _load_table_cached(path, table_name):
                for name in [model.id, *model.aliases]:
                    if name in owners and owners[name][0] != model.id:
                        other, other_path = owners[name]
                        raise PriceTableError(
                            f"'{name}' is claimed by both {model.id} and {other} ({other_path})",
                            path=path,
                            line=model.line,
                        )
                    if name in owners:
                        raise PriceTableError(
                            f"model {model.id} is defined twice", path=path, line=model.line
                        )
                    owners[name] = (model.id, path)
                layer_models.append(model)
            book.tables.append(
                {
                    "name": table_name,
                    "path": str(path),
                    "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                }
            )
        claimed = {name for m in layer_models for name in [m.id, *m.aliases]}
        for existing in book.models.values():
            existing.aliases = {a: m for a, m in existing.aliases.items() if a not in claimed}
        for model in layer_models:
            book.models[model.id] = model
    book.reindex()
    return book


# ----------------------------------------------------------------------------- pricing


def resolve_models(frame: pl.DataFrame, book: PriceBook) -> pl.DataFrame:
    """Fill canonical ``model`` (and a missing ``provider``) from the price tables' aliases.

    Done at ingest so the stored rows are meaningful on their own; reports resolve again
    from ``model_raw`` so a price table added later still applies to old rows.
    """
    if frame.height == 0:
        return frame
    mapping = book.model_map(frame.get_column("model_raw").unique().to_list())
    joined = frame.join(mapping, on="model_raw", how="left", maintain_order="left")
    return joined.with_columns(
        pl.col("_model").alias("model"),
        pl.coalesce(pl.col("provider"), pl.col("_vendor")).alias("provider"),
    ).select(frame.columns)


def _tokens(name: str) -> pl.Expr:
    return pl.col(name).fill_null(0).cast(pl.Decimal(38, 0))


#: Effective USD-per-token rates each priced row carries (long-context tier, batch discount
#: and alias uplift applied), so detectors can cost "what if" scenarios without re-deriving.
RATE_COLUMNS = {
    "input": "rate_input",
    "cached_input": "rate_cached_input",
    "cache_write_5m": "rate_cache_write_5m",
    "cache_write_1h": "rate_cache_write_1h",
    "output": "rate_output",
    "reasoning": "rate_reasoning",
}


#: A price period's four rate variants: (long-context tier?, batch tier?).
_VARIANTS = pl.DataFrame(
    {"_v_long": [False, False, True, True], "_v_batch": [False, True, False, True]},
    schema={"_v_long": pl.Boolean, "_v_batch": pl.Boolean},
)


def _long_context(threshold: pl.Expr, inclusive: pl.Expr) -> pl.Expr:
    """Whether a request bills at its period's long-context tier (its prompt is over the line)."""
    prompt = pl.col("input_tokens").fill_null(0) + pl.col("cached_input_tokens").fill_null(0)
    prompt = prompt + pl.col("cache_write_tokens").fill_null(0)
    over = pl.when(inclusive).then(prompt >= threshold).otherwise(prompt > threshold)
    return threshold.is_not_null() & (pl.col("granularity") == "request") & over


def _effective_rates(
    multiplier: pl.Expr, prefix: str, long_context: pl.Expr, batch_tier: pl.Expr
) -> list[pl.Expr]:
    """Per-token rates after the long-context tier and ``multiplier`` (batch x alias uplift)."""
    batch = pl.when(batch_tier).then(pl.col("_batch")).otherwise(None)
    total = multiplier * pl.coalesce(batch, pl.lit(1))
    exprs = []
    for key in RATE_KEYS:
        base = pl.col(f"_r_{key}")
        tiered = pl.when(long_context).then(pl.coalesce(pl.col(f"_lc_{key}"), base)).otherwise(base)
        exprs.append((tiered * total).cast(MONEY).alias(prefix + key))
    return exprs


def _periods(book: PriceBook, keys: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every price period (and the gap before a model's first price), numbered ``_pid``.

    With ``keys`` (one row per distinct key, naming its ``_model``), each key gets its model's
    periods in order, and a key whose model has no price one row of nulls.
    """
    prices = book.price_frame()
    if keys is not None:
        prices = keys.join(prices, on="_model", how="left", maintain_order="left_right")
    return prices.with_row_index("_pid")


def _rate_variants(
    periods: pl.DataFrame, multiplier: pl.Expr, prefix: str, extra: Sequence[pl.Expr] = ()
) -> pl.DataFrame:
    """Each period's effective rates in its four variants, row ``_pid`` x 4 + variant.

    The rates of a row depend on its price period, on whether it is a batch request and on
    whether it crosses the long-context line, and on nothing else: computing them here, on a
    frame of a few hundred rows, and looking them up by index gives every row the very
    values the same expressions would give it row by row, without millions of decimal
    multiplications.
    """
    variants = periods.join(_VARIANTS, how="cross")
    rates = _effective_rates(multiplier, prefix, pl.col("_v_long"), pl.col("_v_batch"))
    variant = pl.col("_pid") * 4 + pl.col("_v_long") * 2 + pl.col("_v_batch")
    return (
        variants.with_columns(rates)
        .sort(variant)
        .select(
            pl.col("_r_input").is_not_null().alias("_has_price"),
            *[pl.col(prefix + key) for key in RATE_KEYS],
            *extra,
        )
    )


def _lookup(table: pl.DataFrame | pl.Series, index: str) -> Callable[[str], pl.Expr]:
    """``column -> expression``: each row's value of ``table[column]`` at its ``index`` column.

    A gather from a small literal series: per row an array access, where a join would hash
    the key and copy every other column of the row. A null index gives null.
    """

    def value(column: str) -> pl.Expr:
        series = table if isinstance(table, pl.Series) else table.get_column(column)
        return pl.lit(series).gather(pl.col(index)).alias(column)

    return value


def _with_variant(
    frame: pl.LazyFrame, periods: pl.DataFrame, key: str, column: str
) -> pl.LazyFrame:
    """Add ``_vk``: the row of :func:`_rate_variants` (period and variant) that prices each row.

    ``periods[key]`` names what ``frame[column]`` holds (a raw model name or a model id); the
    row's period is the one of its key whose window holds its time. A model's windows are
    disjoint and cover its whole timeline (a gap period carries a reason), so there is one;
    a key whose model has no price has a single period without a window, which always
    applies. A row of a known model that no window holds (no time) has no price period and
    drops out, as it always has; a row whose key is not in ``periods`` keeps a null ``_vk``.
    """
    names = periods.get_column(key).unique(maintain_order=True).to_list()
    windows: list[list[dict[str, Any]]] = [[] for _ in names]
    position = {name: i for i, name in enumerate(names)}
    for row in periods.select(key, "_pid", "_from", "_to").iter_rows(named=True):
        windows[position[row[key]]].append(row)
    depth = max((len(w) for w in windows), default=0)
    pid = pl.lit(None, dtype=pl.UInt32)
    for j in range(depth):
        at = [w[j] if j < len(w) else None for w in windows]
        column_of = _lookup(
            pl.DataFrame(
                {
                    "_pid": [r["_pid"] if r else None for r in at],
                    "_from": [r["_from"] if r else None for r in at],
                    "_to": [r["_to"] if r else None for r in at],
                    "_open": [r is not None and r["_from"] is None for r in at],
                },
                schema={"_pid": pl.UInt32, "_from": TS, "_to": TS, "_open": pl.Boolean},
            ),
            "_key",
        )
        inside = (pl.col("ts") >= column_of("_from")) & (pl.col("ts") < column_of("_to"))
        pid = pl.coalesce(pid, pl.when(column_of("_open") | inside).then(column_of("_pid")))
    # The key's position among ``names`` (null when absent): an enum's code, which the
    # streaming engine computes chunk by chunk, where a replace would hold the column.
    code = pl.col(column).cast(pl.Enum(names), strict=False).to_physical().cast(pl.UInt32)
    key_code = code if names else pl.lit(None, dtype=pl.UInt32)
    keyed = frame.with_columns(key_code.alias("_key")).with_columns(pid.alias("_pid"))
    keyed = keyed.filter(pl.col("_key").is_null() | pl.col("_pid").is_not_null())
    period = _lookup(periods, "_pid")
    long_context = _long_context(period("_lc_threshold"), period("_lc_inclusive"))
    batch = pl.col("service_tier") == "batch"
    variant = (
        pl.col("_pid") * 4
        + long_context.fill_null(False).cast(pl.UInt32) * 2
        + batch.fill_null(False).cast(pl.UInt32)
    )
    return keyed.with_columns(variant.alias("_vk")).drop("_key", "_pid")


def _cost_from(prefix: str) -> pl.Expr:
    """The row's tokens priced at the ``prefix`` rate columns (null when the rates are)."""
    write_total = pl.col("cache_write_tokens").fill_null(0)
    write_1h = pl.min_horizontal(pl.col("cache_write_1h_tokens").fill_null(0), write_total)
    output = pl.col("output_tokens").fill_null(0)
    reasoning = (
        pl.when(pl.col(prefix + "reasoning").is_not_null())
        .then(pl.min_horizontal(pl.col("reasoning_tokens").fill_null(0), output))
        .otherwise(0)
    )
    dec = pl.Decimal(38, 0)
    return (
        _tokens("input_tokens") * pl.col(prefix + "input")
        + _tokens("cached_input_tokens") * pl.col(prefix + "cached_input")
        + (write_total - write_1h).cast(dec) * pl.col(prefix + "cache_write_5m")
        + write_1h.cast(dec) * pl.col(prefix + "cache_write_1h")
        + (output - reasoning).cast(dec) * pl.col(prefix + "output")
        + reasoning.cast(dec) * pl.coalesce(pl.col(prefix + "reasoning"), pl.col(prefix + "output"))
    )


_NO_TOKENS = pl.all_horizontal(
    [
        pl.col(c).fill_null(0) == 0
        for c in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
    ]
)


def apply_prices(frame: pl.LazyFrame, book: PriceBook, model_map: pl.DataFrame) -> pl.LazyFrame:
    """Add canonical ``model``, ``calculated_cost_usd``, effective rates, and how rows were priced.

    ``model_map`` comes from :meth:`PriceBook.model_map` over the frame's distinct
    ``model_raw`` values (a tiny query), so resolution runs once per name, not per row.
    Added columns: :data:`PRICED_COLUMNS`, ``model_class`` and the ``rate_*`` columns of
    :data:`RATE_COLUMNS`.
    """
    priced, rates = price_rows(frame, book, model_map)
    rate = _lookup(rates, RATE_CODE)
    return priced.with_columns([rate(name) for name in RATE_COLUMNS.values()]).drop(RATE_CODE)


#: The column of :func:`price_rows` naming a row's rates (a row of its rate table).
RATE_CODE = "_rates"


def price_rows(
    frame: pl.LazyFrame, book: PriceBook, model_map: pl.DataFrame, *, keep: Sequence[str] = ()
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """:func:`apply_prices` with each row's rates as a code: ``_rates``, a row of the table
    returned beside (the ``rate_*`` columns, row ``i`` for code ``i``).

    Rates take a few distinct values per model, so a month held in memory keeps a small
    integer per row instead of a 16-byte decimal per rate. Everything that depends only on
    the name and the price period (model, vendor, class, table, entry, the rates) is
    computed on the small table of periods; per row there remain lookups by index and the
    tokens x rates sum. Columns of ``frame`` named with a leading underscore are left out
    (this function's own are named so), except those in ``keep``.
    """
    names = [c for c in frame.collect_schema().names() if not c.startswith("_") or c in keep]
    periods = _periods(book, model_map)
    zero = pl.lit("0").str.to_decimal(scale=SCALE)
    # Free variants bill $0 by definition; they must not pick up a table price below.
    free = pl.col("price_match") == "free-variant"
    variants = _rate_variants(
        periods,
        pl.col("_alias_mult").fill_null(1),
        "_eff_",
        [
            *[
                pl.when(free).then(zero).otherwise(pl.col("_eff_" + key)).cast(MONEY).alias(column)
                for key, column in RATE_COLUMNS.items()
            ],
            free.alias("_free"),
            pl.col("_model"),
            pl.col("_vendor"),
            pl.col("_class"),
            pl.col("price_match"),
            pl.col("_gap"),
            pl.when(free)
            .then(pl.lit("free-variant"))
            .otherwise(pl.col("price_table"))
            .alias("price_table"),
            pl.when(free).then(None).otherwise(pl.col("price_entry")).alias("price_entry"),
        ],
    ).drop([f"_eff_{key}" for key in RATE_KEYS])
    variant = _lookup(variants, "_vk")
    joined = _with_variant(frame, periods, "model_raw", "model_raw").with_columns(
        [variant(name) for name in variants.columns]
    )
    free_row = pl.col("_free")
    # A free variant's rates are zero, any other row's are its effective rates.
    calculated = (
        pl.when(free_row)
        .then(zero)
        .when(pl.col("_has_price"))
        .then(_cost_from("rate_"))
        .when(_NO_TOKENS)
        .then(zero)
    )
    unpriced_reason = (
        pl.when(calculated.is_not_null())
        .then(None)
        .when(pl.col("model_raw").is_null())
        .then(pl.lit("no model name"))
        .when(pl.col("_model").is_null())
        .then(pl.lit("unknown model"))
        .otherwise(pl.col("_gap"))
    )
    match = (
        pl.when(_NO_TOKENS & pl.col("_model").is_null() & ~free_row.fill_null(False))
        .then(pl.lit("no-tokens"))
        .otherwise(pl.col("price_match"))
    )
    priced = joined.with_columns(
        pl.coalesce(pl.col("_model"), pl.col("model")).alias("model"),
        pl.coalesce(pl.col("provider"), pl.col("_vendor")).alias("provider"),
        pl.col("_class").alias("model_class"),
        calculated.cast(MONEY).alias("calculated_cost_usd"),
        match.alias("price_match"),
        unpriced_reason.alias("unpriced_reason"),
        pl.col("_vk").alias(RATE_CODE),
    )
    columns = (
        *names,
        "price_match",
        "model_class",
        "price_table",
        "price_entry",
        "calculated_cost_usd",
        "unpriced_reason",
        RATE_CODE,
    )
    return priced.select(columns), variants.select(RATE_COLUMNS.values())


#: The row columns :func:`reprice` reads (besides the column naming the other model).
REPRICE_COLUMNS = (
    "ts",
    "granularity",
    "service_tier",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def reprice(frame: pl.LazyFrame, book: PriceBook, model_column: str, out: str) -> pl.LazyFrame:
    """Add ``out``: the cost of each row's same tokens on the model named in ``model_column``.

    Used for "what if" savings (the same request on a cheaper model). The other model's
    price in force at the row's time applies, with the row's batch tier; null when that
    model has no price then.
    """
    names = frame.collect_schema().names()
    periods = _periods(book)
    variants = _rate_variants(periods, pl.lit(1).cast(MONEY), "_alt_")
    variant = _lookup(variants, "_vk")
    joined = _with_variant(frame, periods, "_model", model_column)
    joined = joined.with_columns([variant(name) for name in variants.columns]).with_columns(
        pl.when(pl.col("_has_price")).then(_cost_from("_alt_")).cast(MONEY).alias(out)
    )
    return joined.select(*names, out)
