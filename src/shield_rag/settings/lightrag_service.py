"""The shield-lightrag process itself."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    model_validator,
)

from shield_rag.settings.base import ListenAddress
from shield_rag.settings.tls import ClientTlsSettings, ListenerTlsSettings


class LightRAGServiceSettings(ClientTlsSettings, ListenerTlsSettings):
    """Settings of the LightRAG service process itself (used by shield-lightrag only).

    LightRAG names its Qdrant collections itself (``lightrag_vdb_<namespace>_<model>_<dim>d``)
    and separates tenants by ``workspace`` inside them, so they never clash with
    ``qdrant.collection``.
    """

    host: ListenAddress = Field(
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
    metrics_host: ListenAddress = Field(
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
