"""Build the Shield FastMCP server: tools, middleware, auth and the orchestrator client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from fastmcp import FastMCP
from fastmcp.server.auth import AuthProvider
from starlette.requests import Request
from starlette.responses import JSONResponse

from shield_rag import __version__
from shield_rag.breaker import CircuitBreaker
from shield_rag.features import FeatureFlags
from shield_rag.mcp.auth import scope_middleware, verifier
from shield_rag.mcp.middleware import FeatureMiddleware, ToolCallMiddleware
from shield_rag.mcp.oauth import IdpAuth, oauth_provider
from shield_rag.mcp.orchestrator import Breakers, OrchestratorClient
from shield_rag.mcp.tools import TOOL_NEEDS, Deps, register_tools
from shield_rag.settings import Settings

INSTRUCTIONS = """\
Shield RAG: a retrieval backend over documents and web sites ingested into a vector store \
and a LightRAG knowledge graph.
- Add content with crawl_web (a site) or ingest_doc (one document: text, URL, file); both \
return a job_id at once. Follow it with wait_for_job (progress notifications) or \
get_job_status.
- Store short texts searchable at once with qdrant_store.
- Find passages with qdrant_find; ask questions across documents with lightrag_query.
- An error with retry_after=N means the backend, or a dependency the tool needs (named in \
the error as dependency=...), is unavailable or busy: retry after N seconds. Tools that do \
not need that dependency keep working (qdrant_find and qdrant_store need ollama and qdrant; \
lightrag_query needs lightrag; the ingest and job tools need redis).
"""


@dataclass
class ShieldMcp:
    """The server and the parts tests and ``main`` look at."""

    server: FastMCP
    orchestrator: OrchestratorClient
    tools: frozenset[str]
    features: FeatureFlags

    @property
    def breaker(self) -> CircuitBreaker:
        """The orchestrator's own breaker."""
        return self.orchestrator.breaker

    @property
    def breakers(self) -> Breakers:
        """Every breaker: the orchestrator's and one per dependency."""
        return self.orchestrator.breakers


def create_server(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> ShieldMcp:
    """The FastMCP server for ``settings.mcp`` (``transport`` replaces the HTTP transport to
    the orchestrator, for tests)."""
    cfg = settings.mcp
    api_key = cfg.orchestrator_api_key or settings.orchestrator.api_key
    client = OrchestratorClient(cfg, api_key, Breakers(cfg), transport=transport)

    flags = FeatureFlags(settings.features, None)

    @contextlib.asynccontextmanager
    async def lifespan(_unused: FastMCP[Any]) -> AsyncIterator[dict[str, Any]]:
        client.start()
        if isinstance(auth, IdpAuth):
            auth.start()
        stop = asyncio.Event()
        poll = asyncio.create_task(flags.run(stop, source=client.features))
        try:
            yield {}
        finally:
            stop.set()
            await poll
            await client.aclose()
            if isinstance(auth, IdpAuth):
                await auth.aclose()

    auth: AuthProvider | None = oauth_provider(cfg) if cfg.auth_mode == "oauth" else verifier(cfg)
    server: FastMCP[Any] = FastMCP(
        "shield-rag",
        instructions=INSTRUCTIONS,
        version=__version__,
        auth=auth,
        lifespan=lifespan,
        mask_error_details=True,
        on_duplicate="error",
        # Arguments are read as their input schema says: "5" is not an integer and true is
        # not a count (lax parsing would take both); JsonInt keeps 5.0 an integer, as in JSON.
        strict_input_validation=True,
    )
    tools = register_tools(server, Deps(settings=cfg, orchestrator=client, flags=flags))
    server.add_middleware(ToolCallMiddleware(set(tools)))
    server.add_middleware(FeatureMiddleware(flags))
    if auth is not None:
        server.add_middleware(scope_middleware())

    @server.custom_route("/healthz", methods=["GET"], include_in_schema=False)
    async def healthz(_unused: Request) -> JSONResponse:
        """Liveness of the MCP server itself, with every breaker's state and the tools each
        breaker stops while it is open."""
        breaker = client.breaker
        return JSONResponse(
            {
                "status": "ok",
                "orchestrator_breaker": breaker.state.label,
                "retry_after": breaker.retry_after(),
                "breakers": client.breakers.view(),
                "tool_needs": {t: list(TOOL_NEEDS[t]) for t in sorted(tools)},
            }
        )

    return ShieldMcp(server=server, orchestrator=client, tools=tools, features=flags)
