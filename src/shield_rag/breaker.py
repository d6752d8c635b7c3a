"""Circuit breakers, one per target: shared by the MCP server, the orchestrator and the workers.

The MCP server keeps one breaker for the orchestrator and one per dependency the orchestrator
names (redis, qdrant, ollama, lightrag); the orchestrator and each worker keep one per
dependency they call (qdrant, ollama, lightrag). A breaker counts only failures of its own
target, so a failing LightRAG makes only what needs LightRAG fail fast.

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
4. **Outcomes can be settled explicitly** (:meth:`CircuitBreaker.admit` then
   :meth:`CircuitBreaker.settle` with success, failure or neutral), so one call can be
   admitted by several breakers and its outcome charged to the one target at fault.

The wrapper is meant for one asyncio event loop (it is not thread safe): admission is a
synchronous check-and-set, so no await separates "is a probe running?" from "I am the probe".
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from enum import Enum, IntEnum
from typing import TypedDict, TypeVar

import circuitbreaker
from prometheus_client import Counter, Gauge

from shield_rag.errors import Dependency, DependencyUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)

# The same three series in every process that keeps breakers (MCP server, orchestrator,
# workers); Prometheus tells them apart by job/instance.
BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "Circuit breaker state by target: 0 closed, 1 half-open, 2 open",
    ["target"],
)
BREAKER_TRANSITIONS = Counter(
    "circuit_breaker_transitions_total",
    "Circuit breaker state changes by target",
    ["target", "from_state", "to_state"],
)
BREAKER_REJECTIONS = Counter(
    "circuit_breaker_rejections_total",
    "Calls a circuit breaker failed fast without sending them",
    ["target"],
)


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


class Outcome(Enum):
    """What a finished call says about its target."""

    SUCCESS = "success"  # the target answered: reset the failure count, close a half-open
    FAILURE = "failure"  # the target failed: count it
    NEUTRAL = "neutral"  # nothing learnt (cancelled, or another target failed): record nothing


class _Counted(Exception):
    """Stands for an explicitly settled failure when it is handed to the library."""


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
        is_failure: Callable[[BaseException], bool] = lambda _exc: False,
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
            expected_exception=lambda _type, exc: isinstance(exc, _Counted) or is_failure(exc),
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
        probe = self.admit()
        try:
            result = await fn()
        except asyncio.CancelledError:
            self.settle(probe, Outcome.NEUTRAL)  # the client gave up, the target said nothing
            raise
        except Exception as exc:
            self._free(probe)
            self._record(exc)
            raise
        else:
            self.settle(probe, Outcome.SUCCESS)
            return result

    def admit(self) -> bool:
        """Admit one call or raise :class:`BreakerOpenError`; True when the call is the
        half-open probe. Every admission must be settled with :meth:`settle`."""
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

    def settle(self, probe: bool, outcome: Outcome) -> None:
        """Record the outcome of an admitted call (``probe`` as :meth:`admit` returned).

        A failure may also be settled without admission (``probe`` False), e.g. when an
        answer names this target as failing although the call was not admitted by it."""
        self._free(probe)
        if outcome is Outcome.SUCCESS:
            self._record(None)
        elif outcome is Outcome.FAILURE:
            self._record(_Counted(f"{self.target} failed"))

    def _free(self, probe: bool) -> None:
        if probe:
            self._probe_in_flight = False

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


def report_transition(target: str, before: BreakerState, after: BreakerState) -> None:
    """The usual transition listener: the Prometheus series and a log line."""
    BREAKER_STATE.labels(target).set(int(after))
    BREAKER_TRANSITIONS.labels(target, before.label, after.label).inc()
    level = logging.INFO if after is BreakerState.CLOSED else logging.WARNING
    log.log(level, "circuit breaker %s: %s -> %s", target, before.label, after.label)


def counted_breaker(
    target: str,
    *,
    failure_threshold: int,
    reset_seconds: float,
    is_failure: Callable[[BaseException], bool] = lambda _exc: False,
) -> CircuitBreaker:
    """A breaker whose state and transitions are exported (closed until the first one)."""
    BREAKER_STATE.labels(target).set(int(BreakerState.CLOSED))
    return CircuitBreaker(
        target,
        failure_threshold=failure_threshold,
        reset_seconds=reset_seconds,
        is_failure=is_failure,
        on_transition=report_transition,
    )


def is_dependency_failure(exc: BaseException) -> bool:
    """Failure predicate of a dependency's breaker: the dependency was called and failed
    (unreachable, too slow, 5xx). Its refusals of our input never count."""
    return isinstance(exc, DependencyUnavailable) and exc.sent


class BreakerLimits(TypedDict):
    """The thresholds of :meth:`DependencyGuard.counted`, as one set for all dependencies."""

    failure_threshold: int
    reset_seconds: float


class DependencyGuard:
    """The breaker in front of one dependency's client (Qdrant, Ollama or LightRAG).

    ``await guard.call(fn)`` runs ``fn`` (which raises the dependency-named errors of
    :mod:`shield_rag.errors`) unless the breaker is open; then it raises
    :class:`~shield_rag.errors.DependencyUnavailable` with ``sent=False`` and
    ``retry_after`` without calling. A guard without a breaker just calls.
    """

    def __init__(self, dependency: Dependency, breaker: CircuitBreaker | None = None) -> None:
        self.dependency: Dependency = dependency
        self.breaker = breaker

    @classmethod
    def counted(
        cls, dependency: Dependency, *, failure_threshold: int, reset_seconds: float
    ) -> DependencyGuard:
        breaker = counted_breaker(
            dependency,
            failure_threshold=failure_threshold,
            reset_seconds=reset_seconds,
            is_failure=is_dependency_failure,
        )
        return cls(dependency, breaker)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        if self.breaker is None:
            return await fn()
        try:
            return await self.breaker.call(fn)
        except BreakerOpenError as exc:
            BREAKER_REJECTIONS.labels(self.dependency).inc()
            raise DependencyUnavailable(
                self.dependency,
                f"{self.dependency} is not called: {exc.reason}; no request was sent",
                retry_after=exc.retry_after,
                sent=False,
            ) from None
