"""``POST /lightrag/query``: knowledge-graph and hybrid retrieval through LightRAG."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, field_validator

from shield_rag.api.errors import ApiError, ErrorCode, error_responses
from shield_rag.clients.lightrag import QueryMode
from shield_rag.errors import ShieldError
from shield_rag.orchestrator.deps import (
    BODY_ERRORS,
    DEPENDENCY_ERRORS,
    ROUTE_ERRORS,
    ServicesDep,
    client_router,
)
from shield_rag.orchestrator.metrics import LIGHTRAG_OPS
from shield_rag.orchestrator.routes.search import STRICT, json_integer

router = client_router("lightrag")


# LightRAG refuses (with a 500) a query shorter than 3 characters once stripped (its
# RAGQueryTooShortError); the orchestrator says so up front, as a 422. (LightRAG counts an
# East Asian character as 2; the orchestrator simply asks for 3 characters.)
MIN_QUERY_CHARS = 3
_NON_SPACE = r"[^\s\x1c-\x1f]"


class LightRAGQuery(BaseModel):
    model_config = STRICT
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)
    ] = Field(
        description=f"At least {MIN_QUERY_CHARS} characters besides surrounding whitespace",
        json_schema_extra={"pattern": rf"{_NON_SPACE}[\s\S]+{_NON_SPACE}"},
    )
    mode: QueryMode = Field(
        "hybrid",
        description="naive: vector chunks only; local: entities; global: relations; "
        "hybrid: local+global; mix: graph and vector chunks",
    )
    # Bounds before the validator, or pydantic writes them into the schema as "ge"/"le".
    top_k: Annotated[int, Field(ge=1, le=200), BeforeValidator(json_integer)] | None = None

    @field_validator("query")
    @classmethod
    def _long_enough(cls, v: str) -> str:
        if len(v.strip()) < MIN_QUERY_CHARS:
            raise ValueError(
                f"at least {MIN_QUERY_CHARS} characters are needed (LightRAG refuses shorter "
                "queries)"
            )
        return v


class LightRAGAnswer(BaseModel):
    response: str
    mode: str


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
        answer = await services.lightrag.query(body.query, body.mode, body.top_k)
    except ShieldError:
        LIGHTRAG_OPS.labels("query", "error").inc()
        raise
    LIGHTRAG_OPS.labels("query", "success").inc()
    return LightRAGAnswer(response=answer, mode=body.mode)
