"""``POST /lightrag/query``: knowledge-graph and hybrid retrieval through LightRAG."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints, field_validator

from shield_rag.api.fields import STRICT, VISIBLE, Query, json_integer

QueryMode = Literal["naive", "local", "global", "hybrid", "mix"]
QUERY_MODES_DESCRIPTION = (
    "naive: vector chunks only; local: entities; global: relations; "
    "hybrid: local+global; mix: graph and vector chunks"
)
# LightRAG refuses (with a 500) a query that weighs less than 3 once stripped, a Chinese,
# Japanese or Korean character weighing 2 and any other 1 (its RAGQueryTooShortError); the
# orchestrator and the MCP server say so up front, as a 422 and an invalid argument.
MIN_QUERY_CHARS = 3
# An Ollama model name (as settings.routing.MODEL_NAME_PATTERN) or "auto".
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$"
# The characters LightRAG weighs 2 (lightrag.query_validation's blocks) in the Basic
# Multilingual Plane, less U+3000 (an ideographic space: blank): a class both regex dialects
# read alike (ECMA reads a character beyond it as two code units, which weigh 2 there).
WIDE = (
    r"[\u1100-\u11ff\u2e80-\u2fff\u3001-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
    r"\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffee]"
)
# A weight of 3 from the first character that is not blank to the last: 3 characters, or 2 of
# which one weighs 2. The schema's pattern and the server's check are one regex.
_QUERY_PATTERN = rf"{VISIBLE}[\s\S]+{VISIBLE}|{WIDE}{VISIBLE}|{VISIBLE}{WIDE}"
_QUERY = re.compile(_QUERY_PATTERN)
QUERY_TOO_SHORT = (
    f"at least {MIN_QUERY_CHARS} characters are needed besides surrounding whitespace and "
    "control characters, a Chinese, Japanese or Korean character counting 2 (LightRAG "
    "refuses shorter queries)"
)


def long_enough(query: str) -> bool:
    """Whether LightRAG takes ``query`` as a question (see :data:`QUERY_TOO_SHORT`)."""
    return _QUERY.search(query) is not None


class LightRAGQuery(BaseModel):
    model_config = STRICT
    query: Query = Field(
        description=f"At least {MIN_QUERY_CHARS} characters besides surrounding whitespace and "
        "control characters, a Chinese, Japanese or Korean character counting 2",
        json_schema_extra={"pattern": _QUERY_PATTERN},
    )
    mode: QueryMode = Field("hybrid", description=QUERY_MODES_DESCRIPTION)
    # Bounds before the validator, or pydantic writes them into the schema as "ge"/"le".
    top_k: Annotated[int, Field(ge=1, le=200), BeforeValidator(json_integer)] | None = None
    model: Annotated[str, StringConstraints(pattern=MODEL_PATTERN)] | None = Field(
        None,
        description="The Ollama model to answer with (one the Ollama hosts serve; 422 names "
        'them otherwise), "auto" for the router\'s choice, or null: "auto" while the feature '
        "router is on, else the configured model",
    )

    @field_validator("query")
    @classmethod
    def _long_enough(cls, v: str) -> str:
        if not long_enough(v):
            raise ValueError(QUERY_TOO_SHORT)
        return v


class ModelUsage(BaseModel):
    """What the calls of one model in one role used, as Ollama counts it."""

    model: str
    role: str = Field(description="keyword (query keywords), query (the answer), extract")
    prompt_tokens: int
    completion_tokens: int
    compute_seconds: float
    calls: int


class Fallback(BaseModel):
    model: str
    error: str = Field(description="Why this model did not answer")


class Routing(BaseModel):
    """How the answering model was chosen."""

    tier: str | None = Field(description="The router's tier, null when no router chose")
    model: str = Field(description="The model that answered")
    reason: str = Field(description="Why, in words")
    fallbacks: list[Fallback] = Field(default_factory=list)
    cached: bool = Field(False, description="Answered from LightRAG's cache (no tokens)")


class LightRAGAnswer(BaseModel):
    response: str
    mode: str
    client: str | None = Field(None, description="Who the call was made and accounted as")
    routing: Routing | None = Field(None, description="Null when no model had to answer")
    usage: list[ModelUsage] = Field(default_factory=list, description="Per model and role")
