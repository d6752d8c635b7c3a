"""What the budget ledger's integration tests share: a redis-server per module, new
connections, settings with their own key prefix, and a clock the test moves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import Redis

from shield_rag.llm.budgets import BudgetExceeded, BudgetLedger
from shield_rag.redis_conn import make_redis
from shield_rag.settings import RedisSettings
from shield_rag.settings.accounting import AccountingSettings, BudgetSettings, ModelPrice
from tests.integration.stack import Stack

LOCAL = "llama3.1:8b"  # no price: free, like a model on the deployment's own hosts
PAID = "paid-model"
PRICES = {
    PAID: ModelPrice(
        input_per_million=Decimal(2),
        output_per_million=Decimal(6),
        per_compute_second=Decimal("0.001"),
    )
}


class Clock:
    """The ledger's clock, set and moved by the test."""

    def __init__(self, *parts: int) -> None:
        self.now = 0.0
        self.set(*parts)

    def set(self, *parts: int) -> None:
        self.now = datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[arg-type,misc]

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A redis-server for one test module (appendonly yes), stopped by its handle; each module
    makes it its module-scoped ``redis_stack`` fixture."""
    stack = Stack(tmp_path_factory.mktemp("budgets"))
    stack.start_redis()
    try:
        yield stack
    finally:
        stack.stop_redis()


@asynccontextmanager
async def connected(stack: Stack) -> AsyncIterator[Redis]:
    """A new connection, as a new orchestrator replica (or a restarted one) would open."""
    redis = make_redis(RedisSettings(url=f"redis://127.0.0.1:{stack.redis_port}/0"))
    try:
        yield redis
    finally:
        await redis.aclose()


@dataclass(frozen=True)
class Accounts:
    """Accounting settings and a Redis key prefix of their own (the deployment's
    ``redis.key_prefix``), so the tests share one redis-server."""

    settings: AccountingSettings
    prefix: str

    def ledger(self, redis: Redis, clock: Callable[[], float]) -> BudgetLedger:
        return BudgetLedger(redis, self.settings, key_prefix=self.prefix, clock=clock)


def accounting(**overrides: Any) -> Accounts:
    values: dict[str, Any] = {"prices": PRICES, **overrides}
    return Accounts(AccountingSettings.model_validate(values), f"t{uuid.uuid4().hex[:10]}")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


async def refusal(ledger: BudgetLedger, client: str, budget: BudgetSettings) -> BudgetExceeded:
    with pytest.raises(BudgetExceeded) as caught:
        await ledger.reserve(client, budget, LOCAL)
    return caught.value
