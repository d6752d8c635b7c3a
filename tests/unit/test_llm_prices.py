"""Exact money for model calls (``shield_rag.llm.prices``), the accounting settings and the
budget ledger's pure parts (periods, the refusal's sentence)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from shield_rag.llm.budget_types import BudgetExceeded, period_of
from shield_rag.llm.prices import (
    cost_micros,
    decimal_to_micros,
    micros_to_decimal,
    token_price_nanos,
)
from shield_rag.settings.accounting import AccountingSettings, BudgetSettings, ModelPrice

PRICES = {
    "paid": ModelPrice(input_per_million=Decimal("0.15"), output_per_million=Decimal("0.60")),
    "half": ModelPrice(input_per_million=Decimal("0.5"), output_per_million=Decimal("2.5")),
    "timed": ModelPrice(per_compute_second=Decimal("0.002")),
}


def _epoch(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[arg-type,misc]


# -- prices ------------------------------------------------------------------------------------


def test_a_model_without_a_price_costs_nothing() -> None:
    assert cost_micros(PRICES, "llama3.1:8b", 10**9, 10**9, 3600.0) == 0
    assert cost_micros({}, "paid", 1000, 1000, 1.0) == 0
    assert token_price_nanos(PRICES, "llama3.1:8b") == 0


def test_prompt_and_completion_tokens_are_priced_separately_in_micro_units() -> None:
    # 0.15 per million prompt tokens = 0.15 micro-units per token.
    assert cost_micros(PRICES, "paid", 1000, 0) == 150
    assert cost_micros(PRICES, "paid", 0, 500) == 300
    assert cost_micros(PRICES, "paid", 1000, 500) == 450
    assert micros_to_decimal(cost_micros(PRICES, "paid", 10**6, 10**6)) == Decimal("0.75")


def test_one_calls_cost_is_rounded_half_up_not_to_even() -> None:
    assert cost_micros(PRICES, "half", 1, 0) == 1  # 0.5 -> 1
    assert cost_micros(PRICES, "half", 0, 1) == 3  # 2.5 -> 3 (half-even would give 2)
    assert cost_micros(PRICES, "paid", 3, 0) == 0  # 0.45 -> 0
    assert cost_micros(PRICES, "paid", 7, 0) == 1  # 1.05 -> 1
    assert cost_micros(PRICES, "paid", 10, 0) == 2  # 1.5 -> 2


def test_compute_time_is_priced_exactly_from_its_decimal_reading() -> None:
    assert cost_micros(PRICES, "timed", 0, 0, 1.5) == 3000  # 0.003 units
    # 0.1 s as written, not the binary float 0.1000000000000000055...
    assert cost_micros({"t": ModelPrice(per_compute_second=Decimal(1))}, "t", 0, 0, 0.1) == 100_000
    assert cost_micros(PRICES, "timed", 0, 0, Decimal("0.00025")) == 1  # 0.5 -> 1


def test_large_counts_stay_exact() -> None:
    price = {"big": ModelPrice(input_per_million=Decimal("1234.567891"))}
    tokens = 10**15 + 7
    expected = (tokens * 1234567891 + 500_000) // 10**6  # integer arithmetic, half up
    assert cost_micros(price, "big", tokens, 0) == expected
    assert float(tokens) * 1234.567891 != expected  # what a float would have lost


def test_counts_must_be_whole_and_not_negative() -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="prompt_tokens"):
            cost_micros(PRICES, "paid", bad, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="completion_tokens"):
        cost_micros(PRICES, "paid", 0, -5)
    for bad_seconds in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="compute_seconds"):
            cost_micros(PRICES, "timed", 0, 0, bad_seconds)


def test_reservation_price_is_the_dearer_token_rounded_up() -> None:
    assert token_price_nanos(PRICES, "paid") == 600  # 0.60 micro-units = 600 nano-units
    assert token_price_nanos(PRICES, "half") == 2500
    tiny = {"m": ModelPrice(input_per_million=Decimal("0.0000011"))}
    assert token_price_nanos(tiny, "m") == 1


def test_decimal_and_micro_units_convert_both_ways() -> None:
    assert decimal_to_micros(Decimal("12.345678")) == 12_345_678
    assert decimal_to_micros(Decimal("0.0000005")) == 1
    assert decimal_to_micros(Decimal("0.00000049")) == 0
    assert decimal_to_micros(Decimal("-0.0000005")) == -1
    assert micros_to_decimal(1) == Decimal("0.000001")
    assert micros_to_decimal(12_345_678) == Decimal("12.345678")
    big = 987_654_321_123_456_789
    assert decimal_to_micros(micros_to_decimal(big)) == big
    with pytest.raises(ValueError, match="finite"):
        decimal_to_micros(Decimal("NaN"))


# -- settings ----------------------------------------------------------------------------------


def test_a_budget_without_any_limit_is_refused_with_a_way_out() -> None:
    with pytest.raises(ValidationError, match="needs max_tokens, max_cost or both"):
        BudgetSettings(period="daily")
    assert BudgetSettings(max_tokens=1).period == "monthly"
    assert BudgetSettings(max_cost=Decimal("0.01")).max_tokens is None


def test_settings_refuse_bad_values_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="input_per_million"):
        ModelPrice(input_per_million=Decimal(-1))
    with pytest.raises(ValidationError, match="max_tokens"):
        BudgetSettings(max_tokens=0)
    with pytest.raises(ValidationError, match="max_cost"):
        BudgetSettings(max_cost=Decimal(0))
    with pytest.raises(ValidationError, match="max_cost"):
        BudgetSettings(max_cost=Decimal("0.0000001"))  # below a micro-unit
    with pytest.raises(ValidationError, match="period"):
        BudgetSettings.model_validate({"period": "weekly", "max_tokens": 5})
    with pytest.raises(ValidationError, match="extra"):
        AccountingSettings.model_validate({"curency": "EUR"})
    with pytest.raises(ValidationError, match="reservation_tokens"):
        AccountingSettings(reservation_tokens=0)
    with pytest.raises(ValidationError, match="empty"):
        AccountingSettings.model_validate({"prices": {" ": {}}})


def test_settings_from_yaml_values_keep_decimal_prices_exact() -> None:
    settings = AccountingSettings.model_validate(
        {
            "currency": "EUR",
            "prices": {"gpt-ish": {"input_per_million": 0.15, "output_per_million": "0.6"}},
            "default_budget": {"period": "daily", "max_cost": 1.1},
        }
    )
    price = settings.prices["gpt-ish"]
    assert price.input_per_million == Decimal("0.15")
    assert price.per_compute_second == 0
    assert settings.default_budget is not None
    assert settings.default_budget.max_cost == Decimal("1.1")
    assert settings.reservation_tokens == 4096


# -- periods and the refusal -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "moment", "pid", "start", "reset"),
    [
        ("monthly", (2026, 12, 6, 7, 30), "2026-12", (2026, 12, 1), (2027, 1, 1)),
        ("monthly", (2026, 12, 31, 23, 59, 59), "2026-12", (2026, 12, 1), (2027, 1, 1)),
        ("monthly", (2027, 1, 1), "2027-01", (2027, 1, 1), (2027, 2, 1)),
        ("monthly", (2028, 2, 29, 12), "2028-02", (2028, 2, 1), (2028, 3, 1)),
        ("daily", (2026, 12, 6, 7, 30), "2026-12-06", (2026, 12, 6), (2026, 12, 7)),
        ("daily", (2026, 12, 31, 23, 59, 59), "2026-12-31", (2026, 12, 31), (2027, 1, 1)),
        ("daily", (2028, 2, 28, 1), "2028-02-28", (2028, 2, 28), (2028, 2, 29)),
    ],
)
def test_periods_are_utc_days_and_months(
    kind: str,
    moment: tuple[int, ...],
    pid: str,
    start: tuple[int, int, int],
    reset: tuple[int, int, int],
) -> None:
    period = period_of(kind, _epoch(*moment))  # type: ignore[arg-type]
    assert period.id == pid
    assert period.start == datetime(*start, tzinfo=UTC)
    assert period.reset_at == datetime(*reset, tzinfo=UTC)


def test_refusals_read_as_sentences_a_person_can_act_on() -> None:
    reset = datetime(2027, 1, 1, tzinfo=UTC)
    tokens = BudgetExceeded("alice", "monthly", reset, "tokens", 10_000, 10_240)
    assert str(tokens) == (
        "client 'alice' has used 10,240 of its 10,000 tokens for the monthly period; "
        "it resets at 2027-01-01T00:00:00Z"
    )
    held = BudgetExceeded("bob", "daily", reset, "tokens", 6_500, 5_000, reserved=2_000)
    assert "used 5,000 of its 6,500 tokens for the daily period (2,000 more held by its " in str(
        held
    )
    cost = BudgetExceeded(
        "carol", "monthly", reset, "cost", Decimal("1250"), Decimal("1250.000150"), currency="EUR"
    )
    assert str(cost).startswith("client 'carol' has used 1,250.00015 EUR of its 1,250.00 EUR ")
    assert cost.retry_after(reset.timestamp() - 90.5) == 91
    assert cost.retry_after(reset.timestamp() + 5) == 1
