"""The ingestion workers."""

from __future__ import annotations

from pydantic import (
    Field,
    model_validator,
)

from shield_rag.settings.base import ListenAddress
from shield_rag.settings.tls import ClientTlsSettings


class WorkerSettings(ClientTlsSettings):
    concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Jobs one worker process runs at the same time; for more throughput on "
        "CPU-bound documents run more worker processes instead.",
    )
    graph_concurrency: int = Field(
        1,
        ge=0,
        le=64,
        description="Graph-stage jobs (LightRAG inserts) one worker process runs at the same "
        "time, beside its vector-phase slots; size the sum over all worker processes to what "
        "Ollama serves in parallel (OLLAMA_NUM_PARALLEL). 0: this worker runs no graph stage.",
    )
    graph_max_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Attempts a job's graph stage gets before the job is marked dead (its "
        "vectors stay searchable); retries wait backoff_base_seconds, doubling.",
    )
    graph_yield_seconds: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="Searchable first: a free graph slot starts no new graph stage while "
        "vector-phase jobs wait for a slot, unless the oldest graph stage waiting has waited "
        "this many seconds. 0: graph slots never hold back (e.g. on hosts that run only the "
        "graph stage).",
    )
    metrics_host: ListenAddress = Field(
        "127.0.0.1",
        description="Address of the worker's Prometheus /metrics endpoint.",
    )
    metrics_port: int = Field(
        9620,
        ge=0,
        le=65535,
        description="TCP port of the worker's Prometheus /metrics endpoint; 0 disables it, and "
        "each worker process on a host needs its own (shield-worker --metrics-port).",
    )
    max_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description="Attempts a job gets before it is marked dead; the orchestrator stores it "
        "on each job it accepts.",
    )
    backoff_base_seconds: float = Field(
        2.0,
        gt=0,
        description="Seconds before the first retry of a failed job; the delay doubles with "
        "each further attempt.",
    )
    backoff_max_seconds: float = Field(
        300.0,
        gt=0,
        description="Longest delay, in seconds, between two attempts of a job.",
    )
    claim_idle_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds after which a job whose worker stopped heartbeating is taken over "
        "by another worker (the recovery time after a crash or kill -9).",
    )
    heartbeat_seconds: float = Field(
        5.0,
        gt=0,
        description="Seconds between the heartbeats of a running job; it must be at most half "
        "of claim_idle_seconds.",
    )
    job_timeout_seconds: float = Field(
        1800.0,
        gt=0,
        description="Longest time, in seconds, one attempt of a job may run before it is "
        "stopped and retried.",
    )
    drain_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="Seconds a stopping worker waits for its running jobs to finish before it "
        "hands them back to the queue.",
    )
    block_ms: int = Field(
        1000,
        ge=10,
        le=60000,
        description="Milliseconds an idle job slot waits for a new job in one Redis read; "
        "lower values react sooner to a stop request but poll Redis more often.",
    )
    job_ttl_seconds: int = Field(
        7 * 86400,
        ge=60,
        description="Seconds Redis keeps a finished job's record and events, and an uploaded "
        "file, before they expire (default 7 days).",
    )

    @model_validator(mode="after")
    def _heartbeat(self) -> WorkerSettings:
        if self.heartbeat_seconds * 2 > self.claim_idle_seconds:
            raise ValueError(
                "heartbeat_seconds must be at most half of claim_idle_seconds, "
                "or live jobs would be taken over"
            )
        return self
