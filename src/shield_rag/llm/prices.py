"""Exact money for model calls, as whole micro-units (millionths of a currency unit).

Costs are kept as integers so Redis can add them atomically (HINCRBY) and no rounding error
builds up over millions of calls. One call's cost is rounded half up to a micro-unit; a price
per million tokens is, conveniently, the price of one token in micro-units.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal, localcontext

from shield_rag.settings.accounting import ModelPrice

__all__ = [
    "MICROS",
    "cost_micros",
    "decimal_to_micros",
    "micros_to_decimal",
    "price_of",
    "token_price_nanos",
]

MICROS = 1_000_000  # micro-units per currency unit
_ONE = Decimal(1)
_FREE = ModelPrice()


def _exact() -> Context:
    # Enough digits for any count times any price: no silent rounding before the last step.
    return Context(prec=80)


def _decimal(value: float | int | Decimal, what: str) -> Decimal:
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    if not exact.is_finite() or exact < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return exact


def _count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    return value


def price_of(prices: Mapping[str, ModelPrice], model: str) -> ModelPrice:
    """``model``'s price; a model without one is free (a local model)."""
    return prices.get(model, _FREE)


def cost_micros(
    prices: Mapping[str, ModelPrice],
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    compute_seconds: float | Decimal = 0,
) -> int:
    """The cost of one call of ``model``, in micro-units, rounded half up."""
    price = price_of(prices, model)
    prompt = _count(prompt_tokens, "prompt_tokens")
    completion = _count(completion_tokens, "completion_tokens")
    seconds = _decimal(compute_seconds, "compute_seconds")
    with localcontext(_exact()):
        # price per million tokens x tokens / 1e6 currency units = price x tokens micro-units
        micros = (
            price.input_per_million * prompt
            + price.output_per_million * completion
            + price.per_compute_second * seconds * MICROS
        )
        return int(micros.quantize(_ONE, rounding=ROUND_HALF_UP))


def token_price_nanos(prices: Mapping[str, ModelPrice], model: str) -> int:
    """The larger of ``model``'s prompt and completion price of one token, in nano-units
    (1e-9), rounded up: what a call's reservation is priced at, per token."""
    price = price_of(prices, model)
    larger = max(price.input_per_million, price.output_per_million)
    with localcontext(_exact()):
        return int((larger * 1000).quantize(_ONE, rounding=ROUND_CEILING))


def decimal_to_micros(value: Decimal) -> int:
    """``value`` currency units as micro-units, rounded half up."""
    if not value.is_finite():
        raise ValueError(f"an amount of money must be a finite number, got {value!r}")
    with localcontext(_exact()):
        # ROUND_HALF_UP rounds a half away from zero, for refunds (negative amounts) too.
        return int((value * MICROS).quantize(_ONE, rounding=ROUND_HALF_UP))


def micros_to_decimal(micros: int) -> Decimal:
    """``micros`` micro-units as an exact amount of currency units (6 decimal places)."""
    return Decimal(int(micros)).scaleb(-6)
