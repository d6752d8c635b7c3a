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
from typing import Any, Literal

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
    if len(raw) < 16 or raw.lower() in WEAK_SECRETS:
        raise ValueError(f"{key} must be at least 16 characters and not a well-known default")
    return value


class RedisSettings(_Section):
    url: str = Field(description="Redis URL, e.g. redis://127.0.0.1:6379/0 or rediss://...")
    key_prefix: str = Field("shield", pattern=r"^[A-Za-z0-9_.-]+$")
    socket_timeout: float = Field(5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v


class QdrantSettings(_Section):
    url: AnyHttpUrl
    api_key: SecretStr | None = None
    collection: str = Field("shield_documents", pattern=r"^[A-Za-z0-9_-]{1,255}$")
    vector_size: int = Field(384, ge=1, le=65536)
    distance: Literal["Cosine", "Dot", "Euclid"] = "Cosine"
    timeout: float = Field(10.0, gt=0)


class OllamaSettings(_Section):
    url: AnyHttpUrl
    embed_model: str = "all-minilm"
    llm_model: str = "qwen2.5:0.5b"
    timeout: float = Field(60.0, gt=0)
    embed_batch_size: int = Field(32, ge=1, le=1024)
    keep_alive: str = "5m"


class LightRAGSettings(_Section):
    """How clients (orchestrator, workers) reach the LightRAG HTTP API.

    ``api_key`` is also the key the shield-lightrag service requires (``X-API-Key``), so
    one value serves both ends; a real lightrag-server uses its ``LIGHTRAG_API_KEY``.
    """

    url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:9621")
    api_key: SecretStr | None = None
    timeout: float = Field(120.0, gt=0)
    enabled: bool = True

    _check_key = field_validator("api_key")(
        classmethod(lambda cls, v: _check_secret(v, "lightrag.api_key"))
    )


class LightRAGServiceSettings(_Section):
    """Settings of the LightRAG service process itself (used by shield-lightrag only).

    LightRAG names its Qdrant collections itself (``lightrag_vdb_<namespace>_<model>_<dim>d``)
    and separates tenants by ``workspace`` inside them, so they never clash with
    ``qdrant.collection``.
    """

    host: str = "127.0.0.1"
    port: int = Field(9621, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9613, ge=0, le=65535, description="0 disables the endpoint")
    working_dir: Path = Path("/var/lib/shield/lightrag")
    workspace: str = Field("shield", pattern=r"^[A-Za-z0-9_]+$")
    tokenizer_model: str = Field(
        "gpt-4",
        description="tiktoken model name; gpt-4 (cl100k_base) is the one available offline",
    )
    tiktoken_cache_dir: Path | None = Field(
        None, description="TIKTOKEN_CACHE_DIR; default <working_dir>/tiktoken"
    )
    chunk_token_size: int = Field(1200, ge=64)
    chunk_overlap_token_size: int = Field(100, ge=0)
    llm_max_async: int = Field(2, ge=1)
    embedding_max_async: int = Field(4, ge=1)
    llm_context_size: int = Field(8192, ge=1024)
    max_gleaning: int = Field(
        1, ge=0, le=5, description="extra entity-extraction passes per chunk (LLM calls)"
    )
    cosine_threshold: float = Field(
        0.2, ge=0.0, le=1.0, description="minimum cosine similarity of a vector match"
    )
    enable_llm_cache: bool = True
    max_text_chars: int = Field(2_000_000, ge=1, description="largest document accepted")
    max_query_chars: int = Field(10_000, ge=1, description="longest query accepted")
    startup_retry_seconds: float = Field(
        2.0, gt=0, description="pause between attempts to reach Qdrant at start-up"
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
    host: str = "127.0.0.1"
    port: int = Field(8600, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9612, ge=1, le=65535)
    public_url: AnyHttpUrl | None = Field(
        None, description="Base URL clients use to reach the orchestrator (for track_url)"
    )
    api_key: SecretStr | None = None
    max_upload_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    max_text_chars: int = Field(2_000_000, ge=1)
    max_vectors_per_request: int = Field(256, ge=1)
    max_search_limit: int = Field(100, ge=1)
    retry_after_seconds: int = Field(2, ge=1)
    sse_ping_seconds: float = Field(15.0, gt=0)
    idempotency_ttl_seconds: int = Field(86400, ge=60)
    readiness_timeout: float = Field(3.0, gt=0)

    _check_key = field_validator("api_key")(
        classmethod(lambda cls, v: _check_secret(v, "orchestrator.api_key"))
    )


class CrawlSettings(_Section):
    user_agent: str = "ShieldRAG/0.1 (+https://galaxy.ansible.com/shield/rag)"
    respect_robots_txt: bool = True
    default_max_pages: int = Field(10, ge=1)
    max_pages_limit: int = Field(200, ge=1)
    default_max_depth: int = Field(2, ge=0)
    max_depth_limit: int = Field(5, ge=0)
    max_response_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    request_timeout: float = Field(15.0, gt=0)
    total_timeout: float = Field(300.0, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs the SSRF guard lets through although they are not global "
        "(e.g. an intranet). Empty: only globally routable addresses are fetched.",
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
    max_chars: int = Field(1500, ge=100)
    overlap_chars: int = Field(150, ge=0)

    @model_validator(mode="after")
    def _overlap(self) -> ChunkSettings:
        if self.overlap_chars >= self.max_chars:
            raise ValueError("overlap_chars must be smaller than max_chars")
        return self


class WorkerSettings(_Section):
    concurrency: int = Field(1, ge=1, le=64)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9620, ge=0, le=65535, description="0 disables the endpoint")
    max_attempts: int = Field(5, ge=1, le=100)
    backoff_base_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(300.0, gt=0)
    claim_idle_seconds: float = Field(
        30.0,
        gt=0,
        description="A job whose worker stopped heartbeating for this long is taken over "
        "by another worker (the kill -9 recovery bound).",
    )
    heartbeat_seconds: float = Field(5.0, gt=0)
    job_timeout_seconds: float = Field(1800.0, gt=0)
    drain_timeout_seconds: float = Field(60.0, gt=0)
    block_ms: int = Field(1000, ge=10, le=60000)
    job_ttl_seconds: int = Field(7 * 86400, ge=60)

    @model_validator(mode="after")
    def _heartbeat(self) -> WorkerSettings:
        if self.heartbeat_seconds * 2 > self.claim_idle_seconds:
            raise ValueError(
                "heartbeat_seconds must be at most half of claim_idle_seconds, "
                "or live jobs would be taken over"
            )
        return self


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_format: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHIELD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    redis: RedisSettings
    qdrant: QdrantSettings
    ollama: OllamaSettings
    lightrag: LightRAGSettings = LightRAGSettings()
    lightrag_service: LightRAGServiceSettings = LightRAGServiceSettings()
    orchestrator: OrchestratorSettings = OrchestratorSettings()
    crawl: CrawlSettings = CrawlSettings()
    chunking: ChunkSettings = ChunkSettings()
    worker: WorkerSettings = WorkerSettings()
    logging: LoggingSettings = LoggingSettings()

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


def _format_error(exc: ValidationError, source: str) -> str:
    lines = [f"invalid Shield configuration ({source}):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/configuration.md)"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
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
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, source)) from exc
