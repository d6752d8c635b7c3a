"""The MCP server's circuit breakers: one for the orchestrator and one per dependency it names."""

from __future__ import annotations

from typing import Any

from shield_rag.breaker import (
    BreakerOpenError,
    BreakerState,
    CircuitBreaker,
    Outcome,
    counted_breaker,
)
from shield_rag.errors import DEPENDENCIES
from shield_rag.settings import McpSettings

TARGET = "orchestrator"
TARGETS: tuple[str, ...] = (TARGET, *DEPENDENCIES)
DEFAULT_RETRY_AFTER = 5.0


class Breakers:
    """The MCP server's breakers, one per target, with the same threshold and reset time."""

    def __init__(self, settings: McpSettings) -> None:
        self.by_target: dict[str, CircuitBreaker] = {
            target: counted_breaker(
                target,
                failure_threshold=settings.breaker_failure_threshold,
                reset_seconds=settings.breaker_reset_seconds,
            )
            for target in TARGETS
        }

    def __getitem__(self, target: str) -> CircuitBreaker:
        return self.by_target[target]

    def admit(self, targets: list[str]) -> dict[str, bool]:
        """Admit a call needing ``targets`` (probe flags by target), or raise
        :class:`BreakerOpenError` for the first open one, admitting none."""
        admitted: dict[str, bool] = {}
        try:
            for target in targets:
                admitted[target] = self.by_target[target].admit()
        except BreakerOpenError:
            self.settle(admitted, {})
            raise
        return admitted

    def settle(self, admitted: dict[str, bool], outcomes: dict[str, Outcome]) -> None:
        """Record each admitted target's outcome (neutral unless given); a failure of a
        target that was not admitted (named by the answer) is recorded too."""
        for target, probe in admitted.items():
            self.by_target[target].settle(probe, outcomes.get(target, Outcome.NEUTRAL))
        for target, outcome in outcomes.items():
            if target not in admitted and outcome is Outcome.FAILURE:
                self.by_target[target].settle(False, Outcome.FAILURE)

    def retry_after(self, target: str, hint: float | None) -> float:
        """After a failure: the breaker's wait if it is open now, else the answer's
        Retry-After, else a short pause."""
        breaker = self.by_target[target]
        if breaker.state is BreakerState.OPEN:
            return breaker.retry_after()
        return hint or DEFAULT_RETRY_AFTER

    def view(self) -> dict[str, dict[str, Any]]:
        return {
            target: {
                "state": b.state.label,
                "retry_after": b.retry_after(),
                "consecutive_failures": b.failure_count,
            }
            for target, b in self.by_target.items()
        }
