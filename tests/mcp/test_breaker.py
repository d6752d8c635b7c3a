"""The circuit breaker's state machine, with a fake clock (no sleeps, no network)."""

from __future__ import annotations

import asyncio

import circuitbreaker
import pytest

from shield_rag.breaker import BreakerOpenError, BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Down(Exception):
    """Counts as a failure (like a timeout, a connection error or a 5xx)."""


class Refused(Exception):
    """Does not count (like a 4xx: the target answered)."""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(circuitbreaker, "monotonic", fake)
    return fake


@pytest.fixture
def transitions() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def breaker(clock: Clock, transitions: list[tuple[str, str]]) -> CircuitBreaker:
    return CircuitBreaker(
        "orchestrator",
        failure_threshold=5,
        reset_seconds=60,
        is_failure=lambda exc: isinstance(exc, Down),
        on_transition=lambda _t, a, b: transitions.append((a.label, b.label)),
    )


class Target:
    """A dependency that counts its calls; ``gate`` holds a call until set."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def fail(self) -> str:
        self.calls += 1
        raise Down("connection refused")

    async def refuse(self) -> str:
        self.calls += 1
        raise Refused("422")

    async def ok(self) -> str:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return "ok"


async def _trip(breaker: CircuitBreaker, target: Target) -> None:
    for _unused in range(breaker.failure_threshold):
        with pytest.raises(Down):
            await breaker.call(target.fail)


async def test_opens_after_exactly_five_consecutive_failures(breaker: CircuitBreaker) -> None:
    target = Target()
    for _unused in range(4):
        with pytest.raises(Down):
            await breaker.call(target.fail)
    assert breaker.state is BreakerState.CLOSED
    with pytest.raises(Down):
        await breaker.call(target.fail)
    assert breaker.state is BreakerState.OPEN
    assert target.calls == 5


async def test_a_success_resets_the_count_so_failures_must_be_consecutive(
    breaker: CircuitBreaker,
) -> None:
    target = Target()
    for _unused in range(3):
        for _unused in range(4):
            with pytest.raises(Down):
                await breaker.call(target.fail)
        assert await breaker.call(target.ok) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 0


async def test_answers_that_are_not_failures_do_not_count(breaker: CircuitBreaker) -> None:
    target = Target()
    for _unused in range(20):
        with pytest.raises(Refused):
            await breaker.call(target.refuse)
    assert breaker.state is BreakerState.CLOSED
    assert target.calls == 20


async def test_open_breaker_fails_fast_without_calling_and_says_when_to_retry(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    target = Target()
    await _trip(breaker, target)
    clock.now += 15.5
    with pytest.raises(BreakerOpenError) as info:
        await breaker.call(target.ok)
    assert target.calls == 5
    assert info.value.retry_after == 45  # 60 - 15.5, rounded up
    assert "5 consecutive failures" in info.value.reason


async def test_half_open_lets_exactly_one_probe_through(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    target = Target()
    await _trip(breaker, target)
    clock.now += 60.01
    assert breaker.state is BreakerState.HALF_OPEN
    target.gate = asyncio.Event()
    calls = [asyncio.create_task(breaker.call(target.ok)) for _unused in range(10)]
    await asyncio.sleep(0)  # every call has reached the breaker; the probe waits at the gate
    rejected = [t for t in calls if t.done()]
    assert len(rejected) == 9
    for task in rejected:
        assert isinstance(task.exception(), BreakerOpenError)
        assert task.exception().retry_after == 1  # type: ignore[union-attr]
    assert target.calls == 5 + 1
    target.gate.set()
    assert await asyncio.gather(*(t for t in calls if t not in rejected)) == ["ok"]
    assert breaker.state is BreakerState.CLOSED


async def test_failed_probe_reopens_for_a_full_reset_period(
    breaker: CircuitBreaker, clock: Clock, transitions: list[tuple[str, str]]
) -> None:
    target = Target()
    await _trip(breaker, target)
    clock.now += 61
    with pytest.raises(Down):
        await breaker.call(target.fail)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == 60
    clock.now += 59.5
    with pytest.raises(BreakerOpenError):
        await breaker.call(target.ok)
    clock.now += 1
    assert await breaker.call(target.ok) == "ok"
    assert transitions == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


async def test_a_cancelled_probe_frees_the_slot_and_records_nothing(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    target = Target()
    await _trip(breaker, target)
    clock.now += 61
    target.gate = asyncio.Event()
    probe = asyncio.create_task(breaker.call(target.ok))
    await asyncio.sleep(0)
    assert breaker.probe_in_flight
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert not breaker.probe_in_flight
    assert breaker.state is BreakerState.HALF_OPEN  # neither closed nor re-opened
    target.gate.set()
    assert await breaker.call(target.ok) == "ok"
    assert breaker.state is BreakerState.CLOSED


async def test_cancelled_calls_do_not_count_as_failures(breaker: CircuitBreaker) -> None:
    target = Target()
    target.gate = asyncio.Event()
    for _unused in range(10):
        task = asyncio.create_task(breaker.call(target.ok))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 0


def test_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("x", failure_threshold=0, reset_seconds=1, is_failure=lambda e: True)
