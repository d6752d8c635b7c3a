"""``POST /lightrag/query``: knowledge-graph and hybrid retrieval through LightRAG, with the
model chosen per call (or by the router), held against the client's budget and accounted
(:mod:`shield_rag.orchestrator.llm_calls`)."""

from __future__ import annotations

from fastapi import Request

from shield_rag.api.errors import ApiError, ErrorCode, error_responses
from shield_rag.api.query import LightRAGAnswer, LightRAGQuery
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.errors import ShieldError
from shield_rag.llm.usage import Usage
from shield_rag.orchestrator.auth import current_caller
from shield_rag.orchestrator.deps import (
    BODY_ERRORS,
    DEPENDENCY_ERRORS,
    ROUTE_ERRORS,
    Services,
    ServicesDep,
    client_router,
)
from shield_rag.orchestrator.metrics import LIGHTRAG_OPS

router = client_router("lightrag")


def _lightrag(services: Services) -> LightRAGClient:
    if services.lightrag is None:
        raise ApiError(
            ErrorCode.FEATURE_DISABLED,
            "LightRAG is disabled in this deployment (lightrag.enabled: false)",
        )
    return services.lightrag


@router.post(
    "/lightrag/query",
    response_model=LightRAGAnswer,
    summary="Ask LightRAG",
    responses=error_responses(*ROUTE_ERRORS, *BODY_ERRORS, *DEPENDENCY_ERRORS, 501),
)
async def lightrag_query(
    body: LightRAGQuery, request: Request, services: ServicesDep
) -> LightRAGAnswer:
    lightrag = _lightrag(services)
    calls = services.models
    model = calls.model_for(body.model)
    caller = current_caller(request)
    held = await calls.hold(caller, model)
    try:
        result = await lightrag.query(body.query, body.mode, body.top_k, model=model)
    except ShieldError:
        LIGHTRAG_OPS.labels("query", "error").inc()
        await calls.release(held)
        raise
    LIGHTRAG_OPS.labels("query", "success").inc()
    usage = [Usage.from_dict(entry) for entry in result.usage]
    await calls.account(caller, held, usage, result.routing)
    return LightRAGAnswer.model_validate(
        {
            "response": result.response,
            "mode": body.mode,
            "client": caller.name,
            "routing": result.routing,
            "usage": [u.as_dict() for u in usage],
        }
    )
