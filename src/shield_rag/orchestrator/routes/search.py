"""``POST /search`` (vector search) and ``POST /vectors`` (store texts)."""

from __future__ import annotations

import time
from typing import Any

from shield_rag.api.errors import error_responses
from shield_rag.api.fields import BLANK_MESSAGE, INT64, is_blank
from shield_rag.api.search import FilterValue, SearchHit, SearchRequest, SearchResponse
from shield_rag.api.store import StoreRequest, StoreResponse, VectorItem
from shield_rag.clients.qdrant_requests import build_filter
from shield_rag.documents import chunk_points, entry_doc_id, former_unnamed_doc_id, point_id
from shield_rag.orchestrator import admission_wiring
from shield_rag.orchestrator.deps import (
    BODY_ERRORS,
    DEPENDENCY_ERRORS,
    ROUTE_ERRORS,
    WRITE_OFF,
    ServicesDep,
    client_router,
)
from shield_rag.orchestrator.errors import invalid_field

router = client_router("vectors")
ERRORS = error_responses(*ROUTE_ERRORS, *BODY_ERRORS, *DEPENDENCY_ERRORS)


def _check_filter_integers(filters: dict[str, FilterValue] | None) -> None:
    """Qdrant stores 64-bit integers: a larger one is the caller's mistake, said up front."""
    for key, value in (filters or {}).items():
        for item in value if isinstance(value, list) else ():
            if (
                isinstance(item, int)
                and not isinstance(item, bool)
                and not INT64[0] <= item <= INT64[1]
            ):
                raise invalid_field(f"filters.{key}", "integers are 64-bit (at most 2**63-1)")


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
        results=[SearchHit.from_payload(h.id, h.score, h.payload) for h in hits],
        limit=body.limit,
        offset=body.offset,
    )


@router.post(
    "/vectors",
    response_model=StoreResponse,
    summary="Embed and store texts now",
    responses={**ERRORS, **error_responses(WRITE_OFF)},
)
@admission_wiring.writes
async def store_vectors(body: StoreRequest, services: ServicesDep) -> StoreResponse:
    entries = body.entries()
    cap = services.settings.orchestrator.max_vectors_per_request
    if len(entries) > cap:
        raise invalid_field(
            "items",
            f"at most {cap} per request (orchestrator.max_vectors_per_request); "
            "split the batch or use /ingest-async",
        )
    if any(is_blank(e.text) for e in entries):
        field = "items" if body.text is None else "text"
        raise invalid_field(field, f"a text {BLANK_MESSAGE}; every text must have content")
    # Items naming the same entry are one entry, stored as the last of them (as one request
    # each, in turn, would leave it): it is embedded and written once.
    last: dict[str, VectorItem] = {}
    for e in entries:
        last[entry_doc_id("vector", e.source, e.text)] = e
    vectors = await services.embedder.embed([e.text for e in last.values()])
    now = time.time()
    stored: list[str] = []
    payloads: list[dict[str, Any]] = []
    formers: list[tuple[str, str]] = []
    for doc_id, e in last.items():
        source = e.source
        if not source:
            former = former_unnamed_doc_id("vector", e.text)
            source = f"vector:{former[:12]}"
            formers.append((former, source))
        entry_ids, entry_payloads = chunk_points(
            doc_id,
            [e.text],
            source=source,
            title=None,
            content_type="text/plain",
            kind="vector",
            job_id="",
            metadata=e.metadata,
            ingested_at=now,
        )
        stored += entry_ids
        payloads += entry_payloads
    await services.vectors.store_entries(stored, vectors, payloads, formers)
    ids = [point_id(entry_doc_id("vector", e.source, e.text), 0) for e in entries]
    return StoreResponse(ids=ids, count=len(stored))
