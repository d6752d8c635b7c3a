"""Prometheus metrics of the MCP server (served on ``mcp.metrics_host:mcp.metrics_port``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# circuit_breaker_state{target}, _transitions_total, _rejections_total: one per breaker
from shield_rag.breaker import BREAKER_REJECTIONS, BREAKER_STATE, BREAKER_TRANSITIONS

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
__all__ = [
    "BREAKER_REJECTIONS",
    "BREAKER_STATE",
    "BREAKER_TRANSITIONS",
    "TOOL_CALLS",
    "TOOL_DURATION",
]
