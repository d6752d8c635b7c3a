"""``POST /lightrag/query``: knowledge-graph and hybrid retrieval through LightRAG."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from lightrag.query_validation import validate_rag_query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shield_rag.clients.lightrag import QueryMode
from shield_rag.errors import ShieldError
from shield_rag.orchestrator.deps import ServicesDep, require_api_key
from shield_rag.orchestrator.metrics import LIGHTRAG_OPS

router = APIRouter(tags=["lightrag"], dependencies=[Depends(require_api_key)])


class LightRAGQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8192)
    ] = Field(
        description="The question; LightRAG needs at least 3 English-equivalent characters "
        "(each Chinese, Japanese or Korean character counts as 2)",
    )
    mode: QueryMode = Field(
        "hybrid",
        description="naive: vector chunks only; local: entities; global: relations; "
        "hybrid: local+global; mix: graph and vector chunks",
    )
    top_k: int | None = Field(None, ge=1, le=200)

    @field_validator("query")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        # LightRAG's own rule, checked before calling it: a shorter query is the caller's
        # mistake (422), never a LightRAG failure.
        return validate_rag_query(value)


class LightRAGAnswer(BaseModel):
    response: str
    mode: str


@router.post("/lightrag/query", response_model=LightRAGAnswer, summary="Ask LightRAG")
async def lightrag_query(body: LightRAGQuery, services: ServicesDep) -> LightRAGAnswer:
    if services.lightrag is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="LightRAG is disabled in this deployment (lightrag.enabled: false)",
        )
    try:
        answer = await services.lightrag.query(body.query, body.mode, body.top_k)
    except ShieldError:
        LIGHTRAG_OPS.labels("query", "error").inc()
        raise
    LIGHTRAG_OPS.labels("query", "success").inc()
    return LightRAGAnswer(response=answer, mode=body.mode)
