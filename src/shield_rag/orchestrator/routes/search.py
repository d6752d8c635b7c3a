"""``POST /search`` (vector search) and ``POST /vectors`` (store texts)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shield_rag.api.errors import error_responses
from shield_rag.clients.vectorstore import FilterValue, build_filter, point_id
from shield_rag.jobs.models import MetadataKey, MetadataValue, check_metadata
from shield_rag.orchestrator import admission
from shield_rag.orchestrator.deps import ServicesDep, require_api_key
from shield_rag.worker.pipeline import doc_id_for

router = APIRouter(
    tags=["vectors"],
    dependencies=[Depends(require_api_key), admission.RateLimited],
    responses=error_responses(429),
)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)]
    limit: int = Field(
        10, ge=1, description="Results per page (at most orchestrator.max_search_limit)"
    )
    offset: int = Field(0, ge=0, le=10000)
    filters: dict[str, FilterValue] | None = Field(
        None,
        description="Payload filters: a value matches exactly, a list matches any, "
        "{gte,lte,gt,lt} is a range. Fields: doc_id, source, content_type, kind, job_id, "
        "chunk_index, metadata.<key>",
    )
    score_threshold: float | None = None


class SearchHit(BaseModel):
    id: str
    score: float
    text: str
    source: str | None = None
    title: str | None = None
    doc_id: str | None = None
    chunk_index: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SearchResponse(BaseModel):
    results: list[SearchHit]
    limit: int
    offset: int


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Vector search over chunks",
)
async def search(body: SearchRequest, services: ServicesDep) -> SearchResponse:
    max_limit = services.settings.orchestrator.max_search_limit
    if body.limit > max_limit:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"limit: at most {max_limit} results per page; page with offset",
        )
    query_filter = build_filter(body.filters)
    vector = await services.embedder.embed_one(body.query)
    hits = await services.vectors.search(
        vector,
        limit=body.limit,
        offset=body.offset,
        query_filter=query_filter,
        score_threshold=body.score_threshold,
    )
    return SearchResponse(
        results=[
            SearchHit(
                id=h.id,
                score=h.score,
                text=str(h.payload.get("text", "")),
                source=h.payload.get("source"),
                title=h.payload.get("title"),
                doc_id=h.payload.get("doc_id"),
                chunk_index=h.payload.get("chunk_index"),
                metadata=h.payload.get("metadata") or {},
            )
            for h in hits
        ],
        limit=body.limit,
        offset=body.offset,
    )


class VectorItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    source: str | None = Field(
        None, max_length=2048, description="Stable name; storing it again replaces the entry"
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict)

    _meta = field_validator("metadata")(classmethod(lambda cls, v: check_metadata(v)))


class StoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[VectorItem] | None = None
    text: str | None = Field(None, min_length=1, max_length=100_000)
    source: str | None = Field(None, max_length=2048)
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict)

    _meta = field_validator("metadata")(classmethod(lambda cls, v: check_metadata(v)))

    @model_validator(mode="after")
    def _one_form(self) -> StoreRequest:
        if self.items is None and self.text is None:
            raise ValueError("send 'text' (one entry) or 'items' (a batch of entries)")
        if self.items is not None and self.text is not None:
            raise ValueError("send either 'text' (one entry) or 'items' (a batch), not both")
        if self.items is not None and not self.items:
            raise ValueError("'items' is empty")
        return self

    def entries(self) -> list[VectorItem]:
        if self.items is not None:
            return self.items
        return [VectorItem(text=self.text or "", source=self.source, metadata=self.metadata)]


class StoreResponse(BaseModel):
    ids: list[str]
    count: int


@router.post(
    "/vectors",
    response_model=StoreResponse,
    summary="Embed and store texts now",
    dependencies=[admission.AdmitWrite],
    responses=error_responses(429, 503),
)
async def store_vectors(body: StoreRequest, services: ServicesDep) -> StoreResponse:
    entries = body.entries()
    cap = services.settings.orchestrator.max_vectors_per_request
    if len(entries) > cap:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"items: at most {cap} per request (orchestrator.max_vectors_per_request); "
            "split the batch or use /ingest-async",
        )
    if any(not e.text.strip() for e in entries):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail="items: every text must be non-blank"
        )
    vectors = await services.embedder.embed([e.text for e in entries])
    now = time.time()
    ids: list[str] = []
    payloads: list[dict[str, Any]] = []
    for e in entries:
        doc_id = doc_id_for("vector", e.source or e.text)
        ids.append(point_id(doc_id, 0))
        payloads.append(
            {
                "text": e.text,
                "doc_id": doc_id,
                "chunk_index": 0,
                "chunk_count": 1,
                "source": e.source or f"vector:{doc_id[:12]}",
                "title": None,
                "content_type": "text/plain",
                "kind": "vector",
                "job_id": "",
                "ingested_at": now,
                "metadata": e.metadata,
            }
        )
    await services.vectors.upsert(ids, vectors, payloads)
    return StoreResponse(ids=ids, count=len(ids))
