"""The orchestrator API and its admission control."""

from __future__ import annotations

import ipaddress

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from shield_rag.settings.base import _Section, check_secret
from shield_rag.settings.tls import ClientTlsSettings, ListenerTlsSettings


class OrchestratorSettings(ClientTlsSettings, ListenerTlsSettings):
    host: str = Field(
        "127.0.0.1",
        description="Address the orchestrator API listens on; keep 127.0.0.1 behind a reverse "
        "proxy on the same host.",
    )
    port: int = Field(
        8600,
        ge=1,
        le=65535,
        description="TCP port the orchestrator API listens on.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address of the orchestrator's Prometheus /metrics endpoint.",
    )
    metrics_port: int = Field(
        9612,
        ge=1,
        le=65535,
        description="TCP port of the orchestrator's Prometheus /metrics endpoint (it cannot "
        "be disabled).",
    )
    forwarded_allow_ips: list[str] = Field(
        ["127.0.0.1"],
        min_length=1,
        description="Addresses (or networks) of the proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto the orchestrator trusts, so that behind the edge proxy admission "
        "counts each client by its own address; * trusts any peer.",
    )
    public_url: AnyHttpUrl | None = Field(
        None,
        description="Base URL clients use to reach the orchestrator, used to build track_url; "
        "set it behind a reverse proxy (null: taken from each request).",
    )
    api_key: SecretStr | None = Field(
        None,
        description="Token clients must send as 'Authorization: Bearer <key>' (null: no "
        "authentication; at least 16 characters, no well-known default); it is a secret, best "
        "passed as SHIELD_ORCHESTRATOR__API_KEY from a vault.",
    )
    max_upload_bytes: int = Field(
        25 * 1024 * 1024,
        ge=1024,
        description="Largest file upload /ingest-async accepts, in bytes (default 25 MiB).",
    )
    max_text_chars: int = Field(
        2_000_000,
        ge=1,
        description="Longest text, in characters, a text ingest request may carry (larger "
        "texts must be uploaded as a file).",
    )
    max_vectors_per_request: int = Field(
        256,
        ge=1,
        description="Most texts one /vectors request may store (larger batches belong in "
        "/ingest-async).",
    )
    max_search_limit: int = Field(
        100,
        ge=1,
        description="Most results one /search request may ask for (clients page with offset).",
    )
    retry_after_seconds: int = Field(
        2,
        ge=1,
        description="Seconds sent in the Retry-After header of an accepted job, telling "
        "clients how soon to poll it.",
    )
    sse_ping_seconds: float = Field(
        15.0,
        gt=0,
        description="Seconds between keep-alive pings on event streams; lower it if a proxy "
        "closes idle connections sooner.",
    )
    idempotency_ttl_seconds: int = Field(
        86400,
        ge=60,
        description="Seconds an Idempotency-Key is remembered, so a request retried within "
        "that time returns the same job instead of a new one.",
    )
    readiness_timeout: float = Field(
        3.0,
        gt=0,
        description="Seconds each dependency check of /readyz may take before it counts as failed.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Seconds a client may take to send a request's headers; a slower "
        "connection is closed, so half-sent requests cannot hold server slots.",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds a client may wait between two parts of a request body (and "
        "whose Content-Length promises more than it sends); it then gets 408 and its "
        "connection is closed.",
    )
    dependency_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="Seconds the orchestrator waits for Qdrant, Ollama or LightRAG while a "
        "client waits for the answer (search, store, LightRAG query), at most each "
        "dependency's own timeout; keep it below mcp.request_timeout so a slow dependency is "
        "reported by name (504) instead of timing out the MCP server's call.",
    )
    breaker_failure_threshold: int = Field(
        5,
        ge=1,
        le=1000,
        description="Consecutive failures (timeouts, connection errors, 5xx) of one dependency "
        "(Qdrant, Ollama, LightRAG) that open the orchestrator's circuit breaker for it; only "
        "the routes that need that dependency then fail fast.",
    )
    breaker_reset_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds an open breaker of the orchestrator rejects calls to its "
        "dependency before one probe call is let through.",
    )

    _check_key = field_validator("api_key")(
        classmethod(lambda cls, v: check_secret(v, "orchestrator.api_key"))
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        for item in value:
            if item == "*":
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is neither an IP address, a network (CIDR) nor *"
                ) from None
        return value


class AdmissionSettings(_Section):
    """Admission control of the orchestrator, shared by every replica through Redis."""

    enabled: bool = Field(
        True,
        description="Whether the orchestrator limits clients (rate, queued jobs), caps the "
        "queued work and refuses new work while Redis is nearly full.",
    )
    client_requests_per_second: float = Field(
        50.0,
        gt=0,
        description="Sustained requests per second one client may send (all routes but "
        "health), more getting 429 with Retry-After; a client is named by its X-Shield-Client "
        "header (the MCP server sends its caller's) or else by its address.",
    )
    client_burst: int = Field(
        100,
        ge=1,
        description="Requests one client may send at once above its sustained rate (the "
        "token bucket's size).",
    )
    client_max_queued_jobs: int = Field(
        200,
        ge=1,
        description="Unfinished jobs (queued or running) one client may have; a new job over "
        "this is refused with 429 until some finish.",
    )
    max_queued_jobs: int = Field(
        5000,
        ge=1,
        description="Unfinished jobs all clients together may have; a new job over this is "
        "refused with 503 (overloaded) and Retry-After.",
    )
    redis_memory_high_watermark: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Fraction of Redis' maxmemory above which new work (ingest, store) is "
        "refused with 503, so jobs already accepted can always finish (reads keep working; no "
        "effect when Redis has no maxmemory).",
    )
    redis_memory_check_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds between two reads of Redis' memory use by each replica.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> AdmissionSettings:
        if self.client_max_queued_jobs > self.max_queued_jobs:
            raise ValueError(
                "client_max_queued_jobs must not exceed max_queued_jobs (one client could "
                "otherwise fill the whole queue)"
            )
        return self
