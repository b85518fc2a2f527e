"""Exact money.

Money is a Polars ``Decimal(38, 15)`` in USD everywhere in the pipeline — never a float.
Prices are kept per token with 15 decimal places, which represents every price of up to
nine decimals per million tokens exactly, so ``tokens × price`` is exact and sums of
millions of rows carry no rounding drift. Rounding happens once, at display time, with
half-up rounding to the cent (or to the micro-dollar in machine formats).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import polars as pl

SCALE = 15
MONEY = pl.Decimal(38, SCALE)
MICRO = Decimal("0.000001")
CENT = Decimal("0.01")
PER_MILLION = Decimal(1_000_000)


def money_lit(value: Decimal | int | str) -> pl.Expr:
    """A money literal; built from a string so no float ever touches the value."""
    return pl.lit(str(Decimal(value))).str.to_decimal(scale=SCALE)


def parse_money(expr: pl.Expr) -> pl.Expr:
    """Parse a textual amount (``"0.0123"``, ``"1e-7"``) to money; unparseable text gives null.

    Floats from JSON reach here as their shortest round-trip text, so ``0.0123`` stays
    exactly 0.0123 instead of 0.01229999….
    """
    return expr.cast(pl.String).str.strip_chars().str.to_decimal(scale=SCALE)


def per_token(price_per_million: Decimal) -> Decimal:
    """USD per token from USD per million tokens, exactly (quantized to the money scale)."""
    return (price_per_million / PER_MILLION).quantize(Decimal(1).scaleb(-SCALE))


def to_decimal(value: object) -> Decimal:
    """A Python Decimal from whatever Polars hands back for a money cell (None means 0)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def round_micro(value: Decimal) -> Decimal:
    """Round to the micro-dollar: the precision of machine-readable reports."""
    return value.quantize(MICRO, rounding=ROUND_HALF_UP)


def json_number(value: Decimal | None) -> float | None:
    """A JSON-safe number rounded to the micro-dollar.

    A value with at most 15 significant digits survives the float round trip exactly
    (Python prints the shortest representation), so the JSON text shows the exact decimal.
    """
    if value is None:
        return None
    return float(round_micro(value))


def format_usd(value: Decimal | None, *, places: int = 2) -> str:
    """Human money: ``$1,234.57``; tiny non-zero amounts show as ``<$0.01`` rather than $0.00."""
    if value is None:
        return "—"
    quantum = Decimal(1).scaleb(-places)
    rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0 and value > 0:
        return f"<${quantum}"
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,.{places}f}"
