"""Prometheus metrics of the orchestrator API."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# circuit_breaker_state{target}, circuit_breaker_transitions_total and
# circuit_breaker_rejections_total of the orchestrator's breakers (qdrant, ollama, lightrag),
# with the same meaning as the MCP server's: see shield_rag.breaker.
from shield_rag.breaker import BREAKER_REJECTIONS, BREAKER_STATE, BREAKER_TRANSITIONS

REQUESTS = Counter(
    "api_requests_total",
    "HTTP requests by endpoint, method and status",
    ["endpoint", "method", "status"],
)
DURATION = Histogram(
    "api_duration_seconds",
    "HTTP request duration by endpoint",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LIGHTRAG_OPS = Counter(
    "lightrag_operations_total",
    "LightRAG operations by operation and status",
    ["operation", "status"],
)
QUEUE_SIZE = Gauge("worker_queue_size", "Jobs waiting for a worker (queued and retry-waiting)")
ACTIVE_JOBS = Gauge("active_jobs", "Jobs held by workers right now")
# The same for the graph stage's own stream: gauges of their own, so that worker_queue_size
# and active_jobs (and the alerts and panels on them) keep counting the vector phase only.
GRAPH_QUEUE_SIZE = Gauge(
    "worker_graph_queue_size",
    "Jobs whose graph stage waits for a graph slot (queued and retry-waiting)",
)
GRAPH_ACTIVE_JOBS = Gauge("active_graph_jobs", "Graph stages held by workers right now")
JOBS_ACCEPTED = Counter("jobs_accepted_total", "Jobs accepted by kind", ["kind"])


def _endpoint(scope: Scope) -> str:
    """The matched route template (set by the router in ``scope["route"]``)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


class MetricsMiddleware:
    """Counts every request by route template (never by raw path, to bound cardinality)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Metric children by label values, looked up once (``labels()`` takes a lock); they
        # are the series the metrics hold anyway, so this adds no cardinality.
        self._durations: dict[str, Any] = {}
        self._requests: dict[tuple[str, str, str], Any] = {}

    def _duration(self, endpoint: str) -> Any:
        child = self._durations.get(endpoint)
        if child is None:
            child = self._durations[endpoint] = DURATION.labels(endpoint)
        return child

    def _request(self, endpoint: str, method: str, status: str) -> Any:
        key = (endpoint, method, status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = REQUESTS.labels(*key)
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                self._duration(_endpoint(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._request(_endpoint(scope), method, str(status["code"])).inc()


# -- admission control (orchestrator/admission.py) --------------------------------------------
# No client label: client names are chosen by callers, so their number is unbounded.
ADMISSION_REFUSALS = Counter(
    "admission_refusals_total",
    "Requests refused by admission control, by reason (rate_limited, too_many_queued_jobs, "
    "overloaded, storage_nearly_full)",
    ["reason"],
)
UNFINISHED_JOBS = Gauge(
    "admission_unfinished_jobs",
    "Jobs queued or running, all clients together (what admission.max_queued_jobs caps)",
)
REDIS_MEMORY_RATIO = Gauge(
    "admission_redis_memory_ratio",
    "Redis used_memory / maxmemory as this orchestrator last read it (0: no maxmemory)",
)
REDIS_MEMORY_WATERMARK = Gauge(
    "admission_redis_memory_high_watermark",
    "admission.redis_memory_high_watermark: the memory ratio above which new work is refused",
)

__all__ = [
    "ACTIVE_JOBS",
    "ADMISSION_REFUSALS",
    "BREAKER_REJECTIONS",
    "BREAKER_STATE",
    "BREAKER_TRANSITIONS",
    "DURATION",
    "GRAPH_ACTIVE_JOBS",
    "GRAPH_QUEUE_SIZE",
    "JOBS_ACCEPTED",
    "LIGHTRAG_OPS",
    "QUEUE_SIZE",
    "REDIS_MEMORY_RATIO",
    "REDIS_MEMORY_WATERMARK",
    "REQUESTS",
    "UNFINISHED_JOBS",
    "MetricsMiddleware",
]

# Model calls (docs/models.md): how the router chose, and budgets (what the calls used is
# counted by shield_rag.llm.metrics, in the workers too).
ROUTER_DECISIONS = Counter(
    "shield_router_decisions_total",
    "Answering models chosen, by tier (none: no router), model and whether a fallback answered",
    ["tier", "model", "fallback"],
)
BUDGET_REMAINING = Gauge(
    "shield_budget_remaining_ratio",
    "Fraction of a client's tightest budget limit left in the current period (1: untouched)",
    ["client"],
)
BUDGET_REFUSALS = Counter(
    "shield_budget_refusals_total", "Calls refused because a client's budget was spent", ["client"]
)
