"""How the services reach the stores and model server: Redis, Qdrant, Ollama and LightRAG."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    field_validator,
)

from shield_rag.settings.base import _Section, check_secret


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
    extract_model: str | None = Field(
        None,
        description="Ollama chat model shield-lightrag uses to extract entities and relations "
        "and summarise descriptions when indexing; null means llm_model.",
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
        classmethod(lambda cls, v: check_secret(v, "lightrag.api_key"))
    )
