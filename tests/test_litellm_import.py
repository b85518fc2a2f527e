"""`tokaudit prices import`: LiteLLM's per-token map converted into a valid price table."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from audit.errors import ConfigError, UsageError
from audit.litellm_import import convert_litellm
from audit.pricing import load_price_book

from conftest import FIXTURES, write


def test_conversion_keeps_every_price_family(tmp_path: Path) -> None:
    out = tmp_path / "litellm.yaml"
    result = convert_litellm(FIXTURES / "litellm_prices.json", out, effective_from="2025-01-01")
    assert (result.models, result.skipped) == (3, 2)
    book = load_price_book([out], include_bundled=False)
    sonnet = book.models["claude-sonnet-4-5-20250929"]
    period = sonnet.periods[0]
    assert (
        period.rates.input,
        period.rates.cached_input,
        period.rates.cache_write_5m,
        period.rates.cache_write_1h,
    ) == (
        Decimal(3),
        Decimal("0.3"),
        Decimal("3.75"),
        Decimal(6),
    )
    assert period.batch_multiplier == Decimal("0.5")
    assert period.long_context is not None
    assert (period.long_context.threshold, period.long_context.inclusive) == (200_000, False)
    assert period.long_context.rates.output == Decimal("22.5")
    assert sonnet.vendor == "anthropic"
    grok = book.models["xai/grok-4.3"].periods[0]
    assert grok.long_context is not None
    assert grok.long_context.inclusive
    llama = book.models["acme/llama-ft-support-v3"].periods[0]
    assert llama.rates.input == Decimal("0.15")  # float noise rounded to nine decimals
    assert str(period.effective_from) == "2025-01-01"


def test_provider_filter(tmp_path: Path) -> None:
    out = tmp_path / "x.yaml"
    assert (
        convert_litellm(
            FIXTURES / "litellm_prices.json", out, effective_from="2025-01-01", providers=["xai"]
        ).models
        == 1
    )


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        ("not json", ConfigError, "not a JSON file"),
        ("[1, 2]", ConfigError, "expected a JSON object"),
        ('{"m": {"mode": "embedding"}}', ConfigError, "no priced chat/completion models"),
        (
            '{"m": {"input_cost_per_token": "x", "output_cost_per_token": 1, "mode": "chat"}}',
            ConfigError,
            "m: input_cost_per_token is not a number",
        ),
    ],
)
def test_bad_input(tmp_path: Path, content: str, error: type[Exception], message: str) -> None:
    source = write(tmp_path / "in.json", content)
    with pytest.raises(error, match=message):
        convert_litellm(source, tmp_path / "out.yaml", effective_from="2025-01-01")


def test_bad_date_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="invalid --effective-from"):
        convert_litellm(
            FIXTURES / "litellm_prices.json", tmp_path / "o.yaml", effective_from="soon"
        )
    with pytest.raises(UsageError, match="cannot read"):
        convert_litellm(tmp_path / "nope.json", tmp_path / "o.yaml", effective_from="2025-01-01")
