"""``POST /lightrag/query``: knowledge-graph and hybrid retrieval through LightRAG."""

from __future__ import annotations

from shield_rag.api.errors import ApiError, ErrorCode, error_responses
from shield_rag.api.query import LightRAGAnswer, LightRAGQuery
from shield_rag.errors import ShieldError
from shield_rag.orchestrator.deps import (
    BODY_ERRORS,
    DEPENDENCY_ERRORS,
    ROUTE_ERRORS,
    ServicesDep,
    client_router,
)
from shield_rag.orchestrator.metrics import LIGHTRAG_OPS

router = client_router("lightrag")


@router.post(
    "/lightrag/query",
    response_model=LightRAGAnswer,
    summary="Ask LightRAG",
    responses=error_responses(*ROUTE_ERRORS, *BODY_ERRORS, *DEPENDENCY_ERRORS, 501),
)
async def lightrag_query(body: LightRAGQuery, services: ServicesDep) -> LightRAGAnswer:
    if services.lightrag is None:
        raise ApiError(
            ErrorCode.FEATURE_DISABLED,
            "LightRAG is disabled in this deployment (lightrag.enabled: false)",
        )
    try:
        answer = (await services.lightrag.query(body.query, body.mode, body.top_k)).response
    except ShieldError:
        LIGHTRAG_OPS.labels("query", "error").inc()
        raise
    LIGHTRAG_OPS.labels("query", "success").inc()
    return LightRAGAnswer(response=answer, mode=body.mode)
