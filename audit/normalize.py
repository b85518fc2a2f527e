"""Shared expressions that turn raw source values into canonical ones.

Adapters only *map* fields; parsing, validation and masking live here so every source
rejects the same mistakes with the same words. Each parser returns a :class:`Parsed`
pair — the value and a per-row reason (null when fine) — so a bad cell rejects its row
with a message naming the field and the offending text, instead of silently becoming null.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import polars as pl

from audit.money import parse_money
from audit.schema import CANONICAL, TOKEN_COLUMNS, TS, conform

#: Plausible request dates. A 1970 timestamp is an epoch-zero default, a year-3000 one a unit bug.
TS_MIN = datetime(2015, 1, 1, tzinfo=UTC)
TS_MAX = datetime(2100, 1, 1, tzinfo=UTC)
#: Larger token counts on one request are a logging bug (no context window is this big).
MAX_REQUEST_TOKENS = 100_000_000
#: Aggregates sum many requests; above this the number is corrupt, not busy.
MAX_AGGREGATE_TOKENS = 10**15
#: Tag values longer than this are dropped: a long free-text value is likely prompt content.
MAX_TAG_VALUE_CHARS = 256

ERROR_COLUMN = "_error"

_TS_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
)

# Provider secrets that must never reach the store: keep a recognisable prefix and the last
# four characters so a user can still tell keys apart. `\b` stops "task-…" matching "sk-".
_SECRET_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        r"\b(sk-(?:ant-(?:api|admin)\d\d-|or-v1-|proj-|admin-|svcacct-|live-|test-|ant-|or-)?)"
        r"[A-Za-z0-9_\-]{8,}([A-Za-z0-9]{4})\b",
        "${1}…${2}",
    ),
    (r"\b((?:AKIA|ASIA)[0-9A-Z]{4})[0-9A-Z]{8}([0-9A-Z]{4})\b", "${1}…${2}"),
    (r"(?i)\b(bearer\s+)[A-Za-z0-9._\-]{12,}([A-Za-z0-9]{4})\b", "${1}…${2}"),
)


#: Implied by every pattern above; a column without it cannot hold a secret.
_SECRET_HINT = r"sk-|AKIA|ASIA|(?i:bearer)"


def rarely(condition: pl.Expr, reason: pl.Expr) -> pl.Expr:
    """``when(condition).then(reason)``, building the reason only if some row needs it.

    A reason is a string built per row; a column-level guard (decided once) skips that
    work for the common chunk in which no row has the problem. Same result either way.
    """
    return pl.when(condition.any()).then(pl.when(condition).then(reason))


@dataclass(frozen=True)
class Parsed:
    """A parsed value and the reason its row must be rejected (null when the cell is fine)."""

    value: pl.Expr
    error: pl.Expr


def _shown(text: pl.Expr) -> pl.Expr:
    """The offending text as quoted in a message: short, so a 1 MB cell cannot flood a report."""
    return pl.concat_str(pl.lit("'"), text.str.slice(0, 40), pl.lit("'"))


def _as_text(raw: pl.Expr) -> pl.Expr:
    return raw.cast(pl.String).str.strip_chars()


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    return pl.when(text == "").then(None).otherwise(text)


def _checked(text: pl.Expr, value: pl.Expr, field: str, complaint: str) -> Parsed:
    """A value and its reason: the cell had text, but it did not parse."""
    error = rarely(
        text.is_not_null() & value.is_null(),
        pl.concat_str(pl.lit(f"{field}: "), _shown(text), pl.lit(complaint)),
    )
    return Parsed(value, error)


def _int_value(text: pl.Expr) -> pl.Expr:
    as_int = text.str.to_integer(strict=False)
    as_float = text.cast(pl.Float64, strict=False)
    whole_float = (
        pl.when(as_float.is_finite() & (as_float == as_float.floor()) & (as_float.abs() < 2.0**53))
        .then(as_float.cast(pl.Int64, strict=False))
        .otherwise(None)
    )
    return pl.coalesce(as_int, whole_float)


def parse_int(raw: pl.Expr, field: str) -> Parsed:
    """A whole number; ``"12"``, ``12`` and ``"12.0"`` (spreadsheet exports) are all 12."""
    text = clean_text(raw)
    return _checked(text, _int_value(text), field, " is not a whole number")


def _float_value(text: pl.Expr) -> pl.Expr:
    value = text.cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value).otherwise(None)


def parse_float(raw: pl.Expr, field: str) -> Parsed:
    """A measurement such as latency; money never goes through here (see :func:`parse_usd`)."""
    text = clean_text(raw)
    return _checked(text, _float_value(text), field, " is not a number")


def _usd_value(text: pl.Expr, *, cents: bool = False) -> pl.Expr:
    value = parse_money(text)
    return value / 100 if cents else value


def parse_usd(raw: pl.Expr, field: str, *, cents: bool = False) -> Parsed:
    """An exact USD amount; ``cents=True`` for sources reporting cents (Portkey, Anthropic API)."""
    text = clean_text(raw)
    return _checked(text, _usd_value(text, cents=cents), field, " is not an amount")


def _bool_value(text: pl.Expr) -> pl.Expr:
    return (
        pl.when(text.is_in(["true", "1", "yes", "t", "y"]))
        .then(True)
        .when(text.is_in(["false", "0", "no", "f", "n"]))
        .then(False)
        .otherwise(None)
    )


def parse_bool(raw: pl.Expr, field: str) -> Parsed:
    """true/false in the spellings exports use (``true``, ``TRUE``, ``1``, ``yes``)."""
    text = clean_text(raw).str.to_lowercase()
    return _checked(text, _bool_value(text), field, " is not true/false")


def _epoch_to_ts(number: pl.Expr) -> pl.Expr:
    """Epoch seconds/ms/µs/ns to UTC, choosing the unit by magnitude (as log shippers do)."""
    magnitude = number.abs()
    micros = (
        pl.when(magnitude < 1e11)
        .then(number * 1_000_000)
        .when(magnitude < 1e14)
        .then(number * 1_000)
        .when(magnitude < 1e17)
        .then(number)
        .otherwise(number / 1_000)
    )
    return pl.from_epoch(
        micros.round(0).cast(pl.Int64, strict=False), time_unit="us"
    ).dt.replace_time_zone("UTC")


def _to_ts(text: pl.Expr, fmt: str) -> pl.Expr:
    return text.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC")


def _ts_value(text: pl.Expr, from_text: pl.Expr | None = None) -> pl.Expr:
    """``from_text``: the text formats' result when already computed (see :func:`parse_frame`)."""
    is_number = text.str.contains(r"^-?\d+(\.\d+)?$")
    from_epoch = pl.when(is_number).then(_epoch_to_ts(text.cast(pl.Float64, strict=False)))
    if from_text is None:
        from_text = pl.coalesce([_to_ts(text, fmt) for fmt in _TS_FORMATS])
    return pl.coalesce(from_epoch.otherwise(None), from_text).cast(TS)


def parse_ts(raw: pl.Expr, field: str) -> Parsed:
    """Any timestamp an export writes, to UTC microseconds.

    RFC 3339 with ``Z`` or any offset, space-separated forms, dates, and epoch numbers in
    s/ms/µs/ns. A timestamp without an offset is UTC: every export we support documents
    UTC for naive times. Out-of-range dates are rejected by :func:`validate`, not here.
    """
    text = clean_text(raw)
    return _checked(text, _ts_value(text), field, " is not a recognised timestamp")


def _choice_value(text: pl.Expr, synonyms: Mapping[str, str]) -> pl.Expr:
    return text.replace_strict(dict(synonyms), default=None, return_dtype=pl.String)


def _choice_complaint(synonyms: Mapping[str, str]) -> str:
    return f" is not one of {'|'.join(sorted(set(synonyms.values())))}"


def parse_choice(raw: pl.Expr, field: str, synonyms: Mapping[str, str]) -> Parsed:
    """A closed vocabulary (status, outcome), accepting the spellings sources actually use."""
    text = clean_text(raw).str.to_lowercase()
    return _checked(text, _choice_value(text, synonyms), field, _choice_complaint(synonyms))


STATUS_WORDS = {
    "ok": "ok",
    "success": "ok",
    "succeeded": "ok",
    "completed": "ok",
    "error": "error",
    "failure": "error",
    "failed": "error",
    "fail": "error",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "aborted": "cancelled",
}
OUTCOME_WORDS = {
    "accepted": "accepted",
    "accept": "accepted",
    "kept": "accepted",
    "rejected": "rejected",
    "reject": "rejected",
    "discarded": "rejected",
    "regenerated": "regenerated",
    "regenerate": "regenerated",
    "retried": "regenerated",
    "unknown": "unknown",
}


@dataclass(frozen=True)
class _Kind:
    """How one kind of cell parses: text preparation, clean text -> value, and the complaint."""

    value: Callable[[pl.Expr], pl.Expr]
    complaint: str
    lowercase: bool = False


_KINDS: dict[str, _Kind] = {
    "int": _Kind(_int_value, " is not a whole number"),
    "float": _Kind(_float_value, " is not a number"),
    "usd": _Kind(_usd_value, " is not an amount"),
    "usd_cents": _Kind(lambda text: _usd_value(text, cents=True), " is not an amount"),
    "bool": _Kind(_bool_value, " is not true/false", lowercase=True),
    "ts": _Kind(_ts_value, " is not a recognised timestamp"),
    "status": _Kind(
        lambda text: _choice_value(text, STATUS_WORDS),
        _choice_complaint(STATUS_WORDS),
        lowercase=True,
    ),
    "outcome": _Kind(
        lambda text: _choice_value(text, OUTCOME_WORDS),
        _choice_complaint(OUTCOME_WORDS),
        lowercase=True,
    ),
}
ERROR_PREFIX = "_err."
_TEXT_PREFIX = "_txt."
_STAMP_PREFIX = "_stamp."


def _prepared(raw: pl.Expr, kind: _Kind) -> pl.Expr:
    text = clean_text(raw)
    return text.str.to_lowercase() if kind.lowercase else text


def parse_columns(specs: Mapping[str, tuple[str, str, str]]) -> list[pl.Expr]:
    """Parse raw columns into value columns plus ``_err.<name>`` reason columns.

    ``specs`` maps an output column to ``(raw column, kind, field label)`` with kind one of
    int/float/usd/usd_cents/bool/ts/status/outcome. Adapters build frames in stages —
    extract raw text, parse, then derive from the *parsed columns* — because an expression
    that re-embeds parse trees in every derived value makes Polars' planning cost explode.
    Prefer :func:`parse_frame`, which also stages the parse itself.
    """
    exprs: list[pl.Expr] = []
    for out, (raw, kind_name, label) in specs.items():
        kind = _KINDS[kind_name]
        text = _prepared(pl.col(raw), kind)
        parsed = _checked(text, kind.value(text), label, kind.complaint)
        exprs += [parsed.value.alias(out), parsed.error.alias(ERROR_PREFIX + out)]
    return exprs


FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def _could_fit(text: pl.Expr, fmt: str) -> pl.Expr | None:
    """A cheap test every text ``fmt`` parses passes (None: no test).

    Loose on purpose, so no text a format would parse is kept from it: a ``T`` (either
    case) for the formats with one; for an offset (``%#z``) a ``Z`` (either case), a
    ``+``, or a ``-`` followed by nothing but digits and colons to the end.
    """
    tests = []
    if "T" in fmt:
        tests.append(text.str.contains(r"[Tt]"))
    if "%#z" in fmt:
        tests.append(text.str.contains(r"[Zz+]|-[0-9:]*$"))
    return pl.all_horizontal(tests) if tests else None


def _parse_stamps(frame: FrameT, stamps: list[str]) -> FrameT:
    """``_stamp.<out>``: the text formats' result for each timestamp column, one stage each.

    Each format sees only the rows every earlier format left unparsed (null cells cost
    nothing), so a file pays about one parse per row instead of one per format. After the
    first format (RFC 3339 with an offset, which most logs write), a format also sees only
    the texts that pass its cheap test (:func:`_could_fit`): a failed parse costs about
    what a successful one does, and a space-separated export (OpenRouter's
    ``2026-06-01 00:00:00.368``) failed two more formats on every row before the one that
    fits (400k distinct timestamps: 130 -> 83 ms; RFC 3339 unchanged, since its rows are
    parsed before any test runs).
    """
    first, *others = _TS_FORMATS
    frame = frame.with_columns(
        _to_ts(pl.col(_TEXT_PREFIX + out), first).alias(_STAMP_PREFIX + out) for out in stamps
    )
    for fmt in others:
        columns = []
        for out in stamps:
            stamp, text = pl.col(_STAMP_PREFIX + out), pl.col(_TEXT_PREFIX + out)
            left = pl.when(stamp.is_null()).then(text)  # the test too runs only on these
            fits = _could_fit(left, fmt)
            parsed = _to_ts(left if fits is None else pl.when(fits).then(left), fmt)
            columns.append(pl.coalesce(stamp, parsed).alias(_STAMP_PREFIX + out))
        frame = frame.with_columns(columns)
    return frame


def parse_frame(frame: FrameT, specs: Mapping[str, tuple[str, str, str]]) -> FrameT:
    """:func:`parse_columns` in three stages: clean text, values, then reasons.

    Polars does not share common subexpressions here, so a one-stage parse trims and
    tests each cell's text over and over (once per use inside the value and again inside
    the reason); staging binds the text and the value to columns once each. Per row this
    is several times faster on millions of rows; the output is the same.
    """
    texts = {
        out: _prepared(pl.col(raw), _KINDS[kind]).alias(_TEXT_PREFIX + out)
        for out, (raw, kind, _label) in specs.items()
    }
    frame = frame.with_columns(texts.values())
    stamps = [out for out, (_raw, kind, _label) in specs.items() if kind == "ts"]
    if stamps:
        frame = _parse_stamps(frame, stamps)
    frame = frame.with_columns(
        (
            _ts_value(pl.col(_TEXT_PREFIX + out), pl.col(_STAMP_PREFIX + out))
            if kind == "ts"
            else _KINDS[kind].value(pl.col(_TEXT_PREFIX + out))
        ).alias(out)
        for out, (_raw, kind, _label) in specs.items()
    )
    reasons = []
    for out, (_raw, kind, label) in specs.items():
        text = pl.col(_TEXT_PREFIX + out)
        reason = _checked(text, pl.col(out), label, _KINDS[kind].complaint).error
        reasons.append(reason.alias(ERROR_PREFIX + out))
    working = [_TEXT_PREFIX + out for out in specs] + [_STAMP_PREFIX + out for out in stamps]
    return frame.with_columns(reasons).drop(working)


def gather_errors(columns: Iterable[str], *checks: pl.Expr) -> pl.Expr:
    """The row's first reason: an existing ``_error``, the parse errors, then extra checks."""
    names = list(columns)
    reasons = [pl.col(ERROR_COLUMN)] if ERROR_COLUMN in names else []
    reasons += [pl.col(name) for name in names if name.startswith(ERROR_PREFIX)]
    return first_error(*reasons, *checks).alias(ERROR_COLUMN)


def first_error(*errors: pl.Expr) -> pl.Expr:
    """The first reason among several checks; one reason per row keeps reports readable."""
    return pl.coalesce(list(errors)) if errors else pl.lit(None, dtype=pl.String)


def clean_text(raw: pl.Expr) -> pl.Expr:
    """A trimmed string with empty cells as null, so "" and missing mean the same thing."""
    return _blank_to_null(_as_text(raw))


def tags_json(fields: Mapping[str, pl.Expr], extra_json: pl.Expr | None = None) -> pl.Expr:
    """Build the ``tags`` JSON object from named expressions, skipping nulls.

    ``extra_json`` is a JSON object text (e.g. a source's free ``metadata``) merged in after
    the named fields. Long string values are replaced by a marker: free text that long is
    most likely prompt content, which never reaches the store.

    The inputs are gathered in one struct first and the fragments built from its fields:
    Polars does not share repeated subexpressions here, and each value is used several
    times (null test, length, encoding), so an adapter's cleaning expressions ran three or
    four times over (a Claude Code batch's tags: 39 ms, 13 ms this way).
    """
    if not fields and extra_json is None:
        return pl.lit(None, dtype=pl.String)
    keys = sorted(fields)
    inputs = {f"t{index}": fields[key] for index, key in enumerate(keys)}
    parts = []
    for name, key in zip(inputs, keys, strict=True):
        value = pl.field(name)
        body = pl.struct(value.alias(key)).struct.json_encode()
        body = body.str.strip_prefix("{").str.strip_suffix("}")
        text = value.cast(pl.String)
        # Characters are counted only where the bytes already exceed the limit.
        chars = pl.when(text.str.len_bytes() > MAX_TAG_VALUE_CHARS).then(text).str.len_chars()
        omitted = pl.concat_str(
            pl.lit(json.dumps(key) + ':"<omitted: '), chars.cast(pl.String), pl.lit(' chars>"')
        )
        parts.append(
            pl.when(value.is_null())
            .then(None)
            .when(chars > MAX_TAG_VALUE_CHARS)
            .then(omitted)
            .otherwise(body)
        )
    if extra_json is not None:
        inputs["extra"] = extra_json
        raw = pl.field("extra")
        inner = raw.str.strip_chars()
        inner = inner.str.slice(1, inner.str.len_chars() - 2).str.strip_chars()
        parts.append(pl.when(raw.str.starts_with("{") & (inner != "")).then(inner))
    joined = pl.field("joined")
    return (
        pl.struct([expr.alias(name) for name, expr in inputs.items()])
        .struct.with_fields(pl.concat_str(parts, separator=",", ignore_nulls=True).alias("joined"))
        .struct.with_fields(
            pl.when(joined == "")
            .then(None)
            .otherwise(pl.concat_str(pl.lit("{"), joined, pl.lit("}")))
            .alias("tags")
        )
        .struct.field("tags")
    )


def mask_secrets(text: pl.Expr) -> pl.Expr:
    """Mask anything shaped like a provider secret (``sk-…``, ``sk-ant-…``, AWS keys, bearers).

    The replacements run only when some cell of the column could hold a secret (a cheap
    test that every pattern implies): a column-level condition is decided once, so a
    clean column costs one scan instead of three regex rewrites.
    """
    masked = text
    for pattern, replacement in _SECRET_PATTERNS:
        masked = masked.str.replace_all(pattern, replacement)
    return pl.when(text.str.contains(_SECRET_HINT).any()).then(masked).otherwise(text)


def content_key(source: str, columns: Iterable[str]) -> pl.Expr:
    """A stable record id for rows whose source has no id of its own.

    Built from the row's canonical content (never prompt text) plus its ordinal among
    identical rows of the same file, so two genuinely identical requests (a retry storm at
    one-second resolution) stay two rows, while the same export ingested twice, or two
    overlapping exports, still collapse to one. Plain text, not a hash: Polars' hash is not
    stable across versions, and an id must never change under a stored row.
    """
    base = pl.concat_str(
        [pl.lit(source)] + [pl.col(c).cast(pl.String).fill_null("") for c in columns],
        separator="|",
    )
    # Count only among rows that need a content key: a row carrying its own id must not
    # shift the ordinal of its id-less twin, or the same request gets two different keys.
    # Per file, too: two copies of one export are the same requests, not repeats.
    ordinal = (
        pl.int_range(pl.len())
        .over(base, pl.col("source_file"), pl.col("record_id").is_null())
        .cast(pl.String)
    )
    return pl.concat_str(base, pl.lit("#"), ordinal)


def validate(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add the shared checks to an adapter's ``_error`` column (null = the row is good).

    Run after :func:`audit.schema.conform`-compatible columns exist. The checks are the
    same for every source: a timestamp that exists and is plausible, token counts that are
    neither negative nor absurd, and some usage for a successful request.
    """
    is_aggregate = pl.col("granularity") == "aggregate"
    limit = pl.when(is_aggregate).then(MAX_AGGREGATE_TOKENS).otherwise(MAX_REQUEST_TOKENS)
    checks: list[pl.Expr] = [pl.col(ERROR_COLUMN)]
    checks.append(pl.when(pl.col("ts").is_null()).then(pl.lit("missing timestamp")))
    checks.append(
        rarely(
            (pl.col("ts") < TS_MIN) | (pl.col("ts") >= TS_MAX),
            pl.concat_str(
                pl.lit("timestamp "),
                pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                pl.lit(" is outside the plausible range 2015-01-01..2099-12-31"),
            ),
        )
    )
    for column in (*TOKEN_COLUMNS, "cache_write_1h_tokens", "requests"):
        checks.append(
            rarely(
                pl.col(column) < 0,
                pl.concat_str(
                    pl.lit(f"{column} is negative ("), pl.col(column).cast(pl.String), pl.lit(")")
                ),
            )
        )
        checks.append(
            rarely(
                pl.col(column) > limit,
                pl.concat_str(
                    pl.lit(f"{column} "),
                    pl.col(column).cast(pl.String),
                    pl.lit(" is implausibly large"),
                ),
            )
        )
    checks.append(
        pl.when(pl.col("cache_write_1h_tokens") > pl.col("cache_write_tokens").fill_null(0)).then(
            pl.lit("cache_write_1h_tokens exceeds cache_write_tokens")
        )
    )
    no_usage = pl.all_horizontal([pl.col(c).is_null() for c in TOKEN_COLUMNS])
    checks.append(
        pl.when(
            no_usage
            & (pl.col("status").fill_null("ok") == "ok")
            & pl.col("reported_cost_usd").is_null()
        ).then(pl.lit("no token counts and no cost"))
    )
    return frame.with_columns(first_error(*checks).alias(ERROR_COLUMN))


def finish(
    frame: pl.LazyFrame, *, source: str, source_file: str | None, granularity: str
) -> pl.LazyFrame:
    """Complete an adapter's frame: provenance, defaults, masking, shared validation.

    Rows without an id get one from :func:`fill_record_ids`, once the frame is collected.

    Masking runs before anything else reads the strings, so no secret can leak into a
    record id, a tag or a reject. The result still carries ``_error``; :func:`split`
    separates good rows from rejects. ``source_file=None`` means the frame already has a
    ``source_file`` column (rows of many files mapped in one batch).
    """
    names = frame.collect_schema().names()
    provenance = [pl.lit(source).alias("source")]
    if source_file is not None:
        provenance.append(pl.lit(source_file).alias("source_file"))
    if "granularity" not in names:
        provenance.append(pl.lit(granularity).alias("granularity"))
    if ERROR_COLUMN not in names:
        provenance.append(pl.lit(None, dtype=pl.String).alias(ERROR_COLUMN))
    frame = conform(frame.with_columns(provenance), keep=(ERROR_COLUMN,))
    one_per_request = pl.when(pl.col("granularity") == "request").then(pl.lit(1, pl.Int64))
    frame = frame.with_columns(
        pl.col("status").fill_null("ok").cast(CANONICAL["status"]),
        pl.col("outcome").fill_null("unknown").cast(CANONICAL["outcome"]),
        pl.coalesce(pl.col("requests"), one_per_request).alias("requests"),
        *[
            mask_secrets(pl.col(name)).alias(name)
            for name, dtype in CANONICAL.items()
            if dtype == pl.String() and name not in {"source", "source_file"}
        ],
        # A reason quotes the offending cell, which may itself be a pasted secret.
        mask_secrets(pl.col(ERROR_COLUMN)).alias(ERROR_COLUMN),
    )
    return validate(frame)


def fill_record_ids(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Give rows without an id of their own a :func:`content_key` (after :func:`finish`,
    before :func:`split`, so rejected rows count in the ordinals as they always did).

    Decided on the collected rows: as a lazy ``when(any null).then(...)`` the window in
    the content key was still planned and computed for every chunk, about two thirds of
    the validation's cost for sources that always carry an id.
    """
    if not frame.get_column("record_id").null_count():
        return frame
    identity = [c for c in CANONICAL if c not in _NOT_IDENTITY]
    return frame.with_columns(
        pl.coalesce(pl.col("record_id"), content_key(source, identity)).alias("record_id")
    )


_NOT_IDENTITY = {"record_id", "source", "source_file", "source_line", "tags"}


def finished_rows(
    frame: pl.LazyFrame, *, source: str, source_file: str | None, granularity: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`finish`, :func:`fill_record_ids` and :func:`split`: an adapter's mapped rows
    as good rows and rejects, the way ingest stores them."""
    finished = finish(
        frame, source=source, source_file=source_file, granularity=granularity
    ).collect()
    good, bad = split(fill_record_ids(finished, source).lazy())
    rows, rejects = pl.collect_all([good, bad])
    return rows, rejects


def split(frame: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Good rows (canonical columns only) and rejects (file, line, source, reason)."""
    good = frame.filter(pl.col(ERROR_COLUMN).is_null()).drop(ERROR_COLUMN)
    bad = frame.filter(pl.col(ERROR_COLUMN).is_not_null()).select(
        "source_file", "source_line", "source", pl.col(ERROR_COLUMN).alias("reason")
    )
    return good, bad
