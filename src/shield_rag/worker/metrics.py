"""The worker's Prometheus metrics: jobs by outcome, attempt time, busy slots, takeovers."""

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
