"""Build the Shield FastMCP server: tools, middleware, auth and the orchestrator client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastmcp import FastMCP
from starlette.requests import Request
from starlette.responses import JSONResponse

from shield_rag import __version__
from shield_rag.mcp.auth import SharedTokenVerifier
from shield_rag.mcp.breaker import CircuitBreaker
from shield_rag.mcp.middleware import ToolCallMiddleware
from shield_rag.mcp.orchestrator import OrchestratorClient, make_breaker
from shield_rag.mcp.tools import Deps, register_tools
from shield_rag.settings import Settings

INSTRUCTIONS = """\
Shield RAG: a retrieval backend over documents and web sites ingested into a vector store \
and a LightRAG knowledge graph.
- Add content with crawl_web (a site) or ingest_doc (one document: text, URL, file); both \
return a job_id at once. Follow it with wait_for_job (progress notifications) or \
get_job_status.
- Store short texts searchable at once with qdrant_store.
- Find passages with qdrant_find; ask questions across documents with lightrag_query.
- An error with retry_after=N means the backend is unavailable: retry after N seconds.
"""


@dataclass
class ShieldMcp:
    """The server and the parts tests and ``main`` look at."""

    server: FastMCP
    orchestrator: OrchestratorClient
    tools: frozenset[str]

    @property
    def breaker(self) -> CircuitBreaker:
        return self.orchestrator.breaker


def create_server(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> ShieldMcp:
    """The FastMCP server for ``settings.mcp`` (``transport`` replaces the HTTP transport to
    the orchestrator, for tests)."""
    cfg = settings.mcp
    api_key = cfg.orchestrator_api_key or settings.orchestrator.api_key
    client = OrchestratorClient(cfg, api_key, make_breaker(cfg), transport=transport)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastMCP[Any]) -> AsyncIterator[dict[str, Any]]:
        client.start()
        try:
            yield {}
        finally:
            await client.aclose()

    auth = SharedTokenVerifier(cfg.auth_token) if cfg.auth_token is not None else None
    server: FastMCP[Any] = FastMCP(
        "shield-rag",
        instructions=INSTRUCTIONS,
        version=__version__,
        auth=auth,
        lifespan=lifespan,
        mask_error_details=True,
        on_duplicate="error",
    )
    tools = register_tools(server, Deps(settings=cfg, orchestrator=client))
    server.add_middleware(ToolCallMiddleware(set(tools)))

    @server.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(_: Request) -> JSONResponse:
        """Liveness of the MCP server itself, with its breaker's view of the orchestrator."""
        breaker = client.breaker
        return JSONResponse(
            {
                "status": "ok",
                "orchestrator_breaker": breaker.state.label,
                "retry_after": breaker.retry_after(),
            }
        )

    return ShieldMcp(server=server, orchestrator=client, tools=tools)
