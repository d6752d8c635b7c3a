"""The worker's Prometheus metrics: jobs by outcome, attempt time, busy slots, takeovers, and
the same for the graph stage with its queue depth and lag."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter("worker_jobs_total", "Jobs finished by this worker, by outcome", ["outcome"])
JOB_SECONDS = Histogram(
    "worker_job_duration_seconds",
    "Wall time of one job attempt",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
BUSY = Gauge("worker_busy_slots", "Job slots currently running a job")
RECLAIMED = Counter("worker_reclaimed_jobs_total", "Jobs taken over from a stopped worker")

# The graph stage (LightRAG inserts), a queued stage of its own.
GRAPH_JOBS = Counter(
    "worker_graph_jobs_total",
    "Graph stages ended or retried by this worker, by outcome",
    ["outcome"],
)
GRAPH_SECONDS = Histogram(
    "worker_graph_duration_seconds",
    "Wall time of one graph-stage attempt",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
GRAPH_BUSY = Gauge("worker_graph_busy_slots", "Graph-stage slots currently running a job")
GRAPH_RECLAIMED = Counter(
    "worker_graph_reclaimed_total", "Graph stages taken over from a stopped worker"
)
GRAPH_QUEUE_DEPTH = Gauge(
    "worker_graph_queue_depth",
    "Jobs waiting for the graph stage or in it (stream entries plus scheduled retries)",
)
GRAPH_QUEUE_LAG = Gauge(
    "worker_graph_queue_lag_seconds", "Age of the oldest entry on the graph stage's stream"
)
