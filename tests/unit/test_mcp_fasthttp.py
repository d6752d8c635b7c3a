"""The MCP server's JSON requests to the orchestrator go over aiohttp (mcp/fasthttp.py): the
same request on the wire, the answer handed on as an ``httpx.Response``, one kept-alive
connection, and transport failures counted against the orchestrator as before."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from shield_rag.mcp.breakers import TARGET, Breakers
from shield_rag.mcp.calls import CALLER, McpCaller, client_header
from shield_rag.mcp.models import SearchResult
from shield_rag.mcp.orchestrator import (
    OrchestratorClient,
    OrchestratorError,
    OrchestratorUnavailable,
)
from shield_rag.settings import McpSettings
from tests.support.httpserver import Answer, Server, serving
from tests.support.procs import free_port


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    async with serving(Server) as start:
        yield start


def client(url: str, **mcp: Any) -> OrchestratorClient:
    cfg = McpSettings(orchestrator_url=url, **mcp)  # type: ignore[arg-type]
    c = OrchestratorClient(cfg, SecretStr("orch-key"), Breakers(cfg))
    c.start()
    return c


JSON = {"content-type": "application/json"}


async def test_json_calls_send_the_same_request_and_read_the_same_answer(serve: Any) -> None:
    body = json.dumps(
        {"results": [{"id": "a", "score": 0.5, "text": "t"}], "limit": 5, "offset": 0}
    )
    server, url = await serve(lambda *_unused: (200, JSON, body.encode()))
    c = client(url)
    token = CALLER.set(McpCaller(client_header("agent one"), "read write"))
    try:
        for _unused in range(3):
            got = await c.search(
                {"query": "q", "limit": 5, "filters": {"source": "é"}}, SearchResult
            )
        job = await c.job("j1")
    finally:
        CALLER.reset(token)
        await c.aclose()
    assert got == SearchResult.model_validate_json(body)
    assert job == json.loads(body)
    method, path, headers, sent = server.requests[0]
    assert (method, path) == ("POST", "/search")
    assert json.loads(sent) == {"query": "q", "limit": 5, "filters": {"source": "é"}}
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer orch-key"
    assert headers["user-agent"] == "shield-mcp"
    assert headers["x-shield-client"] == "mcp:agent_one"
    assert headers["x-shield-scopes"] == "read write"
    assert server.requests[-1][:2] == ("GET", "/jobs/j1") and server.requests[-1][3] == b""
    assert server.connections == 1 and len(server.requests) == 4
    assert c.breaker.state.label == "closed"


async def test_error_answers_keep_their_status_headers_and_body(serve: Any) -> None:
    refusal = {"status": 429, "code": "rate_limited", "detail": "slow down"}
    _unused, url = await serve(
        lambda *_unused: (429, {**JSON, "retry-after": "7"}, json.dumps(refusal).encode())
    )
    c = client(url)
    try:
        response = await c._fast.request("POST", "/search", json={"query": "q"})  # type: ignore[union-attr]
    finally:
        await c.aclose()
    assert isinstance(response, httpx.Response)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == refusal


async def test_a_search_reads_the_answer_as_it_came_and_refusals_as_before(serve: Any) -> None:
    """A search's answer goes straight into its model; an answer that is no JSON object and
    a refusal are read as they were through an ``httpx.Response``."""
    refusal = {
        "status": 503,
        "code": "dependency_unavailable",
        "detail": "x",
        "dependency": "qdrant",
    }
    answers: list[Answer] = [
        (200, JSON, b"[1, 2]"),
        (503, {**JSON, "retry-after": "3"}, json.dumps(refusal).encode()),
    ]
    _unused, url = await serve(lambda *_unused: answers.pop(0))
    c = client(url)
    try:
        with pytest.raises(OrchestratorError, match=r"unexpected answer '\[1, 2\]'"):
            await c.search({"query": "q"}, SearchResult)
        with pytest.raises(OrchestratorUnavailable, match="qdrant") as err:
            await c.search({"query": "q"}, SearchResult)
    finally:
        await c.aclose()
    assert err.value.target == "qdrant"
    assert c.breakers["qdrant"].failure_count == 1
    assert c.breakers[TARGET].failure_count == 0


async def test_a_refused_connection_and_silence_count_against_the_orchestrator(
    serve: Any,
) -> None:
    c = client(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(OrchestratorUnavailable, match="cannot reach the orchestrator") as err:
            await c.search({"query": "q"}, SearchResult)
    finally:
        await c.aclose()
    assert err.value.sent is True
    assert c.breakers[TARGET].failure_count == 1
    _unused, url = await serve(lambda *_unused: None)
    c = client(url, request_timeout=1)
    try:
        with pytest.raises(OrchestratorUnavailable, match="gave no answer within 1s") as err:
            await c.search({"query": "q"}, SearchResult)
    finally:
        await c.aclose()
    assert c.breakers[TARGET].failure_count == 1


async def test_uploads_still_go_through_httpx(serve: Any) -> None:
    server, url = await serve(lambda *_unused: (202, JSON, b'{"job_id": "j"}'))
    c = client(url)
    try:
        got = await c.ingest_upload("a.txt", b"text", title=None, metadata={}, idempotency_key=None)
    finally:
        await c.aclose()
    assert got == {"job_id": "j"}
    assert server.requests[0][2]["content-type"].startswith("multipart/form-data")


async def test_a_connection_closed_under_a_request_is_not_sent_again(serve: Any) -> None:
    """httpx sends a request once; so does the fast path (aiohttp would retry a GET)."""
    answers: list[Answer | str] = [(200, JSON, b'{"status": "queued"}'), "close"]
    server, url = await serve(lambda *_unused: answers.pop(0) if answers else "close")
    c = client(url)
    try:
        assert await c.job("j1") == {"status": "queued"}
        with pytest.raises(OrchestratorUnavailable, match="cannot reach the orchestrator"):
            await c.job("j1")
    finally:
        await c.aclose()
    assert len(server.requests) == 2
