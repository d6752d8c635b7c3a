"""``lightrag_query``: questions answered from the knowledge graph and the chunks."""

from typing import Annotated

from fastmcp import FastMCP
from fastmcp.tools.base import ToolResult
from lightrag.query_validation import QueryValidationError, validate_rag_query
from pydantic import Field

from shield_rag.api.query import MODEL_PATTERN, QueryMode
from shield_rag.mcp import errors
from shield_rag.mcp.models import LightRAGResult
from shield_rag.mcp.tools.common import Deps, guarded, output_schema, structured


def register(mcp: FastMCP, deps: Deps) -> None:
    client = deps.orchestrator

    @mcp.tool(
        annotations={"read_only_hint": True, "open_world_hint": False},
        output_schema=output_schema(LightRAGResult),
    )
    async def lightrag_query(
        query: Annotated[
            str,
            Field(min_length=1, max_length=8192, description="The question, in natural language"),
        ],
        mode: Annotated[
            QueryMode,
            Field(
                description="naive: vector chunks only; local: about entities; global: about "
                "relations between them; hybrid: local and global; mix: graph and chunks"
            ),
        ] = "hybrid",
        top_k: Annotated[
            int | None,
            Field(ge=1, le=200, description="Entities/relations/chunks to retrieve"),
        ] = None,
        model: Annotated[
            str | None,
            Field(
                pattern=MODEL_PATTERN,
                description="The model to answer with: one the server's Ollama serves (an "
                'unknown one is refused with the list), "auto" for the router\'s choice, or '
                "leave it out for the server's default",
            ),
        ] = None,
    ) -> ToolResult:
        """Ask a question answered by LightRAG from the ingested documents.

        LightRAG retrieves entities, relations and chunks for the question and has the LLM
        answer from them. Use it for questions that join facts from several documents; use
        qdrant_find to get the matching passages themselves. The result says which model
        answered (and why, when the router chose) and the tokens it used; a caller whose
        budget is spent gets an error with retry_after (the seconds until it resets).
        """
        try:
            validate_rag_query(query)  # LightRAG's own minimum, checked before any request
        except QueryValidationError as exc:
            raise errors.invalid("lightrag_query", [f"query: {exc}"]) from None
        body: dict[str, object] = {"query": query, "mode": mode}
        if top_k is not None:
            body["top_k"] = top_k
        if model is not None:
            body["model"] = model
        return structured(
            await guarded("lightrag_query", client.lightrag_query(body, LightRAGResult))
        )
