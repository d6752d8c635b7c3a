"""The LightRAG engine shield-lightrag serves, and the operations on it.

LightRAG runs as a library inside this process: vectors in Qdrant
(``QdrantVectorDBStorage``, which reads ``QDRANT_URL``/``QDRANT_API_KEY`` from the
environment), the graph in NetworkX and key/value data and document status in JSON files
under ``lightrag_service.working_dir``, LLM and embeddings through Ollama with LightRAG's
own ollama binding, and an offline tiktoken tokenizer (see ``tokenizer.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from lightrag import LightRAG, QueryParam
from lightrag.base import DocStatus
from lightrag.llm.ollama import ollama_embed, ollama_model_complete
from lightrag.utils import EmbeddingFunc, compute_mdhash_id, sanitize_text_for_encoding
from lightrag.utils_pipeline import compute_text_content_hash

from shield_rag.settings import ConfigError, Settings

from .tokenizer import make_tokenizer

log = logging.getLogger("shield_rag.lightrag_service")

QueryMode = Literal["naive", "local", "global", "hybrid", "mix", "bypass"]
UNKNOWN_SOURCE = "unknown_source"


class OperationError(Exception):
    """An operation failed; ``status_code`` is the HTTP status the API answers with."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True)
class InsertResult:
    doc_id: str
    track_id: str | None
    changed: bool
    message: str


def _base_url(url: object) -> str:
    return str(url).rstrip("/")


def build_rag(settings: Settings) -> LightRAG:
    """Construct (not yet initialise) the LightRAG instance. Raises ConfigError."""
    svc = settings.lightrag_service
    tokenizer = make_tokenizer(svc.tokenizer_model, svc.effective_tiktoken_cache_dir)
    try:
        svc.working_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"lightrag_service.working_dir: cannot create {svc.working_dir}: {exc.strerror}"
        ) from exc
    # QdrantVectorDBStorage takes its connection from the environment only.
    os.environ["QDRANT_URL"] = _base_url(settings.qdrant.url)
    if settings.qdrant.api_key is not None:
        os.environ["QDRANT_API_KEY"] = settings.qdrant.api_key.get_secret_value()
    else:
        os.environ.pop("QDRANT_API_KEY", None)
    os.environ.pop("QDRANT_WORKSPACE", None)  # would override lightrag_service.workspace

    ollama_url = _base_url(settings.ollama.url)
    timeout = settings.ollama.timeout
    embedding = EmbeddingFunc(
        embedding_dim=settings.qdrant.vector_size,
        func=partial(
            ollama_embed.func,
            embed_model=settings.ollama.embed_model,
            host=ollama_url,
            timeout=timeout,
        ),
        model_name=settings.ollama.embed_model,
    )
    return LightRAG(
        working_dir=str(svc.working_dir),
        workspace=svc.workspace,
        kv_storage="JsonKVStorage",
        vector_storage="QdrantVectorDBStorage",
        graph_storage="NetworkXStorage",
        doc_status_storage="JsonDocStatusStorage",
        vector_db_storage_cls_kwargs={"cosine_better_than_threshold": svc.cosine_threshold},
        tokenizer=tokenizer,
        tiktoken_model_name=svc.tokenizer_model,
        chunk_token_size=svc.chunk_token_size,
        chunk_overlap_token_size=svc.chunk_overlap_token_size,
        entity_extract_max_gleaning=svc.max_gleaning,
        embedding_func=embedding,
        embedding_batch_num=settings.ollama.embed_batch_size,
        embedding_func_max_async=svc.embedding_max_async,
        default_embedding_timeout=max(1, int(timeout)),
        llm_model_func=ollama_model_complete,
        llm_model_name=settings.ollama.llm_model,
        llm_model_max_async=svc.llm_max_async,
        llm_model_kwargs={
            "host": ollama_url,
            "timeout": timeout,
            "keep_alive": settings.ollama.keep_alive,
            "options": {"num_ctx": svc.llm_context_size},
        },
        default_llm_timeout=max(1, int(timeout)),
        enable_llm_cache=svc.enable_llm_cache,
    )


def _status_of(record: Any) -> str:
    value = record.get("status") if isinstance(record, dict) else getattr(record, "status", "")
    return str(getattr(value, "value", value))


def _field(record: Any, name: str) -> Any:
    return record.get(name) if isinstance(record, dict) else getattr(record, name, None)


class LightRAGEngine:
    """Initialises the storages (retrying until Qdrant answers) and runs the operations.

    Writes (insert, delete) run one at a time: LightRAG's pipeline processes whatever is
    queued when it runs, so serialising them makes each insert return only when its own
    document is indexed (or has failed).
    """

    def __init__(self, settings: Settings, rag: LightRAG) -> None:
        self.settings = settings
        self.rag = rag
        self.ready = False
        self.last_error: str | None = None
        self._write_lock = asyncio.Lock()

    async def initialise(self) -> None:
        """Initialise the storages, retrying while a dependency is unreachable."""
        pause = self.settings.lightrag_service.startup_retry_seconds
        while not self.ready:
            try:
                await self.rag.initialize_storages()
            except Exception as exc:  # noqa: BLE001 - Qdrant not up yet or refusing: retry
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("LightRAG storages not ready (%s); retrying", self.last_error)
                await asyncio.sleep(pause)
            else:
                self.ready = True
                self.last_error = None
                log.info("LightRAG storages initialised")

    async def finalise(self) -> None:
        """Flush and close the storages (waits for a running write first)."""
        async with self._write_lock:
            was_ready, self.ready = self.ready, False
            if was_ready:
                await self.rag.finalize_storages()
                log.info("LightRAG storages finalised")

    def _require_ready(self) -> None:
        if not self.ready:
            raise OperationError("LightRAG is starting; storages are not initialised yet", 503)

    async def insert(self, text: str, doc_id: str | None, file_source: str | None) -> InsertResult:
        """Index ``text`` under ``doc_id`` and return once it is indexed.

        Without ``doc_id`` the id is derived from the content, as LightRAG does. Inserting an
        id that is already indexed with the same content changes nothing (so retried jobs
        are safe); with different content it is a conflict (delete the old one first).
        """
        self._require_ready()
        clean = sanitize_text_for_encoding(text)
        doc_id = doc_id or compute_mdhash_id(clean, prefix="doc-")
        content_hash = compute_text_content_hash(clean)
        async with self._write_lock:
            self._require_ready()
            existing = await self.rag.doc_status.get_by_id(doc_id)
            if existing is not None and _status_of(existing) == DocStatus.PROCESSED.value:
                stored_hash = _field(existing, "content_hash")
                if stored_hash and stored_hash != content_hash:
                    raise OperationError(
                        f"document {doc_id!r} is already indexed with different content; "
                        "delete it first to replace it",
                        409,
                    )
                return InsertResult(doc_id, None, False, "document already indexed")
            if existing is not None:  # an earlier attempt failed or was interrupted
                log.info("re-indexing %s (previous status %s)", doc_id, _status_of(existing))
                await self.rag.adelete_by_doc_id(doc_id)
            track_id = await self.rag.ainsert(
                clean, ids=[doc_id], file_paths=[file_source or UNKNOWN_SOURCE]
            )
            record = await self.rag.doc_status.get_by_id(doc_id)
            if record is not None and _status_of(record) == DocStatus.PROCESSED.value:
                return InsertResult(doc_id, track_id, True, "document indexed")
            if record is None:
                raise OperationError(await self._duplicate_reason(track_id, doc_id), 409)
            reason = _field(record, "error_msg") or f"status {_status_of(record)}"
            raise OperationError(f"LightRAG could not index {doc_id!r}: {reason}", 502)

    async def _duplicate_reason(self, track_id: str, doc_id: str) -> str:
        records = await self.rag.doc_status.get_docs_by_track_id(track_id)
        reasons = [str(_field(r, "error_msg")) for r in records.values() if _field(r, "error_msg")]
        detail = "; ".join(reasons) or "rejected as a duplicate"
        return f"LightRAG did not index {doc_id!r}: {detail}"

    async def query(
        self,
        query: str,
        mode: QueryMode,
        top_k: int | None = None,
        chunk_top_k: int | None = None,
        only_need_context: bool = False,
        response_type: str | None = None,
    ) -> str:
        self._require_ready()
        param = QueryParam(mode=mode, only_need_context=only_need_context, stream=False)
        param.enable_rerank = False  # no rerank model is configured
        if top_k is not None:
            param.top_k = top_k
        if chunk_top_k is not None:
            param.chunk_top_k = chunk_top_k
        if response_type:
            param.response_type = response_type
        result = await self.rag.aquery(query, param=param)
        if not isinstance(result, str):  # a stream: never requested, but be total
            result = "".join([piece async for piece in result])
        return result

    async def delete(self, doc_id: str) -> str:
        self._require_ready()
        async with self._write_lock:
            self._require_ready()
            if await self.rag.doc_status.get_by_id(doc_id) is None:
                raise OperationError(f"document {doc_id!r} not found", 404)
            result = await self.rag.adelete_by_doc_id(doc_id)
        if result.status == "success":
            return result.message
        codes = {"not_found": 404, "not_allowed": 409}
        raise OperationError(result.message, codes.get(result.status, 500))
