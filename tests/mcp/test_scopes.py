"""MCP tokens with scopes, through the official MCP SDK client over HTTP: a read-only token
sees and may call the read tools only; every call names its token's orchestrator client and
scopes to the orchestrator (here a recording double), which limits and accounts it as that
client."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shield_rag.mcp.main import http_middleware
from shield_rag.mcp.server import create_server
from shield_rag.mcp.tools import READ_TOOLS, WRITE_TOOLS
from shield_rag.settings import Settings
from tests.mcp.memory import BASE, UvicornServed
from tests.support.mcp import session, tool_names
from tests.support.procs import free_port
from tests.support.tokens import secret
from tests.support.wait import eventually

TOKENS = {name: secret(24) for name in ("reader", "writer", "legacy")}
HIT = {"id": "p1", "score": 0.9, "text": "The ferry carries 340 bicycles.", "source": "s"}
STORED = {"ids": ["p2"], "count": 1, "collection": "c"}
SPENT = {
    "status": 429,
    "code": "budget_exceeded",
    "detail": "client 'reader' has used 10,240 of its 10,000 tokens for the daily period; it "
    "resets at 2026-12-07T00:00:00Z",
    "retry_after": 3600,
}


class Orchestrator:
    """The orchestrator double: answers search and store, and records who each call was for."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str | None]] = []
        self.bodies: list[dict[str, Any]] = []
        self.features: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/features":  # the server's background read of the flags
            return httpx.Response(200, json={"features": self.features})
        headers = request.headers
        self.seen.append(
            (request.url.path, headers.get("x-shield-client"), headers.get("x-shield-scopes"))
        )
        if request.url.path == "/search":
            return httpx.Response(200, json={"results": [HIT], "limit": 1, "offset": 0})
        if request.url.path == "/lightrag/query":
            self.bodies.append(json.loads(request.content))
            return httpx.Response(429, json=SPENT, headers={"Retry-After": "3600"})
        return httpx.Response(200, json=STORED)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Served(UvicornServed):
    def __init__(self) -> None:
        self.orchestrator = Orchestrator()
        mcp = {
            "tokens": {
                "reader": {"token_sha256": _sha(TOKENS["reader"]), "scopes": ["read"]},
                "writer": {
                    "token_sha256": _sha(TOKENS["writer"]),
                    "scopes": ["read", "write"],
                    "client": "team-writers",
                },
            },
            "auth_token": TOKENS["legacy"],
        }
        features = {"refresh_seconds": 0.1}
        settings = Settings(**BASE, mcp=mcp, features=features)  # type: ignore[arg-type]
        shield = create_server(settings, transport=httpx.MockTransport(self.orchestrator))
        super().__init__(shield, http_middleware(), free_port())


@pytest_asyncio.fixture(loop_scope="function")
async def served() -> AsyncIterator[Served]:
    async with Served() as started:
        yield started


async def test_a_read_token_lists_only_the_read_tools(served: Served) -> None:
    assert await tool_names(served.url, TOKENS["reader"]) == set(READ_TOOLS)
    assert await tool_names(served.url, TOKENS["writer"]) == set(READ_TOOLS | WRITE_TOOLS)
    assert await tool_names(served.url, TOKENS["legacy"]) == set(READ_TOOLS | WRITE_TOOLS)


async def _call(served: Served, token: str, tool: str, args: dict[str, Any]) -> Any:
    async with session(served.url, token) as s:
        return await s.call_tool(tool, args)


@pytest.mark.parametrize("tool", sorted(WRITE_TOOLS))
async def test_a_read_token_cannot_call_a_write_tool(served: Served, tool: str) -> None:
    args = {"url": "http://127.0.0.1:1/"} if tool == "crawl_web" else {"text": "a note"}
    result = await _call(served, TOKENS["reader"], tool, args)
    assert result.is_error
    assert result.content[0].text == (
        f"Authorization failed for tool '{tool}': insufficient scope (required: write)"
    )
    assert all(
        path not in ("/vectors", "/ingest-async") for path, *_unused in served.orchestrator.seen
    )


async def test_each_call_names_its_tokens_client_and_scopes(served: Served) -> None:
    await _call(served, TOKENS["reader"], "qdrant_find", {"query": "ferry", "limit": 1})
    await _call(served, TOKENS["writer"], "qdrant_store", {"text": "a note"})
    await _call(served, TOKENS["legacy"], "qdrant_find", {"query": "ferry", "limit": 1})
    assert served.orchestrator.seen == [
        ("/search", "reader", "read"),
        ("/vectors", "team-writers", "read write"),
        ("/search", "mcp:shield-mcp-client", "read write"),
    ]


async def test_an_unknown_token_is_401(served: Served) -> None:
    async with httpx.AsyncClient() as http:
        resp = await http.post(
            served.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": f"Bearer {secret(24)}", "Accept": "application/json"},
        )
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_a_spent_budget_is_a_tool_error_with_retry_after(served: Served) -> None:
    args = {"query": "when does the ferry leave?", "model": "llama3.2"}
    result = await _call(served, TOKENS["reader"], "lightrag_query", args)
    assert result.is_error
    text = result.content[0].text
    assert "budget_exceeded" in text and "retry_after=3600" in text and "resets at" in text
    assert served.orchestrator.bodies == [
        {"query": args["query"], "mode": "hybrid", "model": "llama3.2"}
    ]


OFF = {
    "name": "write_tools",
    "enabled": False,
    "default": True,
    "source": "runtime",
    "changed_by": "ops",
    "changed_at": "2026-12-06T08:00:00Z",
}


async def test_write_tools_off_at_the_orchestrator_hides_them_until_on_again(
    served: Served,
) -> None:
    async def lists(tools: frozenset[str]) -> bool:
        return await tool_names(served.url, TOKENS["writer"]) == set(tools)

    served.orchestrator.features = [OFF]
    await eventually(lambda: lists(READ_TOOLS), 10, "write tools hidden")
    result = await _call(served, TOKENS["writer"], "qdrant_store", {"text": "a note"})
    assert result.is_error
    assert "feature 'write_tools' is turned off" in result.content[0].text
    assert all(path != "/vectors" for path, *_unused in served.orchestrator.seen)
    served.orchestrator.features = []
    await eventually(lambda: lists(READ_TOOLS | WRITE_TOOLS), 10, "write tools listed again")
