"""The orchestrator API and its admission control."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from shield_rag.settings.accounting import BudgetSettings
from shield_rag.settings.base import ListenAddress, _Section, check_secret
from shield_rag.settings.tls import ClientTlsSettings, ListenerTlsSettings

Scope = Literal["read", "write", "admin", "delegate"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin", "delegate")
CLIENT_NAME_PATTERN = r"^[A-Za-z0-9._:@/-]{1,64}$"
# The client the single orchestrator.api_key stands for, and what it may do: everything it could
# before clients existed (read, write, and naming the MCP server's callers), not admin.
LEGACY_CLIENT = "default"
LEGACY_SCOPES: tuple[Scope, ...] = ("read", "write", "delegate")


class ClientSettings(_Section):
    """One API client of the orchestrator: a key (kept here only as its SHA-256) and what it
    may do."""

    key_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the client's key, in lower-case hex: the key itself is never "
        "written to the settings (the roles hash the vaulted key; by hand: printf %s KEY | "
        "sha256sum).",
    )
    scopes: list[Scope] = Field(
        ["read"],
        min_length=1,
        description="What the client may do: read (search, LightRAG queries, job status and "
        "events, feature list), write (ingest, store, cancel jobs), admin (feature flags, "
        "budgets of every client), delegate (act for the callers it names in X-Shield-Client: "
        "the MCP server's key needs it).",
    )
    budget: BudgetSettings | None = Field(
        None,
        description="The client's model budget per period (tokens and/or cost; null: "
        "accounting.default_budget), checked before each LightRAG query: over it the client "
        "gets 429 budget_exceeded until the period resets.",
    )


class OrchestratorSettings(ClientTlsSettings, ListenerTlsSettings):
    host: ListenAddress = Field(
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
    metrics_host: ListenAddress = Field(
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
    clients: dict[str, ClientSettings] = Field(
        default_factory=dict,
        description="Named API clients, each with its key's SHA-256 and its scopes, a request "
        "being made by the client whose key it sends as 'Authorization: Bearer <key>'; api_key, "
        "if set, is one more client named default (scopes read, write, delegate), and with "
        "neither the API is open (loopback development only).",
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

    @field_validator("clients")
    @classmethod
    def _clients(cls, value: dict[str, ClientSettings]) -> dict[str, ClientSettings]:
        pattern = re.compile(CLIENT_NAME_PATTERN)
        seen: dict[str, str] = {}
        for name, client in value.items():
            if not pattern.fullmatch(name):
                raise ValueError(
                    f"client name {name!r} must be 1 to 64 letters, digits or ._:@/- characters"
                )
            if client.key_sha256 in seen:
                raise ValueError(
                    f"clients {seen[client.key_sha256]!r} and {name!r} have the same key: give "
                    "each client its own"
                )
            seen[client.key_sha256] = name
        return value

    @model_validator(mode="after")
    def _legacy_key(self) -> OrchestratorSettings:
        if self.api_key is None:
            return self
        if LEGACY_CLIENT in self.clients:
            raise ValueError(
                f"clients.{LEGACY_CLIENT}: the name is taken by api_key's client; rename it"
            )
        digest = hashlib.sha256(self.api_key.get_secret_value().encode()).hexdigest()
        for name, client in self.clients.items():
            if client.key_sha256 == digest:
                raise ValueError(f"clients.{name} has the same key as api_key: give it its own")
        return self

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
