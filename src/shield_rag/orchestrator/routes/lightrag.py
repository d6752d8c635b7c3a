"""``POST /lightrag/query``: knowledge-graph and hybrid retrieval through LightRAG, with the
model chosen per call (or by the router), held against the client's budget and accounted
(:mod:`shield_rag.orchestrator.llm_calls`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from shield_rag.api.errors import ApiError, ErrorBody, ErrorCode, error_responses
from shield_rag.api.query import LightRAGAnswer, LightRAGQuery
from shield_rag.clients.lightrag import LightRAGClient, LightRAGError
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


_STREAM = {
    200: {
        "description": "An event stream (text/event-stream): delta events with the answer's "
        "text as it is generated ({text}), then one done event (the answer's client, routing "
        "and usage, and the whole response) or one error event (an error body)",
        # each event's data is one JSON object: {text}, the answer, or an error body
        "content": {"text/event-stream": {"schema": {"type": "object"}}},
    },
    **error_responses(*ROUTE_ERRORS, *BODY_ERRORS, *DEPENDENCY_ERRORS, 501),
}


@router.post(
    "/lightrag/query/stream",
    response_class=EventSourceResponse,
    summary="Ask LightRAG, the answer streamed (SSE)",
    responses=_STREAM,
)
async def lightrag_query_stream(
    body: LightRAGQuery, request: Request, services: ServicesDep
) -> EventSourceResponse:
    """The answer of ``POST /lightrag/query`` as it is generated. Refusals (scope, budget,
    an unknown model, the feature streaming off) are ordinary error answers before the stream
    starts; a client that goes away stops the model's generation upstream, and the call's
    hold on its budget is given back."""
    lightrag = _lightrag(services)
    services.features.require("streaming")
    calls = services.models
    model = calls.model_for(body.model)
    caller = current_caller(request)
    held = await calls.hold(caller, model)
    lines = lightrag.query_stream(body.query, body.mode, body.top_k, model=model)
    try:
        first = await anext(lines)
    except StopAsyncIteration:
        await calls.release(held)
        raise LightRAGError("LightRAG ended the stream without an answer") from None
    except ShieldError:
        LIGHTRAG_OPS.labels("query", "error").inc()
        await calls.release(held)
        raise

    async def events() -> AsyncIterator[ServerSentEvent]:
        settled = False
        parts: list[str] = []
        try:
            line: dict[str, Any] | None = first
            while line is not None:
                if "delta" in line:
                    parts.append(str(line["delta"]))
                    yield ServerSentEvent(json.dumps({"text": line["delta"]}), event="delta")
                elif line.get("done"):
                    usage = [Usage.from_dict(entry) for entry in line.get("usage") or []]
                    routing = line.get("routing")
                    await calls.account(caller, held, usage, routing)
                    settled = True
                    LIGHTRAG_OPS.labels("query", "success").inc()
                    done = {
                        "response": "".join(parts),
                        "mode": body.mode,
                        "client": caller.name,
                        "routing": routing,
                        "usage": [u.as_dict() for u in usage],
                    }
                    answer = LightRAGAnswer.model_validate(done).model_dump(mode="json")
                    yield ServerSentEvent(json.dumps(answer), event="done")
                    return
                elif "error" in line:
                    LIGHTRAG_OPS.labels("query", "error").inc()
                    error = ErrorBody(
                        status=503,
                        code=ErrorCode.DEPENDENCY_UNAVAILABLE,
                        detail=f"LightRAG failed while answering: {line['error']}",
                        dependency="lightrag",
                    )
                    yield ServerSentEvent(error.model_dump_json(exclude_none=True), event="error")
                    return
                line = await anext(lines, None)
        finally:
            # sse-starlette cancels this generator when the client goes away; shielded, the
            # stream to LightRAG is closed (which stops the generation upstream) and the hold
            # given back even then.
            with anyio.CancelScope(shield=True):
                await lines.aclose()
                if not settled:
                    await calls.release(held)

    return EventSourceResponse(events(), ping=services.settings.orchestrator.sse_ping_seconds)
