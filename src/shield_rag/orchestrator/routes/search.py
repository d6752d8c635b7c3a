"""``POST /search`` (vector search) and ``POST /vectors`` (store texts)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
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
from shield_rag.orchestrator.deps import (
    BODY_ERRORS,
    DEPENDENCY_ERRORS,
    ROUTE_ERRORS,
    ServicesDep,
    client_router,
)
from shield_rag.orchestrator.errors import invalid_field
from shield_rag.worker.pipeline import doc_id_for

router = client_router("vectors")
ERRORS = error_responses(*ROUTE_ERRORS, *BODY_ERRORS, *DEPENDENCY_ERRORS)
# In the schema only: a string the server refuses when it is blank (the server's own check
# gives the message). Python's str.strip also strips \x1c-\x1f, which JSON Schema's \s
# does not name. The limits taken from settings are set by the app (see openapi.py).
NOT_BLANK: dict[str, Any] = {"pattern": r"[^\s\x1c-\x1f]"}
# Fields that pydantic strips (strip_whitespace): it trims exactly JSON Schema's \s.
NOT_BLANK_TRIMMED: dict[str, Any] = {"pattern": r"\S"}
# Request bodies are read strictly, as the schema says: no "10" for 10, no true for 1.
STRICT = ConfigDict(extra="forbid", strict=True)
INT64 = (-(2**63), 2**63 - 1)


def json_integer(value: Any) -> Any:
    """5.0 is an integer in JSON (and in JSON Schema); strict mode alone would refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(json_integer)]


def _normalise_filters(filters: Any) -> Any:
    """JSON numbers as the schema reads them: [1, 2.0] is a list of integers; a single
    integer beyond 64 bits is a number (matched as the range [n, n], like 2.5)."""
    if not isinstance(filters, dict):
        return filters
    out = {}
    for key, value in filters.items():
        if isinstance(value, list):
            value = [json_integer(v) for v in value]
        elif type(value) is int and not INT64[0] <= value <= INT64[1]:
            value = float(value)
        out[key] = value
    return out


class SearchRequest(BaseModel):
    model_config = STRICT
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)
    ] = Field(json_schema_extra=NOT_BLANK_TRIMMED)
    limit: JsonInt = Field(
        10, ge=1, description="Results per page (at most orchestrator.max_search_limit)"
    )
    offset: JsonInt = Field(0, ge=0, le=10000)
    filters: Annotated[dict[str, FilterValue] | None, BeforeValidator(_normalise_filters)] = Field(
        None,
        description="Payload filters: a value matches exactly, a list matches any, "
        "{gte,lte,gt,lt} is a range. Fields: doc_id, source, content_type, kind, job_id, "
        "chunk_index, metadata.<key>",
    )
    score_threshold: float | None = None


def _check_filter_integers(filters: dict[str, FilterValue] | None) -> None:
    """Qdrant stores 64-bit integers: a larger one is the caller's mistake, said up front."""
    for key, value in (filters or {}).items():
        for item in value if isinstance(value, list) else ():
            if type(item) is int and not INT64[0] <= item <= INT64[1]:
                raise invalid_field(f"filters.{key}", "integers are 64-bit (at most 2**63-1)")


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
    responses=ERRORS,
)
async def search(body: SearchRequest, services: ServicesDep) -> SearchResponse:
    max_limit = services.settings.orchestrator.max_search_limit
    if body.limit > max_limit:
        raise invalid_field("limit", f"at most {max_limit} results per page; page with offset")
    _check_filter_integers(body.filters)
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
    model_config = STRICT
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)] = Field(
        json_schema_extra=NOT_BLANK
    )
    source: str | None = Field(
        None, max_length=2048, description="Stable name; storing it again replaces the entry"
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict)

    _meta = field_validator("metadata")(classmethod(lambda cls, v: check_metadata(v)))


class StoreRequest(BaseModel):
    # Exactly one of text and items: neither is nullable (a null is refused, as the schema
    # says), and absent they are None (pydantic does not validate defaults).
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"oneOf": [{"required": ["text"]}, {"required": ["items"]}]},
    )
    items: list[VectorItem] = Field(None)  # type: ignore[assignment]
    text: str = Field(  # type: ignore[assignment]
        None, min_length=1, max_length=100_000, json_schema_extra=NOT_BLANK
    )
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
    responses=ERRORS,
)
async def store_vectors(body: StoreRequest, services: ServicesDep) -> StoreResponse:
    entries = body.entries()
    cap = services.settings.orchestrator.max_vectors_per_request
    if len(entries) > cap:
        raise invalid_field(
            "items",
            f"at most {cap} per request (orchestrator.max_vectors_per_request); "
            "split the batch or use /ingest-async",
        )
    if any(not e.text.strip() for e in entries):
        raise invalid_field("items", "every text must be non-blank")
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
