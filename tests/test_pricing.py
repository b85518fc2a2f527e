"""Price tables: validation with file:line, name resolution, and exact arithmetic by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import PriceTableError
from audit.pricing import PriceBook, apply_prices, load_price_book
from audit.schema import CANONICAL, conform

from conftest import FIXTURES, write

TEST_TABLES = FIXTURES / "prices"


@pytest.fixture(scope="module")
def acme() -> PriceBook:
    return load_price_book([TEST_TABLES], include_bundled=False)


def price(book: PriceBook, rows: list[dict]) -> list[dict]:
    base = {"granularity": "request", "ts": datetime(2026, 6, 1, tzinfo=UTC)}
    frame = pl.DataFrame([{**base, **row} for row in rows], infer_schema_length=None)
    lazy = conform(frame.lazy().with_columns(pl.col("ts").cast(CANONICAL["ts"])))
    raws = frame["model_raw"].to_list()
    return apply_prices(lazy, book, book.model_map(raws)).collect().to_dicts()


def test_token_components_priced_exactly(acme: PriceBook) -> None:
    [row] = price(
        acme,
        [
            {
                "model_raw": "acme-large",
                "input_tokens": 100,
                "cached_input_tokens": 200,
                "cache_write_tokens": 300,
                "cache_write_1h_tokens": 100,
                "output_tokens": 50,
            }
        ],
    )
    # 100×10 + 200×1 + 200×12.5 + 100×20 + 50×40, per million
    assert row["calculated_cost_usd"] == Decimal("0.0077")
    assert (
        row["model"],
        row["provider"],
        row["price_table"],
        row["price_entry"],
        row["price_match"],
    ) == (
        "acme-large",
        "acme",
        str(TEST_TABLES / "test.yaml"),
        "acme-large@2026-01-01",
        "exact",
    )


def test_long_context_bills_whole_request_at_tier_rates(acme: PriceBook) -> None:
    rows = price(
        acme,
        [
            {
                "model_raw": "acme-large",
                "input_tokens": 1000,
                "output_tokens": 10,
            },  # at threshold: base
            {
                "model_raw": "acme-large",
                "input_tokens": 900,
                "cached_input_tokens": 101,
                "output_tokens": 10,
            },
        ],
    )
    assert rows[0]["calculated_cost_usd"] == Decimal("0.0104")  # 1000×10 + 10×40
    # prompt 1001 > 1000: input 900×20, cached 101×1 (tier has no cached rate → base), output 10×60
    assert rows[1]["calculated_cost_usd"] == Decimal("0.018701")


def test_batch_alias_multiplier_and_effective_dates(acme: PriceBook) -> None:
    rows = price(
        acme,
        [
            {
                "model_raw": "acme/acme-large",
                "input_tokens": 1000,
                "output_tokens": 0,
                "service_tier": "batch",
            },
            {"model_raw": "US.ACME.ACME-LARGE-V1:0", "input_tokens": 1000, "output_tokens": 0},
            {
                "model_raw": "acme-large",
                "input_tokens": 1000,
                "output_tokens": 0,
                "ts": datetime(2026, 6, 15, tzinfo=UTC),
            },
            {
                "model_raw": "acme-large",
                "input_tokens": 1000,
                "output_tokens": 0,
                "ts": datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
            },
        ],
    )
    assert [r["calculated_cost_usd"] for r in rows[:3]] == [
        Decimal("0.005"),
        Decimal("0.011"),
        Decimal("0.008"),
    ]
    assert rows[2]["price_entry"] == "acme-large@2026-06-15"
    assert rows[3]["calculated_cost_usd"] is None
    assert rows[3]["unpriced_reason"] == "no price for acme-large before 2026-01-01"


def test_reasoning_rate_and_tiny_prices_stay_exact(acme: PriceBook) -> None:
    [row] = price(
        acme,
        [
            {
                "model_raw": "acme-think",
                "input_tokens": 7,
                "output_tokens": 100,
                "reasoning_tokens": 60,
            }
        ],
    )
    # 7×0.003625 + 40×1 + 60×3, per million
    assert row["calculated_cost_usd"] == Decimal("0.000220025375")


def test_unknown_free_and_tokenless_rows(acme: PriceBook) -> None:
    rows = price(
        acme,
        [
            {"model_raw": "mystery-7b", "input_tokens": 10, "output_tokens": 1},
            {"model_raw": "acme/acme-large:free", "input_tokens": 10, "output_tokens": 1},
            {"model_raw": "mystery-7b", "input_tokens": 0, "output_tokens": 0, "status": "error"},
            {"model_raw": None, "input_tokens": 5, "output_tokens": 5},
        ],
    )
    assert (rows[0]["calculated_cost_usd"], rows[0]["unpriced_reason"]) == (None, "unknown model")
    assert (rows[1]["calculated_cost_usd"], rows[1]["price_match"]) == (Decimal(0), "free-variant")
    assert (rows[2]["calculated_cost_usd"], rows[2]["price_match"]) == (Decimal(0), "no-tokens")
    assert rows[3]["unpriced_reason"] == "no model name"


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**7),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_costs_are_non_negative_exact_and_additive(
    acme: PriceBook, counts: list[tuple[int, int, int, int]]
) -> None:
    rows = [
        {
            "model_raw": "acme-think",
            "input_tokens": i,
            "output_tokens": o + r,
            "reasoning_tokens": r,
            "cached_input_tokens": c,
        }
        for i, c, o, r in counts
    ]
    priced = price(acme, rows)
    per_row = [r["calculated_cost_usd"] for r in priced]
    assert all(c >= 0 for c in per_row)
    expected = [
        (
            Decimal(i) * Decimal("0.003625")
            + Decimal(c) * Decimal("0.003625")
            + Decimal(o)
            + Decimal(r) * 3
        )
        / 10**6
        for i, c, o, r in counts
    ]
    assert per_row == expected
    assert sum(per_row, Decimal(0)) == sum(expected, Decimal(0))


def test_bundled_tables_resolve_real_world_names(book: PriceBook) -> None:
    cases = {
        "gpt-4o-2024-08-06": ("gpt-4o", "alias"),
        "anthropic/claude-sonnet-4.5": ("claude-sonnet-4-5", "alias"),
        "anthropic/claude-4.6-sonnet-20260217": ("claude-sonnet-4-6", "normalized"),
        "openrouter/openai/gpt-5.5": ("gpt-5.5", "normalized"),
        "anthropic/claude-opus-4.8:thinking": ("claude-opus-4-8", "normalized"),
        "claude-haiku-4-5-20251001": ("claude-haiku-4-5", "alias"),
        "gemini-2.5-pro": ("gemini-2.5-pro", "exact"),
        "deepseek/deepseek-v4-flash": ("deepseek-v4-flash", "alias"),
    }
    for raw, (model, match) in cases.items():
        found = book.resolve(raw)
        assert (found.model, found.match) == (model, match), raw
    assert book.resolve("us.anthropic.claude-sonnet-4-5-20250929-v1:0").multiplier == Decimal("1.1")
    assert book.resolve("acme/llama-ft-support-v3").model is None


def test_bundled_tables_price_the_main_models_in_june_2026(book: PriceBook) -> None:
    june = datetime(2026, 6, 15, tzinfo=UTC)
    rows = [
        {"model_raw": m, "input_tokens": 100_000, "output_tokens": 100_000, "ts": june}
        for m in (
            "gpt-4o",
            "claude-opus-4-8",
            "claude-sonnet-4-6",
            "claude-haiku-4-5",
            "gemini-2.5-pro",
            "deepseek-v4-flash",
            "gpt-5.5",
        )
    ]
    rows.append(
        {"model_raw": "gemini-2.5-pro", "input_tokens": 300_000, "output_tokens": 0, "ts": june}
    )
    costs = [r["calculated_cost_usd"] for r in price(book, rows)]
    # list prices per 1M (in + out) / 10; the last row crosses Gemini 2.5 Pro's 200k tier (2.50/M)
    assert costs == [
        Decimal(x) for x in ("1.25", "3", "1.8", "0.6", "1.125", "0.042", "3.5", "0.75")
    ]


BAD_TABLES = {
    "no schema": (
        "provider: x\nmodels: {a: {prices: [{effective_from: 2026-01-01, input: 1, output: 1}]}}\n",
        1,
        "'schema: tokaudit.prices/1' is required",
    ),
    "missing output": (
        "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  a:\n    prices:\n      - effective_from: 2026-01-01\n        input: 1\n",
        6,
        "models.a.prices[0]: 'output' price is required",
    ),
    "negative": (
        "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  a:\n    prices:\n      - effective_from: 2026-01-01\n        input: -1\n        output: 1\n",
        6,
        "models.a.prices[0].input must not be negative (-1)",
    ),
    "dates out of order": (
        "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  a:\n    prices:\n      - {effective_from: 2026-02-01, input: 1, output: 1}\n      - {effective_from: 2026-01-01, input: 1, output: 1}\n",
        7,
        "models.a: effective_from dates must increase (2026-01-01 follows 2026-02-01)",
    ),
    "bad date": (
        "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  a:\n    prices:\n      - {effective_from: soon, input: 1, output: 1}\n",
        6,
        "models.a.prices[0]: effective_from must be a date (YYYY-MM-DD), got 'soon'",
    ),
    "too precise": (
        "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  a:\n    prices:\n      - {effective_from: 2026-01-01, input: 0.0000000001, output: 1}\n",
        6,
        "models.a.prices[0].input has more than 9 decimals (1E-10)",
    ),
    "typo key": (
        "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  a:\n    prices:\n      - {effective_from: 2026-01-01, input: 1, output: 1, outptu: 2}\n",
        6,
        "models.a.prices[0]: unknown key(s) outptu",
    ),
    "duplicate key": (
        "schema: tokaudit.prices/1\nprovider: x\nprovider: y\n",
        3,
        "duplicate key 'provider'",
    ),
    "yaml syntax": ("schema: [tokaudit\n", 2, "invalid YAML"),
}


@pytest.mark.parametrize("name", sorted(BAD_TABLES))
def test_bad_tables_fail_with_file_line_and_reason(tmp_path: Path, name: str) -> None:
    text, line, message = BAD_TABLES[name]
    path = write(tmp_path / "t" / "bad.yaml", text)
    with pytest.raises(PriceTableError) as info:
        load_price_book([path.parent], include_bundled=False)
    assert info.value.path == str(path)
    assert info.value.line == line
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_alias_claimed_twice_in_one_layer_is_an_error(tmp_path: Path) -> None:
    table = "schema: tokaudit.prices/1\nprovider: x\nmodels:\n  {m}:\n    aliases: [shared]\n    prices: [{{effective_from: 2026-01-01, input: 1, output: 1}}]\n"
    write(tmp_path / "t" / "a.yaml", table.format(m="a"))
    write(tmp_path / "t" / "b.yaml", table.format(m="b"))
    with pytest.raises(PriceTableError, match="'shared' is claimed by both b and a"):
        load_price_book([tmp_path / "t"], include_bundled=False)


def test_user_table_overrides_bundled_model_and_takes_its_alias(tmp_path: Path) -> None:
    write(
        tmp_path / "mine" / "negotiated.yaml",
        "schema: tokaudit.prices/1\nprovider: openai\nmodels:\n  gpt-4o:\n    prices: [{effective_from: 2024-01-01, input: 2, output: 8}]\n"
        "  my-gpt:\n    aliases: [gpt-4o-2024-08-06]\n    prices: [{effective_from: 2024-01-01, input: 1, output: 1}]\n",
    )
    book = load_price_book([tmp_path / "mine"])
    assert book.models["gpt-4o"].periods[0].rates.input == Decimal(2)
    assert book.resolve("gpt-4o-2024-08-06").model == "my-gpt"
    assert book.resolve("gpt-4o-2024-11-20").model == "gpt-4o"  # bundled alias still there


def test_effective_rates_and_repricing_on_another_model(acme: PriceBook) -> None:
    from audit.pricing import reprice

    base = {"granularity": "request", "ts": datetime(2026, 6, 1, tzinfo=UTC)}
    rows = [
        {
            **base,
            "model_raw": "acme-large",
            "input_tokens": 1000,
            "output_tokens": 100,
            "alt": "acme-think",
        },
        {
            **base,
            "model_raw": "acme-large",
            "input_tokens": 1000,
            "output_tokens": 100,
            "alt": "nope",
        },
        {
            **base,
            "model_raw": "acme-large",
            "input_tokens": 1000,
            "output_tokens": 100,
            "alt": "acme-think",
            "service_tier": "batch",
        },
    ]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    lazy = conform(frame.lazy().with_columns(pl.col("ts").cast(CANONICAL["ts"])), keep=("alt",))
    priced = apply_prices(lazy, acme, acme.model_map(["acme-large"]))
    out = reprice(priced, acme, "alt", "alt_cost").collect()
    assert out["rate_input"].to_list()[0] == Decimal("0.00001")  # $10 per 1M
    assert out["rate_input"].to_list()[2] == Decimal("0.000005")  # batch halves it
    assert out["model_class"].to_list() == ["premium"] * 3
    # the same tokens on acme-think: 1000 × $0.003625 + 100 × $1, per million
    assert out["alt_cost"].to_list() == [Decimal("0.000103625"), None, Decimal("0.0000518125")]
    assert out["calculated_cost_usd"].to_list()[0] == Decimal("0.014")
