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
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from lightrag.base import DocStatus
from lightrag.lightrag import LightRAG
from lightrag.llm.ollama import ollama_embed
from lightrag.llm_roles import RoleLLMConfig
from lightrag.utils import EmbeddingFunc, compute_mdhash_id, sanitize_text_for_encoding
from lightrag.utils_pipeline import compute_text_content_hash

from shield_rag.errors import DependencyUnavailable
from shield_rag.llm.catalog import ModelCatalog, UnknownModel
from shield_rag.llm.router import Router
from shield_rag.llm.usage import UsageTotals
from shield_rag.settings import ConfigError, Settings
from shield_rag.tls import client_context, combined_bundle

from .answer import AUTO, Answerer, QueryOutcome
from .errors import OperationError
from .llm import OllamaChat, WriteUsage
from .streaming import AnswerStream
from .tokenizer import make_tokenizer

__all__ = ["InsertResult", "LightRAGEngine", "OperationError", "QueryMode", "build_rag"]

log = logging.getLogger("shield_rag.lightrag_service")

QueryMode = Literal["naive", "local", "global", "hybrid", "mix", "bypass"]
UNKNOWN_SOURCE = "unknown_source"
# LightRAG keeps only the basename of a document's file path (and allows one document per
# basename), so ``https://a.example/index.html`` and ``https://b.example/index.html`` would
# clash. Sources are stored with "/" shown as U+2215 DIVISION SLASH: one segment that still
# reads as the URL or path in citations.
SOURCE_SLASH = "\u2215"


def lightrag_file_path(file_source: str | None) -> str:
    """The file path LightRAG stores (and cites) for ``file_source``."""
    if not file_source:
        return UNKNOWN_SOURCE
    return file_source.replace("/", SOURCE_SLASH)


@dataclass(frozen=True)
class InsertResult:
    doc_id: str
    track_id: str | None
    changed: bool
    message: str
    usage: UsageTotals = field(default_factory=UsageTotals)


def _base_url(url: object) -> str:
    return str(url).rstrip("/")


def trust_private_ca(settings: Settings) -> None:
    """Make LightRAG's own clients (its Qdrant storage, its Ollama calls: httpx clients it
    builds without ``verify``) trust lightrag_service.ca_bundle besides certifi's CAs: httpx
    reads ``SSL_CERT_FILE``, here one file of both in the working directory."""
    svc = settings.lightrag_service
    if svc.ca_bundle is None:
        return
    dest = svc.working_dir / "tls" / "ca-bundle.pem"
    try:
        os.environ["SSL_CERT_FILE"] = str(combined_bundle(svc.ca_bundle, dest))
    except OSError as exc:
        raise ConfigError(
            f"lightrag_service.ca_bundle: cannot write the combined bundle {dest}: {exc.strerror}"
        ) from exc


def extract_model(settings: Settings) -> str:
    """The model that extracts entities and summarises at ingest (ollama.extract_model)."""
    return settings.ollama.extract_model or settings.ollama.llm_model


def build_rag(settings: Settings, chat: OllamaChat, writes: WriteUsage) -> LightRAG:
    """Construct (not yet initialise) the LightRAG instance. Raises ConfigError.

    LightRAG's LLM roles call Ollama through ``chat``: ``extract`` (entity extraction and
    description summaries) with ollama.extract_model, its usage gathered by ``writes``; the
    query path makes its own calls (``answer.py``), so ``keyword`` and ``query`` only name
    ollama.llm_model (their cache identity, as before).
    """
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
    trust_private_ca(settings)

    ollama_url = _base_url(settings.ollama.url)
    timeout = settings.ollama.timeout
    llm_model, extractor = settings.ollama.llm_model, extract_model(settings)
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
        llm_model_func=chat.role_function(llm_model, "query", writes.record),
        llm_model_name=llm_model,
        llm_model_max_async=svc.llm_max_async,
        llm_model_kwargs={},
        role_llm_configs={
            "extract": RoleLLMConfig(
                func=chat.role_function(extractor, "extract", writes.record),
                metadata={"model": extractor},
            ),
            "keyword": RoleLLMConfig(metadata={"model": llm_model}),
            "query": RoleLLMConfig(metadata={"model": llm_model}),
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

    def __init__(
        self, settings: Settings, rag: LightRAG, chat: OllamaChat, writes: WriteUsage
    ) -> None:
        self.settings = settings
        self.rag = rag
        self.chat = chat
        self.writes = writes
        self.ready = False
        self.last_error: str | None = None
        self._write_lock = asyncio.Lock()
        self.extract_model = extract_model(settings)
        self.router = Router(settings.router, default_model=settings.ollama.llm_model)
        self.catalog = ModelCatalog(
            _base_url(settings.ollama.url),
            settings.router.catalog_ttl_seconds,
            verify=client_context(settings.lightrag_service.ca_bundle),
            timeout=settings.ollama.timeout,
        )
        self.answers = Answerer(settings, rag, chat, self.router)

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
            await self.catalog.close()
            await self.chat.close()

    def _require_ready(self) -> None:
        if not self.ready:
            raise OperationError("LightRAG is starting; storages are not initialised yet", 503)

    async def insert(self, text: str, doc_id: str | None, file_source: str | None) -> InsertResult:
        """Index ``text`` under ``doc_id`` and return once it is indexed.

        The id is the document's identity (without one it is derived from the content, as
        LightRAG does); ``file_source`` is what answers cite. Inserting an id that is
        already indexed with the same content changes nothing, so retried jobs are safe;
        with other content the old version is replaced. LightRAG itself allows one document
        per source name and per content: a second source of the same name is stored as
        ``<source> (<id>)``, and content already indexed under another id is not indexed
        twice (success, ``changed`` false, the message names that id).
        """
        self._require_ready()
        clean = sanitize_text_for_encoding(text)
        doc_id = doc_id or compute_mdhash_id(clean, prefix="doc-")
        content_hash = compute_text_content_hash(clean)
        async with self._write_lock:
            self._require_ready()
            existing = await self.rag.doc_status.get_by_id(doc_id)
            replacing = False
            with self.writes.gather() as usage:  # the LLM calls of this write
                if existing is not None:
                    processed = _status_of(existing) == DocStatus.PROCESSED.value
                    stored_hash = _field(existing, "content_hash")
                    if processed and stored_hash in (None, "", content_hash):
                        return InsertResult(doc_id, None, False, "document already indexed")
                    # other content, or an earlier attempt that failed or was interrupted
                    log.info("re-indexing %s (was %s)", doc_id, _status_of(existing))
                    await self._delete(doc_id)
                    replacing = processed
                return await self._index(clean, doc_id, file_source, replacing, usage)

    async def _index(
        self,
        clean: str,
        doc_id: str,
        file_source: str | None,
        replacing: bool,
        usage: UsageTotals,
    ) -> InsertResult:
        file_path = lightrag_file_path(file_source)
        for attempt in (1, 2):
            track_id = await self.rag.ainsert(clean, ids=[doc_id], file_paths=[file_path])
            record = await self.rag.doc_status.get_by_id(doc_id)
            if record is not None and _status_of(record) == DocStatus.PROCESSED.value:
                message = "document replaced" if replacing else "document indexed"
                return InsertResult(doc_id, track_id, True, message, usage)
            if record is not None:
                reason = _field(record, "error_msg") or f"status {_status_of(record)}"
                raise OperationError(f"LightRAG could not index {doc_id!r}: {reason}", 502)
            kinds = await self._take_duplicates(track_id)
            if "content_hash" in kinds:
                original = kinds["content_hash"]
                message = f"identical content is already indexed as {original!r}"
                return InsertResult(doc_id, track_id, False, message, usage)
            if attempt == 2 or file_path == UNKNOWN_SOURCE:
                break
            file_path = f"{file_path} ({doc_id})"  # same source name, other document
        raise OperationError(f"LightRAG refused {doc_id!r} as a duplicate: {kinds}", 409)

    async def _take_duplicates(self, track_id: str) -> dict[str, str]:
        """LightRAG's duplicate records of one insert ({kind: original doc id}); removes them.

        LightRAG files every refused duplicate as a FAILED "dup-..." status record; the
        caller has been answered, so they are not kept.
        """
        records = await self.rag.doc_status.get_docs_by_track_id(track_id)
        kinds: dict[str, str] = {}
        for key, record in records.items():
            meta = _field(record, "metadata") or {}
            if key.startswith("dup-") and meta.get("is_duplicate"):
                kinds[str(meta.get("duplicate_kind"))] = str(meta.get("original_doc_id"))
        if kinds:
            await self.rag.doc_status.delete(list(records))
            await self.rag.doc_status.index_done_callback()
        return kinds

    async def _delete(self, doc_id: str) -> str:
        result = await self.rag.adelete_by_doc_id(doc_id)
        if result.status == "success":
            message: str = result.message
            return message
        codes = {"not_found": 404, "not_allowed": 409}
        raise OperationError(result.message, codes.get(result.status, 502))

    async def check_model(self, model: str | None) -> None:
        """Refuse (422, naming the models Ollama serves) a model name Ollama does not serve;
        ``None`` and ``"auto"`` pass."""
        if model is None or model == AUTO:
            return
        try:
            await self.catalog.check(model)
        except UnknownModel as exc:
            raise OperationError(str(exc), 422) from exc
        except DependencyUnavailable as exc:
            raise OperationError(f"cannot check model {model!r}: {exc}", 502) from exc

    async def query(
        self,
        query: str,
        mode: QueryMode,
        top_k: int | None = None,
        chunk_top_k: int | None = None,
        only_need_context: bool = False,
        response_type: str | None = None,
        model: str | None = None,
    ) -> QueryOutcome:
        """Answer ``query`` with ``model`` (None: ollama.llm_model; "auto": the router)."""
        self._require_ready()
        await self.check_model(model)
        options = {
            "top_k": top_k,
            "chunk_top_k": chunk_top_k,
            "only_need_context": only_need_context,
            "response_type": response_type,
        }
        return await self.answers.answer(query, mode, model, options)

    async def prepare_stream(
        self,
        query: str,
        mode: QueryMode,
        top_k: int | None = None,
        chunk_top_k: int | None = None,
        response_type: str | None = None,
        model: str | None = None,
    ) -> AnswerStream:
        """Everything of a query but its answer, which :class:`AnswerStream` streams."""
        self._require_ready()
        await self.check_model(model)
        options = {"top_k": top_k, "chunk_top_k": chunk_top_k, "response_type": response_type}
        prep = await self.answers.prepare(query, mode, model, options)
        return AnswerStream(self.answers, prep, mode)

    async def delete(self, doc_id: str) -> str:
        self._require_ready()
        async with self._write_lock:
            self._require_ready()
            if await self.rag.doc_status.get_by_id(doc_id) is None:
                raise OperationError(f"document {doc_id!r} not found", 404)
            return await self._delete(doc_id)
