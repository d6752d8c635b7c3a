"""Prometheus metrics of the MCP server (served on ``mcp.metrics_host:mcp.metrics_port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shield_rag.mcp.breaker import BreakerState

TOOL_CALLS = Counter(
    "tool_calls_total",
    "MCP tool calls by tool and outcome (success, invalid, error, unavailable, cancelled)",
    ["tool", "status"],
)
TOOL_DURATION = Histogram(
    "tool_duration_seconds",
    "MCP tool call duration by tool",
    ["tool"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
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


def breaker_created(target: str) -> None:
    """Show a new breaker as closed before its first transition."""
    BREAKER_STATE.labels(target).set(int(BreakerState.CLOSED))


def breaker_transition(target: str, before: BreakerState, after: BreakerState) -> None:
    """Listener for :class:`~shield_rag.mcp.breaker.CircuitBreaker` transitions."""
    BREAKER_STATE.labels(target).set(int(after))
    BREAKER_TRANSITIONS.labels(target, before.label, after.label).inc()
