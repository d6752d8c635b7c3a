"""``POST /lightrag/query``: knowledge-graph and hybrid retrieval through LightRAG."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, field_validator

from shield_rag.api.fields import STRICT, json_integer

QueryMode = Literal["naive", "local", "global", "hybrid", "mix"]
QUERY_MODES_DESCRIPTION = (
    "naive: vector chunks only; local: entities; global: relations; "
    "hybrid: local+global; mix: graph and vector chunks"
)
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
    mode: QueryMode = Field("hybrid", description=QUERY_MODES_DESCRIPTION)
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
