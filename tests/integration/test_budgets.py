"""Client budgets against a real redis-server (``shield_rag.llm.budgets``): concurrent calls
overspend by less than one call, spend survives a new connection and a Redis restart (AOF),
periods roll over on the injected clock, lapsed holds are reclaimed, settling is idempotent,
and the status figures add up."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from hashlib import sha1
from typing import Any

import pytest
from redis.asyncio import Redis

from shield_rag.llm.budget_scripts import RELEASE, RESERVE, SETTLE
from shield_rag.llm.budgets import HISTORY, BudgetExceeded, BudgetLedger, Spent
from shield_rag.redis_conn import make_redis
from shield_rag.settings import RedisSettings
from shield_rag.settings.accounting import AccountingSettings, BudgetSettings, ModelPrice
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

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


@pytest.fixture(scope="module")
def redis_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("budgets"))  # redis-server with appendonly yes
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


def accounting(**overrides: Any) -> AccountingSettings:
    """Settings with a key prefix of their own, so the tests share one redis-server."""
    values: dict[str, Any] = {"key_prefix": f"t{uuid.uuid4().hex[:10]}:", "prices": PRICES}
    values.update(overrides)
    return AccountingSettings.model_validate(values)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type,misc]


async def refusal(ledger: BudgetLedger, client: str, budget: BudgetSettings) -> BudgetExceeded:
    with pytest.raises(BudgetExceeded) as caught:
        await ledger.reserve(client, budget, LOCAL)
    return caught.value


# -- concurrent calls --------------------------------------------------------------------------


async def test_twenty_concurrent_calls_overspend_a_token_budget_by_less_than_one_call(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 9)
    settings = accounting(reservation_tokens=1000)
    budget = BudgetSettings(max_tokens=6500)  # room for 6.5 calls of 1000 tokens
    async with connected(redis_stack) as a, connected(redis_stack) as b:
        # Two replicas, each with its own connection, serve the client's calls.
        ledgers = [BudgetLedger(r, settings, clock=clock) for r in (a, b)]

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
        ledger = BudgetLedger(redis, settings, clock=clock)

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

        counts = await asyncio.gather(*(caller() for _ in range(8)))
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
        ledger = BudgetLedger(redis, settings, clock=clock)
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

        together = await asyncio.gather(*(call() for _ in range(20)))
        done = [o for o in together if isinstance(o, Spent)]
        assert done and all(s.cost_micros == cost for s in done)
        # Then one after the other, until refused.
        for _ in range(20):
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
        ledger = BudgetLedger(redis, settings, clock=clock)
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
        ledger = BudgetLedger(redis, settings, clock=clock)
        await ledger.record("alice", LOCAL, 8000, 2240, 4.0)
        before = await ledger.status("alice", budget)
    async with connected(redis_stack) as redis:
        again = BudgetLedger(redis, settings, clock=clock)
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
        ledger = BudgetLedger(redis, settings, clock=clock)
        held = await ledger.reserve("frank", budget, LOCAL)
        await ledger.settle(held, 700, 300, 2.0)
        before = await ledger.status("frank", budget)
    redis_stack.stop_redis()
    redis_stack.start_redis()  # same port and data directory: it replays the AOF
    async with connected(redis_stack) as redis:
        # A restarted Redis has forgotten the scripts: EVALSHA's NOSCRIPT loads them again.
        shas = [sha1(s.encode()).hexdigest() for s in (RESERVE, SETTLE, RELEASE)]
        assert await redis.script_exists(*shas) == [False, False, False]
        ledger = BudgetLedger(redis, settings, clock=clock)
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
        ledger = BudgetLedger(redis, accounting(), clock=clock)
        await ledger.release(await ledger.reserve("hana", None, LOCAL))
        await redis.script_flush()
        held = await ledger.reserve("hana", None, LOCAL)
        await redis.script_flush()
        assert (await ledger.settle(held, 5, 5, 0)).counted
        await redis.script_flush()
        assert not await ledger.release(held)
        assert (await ledger.status("hana", None)).usage.tokens == 10


# -- periods -----------------------------------------------------------------------------------


async def test_a_new_month_admits_again_and_december_resets_into_january(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 31, 23, 59, 30)
    settings = accounting()
    budget = BudgetSettings(max_tokens=1000)
    async with connected(redis_stack) as redis:
        ledger = BudgetLedger(redis, settings, clock=clock)
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
        december = f"{settings.key_prefix}budget:2026-12:ivan"
        assert await redis.hget(december, "tokens") == b"1000"
        lifetime = (utc(2027, 1, 1) + HISTORY).timestamp() - recorded_at
        assert 0 <= lifetime - await redis.pttl(december) / 1000 < 10


async def test_a_new_day_admits_a_daily_budget_again_while_the_month_keeps_counting(
    redis_stack: Stack,
) -> None:
    clock = Clock(2026, 12, 6, 22)
    budget = BudgetSettings(max_tokens=1000, period="daily")
    async with connected(redis_stack) as redis:
        ledger = BudgetLedger(redis, accounting(), clock=clock)
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
        ledger = BudgetLedger(redis, settings, clock=clock)
        crashed = [await ledger.reserve("kim", budget, LOCAL) for _ in range(2)]
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
        ledger = BudgetLedger(redis, settings, clock=clock)
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
        ledger = BudgetLedger(redis, accounting(reservation_tokens=1000), clock=clock)
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
        ledger = BudgetLedger(redis, accounting(), clock=clock)
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
        ledger = BudgetLedger(redis, settings, clock=clock)
        assert await ledger.clients() == []
        for n, name in enumerate(names, start=1):
            await ledger.record(name, LOCAL, n, 0, 0)
        await ledger.settle(await ledger.reserve("alice", budget, PAID), 10_000, 2_000, 4.25)
        await ledger.settle(await ledger.reserve("alice", budget, "llama3.1:70b"), 50, 25, 0.5)
        in_flight = await ledger.reserve("alice", budget, PAID)
        status = await ledger.status("alice", budget)
        others = {name: (await ledger.status(name, None)).usage.tokens for name in names[1:]}
        monthly, daily = await ledger.clients(), await ledger.clients("daily")
        found = await redis.keys(settings.key_prefix + "budget:2026-12:*")
        keys = {k.decode() if isinstance(k, bytes) else k for k in found}
        with pytest.raises(ValueError, match="client name"):
            await ledger.record("", LOCAL, 1, 1, 0)

    assert monthly == daily == sorted(names)
    assert others == {"a:b": 2, "a%3Ab": 3, "ünï cøde / 1": 4, "*": 5}
    assert {
        settings.key_prefix + "budget:2026-12:a%3Ab",
        settings.key_prefix + "budget:2026-12:a%253Ab",
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
