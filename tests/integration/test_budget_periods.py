"""Client budgets against a real redis-server (``shield_rag.llm.budgets``): periods roll
over on the injected clock, lapsed holds are reclaimed, settling counts once and release gives
the hold back, calls without a budget are counted, and the status figures add up."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shield_rag.llm.budgets import HISTORY
from shield_rag.settings.accounting import BudgetSettings
from tests.integration.budgets_common import (
    LOCAL,
    PAID,
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


# -- periods -----------------------------------------------------------------------------------


async def test_a_new_month_admits_again_and_december_resets_into_january(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 31, 23, 59, 30)
    settings = accounting()
    budget = BudgetSettings(max_tokens=1000)
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)
        recorded_at = clock()
        await ledger.record("ivan", LOCAL, 1000, 0, 0)
        refused = await refusal(ledger, "ivan", budget)
        assert refused.reset_at == utc(2027, 1, 1)
        assert refused.retry_after(clock()) == 30
        clock.set(2027, 1, 1, 0, 0, 1)
        held = await ledger.reserve("ivan", budget, LOCAL)
        status = await ledger.status("ivan", budget)
        assert (status.period.id, status.period.start, status.period.reset_at) == (
            "2027-01",
            utc(2027, 1, 1),
            utc(2027, 2, 1),
        )
        assert (status.usage.tokens, status.reserved_tokens) == (0, held.tokens)
        await ledger.settle(held, 600, 0, 0)
        assert await ledger.clients() == ["ivan"]
        # December's figures stay readable for 40 days after it ended.
        december = f"{settings.prefix}:budget:2026-12:ivan"
        assert await redis.hget(december, "tokens") == b"1000"
        lifetime = (utc(2027, 1, 1) + HISTORY).timestamp() - recorded_at
        assert 0 <= lifetime - await redis.pttl(december) / 1000 < 10


async def test_a_new_day_admits_a_daily_budget_again_while_the_month_keeps_counting(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 22)
    budget = BudgetSettings(max_tokens=1000, period="daily")
    async with connected(redis_stack) as redis:
        ledger = accounting().ledger(redis, clock)
        await ledger.settle(await ledger.reserve("judy", budget, LOCAL), 900, 100, 1.0)
        refused = await refusal(ledger, "judy", budget)
        assert (refused.period, refused.reset_at) == ("daily", utc(2026, 12, 7))
        assert "for the daily period; it resets at 2026-12-07T00:00:00Z" in str(refused)
        clock.advance(2 * 3600)  # 2026-12-07 00:00
        await ledger.settle(await ledger.reserve("judy", budget, LOCAL), 500, 0, 1.0)
        today = await ledger.status("judy", budget)
        month = await ledger.status("judy", None)
    assert (today.period.id, today.usage.tokens, today.remaining_tokens) == ("2026-12-07", 500, 500)
    assert (month.period.id, month.usage.tokens, month.usage.calls) == ("2026-12", 1500, 2)
    assert month.remaining_tokens is None and month.max_tokens is None


# -- holds -------------------------------------------------------------------------------------


async def test_holds_of_calls_that_never_ended_lapse_and_are_reclaimed(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 9)
    settings = accounting(reservation_tokens=1000, reservation_seconds=600)
    budget = BudgetSettings(max_tokens=2000)
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)
        crashed = [await ledger.reserve("kim", budget, LOCAL) for _unused in range(2)]
        refused = await refusal(ledger, "kim", budget)
        assert (refused.spent, refused.reserved) == (0, 2000)
        assert "(2,000 more held by its calls in progress)" in str(refused)
        assert (await ledger.status("kim", budget)).in_flight == 2
        clock.advance(599)
        await refusal(ledger, "kim", budget)
        clock.advance(2)  # the holds are 601 s old: the next script run drops them
        held = await ledger.reserve("kim", budget, LOCAL)
        status = await ledger.status("kim", budget)
        assert (status.in_flight, status.reserved_tokens, status.remaining_tokens) == (
            1,
            1000,
            1000,
        )
        assert held.expires_at == datetime.fromtimestamp(clock(), UTC) + timedelta(seconds=600)
        # A call that outlived its hold still counts when it ends: it did run.
        late = await ledger.settle(crashed[0], 300, 0, 0)
        assert late.counted
        assert (await ledger.status("kim", budget)).usage.tokens == 300


async def test_settling_twice_counts_once_and_release_gives_the_hold_back(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 9)
    settings = accounting(reservation_tokens=1000)
    budget = BudgetSettings(max_tokens=1500)
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)
        held = await ledger.reserve("lee", budget, PAID)
        first = await ledger.settle(held, 100, 100, 1.0)
        second = await ledger.settle(held, 100, 100, 1.0)
        assert (first.counted, second.counted) == (True, False)
        assert first.cost_micros == second.cost_micros == 1800
        assert not await ledger.release(held)  # settled: nothing to give back
        status = await ledger.status("lee", budget)
        assert (status.usage.tokens, status.usage.calls, status.usage.cost) == (
            200,
            1,
            Decimal("0.0018"),
        )
        assert status.remaining_tokens == 1300


async def test_a_released_hold_admits_the_next_call_and_a_later_settle_adds_nothing(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 9)
    budget = BudgetSettings(max_tokens=1000)
    async with connected(redis_stack) as redis:
        ledger = accounting(reservation_tokens=1000).ledger(redis, clock)
        held = await ledger.reserve("mia", budget, LOCAL)
        refused = await refusal(ledger, "mia", budget)
        assert (refused.spent, refused.reserved) == (0, 1000)
        assert (await ledger.status("mia", budget)).reserved_tokens == 1000
        assert await ledger.release(held)
        assert not await ledger.release(held)
        assert (await ledger.status("mia", budget)).reserved_tokens == 0
        assert not (await ledger.settle(held, 500, 500, 1.0)).counted
        assert (await ledger.status("mia", budget)).usage.tokens == 0
        again = await ledger.reserve("mia", budget, LOCAL)
        assert again.id != held.id


# -- accounting without a budget, clients and status -------------------------------------------


async def test_calls_without_a_budget_are_counted_but_never_refused(redis_stack: Stack) -> None:
    clock = Clock(2026, 12, 6, 9)
    async with connected(redis_stack) as redis:
        ledger = accounting().ledger(redis, clock)
        spent = await ledger.record("job:ingest/7", PAID, 3000, 200, 12.5)
        assert (spent.counted, spent.tokens, spent.cost) == (True, 3200, Decimal("0.0197"))
        await ledger.record("job:ingest/7", LOCAL, 10**9, 10**9, 3600.0)
        held = await ledger.reserve("job:ingest/7", None, LOCAL)
        assert (await ledger.settle(held, 1, 1, 0)).counted
        status = await ledger.status("job:ingest/7", None)
    assert status.usage.tokens == 3200 + 2 * 10**9 + 2
    assert status.usage.calls == 3
    assert status.usage.compute_seconds == 3612.5
    assert status.usage.cost == Decimal("0.0197")  # 6000 + 1200 + 12,500 micro-units
    assert (status.remaining_tokens, status.remaining_cost) == (None, None)


async def test_status_and_clients_add_up_per_client_and_model(redis_stack: Stack) -> None:
    clock = Clock(2026, 12, 6, 9)
    settings = accounting(reservation_tokens=500)
    budget = BudgetSettings(max_tokens=100_000, max_cost=Decimal("1"))
    names = ["alice", "a:b", "a%3Ab", "ünï cøde / 1", "*"]
    async with connected(redis_stack) as redis:
        ledger = settings.ledger(redis, clock)
        assert await ledger.clients() == []
        for n, name in enumerate(names, start=1):
            await ledger.record(name, LOCAL, n, 0, 0)
        await ledger.settle(await ledger.reserve("alice", budget, PAID), 10_000, 2_000, 4.25)
        await ledger.settle(await ledger.reserve("alice", budget, "llama3.1:70b"), 50, 25, 0.5)
        in_flight = await ledger.reserve("alice", budget, PAID)
        status = await ledger.status("alice", budget)
        others = {name: (await ledger.status(name, None)).usage.tokens for name in names[1:]}
        monthly, daily = await ledger.clients(), await ledger.clients("daily")
        found = await redis.keys(settings.prefix + ":budget:2026-12:*")
        keys = {k.decode() if isinstance(k, bytes) else k for k in found}
        with pytest.raises(ValueError, match="client name"):
            await ledger.record("", LOCAL, 1, 1, 0)

    assert monthly == daily == sorted(names)
    assert others == {"a:b": 2, "a%3Ab": 3, "ünï cøde / 1": 4, "*": 5}
    assert {
        settings.prefix + ":budget:2026-12:a%3Ab",
        settings.prefix + ":budget:2026-12:a%253Ab",
    } <= keys
    paid = status.models[PAID]
    # 10,000 x 2 + 2,000 x 6 + 4.25 s x 1000 = 36,250 micro-units
    assert (paid.tokens_in, paid.tokens_out, paid.calls, paid.cost) == (
        10_000,
        2_000,
        1,
        Decimal("0.03625"),
    )
    assert paid.compute_seconds == 4.25
    assert status.models["llama3.1:70b"].tokens == 75
    assert status.models[LOCAL].tokens == 1
    assert set(status.models) == {PAID, LOCAL, "llama3.1:70b"}
    assert status.usage.tokens == 12_076 and status.usage.calls == 3
    assert (status.in_flight, status.reserved_tokens) == (1, in_flight.tokens)
    assert in_flight.tokens == 12_000  # the largest settled call of PAID
    assert status.reserved_cost == Decimal(in_flight.cost_micros) / 10**6 == Decimal("0.072")
    assert status.remaining_tokens == 100_000 - 12_076 - 12_000
    assert status.remaining_cost == Decimal(1) - Decimal("0.03625") - Decimal("0.072")
    assert (status.period.id, status.period.reset_at) == ("2026-12", utc(2027, 1, 1))
