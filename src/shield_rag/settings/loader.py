"""The whole settings model and how it is loaded: a YAML file plus ``SHIELD_*`` overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar, overload

import yaml
from pydantic import (
    Field,
    ValidationError,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shield_rag.settings.accounting import AccountingSettings
from shield_rag.settings.base import CONFIG_ENV, ConfigError
from shield_rag.settings.features import FeatureSettings
from shield_rag.settings.ingest import ChunkSettings, CrawlSettings
from shield_rag.settings.lightrag_service import LightRAGServiceSettings
from shield_rag.settings.logs import LoggingSettings
from shield_rag.settings.mcp import McpSettings
from shield_rag.settings.orchestrator import AdmissionSettings, OrchestratorSettings
from shield_rag.settings.routing import RouterSettings
from shield_rag.settings.stores import (
    LightRAGSettings,
    OllamaSettings,
    QdrantSettings,
    RedisSettings,
)
from shield_rag.settings.worker import WorkerSettings


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
    router: RouterSettings = Field(
        RouterSettings(),
        description="Model routing of shield-lightrag: the tiers of models a query sent with "
        "model auto is answered by, fallback cooldown and timeouts; read by shield-lightrag "
        "only.",
    )
    accounting: AccountingSettings = Field(
        AccountingSettings(),
        description="What model calls cost and who may spend how much: per-model prices, the "
        "default client budget and how budgets are held while calls run; read by the "
        "orchestrator and the workers.",
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
    features: FeatureSettings = Field(
        FeatureSettings(),
        description="Which optional features are on by default (each changeable at runtime "
        "through the orchestrator's admin API); read by the orchestrator, the workers and "
        "shield-mcp.",
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


@overload
def load_settings(path: str | os.PathLike[str] | None = None) -> Settings: ...


@overload
def load_settings(path: str | os.PathLike[str] | None, model: type[_S]) -> _S: ...


def load_settings(
    path: str | os.PathLike[str] | None = None, model: type[Settings] = Settings
) -> Settings:
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
