"""The MCP tools, registered on a FastMCP server by :func:`register_tools`."""

from __future__ import annotations

from fastmcp import FastMCP

from shield_rag.errors import Dependency
from shield_rag.mcp.calls import NEEDS_JOBS, NEEDS_LIGHTRAG, NEEDS_VECTORS
from shield_rag.mcp.tools import ingest, jobs, lightrag, search
from shield_rag.mcp.tools.common import Deps

WRITE_TOOLS = frozenset({"crawl_web", "ingest_doc", "qdrant_store"})
READ_TOOLS = frozenset({"get_job_status", "wait_for_job", "qdrant_find", "lightrag_query"})

# The dependencies each tool needs besides the orchestrator (the routes it calls): while the
# breaker of one of them is open, the tool fails fast and the others keep working. Ingest
# only queues a job (Redis); the worker embeds and indexes it later.
TOOL_NEEDS: dict[str, tuple[Dependency, ...]] = {
    "qdrant_find": NEEDS_VECTORS,  # POST /search: embed the query, search Qdrant
    "qdrant_store": NEEDS_VECTORS,  # POST /vectors: embed, upsert
    "lightrag_query": NEEDS_LIGHTRAG,  # POST /lightrag/query
    "crawl_web": NEEDS_JOBS,  # POST /ingest-async
    "ingest_doc": NEEDS_JOBS,  # POST /ingest-async
    "get_job_status": NEEDS_JOBS,  # GET /jobs/{id}
    "wait_for_job": NEEDS_JOBS,  # GET /jobs/{id} (and DELETE when cancelled)
}


def register_tools(mcp: FastMCP, deps: Deps) -> frozenset[str]:
    """Register the tools and return their names; with ``mcp.read_only`` the write tools
    (crawl_web, ingest_doc, qdrant_store) are not registered at all."""
    for module in (ingest, jobs, search, lightrag):
        module.register(mcp, deps)
    return READ_TOOLS if deps.settings.read_only else READ_TOOLS | WRITE_TOOLS


__all__ = ["READ_TOOLS", "TOOL_NEEDS", "WRITE_TOOLS", "Deps", "register_tools"]
