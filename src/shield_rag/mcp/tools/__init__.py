"""The MCP tools, registered on a FastMCP server by :func:`register_tools`."""

from __future__ import annotations

from fastmcp import FastMCP

from shield_rag.mcp.tools import ingest, jobs, lightrag, search
from shield_rag.mcp.tools.common import Deps

WRITE_TOOLS = frozenset({"crawl_web", "ingest_doc", "qdrant_store"})
READ_TOOLS = frozenset({"get_job_status", "wait_for_job", "qdrant_find", "lightrag_query"})


def register_tools(mcp: FastMCP, deps: Deps) -> frozenset[str]:
    """Register the tools and return their names; with ``mcp.read_only`` the write tools
    (crawl_web, ingest_doc, qdrant_store) are not registered at all."""
    for module in (ingest, jobs, search, lightrag):
        module.register(mcp, deps)
    return READ_TOOLS if deps.settings.read_only else READ_TOOLS | WRITE_TOOLS


__all__ = ["READ_TOOLS", "WRITE_TOOLS", "Deps", "register_tools"]
