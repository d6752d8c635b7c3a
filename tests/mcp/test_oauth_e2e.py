"""``mcp.auth_mode: oauth`` end to end: ``shield-mcp`` as a process in front of the real data
plane (Redis, the orchestrator, the Qdrant and Ollama stand-ins; no workers, no LightRAG),
with access tokens minted by the test-only identity provider (``tests/support/idp.py``) and
the official MCP SDK client.

A token with the read and write scopes stores and finds text and submits a job that the
orchestrator records as its subject's (``mcp:<sub>``); a read-scope token finds but cannot
store; a request without a token is refused with the challenge that names the
protected-resource metadata, which the process serves."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import MCPError
from mcp_types import CallToolResult

from tests.mcp.server import KeyedStack, McpServer
from tests.support.idp import TestIdp, running_idp
from tests.support.mcp import session, text_of
from tests.support.procs import free_port

pytestmark = pytest.mark.integration
READ, WRITE = "shield:read", "shield:write"


@pytest.fixture(scope="module")
def stack_options() -> dict[str, Any]:
    return {"workers": 0, "lightrag": False}


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdp]:
    with running_idp() as started:
        yield started


@pytest.fixture(scope="module")
def server(stack: KeyedStack, root: Path, idp: TestIdp) -> Iterator[McpServer]:
    port = free_port()
    oauth = {
        "resource_url": f"http://127.0.0.1:{port}/mcp",
        "issuer": idp.issuer,
        "jwks_url": idp.jwks_url,
    }
    # The resource URL names the port, so the port is chosen first; no static token is set.
    mcp = McpServer(stack, root, port=port, auth_token=None, auth_mode="oauth", oauth=oauth)
    yield mcp.start()
    mcp.stop()


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def test_an_identity_provider_token_connects_and_calls_as_its_subject(
    server: McpServer, idp: TestIdp
) -> None:
    note = f"The Quillmere lighthouse has {uuid.uuid4().int % 900 + 100} steps."
    writer = idp.mint("carol", [READ, WRITE], aud=server.url)
    async with session(server.url, writer) as s:
        tools = {t.name for t in (await s.list_tools()).tools}
        assert {"qdrant_store", "ingest_doc", "qdrant_find", "get_job_status"} <= tools
        assert ok(await s.call_tool("qdrant_store", {"text": note}))["count"] == 1
        job = ok(await s.call_tool("ingest_doc", {"text": note, "title": "Quillmere"}))
        status = ok(await s.call_tool("get_job_status", {"job_id": job["job_id"]}))
    assert status["client"] == "mcp:carol"

    reader = idp.mint("dave", [READ], aud=server.url)
    async with session(server.url, reader) as s:
        assert "qdrant_store" not in {t.name for t in (await s.list_tools()).tools}
        found = ok(await s.call_tool("qdrant_find", {"query": "Quillmere lighthouse steps"}))
        with pytest.raises(MCPError, match=r"insufficient scope \(required: shield:write\)"):
            await s.call_tool("qdrant_store", {"text": "Dave was here."})
    assert any(hit["text"] == note for hit in found["results"])


def test_without_a_token_the_process_answers_401_pointing_at_its_metadata(
    server: McpServer, idp: TestIdp
) -> None:
    base = f"http://127.0.0.1:{server.port}"
    resp = httpx.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=5)
    assert resp.status_code == 401
    metadata_url = f"{base}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in resp.headers["www-authenticate"]
    metadata = httpx.get(metadata_url, timeout=5).json()
    assert metadata["resource"] == server.url
    assert metadata["authorization_servers"] == [idp.issuer]
    assert metadata["scopes_supported"] == [READ, WRITE]
