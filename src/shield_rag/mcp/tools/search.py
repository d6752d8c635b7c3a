"""``qdrant_find`` (vector search) and ``qdrant_store`` (store texts now), via the orchestrator."""

from typing import Annotated, Any

from fastmcp import FastMCP
from fastmcp.tools.base import ToolResult
from pydantic import Field, FiniteFloat

from shield_rag.api.fields import JsonInt
from shield_rag.api.search import FILTER_FIELDS, Filters
from shield_rag.api.store import VectorItem
from shield_rag.mcp import errors
from shield_rag.mcp.models import SearchResult, StoreResult, described
from shield_rag.mcp.tools.common import Deps, Metadata, guarded, output_schema, structured


class StoreItem(VectorItem):
    """One entry of a qdrant_store batch."""

    model_config = described(text="The text to store", metadata="Key/value labels to filter on")


def register(mcp: FastMCP, deps: Deps) -> None:
    client = deps.orchestrator

    @mcp.tool(
        annotations={"read_only_hint": True, "open_world_hint": False},
        output_schema=output_schema(SearchResult),
    )
    async def qdrant_find(
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=8192,
                description="What to look for, in natural language",
            ),
        ],
        limit: Annotated[JsonInt, Field(ge=1, le=100, description="Results per page")] = 10,
        offset: Annotated[
            JsonInt, Field(ge=0, le=10000, description="Results to skip (for the next page)")
        ] = 0,
        filters: Annotated[
            Filters,
            Field(
                description="Payload filters, all of which must match: a value matches "
                'exactly, a list matches any of its values, {"gte":..,"lte":..,"gt":..,'
                f'"lt":..}} is a range; fields: {", ".join(FILTER_FIELDS)}, metadata.<key>'
            ),
        ] = None,
        score_threshold: Annotated[
            FiniteFloat | None,
            Field(description="Leave out results scoring below this similarity"),
        ] = None,
    ) -> ToolResult:
        """Search the ingested documents by meaning (vector search over their chunks).

        Returns the best matching chunks with their text, score, source URL or file name,
        title and metadata. Page with offset; narrow with filters.
        """
        body: dict[str, Any] = {"query": query, "limit": limit, "offset": offset}
        if filters:
            body["filters"] = filters
        if score_threshold is not None:
            body["score_threshold"] = score_threshold
        return structured(await guarded("qdrant_find", client.search(body, SearchResult)))

    if deps.settings.read_only:
        return

    @mcp.tool(
        annotations={"read_only_hint": False, "destructive_hint": False, "idempotent_hint": True},
        tags={"write"},
        output_schema=output_schema(StoreResult),
    )
    async def qdrant_store(
        text: Annotated[
            str | None,
            Field(min_length=1, max_length=100_000, description="One text to store"),
        ] = None,
        items: Annotated[
            list[StoreItem] | None,
            Field(min_length=1, max_length=256, description="A batch of texts to store"),
        ] = None,
        source: Annotated[
            str | None,
            Field(
                max_length=2048,
                description="Stable name of text; storing the same source again replaces it",
            ),
        ] = None,
        metadata: Metadata = None,
    ) -> ToolResult:
        """Store short texts (notes, facts, snippets) in the vector store, searchable at once.

        Give either text (one entry, with optional source and metadata) or items (a batch;
        each item has its own source and metadata). Each entry is embedded as one chunk
        without chunking; for long documents use ingest_doc.
        """
        tool = "qdrant_store"
        if (text is None) == (items is None):
            raise errors.invalid(
                tool, ["give either text (one entry) or items (a batch), not both"]
            )
        if items is not None and (source is not None or metadata):
            raise errors.invalid(
                tool, ["source and metadata go inside each item when storing a batch"]
            )
        if text is not None:
            body: dict[str, Any] = {"text": text, "metadata": metadata or {}}
            if source is not None:
                body["source"] = source
        else:
            assert items is not None
            body = {"items": [i.model_dump(exclude_none=True) for i in items]}
        return structured(await guarded(tool, client.store_vectors(body, StoreResult)))
