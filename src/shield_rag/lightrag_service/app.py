"""HTTP API of shield-lightrag: the subset of lightrag-server's API that Shield uses.

Endpoints (``X-API-Key`` required on all but ``/health`` when ``lightrag.api_key`` is set):

* ``GET /health`` - 200 ``{"status": "healthy", ...}`` once the storages are initialised,
  503 ``{"status": "starting", ...}`` before (and while shutting down).
* ``POST /documents/text`` ``{"text", "file_source"?, "id"?}`` - indexes synchronously,
  200 ``{"status": "success", "id", "message", "track_id", "usage": [...]}`` (``usage``: the
  LLM calls of extraction and summaries, with ollama.extract_model). The id is the identity: an
  id already indexed with the same content is a no-op success (retried jobs), with other
  content the old version is replaced ("document replaced"); content already indexed
  under another id is not indexed twice (the message names that id).
* ``POST /query`` ``{"query", "mode"?, "top_k"?, "chunk_top_k"?, "only_need_context"?,
  "response_type"?, "model"?}`` - 200 ``{"response": str, "usage": [...], "routing": {...}}``.
  ``model``: absent or null answers with ollama.llm_model, a name with that model only (422
  when Ollama does not serve it, naming the models it does; 502 when it fails), ``"auto"``
  with the tier the router picks, falling back to the next tier on failure. ``usage``: one
  entry per (model, role) with Ollama's counts (``prompt_tokens``, ``completion_tokens``,
  ``compute_seconds``, ``calls``); ``routing``: ``{"tier", "model", "reason", "fallbacks":
  [{"model", "error"}], "cached"}`` (tier null unless auto chose it), null when no answer
  call was needed (``only_need_context``, nothing retrieved).
* ``POST /query/stream`` - the same body; NDJSON lines ``{"delta": str}`` ... then
  ``{"done": true, "usage": [...], "routing": {...}}``, or ``{"error": str, "status": int}``.
  Auto falls back only before the first delta; a client that goes away stops Ollama's stream.
* ``DELETE /documents/{id}`` - 200 ``{"status": "success", "doc_id", "message"}``, 404 if
  unknown. ``DELETE /documents/delete_document`` ``{"doc_ids": [...]}`` (lightrag-server's
  form) does the same for several ids.

Errors: 401 bad/missing key, 413 text too long, 422 invalid request (including LightRAG's own
input rules, e.g. a query shorter than its minimum: the caller must change it), 404 unknown id,
409 LightRAG busy or refusing a duplicate, 502 LightRAG could not index or answer (e.g.
Ollama unreachable; retry), 503 not ready yet, 500 anything unexpected (logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable
from importlib.metadata import version
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Path, Security
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import APIKeyHeader
from lightrag.query_validation import QueryValidationError, validate_rag_query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shield_rag.settings.routing import MODEL_NAME_PATTERN

from .engine import LightRAGEngine, OperationError, QueryMode
from .metrics import READY, observe

log = logging.getLogger("shield_rag.lightrag_service")

LIGHTRAG_VERSION = version("lightrag-hku")
DOC_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$"
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="lightrag.api_key")


def _not_blank(value: str, what: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError(f"{what} must not be empty or whitespace only")
    return stripped


class InsertTextRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(description="The document text")
    file_source: str | None = Field(None, max_length=2048, description="Source, for citations")
    id: str | None = Field(
        None, pattern=DOC_ID_PATTERN, description="Document id; derived from the text if absent"
    )

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return _not_blank(v, "text")

    @field_validator("file_source")
    @classmethod
    def _source(cls, v: str | None) -> str | None:
        return (v.strip() or None) if v is not None else None


class InsertTextResponse(BaseModel):
    status: str = "success"
    id: str
    message: str
    track_id: str | None = None
    usage: list[dict[str, Any]] = Field(default_factory=list)


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str
    mode: QueryMode = "mix"
    top_k: int | None = Field(None, ge=1, le=500)
    chunk_top_k: int | None = Field(None, ge=1, le=500)
    only_need_context: bool | None = None
    response_type: str | None = Field(None, min_length=1, max_length=100)
    model: str | None = Field(
        None,
        pattern=MODEL_NAME_PATTERN,
        description='Ollama model to answer with; "auto": the router picks; null: the default',
    )

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        return _not_blank(v, "query")

    @model_validator(mode="after")
    def _long_enough(self) -> QueryRequest:
        # LightRAG's own rule (at least 3 English-equivalent characters; bypass mode, which
        # retrieves nothing, is exempt), checked before LightRAG is called
        if self.mode != "bypass":
            validate_rag_query(self.query)
        return self


class QueryResponse(BaseModel):
    response: str
    usage: list[dict[str, Any]] = Field(default_factory=list)
    routing: dict[str, Any] | None = None


class DeleteResponse(BaseModel):
    status: str = "success"
    doc_id: str
    message: str


class DeleteDocRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    doc_ids: list[Annotated[str, Field(pattern=DOC_ID_PATTERN)]] = Field(min_length=1)


T = TypeVar("T")
STATUS_LABELS = {404: "not_found", 409: "conflict", 422: "invalid", 503: "unavailable"}


async def run(operation: str, call: Awaitable[T]) -> T:
    """Await an engine call, count and time it, and turn its failures into HTTP errors."""
    with observe(operation) as outcome:
        try:
            result = await call
        except OperationError as exc:
            outcome.status = STATUS_LABELS.get(exc.status_code, "error")
            raise HTTPException(status_code=exc.status_code, detail=exc.message) from exc
        except QueryValidationError as exc:  # LightRAG refused the caller's input
            outcome.status = "invalid"
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        except Exception as exc:
            log.exception("%s failed", operation)
            raise HTTPException(
                status_code=500, detail=f"{operation} failed: {type(exc).__name__}: {exc}"
            ) from exc
        outcome.status = "unchanged" if getattr(result, "changed", True) is False else "success"
        return result


def create_app(engine: LightRAGEngine) -> FastAPI:
    settings = engine.settings
    api_key = settings.lightrag.api_key
    limits = settings.lightrag_service

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async def start() -> None:
            await engine.initialise()
            READY.set(1)

        task = asyncio.create_task(start(), name="lightrag-initialise")
        try:
            yield
        finally:
            READY.set(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await engine.finalise()

    app = FastAPI(
        title="Shield LightRAG service",
        version=LIGHTRAG_VERSION,
        description="LightRAG (lightrag-hku) as a library behind a lightrag-server-compatible API",
        lifespan=lifespan,
    )

    def require_key(key: Annotated[str | None, Security(API_KEY_HEADER)]) -> None:
        if api_key is None:
            return
        expected = api_key.get_secret_value().encode()
        if key is None or not secrets.compare_digest(key.encode(), expected):
            raise HTTPException(status_code=401, detail="missing or invalid X-API-Key header")

    auth = [Depends(require_key)]

    @app.get("/health")
    async def health() -> JSONResponse:
        body = {
            "status": "healthy" if engine.ready else "starting",
            "core_version": LIGHTRAG_VERSION,
            "workspace": limits.workspace,
            "configuration": {
                "llm_model": settings.ollama.llm_model,
                "embedding_model": settings.ollama.embed_model,
                "embedding_dim": settings.qdrant.vector_size,
                "vector_storage": "QdrantVectorDBStorage",
                "graph_storage": "NetworkXStorage",
                "tokenizer_model": limits.tokenizer_model,
                "extract_model": engine.extract_model,
                "router": {
                    "tiers": [tier.model_dump() for tier in settings.router.tiers],
                    "cooling": {m: round(s, 1) for m, s in engine.router.cooling().items()},
                },
            },
        }
        if engine.last_error:
            body["last_error"] = engine.last_error
        return JSONResponse(body, status_code=200 if engine.ready else 503)

    @app.post("/documents/text", dependencies=auth)
    async def insert_text(req: InsertTextRequest) -> InsertTextResponse:
        if len(req.text) > limits.max_text_chars:
            raise HTTPException(
                status_code=413,
                detail=f"text has {len(req.text)} characters; the limit is "
                f"{limits.max_text_chars} (lightrag_service.max_text_chars)",
            )
        result = await run("insert", engine.insert(req.text, req.id, req.file_source))
        return InsertTextResponse(
            id=result.doc_id,
            message=result.message,
            track_id=result.track_id,
            usage=result.usage.as_dicts(),
        )

    def check_length(req: QueryRequest) -> None:
        if len(req.query) > limits.max_query_chars:
            raise HTTPException(
                status_code=422,
                detail=f"query has {len(req.query)} characters; the limit is "
                f"{limits.max_query_chars} (lightrag_service.max_query_chars)",
            )

    @app.post("/query", dependencies=auth)
    async def query(req: QueryRequest) -> QueryResponse:
        check_length(req)
        answer = engine.query(
            req.query,
            req.mode,
            top_k=req.top_k,
            chunk_top_k=req.chunk_top_k,
            only_need_context=bool(req.only_need_context),
            response_type=req.response_type,
            model=req.model,
        )
        outcome = await run("query", answer)
        return QueryResponse(
            response=outcome.response, usage=outcome.usage.as_dicts(), routing=outcome.routing
        )

    @app.post("/query/stream", dependencies=auth)
    async def query_stream(req: QueryRequest) -> StreamingResponse:
        check_length(req)
        stream = engine.prepare_stream(
            req.query,
            req.mode,
            top_k=req.top_k,
            chunk_top_k=req.chunk_top_k,
            response_type=req.response_type,
            model=req.model,
        )
        prepared = await run("query", stream)
        return StreamingResponse(prepared.lines(), media_type="application/x-ndjson")

    async def _delete(doc_id: str) -> DeleteResponse:
        return DeleteResponse(doc_id=doc_id, message=await run("delete", engine.delete(doc_id)))

    @app.delete("/documents/delete_document", dependencies=auth)
    async def delete_documents(req: DeleteDocRequest) -> DeleteResponse:
        messages = [(await _delete(doc_id)).message for doc_id in dict.fromkeys(req.doc_ids)]
        return DeleteResponse(
            doc_id=",".join(dict.fromkeys(req.doc_ids)), message="; ".join(messages)
        )

    @app.delete("/documents/{doc_id}", dependencies=auth)
    async def delete_document(
        doc_id: Annotated[str, Path(pattern=DOC_ID_PATTERN)],
    ) -> DeleteResponse:
        return await _delete(doc_id)

    return app
