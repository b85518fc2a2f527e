"""Parsers shared by every adapter: values, reasons, masking — with property tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.normalize import (
    MAX_TAG_VALUE_CHARS,
    OUTCOME_WORDS,
    mask_secrets,
    parse_bool,
    parse_choice,
    parse_columns,
    parse_frame,
    parse_int,
    parse_ts,
    parse_usd,
    tags_json,
)


def run(parsed_fn, values: list[object], field: str = "f", **kw: object) -> tuple[list, list]:
    frame = pl.DataFrame({"raw": values}, schema={"raw": pl.String}, strict=False)
    parsed = parsed_fn(pl.col("raw"), field, **kw)
    out = frame.select(parsed.value.alias("v"), parsed.error.alias("e"))
    return out["v"].to_list(), out["e"].to_list()


def test_parse_int_accepts_spreadsheet_forms_and_names_bad_cells() -> None:
    values, errors = run(
        parse_int, ["12", " 7 ", "10.0", "1e3", "", None, "abc", "1.5", "99999999999999999999"]
    )
    assert values == [12, 7, 10, 1000, None, None, None, None, None]
    assert errors[:6] == [None] * 6
    assert errors[6] == "f: 'abc' is not a whole number"
    assert errors[7] == "f: '1.5' is not a whole number"
    assert errors[8] is not None


def test_parse_usd_is_exact_and_handles_cents() -> None:
    values, errors = run(parse_usd, ["0.0123", "1e-7", "0.003835980000000000000000000000", "x"])
    assert values[:3] == [Decimal("0.0123"), Decimal("1E-7"), Decimal("0.00383598")]
    assert errors[3] == "f: 'x' is not an amount"
    cents, _ = run(parse_usd, ["123.45"], cents=True)
    assert cents == [Decimal("1.2345")]


def test_parse_bool_and_choice() -> None:
    assert run(parse_bool, ["TRUE", "false", "1", "maybe"])[0] == [True, False, True, None]
    values, errors = run(parse_choice, ["Accepted", "retried", "nope"], synonyms=OUTCOME_WORDS)
    assert values == ["accepted", "regenerated", None]
    assert errors[2] == "f: 'nope' is not one of accepted|regenerated|rejected|unknown"


def test_parse_ts_forms() -> None:
    expected = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    forms = [
        "2026-06-01T12:00:00Z",
        "2026-06-01T14:00:00+02:00",
        "2026-06-01T07:00:00-05:00",
        "2026-06-01 12:00:00",
        "2026-06-01 12:00",
        "2026-06-01T12:00:00.000000Z",
        "1780315200",
        "1780315200000",
        "1780315200000000",
        "1780315200000000000",
    ]
    values, errors = run(parse_ts, forms)
    assert values == [expected] * len(forms)
    assert errors == [None] * len(forms)
    values, errors = run(parse_ts, ["2026-06-01", "yesterday"])
    assert values == [datetime(2026, 6, 1, tzinfo=UTC), None]
    assert errors[1] == "f: 'yesterday' is not a recognised timestamp"


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2099, 12, 31)),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
    style=st.sampled_from(["iso", "space", "epoch_s", "epoch_ms", "epoch_us"]),
)
def test_parse_ts_any_zone_or_unit_ends_up_utc(
    moment: datetime, offset_minutes: int, style: str
) -> None:
    utc = moment.replace(tzinfo=UTC)
    if style.startswith("epoch"):
        utc = utc.replace(microsecond=0) if style == "epoch_s" else utc
        utc = (
            utc.replace(microsecond=utc.microsecond // 1000 * 1000) if style == "epoch_ms" else utc
        )
        scale = {"epoch_s": 1, "epoch_ms": 1_000, "epoch_us": 1_000_000}[style]
        seconds = (utc - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
            microseconds=1_000_000 // scale
        )
        text = str(seconds)
    else:
        local = utc.astimezone(timezone(timedelta(minutes=offset_minutes)))
        sep = "T" if style == "iso" else " "
        text = local.isoformat(sep=sep)
    values, errors = run(parse_ts, [text])
    assert errors == [None]
    assert values == [utc]


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_parse_int_round_trips_any_int(number: int) -> None:
    assert run(parse_int, [str(number)])[0] == [number]


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=12, allow_nan=False))
def test_parse_usd_round_trips_text_exactly(amount: Decimal) -> None:
    assert run(parse_usd, [str(amount)])[0] == [amount]


def test_mask_secrets_keeps_prefix_and_last_four() -> None:
    frame = pl.DataFrame(
        {
            "s": [
                "sk-proj-abcdefghijklmnopqrstuvwxyz1234",
                "sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUVWXYZabcd-efgh",
                "sk-or-v1-0123456789abcdef0123456789abcdef",
                "AKIAABCDEFGHIJKLMNOP",
                "key is sk-abcdefghijklmnop1234 in text",
                "Bearer abcdefghijklmnopqrstuvwxyz",
                "task-runner-key-abcdefghijkl",
                "key_prod_7f3a",
                "sk-proj-…1234",
            ]
        }
    )
    masked = frame.select(mask_secrets(pl.col("s")))["s"].to_list()
    assert masked == [
        "sk-proj-…1234",
        "sk-ant-api03-…efgh",
        "sk-or-v1-…cdef",
        "AKIAABCD…MNOP",
        "key is sk-…1234 in text",
        "Bearer …wxyz",
        "task-runner-key-abcdefghijkl",
        "key_prod_7f3a",
        "sk-proj-…1234",
    ]


@given(
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=20, max_size=60)
)
def test_masking_never_leaves_a_long_secret_tail(body: str) -> None:
    secret = "sk-proj-" + "".join(c for c in body if c.isalnum()) + "abcdefghijkl"
    masked = pl.DataFrame({"s": [secret]}).select(mask_secrets(pl.col("s"))).item()
    assert "abcdefgh" not in masked
    assert masked.endswith("ijkl")


def test_tags_json_skips_nulls_merges_metadata_and_drops_long_text() -> None:
    frame = pl.DataFrame(
        {"a": ["x", None], "long": ["y" * 300, "short"], "meta": ['{"k": 1}', "{}"]}
    )
    out = frame.select(
        tags_json({"a": pl.col("a"), "long": pl.col("long")}, extra_json=pl.col("meta"))
    )
    assert out.to_series().to_list() == [
        '{"a":"x","long":"<omitted: 300 chars>","k": 1}',
        '{"long":"short"}',
    ]


def _expected_tags(row: dict[str, object], meta: str | None) -> str | None:
    """The tags text, spelled out: sorted keys, nulls skipped, long text replaced."""
    parts = []
    for key in sorted(row):
        value = row[key]
        if value is None:
            continue
        if isinstance(value, str) and len(value) > MAX_TAG_VALUE_CHARS:
            parts.append(f'{json.dumps(key)}:"<omitted: {len(value)} chars>"')
        else:
            parts.append(json.dumps({key: value}, ensure_ascii=False, separators=(",", ":"))[1:-1])
    if meta is not None and meta.startswith("{"):
        inner = meta.strip()[1:-1].strip()
        if inner:
            parts.append(inner)
    return "{" + ",".join(parts) + "}" if parts else None


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.text(max_size=5) | st.text(min_size=250, max_size=300),
            st.none() | st.text(alphabet='"\\\n\t\x01é€😀 a', max_size=8),
            st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.none() | st.booleans(),
            st.none() | st.sampled_from(['{"k": 1}', "{}", " { } ", '{"a":"x"}', "text", "[1]"]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_tags_json_equals_the_tags_spelled_out(
    rows: list[tuple[str | None, str | None, int | None, bool | None, str | None]],
) -> None:
    frame = pl.DataFrame(
        rows,
        schema={"s": pl.String, "esc": pl.String, "n": pl.Int64, "b": pl.Boolean, "m": pl.String},
        orient="row",
    )
    names = {"text": "s", 'escaped "key"': "esc", "count": "n", "flag": "b"}
    fields = {key: pl.col(column) for key, column in names.items()}
    out = frame.select(tags_json(fields, extra_json=pl.col("m"))).to_series().to_list()
    expected = [
        _expected_tags({key: row[column] for key, column in names.items()}, row["m"])
        for row in frame.iter_rows(named=True)
    ]
    assert out == expected


_CELLS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            " 12 ",
            "12.0",
            "1e3",
            "-4",
            "abc",
            "0.0123",
            "TRUE",
            "no",
            "ok",
            "Failed",
            "retried",
            "2026-06-01T10:00:00Z",
            "2026-06-01 10:00:00.368",
            "2026-06-01T10:00+02:00",
            "2026-06-01",
            "1780000000",
            "1780000000123",
            "inf",
        ]
    ),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_CELLS, _CELLS), min_size=1, max_size=30))
def test_staged_parse_frame_equals_one_stage_parse_columns(cells: list[tuple]) -> None:
    """parse_frame is an optimisation of parse_columns: same values, same reasons, any input."""
    frame = pl.DataFrame(
        {"a": [a for a, _ in cells], "b": [b for _, b in cells]},
        schema={"a": pl.String, "b": pl.String},
    )
    kinds = ["int", "float", "usd", "usd_cents", "bool", "ts", "status", "outcome"]
    specs = {f"{kind}_{col}": (col, kind, f"{kind} {col}") for kind in kinds for col in "ab"}
    one_stage = frame.with_columns(parse_columns(specs))
    staged = parse_frame(frame, specs)
    assert sorted(staged.columns) == sorted(one_stage.columns)
    assert staged.select(one_stage.columns).equals(one_stage)


# Timestamp-like texts built from the parts the formats differ by (and some they do not
# expect), to hold the formats' cheap pre-tests to "never keep a text from a format that
# would parse it".
_STAMP_TEXTS = st.builds(
    lambda date, sep, time, fraction, zone: date + sep + time + fraction + zone,
    st.sampled_from(["2026-06-01", "2026-6-1", "+2026-06-01", "12026-06-01", "2026-06-0"]),
    st.sampled_from(["T", "t", " ", "  ", "", "_"]),
    st.sampled_from(["", "10:00", "10:00:00", "1:0:0", "10:00:60", "25:00"]),
    st.sampled_from(["", ".368", ".123456789", "."]),
    st.sampled_from(
        ["", "Z", "z", "+02:00", "-05:00", "+0530", "-05", "+5", " +02:00", "-05:00:00", "UTC"]
    ),
) | st.text(alphabet="0123456789-:TZtz+ .", max_size=30)


@settings(max_examples=400, deadline=None)
@given(st.lists(_STAMP_TEXTS, min_size=1, max_size=20))
def test_timestamp_formats_skipped_by_their_pre_test_would_not_have_parsed(
    texts: list[str],
) -> None:
    """The staged parse (each format only on the rows that could fit it) gives exactly what
    trying every format on every row gives."""
    frame = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    staged = parse_frame(frame, {"ts": ("t", "ts", "t")})
    every_format = frame.with_columns(parse_columns({"ts": ("t", "ts", "t")}))
    assert staged.select(every_format.columns).equals(every_format)
