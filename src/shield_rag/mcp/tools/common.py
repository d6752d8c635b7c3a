"""What every tool shares: the orchestrator client, settings, and error mapping."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import pydantic_core
from fastmcp.tools.base import ToolResult
from fastmcp.tools.function_parsing import ParsedFunction
from mcp_types import TextContent
from pydantic import BaseModel, Field

from shield_rag.api.fields import MetadataKey, MetadataValue
from shield_rag.features import FeatureFlags
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
    flags: FeatureFlags  # the runtime feature flags, as the orchestrator applies them


async def guarded(tool: str, call: Awaitable[T]) -> T:
    """Await an orchestrator call, turning its failures into tool errors an agent can use."""
    try:
        return await call
    except OrchestratorUnavailable as exc:
        raise errors.unavailable(tool, exc) from None
    except OrchestratorError as exc:
        raise errors.rejected(tool, exc) from None


def output_schema(model: type[BaseModel]) -> dict[str, Any] | None:
    """The output schema FastMCP derives for a tool annotated to return ``model``, with its
    unions of bare types written as type lists (:func:`type_lists`): for a tool that returns
    :func:`structured` results (a ``ToolResult``, which has no schema)."""

    def returns() -> None: ...

    returns.__annotations__ = {"return": model}
    schema = ParsedFunction.from_function(returns).output_schema
    return None if schema is None else type_lists(schema)


# Keywords whose values are data, not subschemas.
_DATA_KEYWORDS = frozenset({"const", "default", "enum", "examples"})


def type_lists(schema: Any) -> Any:
    """``schema`` with every ``anyOf`` of bare types (pydantic's form of an optional field,
    ``{"anyOf": [{"type": "string"}, {"type": "null"}]}``) written as the equivalent type
    list, ``{"type": ["string", "null"]}``.

    The same instances pass. The MCP SDK's Python client checks every structured result
    against the tool's output schema with ``jsonschema``, whose cost is one step per subschema
    it enters: an ``anyOf`` enters one per branch tried, a type list none. For ``qdrant_find``,
    five hits of four optional fields each, that was a third of the check."""
    if isinstance(schema, list):
        return [type_lists(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: v if k in _DATA_KEYWORDS else type_lists(v) for k, v in schema.items()}
    branches = out.get("anyOf")
    if (
        "type" not in out
        and isinstance(branches, list)
        and branches
        and all(isinstance(b, dict) and b.keys() == {"type"} for b in branches)
        and all(isinstance(b["type"], str) for b in branches)
    ):
        del out["anyOf"]
        out["type"] = [b["type"] for b in branches]
    return out


def structured(answer: BaseModel) -> ToolResult:
    """The result FastMCP makes of a tool returning ``answer``: its JSON as the text block and
    as the structured content. Built here, the model is serialised once and that JSON read
    back once (pydantic-core's parser) for the structured content; left to FastMCP's conversion
    (model, JSON, dict, JSON, dict again), five times. ``ToolResult(...)`` would serialise the
    dict again and read it back with the json module; its fields are set as they are here
    (``model_construct``), the same values its constructor ends with."""
    text = answer.model_dump_json()
    return ToolResult.model_construct(
        content=[TextContent(type="text", text=text)],
        structured_content=pydantic_core.from_json(text),
        meta=None,
        is_error=False,
    )
