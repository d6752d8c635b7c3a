"""Circuit breaker for the calls the MCP server makes to the orchestrator.

Library choice. Four maintained-or-once-maintained breakers were tried, each driven by 10
concurrent asyncio calls after its reset timeout:

- ``purgatory`` 3.0.1 (2024-11) and ``aiobreaker`` 1.2.0 (2021-05, unmaintained) are asyncio
  native, but their half-open state lets every caller through (10 of 10 reached the
  dependency).
- ``pybreaker`` 1.4.1 (2025-09) supports async calls only through Tornado; its ``calling()``
  context manager is generator based, so a cancelled call is recorded as a failure or a
  success, never as neither; half-open also admits every caller (10 of 10).
- ``circuitbreaker`` 2.1.3 (2025-03, fabfuel) decorates coroutines natively, counts failures
  by a predicate that sees the exception instance (so 5xx can count and 4xx not), uses the
  monotonic clock, and records an outcome through its context-manager protocol. Its
  half-open state also admits every caller (10 of 10), although its README promises "one
  test-execution".

We take ``circuitbreaker`` for the state machine (consecutive-failure count, open timestamp,
half-open after the recovery timeout, re-open on a failed probe, close on success) and wrap
it to add what none of them has:

1. **One probe in half-open.** The first caller after the reset timeout becomes the probe;
   callers arriving while it runs fail fast, as they do while the breaker is open.
2. **Cancellation is neutral.** A call cancelled by its client (e.g. an MCP
   ``notifications/cancelled``) records nothing, so it neither trips nor closes the breaker;
   a cancelled probe frees the probe slot for the next caller.
3. **Transitions are reported** to a listener (the Prometheus metrics), which the library
   has no hook for. Half-open is entered by the first call after the reset timeout, so the
   state gauge reads "open" until that call arrives.

The wrapper is meant for one asyncio event loop (it is not thread safe): admission is a
synchronous check-and-set, so no await separates "is a probe running?" from "I am the probe".
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import TypeVar

import circuitbreaker  # type: ignore[import-untyped]

T = TypeVar("T")


class BreakerState(IntEnum):
    """Breaker states; the values are what the ``circuit_breaker_state`` gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2

    @property
    def label(self) -> str:
        return self.name.lower()


_FROM_LIB = {
    circuitbreaker.STATE_CLOSED: BreakerState.CLOSED,
    circuitbreaker.STATE_HALF_OPEN: BreakerState.HALF_OPEN,
    circuitbreaker.STATE_OPEN: BreakerState.OPEN,
}

TransitionListener = Callable[[str, BreakerState, BreakerState], None]


class BreakerOpenError(Exception):
    """The breaker rejected a call without sending it."""

    def __init__(self, target: str, retry_after: float, reason: str) -> None:
        super().__init__(f"{target}: {reason}; retry after {retry_after:g}s")
        self.target = target
        self.retry_after = retry_after
        self.reason = reason


class CircuitBreaker:
    """A named breaker: ``await breaker.call(fn)`` runs ``fn`` unless the breaker is open.

    ``is_failure`` decides which exceptions count against the target (timeouts, connection
    errors, 5xx); any other exception, like a normal return, shows the target answered and
    resets the consecutive-failure count.
    """

    def __init__(
        self,
        target: str,
        *,
        failure_threshold: int,
        reset_seconds: float,
        is_failure: Callable[[BaseException], bool],
        on_transition: TransitionListener | None = None,
    ) -> None:
        if failure_threshold < 1 or reset_seconds <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_seconds > 0")
        self.target = target
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._lib = circuitbreaker.CircuitBreaker(
            failure_threshold=failure_threshold,
            recovery_timeout=reset_seconds,
            expected_exception=lambda _type, exc: is_failure(exc),
            name=target,
        )
        self._on_transition = on_transition
        self._probe_in_flight = False
        self._reported = BreakerState.CLOSED

    @property
    def state(self) -> BreakerState:
        """The state now (open turns into half-open once the reset timeout has passed)."""
        return _FROM_LIB[self._lib.state]

    @property
    def failure_count(self) -> int:
        return int(self._lib.failure_count)

    @property
    def probe_in_flight(self) -> bool:
        return self._probe_in_flight

    def retry_after(self) -> float:
        """Seconds until a call may be admitted again (0 when one would be now)."""
        state = self.state
        if state is BreakerState.OPEN:
            return float(max(1, math.ceil(self._lib.open_remaining)))
        if state is BreakerState.HALF_OPEN and self._probe_in_flight:
            return 1.0
        return 0.0

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` through the breaker; raise :class:`BreakerOpenError` without running it
        when the breaker is open or a half-open probe is already running."""
        probe = self._admit()
        try:
            result = await fn()
        except asyncio.CancelledError:
            raise  # neutral: the client gave up, the target said nothing
        except Exception as exc:
            self._record(exc)
            raise
        else:
            self._record(None)
            return result
        finally:
            if probe:
                self._probe_in_flight = False

    def _admit(self) -> bool:
        state = self.state
        if state is BreakerState.OPEN:
            raise BreakerOpenError(
                self.target,
                self.retry_after(),
                f"circuit open after {self.failure_count} consecutive failures",
            )
        if state is BreakerState.HALF_OPEN:
            if self._probe_in_flight:
                raise BreakerOpenError(
                    self.target, 1.0, "circuit half-open and its one probe request is running"
                )
            self._probe_in_flight = True
            self._observe()
            return True
        return False

    def _record(self, exc: Exception | None) -> None:
        # circuitbreaker records an outcome when its context manager exits: the failure
        # predicate decides whether ``exc`` counts; no exception resets the count and closes.
        if exc is None:
            self._lib.__exit__(None, None, None)
        else:
            self._lib.__exit__(type(exc), exc, exc.__traceback__)
        self._observe()

    def _observe(self) -> None:
        now = self.state
        if now is not self._reported:
            before, self._reported = self._reported, now
            if self._on_transition is not None:
                self._on_transition(self.target, before, now)
