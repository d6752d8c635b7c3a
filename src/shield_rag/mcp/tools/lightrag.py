"""``lightrag_query``: questions answered from the knowledge graph and the chunks.

A call that carries a ``progressToken`` gets the answer as it is written: the tool reads
``POST /lightrag/query/stream`` and sends each piece of text as the ``message`` of a progress
notification (``progress`` is the characters so far, no ``total``), then returns the same
result as without. Cancelling the call closes that stream, which stops the model upstream.
Without a token, or with the feature ``streaming`` off, it is one ``POST /lightrag/query``.
"""

from typing import Annotated, Any

from fastmcp import Context, FastMCP
from fastmcp.tools.base import ToolResult
from pydantic import Field

from shield_rag.api.errors import ErrorCode
from shield_rag.api.fields import BLANK_MESSAGE, JsonInt, is_blank
from shield_rag.api.query import MODEL_PATTERN, QUERY_TOO_SHORT, QueryMode, long_enough
from shield_rag.mcp import errors
from shield_rag.mcp.models import LightRAGResult
from shield_rag.mcp.orchestrator import OrchestratorError
from shield_rag.mcp.tools.common import Deps, guarded, output_schema, structured


def wants_progress(ctx: Context) -> bool:
    """Whether the tool call asked for progress notifications (sent a ``progressToken``)."""
    request = ctx.request_context
    meta = request.meta if request is not None else None
    return isinstance(meta, dict) and meta.get("progressToken") is not None


async def streamed(deps: Deps, body: dict[str, Any], ctx: Context) -> LightRAGResult | None:
    """The answer, each piece of it reported as progress as it is written; None when the
    orchestrator has streaming turned off (the caller then asks without a stream)."""
    written = 0
    try:
        async for event, data in deps.orchestrator.lightrag_query_stream(body):
            if event == "delta":
                piece = str(data.get("text", ""))
                if piece:  # progress must grow with every notification
                    written += len(piece)
                    await ctx.report_progress(written, None, piece)
            elif event == "done":
                return LightRAGResult.model_validate(data)
    except OrchestratorError as exc:
        if exc.code == ErrorCode.FEATURE_DISABLED.value and written == 0:
            return None
        raise
    raise OrchestratorError(502, "the answer stream ended without its result")


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
            JsonInt | None,
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
        ctx: Context | None = None,
    ) -> ToolResult:
        """Ask a question answered by LightRAG from the ingested documents.

        LightRAG retrieves entities, relations and chunks for the question and has the LLM
        answer from them. Use it for questions that join facts from several documents; use
        qdrant_find to get the matching passages themselves. The result says which model
        answered (and why, when the router chose) and the tokens it used; a caller whose
        budget is spent gets an error with retry_after (the seconds until it resets).
        With a progressToken, the answer's text also arrives piece by piece as it is written,
        as the message of each progress notification.
        """
        # LightRAG's own minimum, as the orchestrator checks it, before any request.
        if is_blank(query):
            raise errors.invalid("lightrag_query", [f"query {BLANK_MESSAGE}"])
        if not long_enough(query):
            raise errors.invalid("lightrag_query", [f"query: {QUERY_TOO_SHORT}"])
        body: dict[str, object] = {"query": query, "mode": mode}
        if top_k is not None:
            body["top_k"] = top_k
        if model is not None:
            body["model"] = model
        if ctx is not None and wants_progress(ctx) and deps.flags.enabled("streaming"):
            answer = await guarded("lightrag_query", streamed(deps, body, ctx))
            if answer is not None:
                return structured(answer)
        return structured(
            await guarded("lightrag_query", client.lightrag_query(body, LightRAGResult))
        )
