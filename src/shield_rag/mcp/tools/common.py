"""What every tool shares: the orchestrator client, settings, and error mapping."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastmcp.tools.base import ToolResult
from fastmcp.tools.function_parsing import ParsedFunction
from mcp_types import TextContent
from pydantic import BaseModel, Field

from shield_rag.api.fields import MetadataKey, MetadataValue
from shield_rag.mcp import errors
from shield_rag.mcp.orchestrator import (
    OrchestratorClient,
    OrchestratorError,
    OrchestratorUnavailable,
)
from shield_rag.settings import McpSettings

T = TypeVar("T")

Metadata = Annotated[
    dict[MetadataKey, MetadataValue] | None,
    Field(
        description="Optional key/value labels stored with every chunk (at most 64 keys; "
        "values are strings, numbers, booleans or null); filter on them in qdrant_find as "
        "metadata.<key>",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Optional key that makes a retried call return the first call's job "
        "instead of starting a second one (printable ASCII, no spaces)",
    ),
]
JobId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{32}$",
        description="The job_id that crawl_web or ingest_doc returned (32 lowercase hex "
        "characters)",
    ),
]


@dataclass(frozen=True)
class Deps:
    settings: McpSettings
    orchestrator: OrchestratorClient


async def guarded(tool: str, call: Awaitable[T]) -> T:
    """Await an orchestrator call, turning its failures into tool errors an agent can use."""
    try:
        return await call
    except OrchestratorUnavailable as exc:
        raise errors.unavailable(exc) from None
    except OrchestratorError as exc:
        raise errors.rejected(tool, exc) from None


def output_schema(model: type[BaseModel]) -> dict[str, Any] | None:
    """The output schema FastMCP derives for a tool annotated to return ``model``: for a tool
    that returns :func:`structured` results (a ``ToolResult``, which has no schema)."""

    def returns() -> None: ...

    returns.__annotations__ = {"return": model}
    return ParsedFunction.from_function(returns).output_schema


def structured(answer: BaseModel) -> ToolResult:
    """The result FastMCP makes of a tool returning ``answer``: its JSON as the text block and
    as the structured content. Built here, the model is serialised twice; left to FastMCP's
    conversion (model, JSON, dict, JSON, dict again), five times."""
    return ToolResult(
        content=[TextContent(type="text", text=answer.model_dump_json())],
        structured_content=answer,
    )
