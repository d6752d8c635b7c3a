"""Client budgets against a real redis-server (``shield_rag.llm.budgets``): calls made
together overspend by less than one call, for token and cost budgets, and the spend survives a
new connection and a Redis restart (AOF).

Periods, holds, settling and status: ``test_budget_periods.py``."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from decimal import Decimal
from hashlib import sha1

import pytest

from shield_rag.llm.budget_scripts import RELEASE, RESERVE, SETTLE
from shield_rag.llm.budgets import BudgetExceeded, Spent
from shield_rag.settings.accounting import BudgetSettings, ModelPrice
from tests.integration.budgets_common import (
    LOCAL,
    PAID,
    PRICES,
    Clock,
    accounting,
    connected,
    module_redis,
    refusal,
    utc,
)
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from module_redis(tmp_path_factory)


# -- concurrent calls --------------------------------------------------------------------------


async def test_twenty_concurrent_calls_overspend_a_token_budget_by_less_than_one_call(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 9)
    settings = accounting(reservation_tokens=1000)
    budget = BudgetSettings(max_tokens=6500)  # room for 6.5 calls of 1000 tokens
    async with connected(redis_stack) as a, connected(redis_stack) as b:
        # Two replicas, each with its own connection, serve the client's calls.
        ledgers = [settings.ledger(r, clock) for r in (a, b)]

        async def call(i: int) -> Spent | BudgetExceeded:
            ledger = ledgers[i % 2]
            try:
                held = await ledger.reserve("alice", budget, LOCAL)
            except BudgetExceeded as refused:
                return refused
            await asyncio.sleep(0)  # the call runs: let the others reserve meanwhile
            return await ledger.settle(held, 600, 400, 0.5)

        outcomes = await asyncio.gather(*(call(i) for i in range(20)))
        status = await ledgers[0].status("alice", budget)

    done = [o for o in outcomes if isinstance(o, Spent)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceeded)]
    assert len(done) + len(refused) == 20
    # Each admission adds a 1000-token hold and each settle swaps it for 1000 tokens spent, so
    # exactly seven calls fit under 6500 whatever the interleaving: 7000 spent, < 6500 + 1000.
    assert len(done) == 7
    assert status.usage.tokens == 7000 == sum(s.tokens for s in done)
    assert budget.max_tokens is not None
    assert budget.max_tokens <= status.usage.tokens < budget.max_tokens + 1000
    assert (status.usage.calls, status.in_flight, status.reserved_tokens) == (7, 0, 0)
    for exc in refused:
        assert (exc.client, exc.period, exc.limit_kind, exc.limit) == (
            "alice",
            "monthly",
            "tokens",
            6500,
        )
        assert exc.reset_at == utc(2027, 1, 1)
        assert isinstance(exc.spent, int) and exc.spent + exc.reserved >= 6500
        assert str(exc).endswith("; it resets at 2027-01-01T00:00:00Z")


async def test_callers_that_keep_calling_use_the_whole_budget_and_never_a_call_more(
    redis_stack: Stack,
) -> None:
    rng = random.Random(19)
    clock = Clock(2026, 12, 6, 9)
    settings = accounting(reservation_tokens=1000)
    budget = BudgetSettings(max_tokens=20_000, period="daily")
    largest = 0
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)

        async def caller() -> int:
            nonlocal largest
            for calls in range(100):  # far more than the budget allows: a bug ends here
                try:
                    held = await ledger.reserve("bob", budget, LOCAL)
                except BudgetExceeded:
                    return calls
                prompt, completion = rng.randint(1, 600), rng.randint(0, 400)  # <= the hold
                largest = max(largest, prompt + completion)
                await asyncio.sleep(0)
                await ledger.settle(held, prompt, completion, 0.1)
            raise AssertionError("the budget never refused bob")

        counts = await asyncio.gather(*(caller() for _unused in range(8)))
        status = await ledger.status("bob", budget)
    assert sum(counts) == status.usage.calls > 20
    # The last refusal saw no hold left, so the spend reached the limit; no admitted call
    # overspent it by a whole call.
    assert 20_000 <= status.usage.tokens < 20_000 + largest
    assert status.remaining_tokens == 0


async def test_a_cost_budget_counts_priced_calls_and_refuses_at_its_limit(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 21)
    settings = accounting(reservation_tokens=1500, currency="EUR")
    budget = BudgetSettings(max_cost=Decimal("0.05"), period="daily")  # 50,000 micro-units
    # 1000 prompt x 2 + 500 completion x 6 + 1 s x 1000 micro-units = 6000 micro-units;
    # its hold: 1500 tokens at the dearer price (6) = 9000.
    cost = 6000
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)
        free = await ledger.reserve("carol", budget, LOCAL)
        assert (free.tokens, free.cost_micros) == (1500, 0)
        spent_free = await ledger.settle(free, 5000, 5000, 3.0)
        assert (spent_free.cost_micros, spent_free.counted) == (0, True)

        async def call() -> Spent | BudgetExceeded:
            try:
                held = await ledger.reserve("carol", budget, PAID)
            except BudgetExceeded as refused:
                return refused
            assert held.cost_micros == 9000
            await asyncio.sleep(0)
            return await ledger.settle(held, 1000, 500, 1.0)

        together = await asyncio.gather(*(call() for _unused in range(20)))
        done = [o for o in together if isinstance(o, Spent)]
        assert done and all(s.cost_micros == cost for s in done)
        # Then one after the other, until refused.
        for _unused in range(20):
            if isinstance(last := await call(), BudgetExceeded):
                break
            done.append(last)
        assert isinstance(last, BudgetExceeded), "the cost budget never refused carol"
        status = await ledger.status("carol", budget)

    assert status.usage.cost == Decimal(cost * len(done)) / 10**6
    assert Decimal("0.05") <= status.usage.cost < Decimal("0.05") + Decimal(cost) / 10**6
    assert status.remaining_cost == 0 and status.remaining_tokens is None
    assert status.models[LOCAL].cost == 0 and status.models[LOCAL].tokens == 10_000
    assert status.models[PAID].calls == len(done)
    assert status.currency == "EUR"
    assert (last.limit_kind, last.limit, last.spent) == ("cost", Decimal("0.05"), status.usage.cost)
    assert last.reset_at == utc(2026, 12, 7)
    assert (
        f"has used {Decimal(last.spent).normalize():f} EUR of its 0.05 EUR for the daily period"
        in str(last)
    )


async def test_holds_grow_to_the_clients_largest_call_of_that_model(redis_stack: Stack) -> None:
    clock = Clock(2026, 12, 6, 9)
    timed = {"timed": ModelPrice(per_compute_second=Decimal("0.01"))}
    settings = accounting(reservation_tokens=1000, prices={**PRICES, **timed})
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)
        first = await ledger.reserve("dana", None, PAID)
        assert (first.tokens, first.cost_micros) == (1000, 6000)
        await ledger.settle(first, 4000, 1000, 0)
        bigger = await ledger.reserve("dana", None, PAID)
        assert (bigger.tokens, bigger.cost_micros) == (5000, 30_000)
        await ledger.settle(bigger, 10, 10, 0)  # smaller calls leave the largest alone
        assert (await ledger.reserve("dana", None, PAID)).tokens == 5000
        assert (await ledger.reserve("dana", None, LOCAL)).tokens == 1000  # per model
        assert (await ledger.reserve("erin", None, PAID)).tokens == 1000  # per client
        # Unreserved accounting (graph extraction) does not size the holds of answers.
        await ledger.record("dana", LOCAL, 90_000, 9_000, 60.0)
        assert (await ledger.reserve("dana", None, LOCAL)).tokens == 1000
        # A call priced by compute time: the hold covers the largest cost too.
        slow = await ledger.reserve("dana", None, "timed")
        await ledger.settle(slow, 100, 100, 10.0)  # 10 s x 0.01 = 0.1 = 100,000 micro-units
        assert (await ledger.reserve("dana", None, "timed")).cost_micros == 100_000


# -- persistence -------------------------------------------------------------------------------


async def test_a_new_ledger_on_a_new_connection_sees_the_spend_and_still_refuses(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 9)
    settings = accounting()
    budget = BudgetSettings(max_tokens=10_000)
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)
        await ledger.record("alice", LOCAL, 8000, 2240, 4.0)
        before = await ledger.status("alice", budget)
    async with connected(redis_stack) as redis:
        again = settings.ledger(redis, clock)
        refused = await refusal(again, "alice", budget)
        assert await again.status("alice", budget) == before
    assert str(refused) == (
        "client 'alice' has used 10,240 of its 10,000 tokens for the monthly period; "
        "it resets at 2027-01-01T00:00:00Z"
    )


async def test_spend_survives_a_redis_restart_with_its_append_only_file(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 9)
    settings = accounting(reservation_tokens=100)
    budget = BudgetSettings(max_tokens=1000)
    async with connected(redis_stack) as redis:
        assert await redis.config_get("appendonly") == {"appendonly": "yes"}
        ledger = settings.ledger(redis, clock)
        held = await ledger.reserve("frank", budget, LOCAL)
        await ledger.settle(held, 700, 300, 2.0)
        before = await ledger.status("frank", budget)
    redis_stack.stop_redis()
    redis_stack.start_redis()  # same port and data directory: it replays the AOF
    async with connected(redis_stack) as redis:
        # A restarted Redis has forgotten the scripts: EVALSHA's NOSCRIPT loads them again.
        shas = [sha1(s.encode()).hexdigest() for s in (RESERVE, SETTLE, RELEASE)]
        assert await redis.script_exists(*shas) == [False, False, False]
        ledger = settings.ledger(redis, clock)
        assert await ledger.status("frank", budget) == before
        assert before.usage.tokens == 1000
        refused = await refusal(ledger, "frank", budget)
        assert (refused.spent, refused.reserved) == (1000, 0)
        other = await ledger.reserve("grace", budget, LOCAL)
        assert (await ledger.settle(other, 1, 1, 0)).counted
        assert await ledger.clients() == ["frank", "grace"]


async def test_scripts_flushed_from_redis_are_loaded_again(redis_stack: Stack) -> None:
    clock = Clock(2026, 12, 6, 9)
    async with connected(redis_stack) as redis:
        ledger = accounting().ledger(redis, clock)
        await ledger.release(await ledger.reserve("hana", None, LOCAL))
        await redis.script_flush()
        held = await ledger.reserve("hana", None, LOCAL)
        await redis.script_flush()
        assert (await ledger.settle(held, 5, 5, 0)).counted
        await redis.script_flush()
        assert not await ledger.release(held)
        assert (await ledger.status("hana", None)).usage.tokens == 10
