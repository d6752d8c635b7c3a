"""What the budget ledger (:mod:`shield_rag.llm.budgets`) hands out: budget periods, the
refusal error, reservations, what a call used and a client's status."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from shield_rag.errors import ShieldError
from shield_rag.llm.prices import micros_to_decimal

__all__ = [
    "BudgetExceeded",
    "BudgetStatus",
    "LimitKind",
    "ModelUsage",
    "Period",
    "PeriodKind",
    "Reservation",
    "Spent",
    "period_of",
]

PeriodKind = Literal["daily", "monthly"]
LimitKind = Literal["tokens", "cost"]


@dataclass(frozen=True)
class Period:
    """One budget period: ``id`` (2026-12 or 2026-12-06), its start and its reset, in UTC."""

    kind: PeriodKind
    id: str
    start: datetime
    reset_at: datetime


def period_of(kind: PeriodKind, now: float) -> Period:
    """The ``kind`` period that contains ``now`` (seconds since the epoch)."""
    moment = datetime.fromtimestamp(now, UTC)
    if kind == "daily":
        start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
        return Period(kind, start.date().isoformat(), start, start + timedelta(days=1))
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return Period(kind, f"{start:%Y-%m}", start, datetime(year, month, 1, tzinfo=UTC))


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"


def _money(amount: Decimal) -> str:
    cents = amount.quantize(Decimal("0.01"))
    return f"{cents if cents == amount else amount.normalize():,f}"


class BudgetExceeded(ShieldError):
    """``client`` reached a limit of its budget for the period ending at ``reset_at``: its
    ``spent`` plus the ``reserved`` holds of its calls in progress reached ``limit`` (tokens,
    or an amount of ``currency`` for cost). The API answers 429 with the reset time."""

    def __init__(
        self,
        client: str,
        period: PeriodKind,
        reset_at: datetime,
        limit_kind: LimitKind,
        limit: int | Decimal,
        spent: int | Decimal,
        *,
        reserved: int | Decimal = 0,
        currency: str = "USD",
    ) -> None:
        self.client = client
        self.period: PeriodKind = period
        self.reset_at = reset_at
        self.limit_kind: LimitKind = limit_kind
        self.limit = limit
        self.spent = spent
        self.reserved = reserved
        self.currency = currency
        super().__init__(self._sentence())

    def _amount(self, value: int | Decimal) -> str:
        if self.limit_kind == "tokens":
            return f"{value:,}"
        return f"{_money(Decimal(value))} {self.currency}"

    def _sentence(self) -> str:
        unit = " tokens" if self.limit_kind == "tokens" else ""
        text = (
            f"client {self.client!r} has used {self._amount(self.spent)} of its "
            f"{self._amount(self.limit)}{unit} for the {self.period} period"
        )
        if self.reserved:
            text += f" ({self._amount(self.reserved)} more held by its calls in progress)"
        return f"{text}; it resets at {_utc(self.reset_at)}"

    def retry_after(self, now: float) -> int:
        """Whole seconds from ``now`` (epoch seconds) until the reset, at least 1."""
        return max(1, math.ceil(self.reset_at.timestamp() - now))


@dataclass(frozen=True)
class Reservation:
    """A hold on ``client``'s budget for one call of ``model``; settle or release it."""

    id: str
    client: str
    model: str
    tokens: int
    cost_micros: int
    expires_at: datetime


@dataclass(frozen=True)
class Spent:
    """What one call used; ``counted`` is False when its reservation was settled before."""

    client: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    compute_seconds: float
    cost_micros: int
    counted: bool

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost(self) -> Decimal:
        return micros_to_decimal(self.cost_micros)


@dataclass(frozen=True)
class ModelUsage:
    """One model's share of a client's period."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    compute_seconds: float = 0.0
    calls: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True)
class BudgetStatus:
    """A client's period: spent, held by calls in progress and what its limits leave
    (``remaining_*`` is None where the budget sets no such limit; never below 0)."""

    client: str
    period: Period
    currency: str
    usage: ModelUsage
    reserved_tokens: int
    reserved_cost: Decimal
    in_flight: int
    max_tokens: int | None
    max_cost: Decimal | None
    remaining_tokens: int | None
    remaining_cost: Decimal | None
    models: dict[str, ModelUsage] = field(default_factory=dict)
