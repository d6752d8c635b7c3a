"""Prometheus metrics of the LightRAG service (served on ``lightrag_service.metrics_port``).

They live in a registry of their own (with the usual process, platform and GC collectors):
the orchestrator also counts ``lightrag_operations_total`` (its calls to this service), and
both modules may be imported by one process, e.g. a test run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

REGISTRY = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

OPERATIONS = Counter(
    "lightrag_operations_total",
    "LightRAG service operations by outcome",
    ["operation", "status"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "lightrag_operation_duration_seconds",
    "Time taken by LightRAG service operations",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
READY = Gauge(
    "lightrag_ready",
    "1 when the LightRAG storages are initialised and serving",
    registry=REGISTRY,
)

# Statuses: success, unchanged (insert of an id already indexed), conflict (409),
# not_found (404), unavailable (503: not initialised), error (anything else).
for _op in ("insert", "query", "delete"):
    DURATION.labels(_op)
    for _status in ("success", "error", "unavailable"):
        OPERATIONS.labels(_op, _status)


class Outcome:
    """Mutable outcome label of one timed operation (defaults to ``error``)."""

    def __init__(self) -> None:
        self.status = "error"


@contextmanager
def observe(operation: str) -> Iterator[Outcome]:
    """Time ``operation``; count it under the status the block sets (``error`` if it raises)."""
    outcome = Outcome()
    started = time.perf_counter()
    try:
        yield outcome
    finally:
        DURATION.labels(operation).observe(time.perf_counter() - started)
        OPERATIONS.labels(operation, outcome.status).inc()


def serve_metrics(host: str, port: int) -> None:
    """Expose :data:`REGISTRY` on ``host:port`` (0 disables it)."""
    if port:
        start_http_server(port, addr=host, registry=REGISTRY)
