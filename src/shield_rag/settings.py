"""One settings model for every Shield service.

Settings are read from a YAML file (the roles render it) and may be overridden by
environment variables: ``SHIELD_<SECTION>__<KEY>`` (for example
``SHIELD_REDIS__URL=redis://127.0.0.1:6380/0``). The file is named by ``--config`` on the
command line or by ``SHIELD_CONFIG``. Unknown keys, missing required keys and bad values
fail at start-up with a message that names the key.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "SHIELD_CONFIG"
WEAK_SECRETS = frozenset({"changeme", "change-me", "secret", "password", "admin", "shield"})


class ConfigError(Exception):
    """Raised when the configuration cannot be loaded; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_secret(value: SecretStr | None, key: str) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value()
    folded = "".join(ch for ch in raw.lower() if ch.isalpha())
    weak_words = any(folded == w * (len(folded) // len(w)) for w in WEAK_SECRETS if folded)
    if len(raw) < 16 or weak_words or len(set(raw)) < 8:
        raise ValueError(
            f"{key} must be at least 16 characters with at least 8 different ones, and not "
            "a well-known default repeated (generate one: openssl rand -hex 32)"
        )
    return value


class RedisSettings(_Section):
    url: str = Field(
        description="Redis URL: redis://host:port/db, rediss:// for TLS or unix:///path/to.sock; "
        "a password belongs in it (redis://:PASSWORD@host:6379/0), so pass it as "
        "SHIELD_REDIS__URL from a vault rather than writing it in the file.",
    )
    key_prefix: str = Field(
        "shield",
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Prefix of every Redis key Shield uses; give each deployment that shares "
        "one Redis database its own prefix.",
    )
    socket_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds allowed for opening a connection to Redis before the attempt "
        "fails and is retried (commands themselves have no time limit).",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v


class QdrantSettings(_Section):
    url: AnyHttpUrl = Field(
        description="Qdrant HTTP (REST) URL, normally port 6333, e.g. http://127.0.0.1:6333.",
    )
    api_key: SecretStr | None = Field(
        None,
        description="Qdrant API key when Qdrant requires one (null: none); it is a secret, "
        "best passed as SHIELD_QDRANT__API_KEY from a vault rather than written in the file.",
    )
    collection: str = Field(
        "shield_documents",
        pattern=r"^[A-Za-z0-9_-]{1,255}$",
        description="Qdrant collection the orchestrator and workers store document chunks in; "
        "it is created on first use.",
    )
    vector_size: int = Field(
        384,
        ge=1,
        le=65536,
        description="Dimension of the embedding vectors, which must equal what "
        "ollama.embed_model returns (384 for all-minilm); changing it needs a new collection.",
    )
    distance: Literal["Cosine", "Dot", "Euclid"] = Field(
        "Cosine",
        description="Similarity metric set when the collection is created; changing it later "
        "has no effect on an existing collection.",
    )
    timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds allowed for one Qdrant request (rounded down to whole seconds).",
    )


class OllamaSettings(_Section):
    url: AnyHttpUrl = Field(
        description="Ollama HTTP URL, normally port 11434, e.g. http://127.0.0.1:11434.",
    )
    embed_model: str = Field(
        "all-minilm",
        description="Ollama model that embeds chunks and queries; it must be pulled on the "
        "Ollama host and return vectors of qdrant.vector_size dimensions.",
    )
    llm_model: str = Field(
        "qwen2.5:0.5b",
        description="Ollama chat model shield-lightrag uses to extract entities and write "
        "answers; it must be pulled on the Ollama host (larger models answer better, slower).",
    )
    timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds allowed for one Ollama request (an embedding batch or an LLM "
        "call); raise it for large models running on CPU.",
    )
    embed_batch_size: int = Field(
        32,
        ge=1,
        le=1024,
        description="Texts sent to Ollama in one embedding request; lower it if Ollama runs "
        "out of memory or times out.",
    )
    keep_alive: str = Field(
        "5m",
        description="How long Ollama keeps a model loaded after a request, as an Ollama "
        "duration (e.g. 5m, 1h; 0 unloads at once, -1 keeps it loaded).",
    )


class LightRAGSettings(_Section):
    """How clients (orchestrator, workers) reach the LightRAG HTTP API.

    ``api_key`` is also the key the shield-lightrag service requires (``X-API-Key``), so
    one value serves both ends; a real lightrag-server uses its ``LIGHTRAG_API_KEY``.
    """

    url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:9621"),
        description="Base URL of the LightRAG HTTP API, i.e. the host and port shield-lightrag "
        "listens on (lightrag_service.host and lightrag_service.port).",
    )
    api_key: SecretStr | None = Field(
        None,
        description="Key sent as X-API-Key and required by shield-lightrag (null: none; at "
        "least 16 characters, no well-known default); it is a secret, best passed as "
        "SHIELD_LIGHTRAG__API_KEY from a vault.",
    )
    timeout: float = Field(
        120.0,
        gt=0,
        description="Seconds allowed for one LightRAG request; an insert returns only once the "
        "document is indexed, so raise it for a slow LLM or large documents.",
    )
    enabled: bool = Field(
        True,
        description="Whether workers also add documents to LightRAG and the orchestrator "
        "serves /lightrag/query; false gives vector search only.",
    )

    _check_key = field_validator("api_key")(
        classmethod(lambda cls, v: _check_secret(v, "lightrag.api_key"))
    )


class LightRAGServiceSettings(_Section):
    """Settings of the LightRAG service process itself (used by shield-lightrag only).

    LightRAG names its Qdrant collections itself (``lightrag_vdb_<namespace>_<model>_<dim>d``)
    and separates tenants by ``workspace`` inside them, so they never clash with
    ``qdrant.collection``.
    """

    host: str = Field(
        "127.0.0.1",
        description="Address shield-lightrag listens on; keep 127.0.0.1 unless clients on "
        "other hosts must reach it (then also set lightrag.api_key).",
    )
    port: int = Field(
        9621,
        ge=1,
        le=65535,
        description="TCP port shield-lightrag listens on; it must match the port in lightrag.url.",
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address of shield-lightrag's Prometheus /metrics endpoint.",
    )
    metrics_port: int = Field(
        9613,
        ge=0,
        le=65535,
        description="TCP port of shield-lightrag's Prometheus /metrics endpoint; 0 disables "
        "it, and it must differ from port.",
    )
    working_dir: Path = Field(
        Path("/var/lib/shield/lightrag"),
        description="Directory (created if missing) where LightRAG keeps its knowledge graph "
        "and JSON stores; it must be writable by the service and backed up with Qdrant.",
    )
    workspace: str = Field(
        "shield",
        pattern=r"^[A-Za-z0-9_]+$",
        description="LightRAG workspace that keeps this deployment's data apart inside the "
        "shared Qdrant collections; changing it starts from an empty knowledge graph.",
    )
    tokenizer_model: str = Field(
        "gpt-4",
        description="tiktoken model name used to count tokens; gpt-4 (cl100k_base) is the only "
        "one available offline, so change it only on hosts with Internet access.",
    )
    tiktoken_cache_dir: Path | None = Field(
        None,
        description="Directory for tiktoken's encoding files (TIKTOKEN_CACHE_DIR); null means the "
        "tiktoken directory inside working_dir.",
    )
    chunk_token_size: int = Field(
        1200,
        ge=64,
        description="Largest chunk, in tokens, LightRAG splits documents into (independent of "
        "chunking.max_chars); smaller chunks mean more LLM calls per document.",
    )
    chunk_overlap_token_size: int = Field(
        100,
        ge=0,
        description="Tokens shared by neighbouring LightRAG chunks; it must be smaller than "
        "chunk_token_size.",
    )
    llm_max_async: int = Field(
        2,
        ge=1,
        description="Most LLM calls LightRAG sends to Ollama at once; raise it only if Ollama "
        "serves requests in parallel (OLLAMA_NUM_PARALLEL).",
    )
    embedding_max_async: int = Field(
        4,
        ge=1,
        description="Most embedding requests LightRAG sends to Ollama at once.",
    )
    llm_context_size: int = Field(
        8192,
        ge=1024,
        description="Context window, in tokens, requested from Ollama for LLM calls (num_ctx); "
        "larger windows need more memory on the Ollama host.",
    )
    max_gleaning: int = Field(
        1,
        ge=0,
        le=5,
        description="Extra entity-extraction passes per chunk, each one more LLM call; 0 is "
        "fastest, higher values find more entities.",
    )
    cosine_threshold: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Minimum cosine similarity (0 to 1) of a vector match LightRAG uses in a "
        "query; raise it to drop weak matches.",
    )
    enable_llm_cache: bool = Field(
        True,
        description="Whether LightRAG caches LLM answers in working_dir, so re-indexing a "
        "document or repeating a query does not call the LLM again.",
    )
    max_text_chars: int = Field(
        2_000_000,
        ge=1,
        description="Largest document, in characters, shield-lightrag accepts for indexing "
        "(larger ones are refused with HTTP 413).",
    )
    max_query_chars: int = Field(
        10_000,
        ge=1,
        description="Longest query, in characters, shield-lightrag accepts (longer ones are "
        "refused with HTTP 422).",
    )
    startup_retry_seconds: float = Field(
        2.0,
        gt=0,
        description="Seconds between attempts to initialise the storages (reach Qdrant) while "
        "shield-lightrag starts.",
    )

    @model_validator(mode="after")
    def _chunks(self) -> LightRAGServiceSettings:
        if self.chunk_overlap_token_size >= self.chunk_token_size:
            raise ValueError("chunk_overlap_token_size must be smaller than chunk_token_size")
        if self.metrics_port and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port")
        return self

    @property
    def effective_tiktoken_cache_dir(self) -> Path:
        return self.tiktoken_cache_dir or self.working_dir / "tiktoken"


class OrchestratorSettings(_Section):
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
        classmethod(lambda cls, v: _check_secret(v, "orchestrator.api_key"))
    )


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


class CrawlSettings(_Section):
    user_agent: str = Field(
        "ShieldRAG/0.1 (+https://galaxy.ansible.com/shield/rag)",
        description="User-Agent header the crawler sends, also the name robots.txt rules are "
        "matched against; include a contact URL of your own.",
    )
    respect_robots_txt: bool = Field(
        True,
        description="Whether the crawler obeys robots.txt; set false only for sites you run.",
    )
    default_max_pages: int = Field(
        10,
        ge=1,
        description="Pages crawled when a request gives no max_pages; it must not exceed "
        "max_pages_limit.",
    )
    max_pages_limit: int = Field(
        200,
        ge=1,
        description="Most pages one crawl request may ask for.",
    )
    default_max_depth: int = Field(
        2,
        ge=0,
        description="Link depth followed when a request gives no max_depth (0: the start page "
        "only); it must not exceed max_depth_limit.",
    )
    max_depth_limit: int = Field(
        5,
        ge=0,
        description="Greatest link depth one crawl request may ask for.",
    )
    max_response_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest page or document the crawler downloads, in bytes (default "
        "10 MiB); larger ones are skipped.",
    )
    request_timeout: float = Field(
        15.0,
        gt=0,
        description="Seconds allowed for fetching one page or document.",
    )
    total_timeout: float = Field(
        300.0,
        gt=0,
        description="Time budget of a whole crawl in seconds; when it runs out the crawl "
        "stops and keeps the pages fetched so far.",
    )
    max_redirects: int = Field(
        5,
        ge=0,
        le=20,
        description="Most HTTP redirects followed for one URL (the SSRF guard checks every hop).",
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDR networks the SSRF guard lets the crawler fetch although they are not "
        "globally routable (e.g. an intranet's 10.0.0.0/8); empty allows public addresses only.",
    )

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not a CIDR network: {exc}") from exc
        return v

    @model_validator(mode="after")
    def _limits(self) -> CrawlSettings:
        if self.default_max_pages > self.max_pages_limit:
            raise ValueError("default_max_pages must not exceed max_pages_limit")
        if self.default_max_depth > self.max_depth_limit:
            raise ValueError("default_max_depth must not exceed max_depth_limit")
        return self


class ChunkSettings(_Section):
    max_chars: int = Field(
        1500,
        ge=100,
        description="Largest chunk, in characters, the workers split a document into before "
        "embedding it; keep it within the embedding model's input limit.",
    )
    overlap_chars: int = Field(
        150,
        ge=0,
        description="Characters neighbouring chunks share, so a passage cut at a boundary is "
        "still found; it must be smaller than max_chars.",
    )

    @model_validator(mode="after")
    def _overlap(self) -> ChunkSettings:
        if self.overlap_chars >= self.max_chars:
            raise ValueError("overlap_chars must be smaller than max_chars")
        return self


class WorkerSettings(_Section):
    concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Jobs one worker process runs at the same time; for more throughput on "
        "CPU-bound documents run more worker processes instead.",
    )
    metrics_host: str = Field(
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


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class McpSettings(_Section):
    """The MCP server (shield-mcp): listen address, auth, orchestrator client, breaker."""

    transport: Literal["http", "stdio"] = Field(
        "http",
        description="How MCP clients connect: http (streamable HTTP, for deployments) or stdio "
        "(a desktop client starts the server itself); shield-mcp --transport overrides it.",
    )
    host: str = Field(
        "127.0.0.1",
        description="Address the streamable HTTP transport listens on; any address other than "
        "loopback requires mcp.auth_token.",
    )
    port: int = Field(8601, ge=1, le=65535, description="Port of the streamable HTTP transport.")
    path: str = Field(
        "/mcp",
        pattern=r"^/[A-Za-z0-9/_.-]*$",
        description="URL path of the streamable HTTP endpoint (clients connect to "
        "http://host:port/mcp by default).",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the Prometheus /metrics endpoint listens on."
    )
    metrics_port: int = Field(
        9611,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics endpoint; 0 disables it (for example for "
        "a desktop client running the stdio transport).",
    )
    orchestrator_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8600"),
        description="Base URL of the orchestrator API every tool calls.",
    )
    orchestrator_api_key: SecretStr | None = Field(
        None,
        description="Key sent to the orchestrator as 'Authorization: Bearer'; null uses "
        "orchestrator.api_key from the same file, so one value can serve both ends.",
    )
    auth_token: SecretStr | None = Field(
        None,
        description="Bearer token MCP clients must send over HTTP (401 without it); required "
        "when mcp.host is not loopback, best passed as SHIELD_MCP__AUTH_TOKEN from a vault.",
    )
    request_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds allowed for one orchestrator request before it counts as a "
        "failure of the circuit breaker.",
    )
    breaker_failure_threshold: int = Field(
        5,
        ge=1,
        le=1000,
        description="Consecutive failures of one target that open its circuit breaker: the "
        "orchestrator itself (timeouts, connection errors, 5xx answers) or a dependency the "
        "orchestrator names as failing (qdrant, ollama, lightrag, redis); only the tools that "
        "need that target then fail fast.",
    )
    breaker_reset_seconds: float = Field(
        60.0,
        gt=0,
        description="Seconds an open circuit breaker rejects calls before it lets one probe "
        "request through (half-open).",
    )
    read_only: bool = Field(
        False,
        description="Whether to hide the tools that write (crawl_web, ingest_doc, "
        "qdrant_store) and leave only the search, query and job tools.",
    )
    wait_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds between two job status reads while wait_for_job waits.",
    )
    max_wait_seconds: float = Field(
        900.0,
        gt=0,
        description="Longest wait_for_job may wait in one call; a client asking for more "
        "gets this.",
    )
    file_roots: list[Path] = Field(
        default_factory=list,
        description="Directories ingest_doc may read a file_path from (symlinks resolved); "
        "empty disables file paths, so agents send inline content or a URL instead.",
    )
    max_file_bytes: int = Field(
        25 * 1024 * 1024,
        ge=1024,
        description="Largest file or inline document ingest_doc sends to the orchestrator.",
    )

    _check_token = field_validator("auth_token")(
        classmethod(lambda cls, v: _check_secret(v, "mcp.auth_token"))
    )
    _check_key = field_validator("orchestrator_api_key")(
        classmethod(lambda cls, v: _check_secret(v, "mcp.orchestrator_api_key"))
    )

    def auth_problem(self, transport: str) -> str | None:
        """Why serving ``transport`` with these settings would be unsafe (None if it is not)."""
        if transport == "http" and self.auth_token is None and not _is_loopback_host(self.host):
            return (
                f"auth_token is required when the HTTP transport listens on {self.host!r} "
                "(not loopback): set SHIELD_MCP__AUTH_TOKEN, or listen on 127.0.0.1"
            )
        return None

    @model_validator(mode="after")
    def _safe(self) -> McpSettings:
        problem = self.auth_problem(self.transport)
        if problem:
            raise ValueError(problem)
        if self.metrics_port and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port")
        return self


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="Log level of every service; DEBUG also logs each HTTP request of "
        "shield-lightrag.",
    )
    json_format: bool = Field(
        False,
        description="Whether the orchestrator and workers log one JSON object per line (for "
        "log shippers) instead of plain text; shield-lightrag always logs plain text.",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHIELD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    redis: RedisSettings = Field(
        description="Redis, which holds the job queue, job records and events; read by the "
        "orchestrator and the workers.",
    )
    qdrant: QdrantSettings = Field(
        description="Qdrant, the vector database; read by the orchestrator and workers "
        "(document chunks) and by shield-lightrag (its own collections).",
    )
    ollama: OllamaSettings = Field(
        description="Ollama, which serves the embedding model and the LLM; read by the "
        "orchestrator and workers (embeddings) and by shield-lightrag (embeddings and LLM).",
    )
    lightrag: LightRAGSettings = Field(
        LightRAGSettings(),
        description="How the orchestrator and workers reach LightRAG, and the API key "
        "shield-lightrag requires; read by all three services.",
    )
    lightrag_service: LightRAGServiceSettings = Field(
        LightRAGServiceSettings(),
        description="The shield-lightrag process itself: listen address, storage, tokenizer "
        "and LightRAG tuning; read by shield-lightrag only.",
    )
    orchestrator: OrchestratorSettings = Field(
        OrchestratorSettings(),
        description="The orchestrator API: listen address, authentication and request limits; "
        "read by shield-orchestrator only.",
    )
    admission: AdmissionSettings = Field(
        AdmissionSettings(),
        description="Admission control: per-client rate limits and queued-job caps, a global "
        "cap on queued work and a Redis memory guard; read by shield-orchestrator only.",
    )
    crawl: CrawlSettings = Field(
        CrawlSettings(),
        description="Crawling for URL ingest jobs: limits, robots.txt and the SSRF guard; read "
        "by the workers (crawling) and the orchestrator (checking requests).",
    )
    chunking: ChunkSettings = Field(
        ChunkSettings(),
        description="How the workers split documents into chunks before embedding them into "
        "qdrant.collection; read by the workers.",
    )
    worker: WorkerSettings = Field(
        WorkerSettings(),
        description="Ingestion workers: concurrency, retries, crash recovery and job retention; "
        "read by the workers (the orchestrator uses max_attempts and job_ttl_seconds).",
    )
    mcp: McpSettings = Field(
        McpSettings(),
        description="The MCP server: transports, client authentication, how it reaches the "
        "orchestrator and its circuit breaker; read by shield-mcp only.",
    )
    logging: LoggingSettings = Field(
        LoggingSettings(),
        description="Log level and format; read by every service.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (the YAML file, passed by load_settings) < environment overrides.
        return (env_settings, init_settings)


_S = TypeVar("_S", bound=Settings)


def _format_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid Shield configuration ({source}):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/configuration.md)"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


class McpServiceSettings(Settings):
    """What ``shield-mcp`` reads: the same file, but it only talks to the orchestrator.

    Redis, Qdrant and Ollama may be left out of an MCP-only host's file; when present (a
    single file shared by the whole stack) they are still checked.
    """

    redis: RedisSettings | None = None  # type: ignore[assignment]
    qdrant: QdrantSettings | None = None  # type: ignore[assignment]
    ollama: OllamaSettings | None = None  # type: ignore[assignment]


def load_settings(path: str | os.PathLike[str] | None = None, model: type[_S] = Settings) -> _S:
    """Load settings from ``path`` (or ``$SHIELD_CONFIG``) plus environment overrides."""
    chosen = path if path is not None else os.environ.get(CONFIG_ENV)
    data: dict[str, Any] = {}
    source = "environment only"
    if chosen:
        file = Path(chosen)
        source = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {file}: {exc.strerror}") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration file {file} is not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"configuration file {file} must hold a mapping at the top level")
        data = loaded
    try:
        return model(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from exc
