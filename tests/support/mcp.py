"""The MCP client side of the tests: an MCP SDK session over streamable HTTP, the tool names a
token sees, the raw JSON-RPC ``initialize`` for tests that look at the HTTP answer itself, and
the text of a tool result (used by the MCP tests, the benchmarks, the demos and the Molecule
checks)."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx2
from mcp.client.session import ClientSession, LoggingFnT
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult
from mcp_types.version import LATEST_HANDSHAKE_VERSION

# What a streamable HTTP client accepts: a JSON answer or an SSE stream.
ACCEPT = "application/json, text/event-stream"


def initialize_request(client: str = "shield-tests", request_id: int = 1) -> dict[str, Any]:
    """The JSON-RPC ``initialize`` a client opens a session with (the SDK's protocol version)."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client, "version": "1"},
        },
    }


@contextlib.asynccontextmanager
async def session(
    url: str,
    token: str | None,
    statuses: list[int] | None = None,
    framing: list[tuple[str, str]] | None = None,
    logging_callback: LoggingFnT | None = None,
    verify: ssl.SSLContext | bool = True,
) -> AsyncIterator[ClientSession]:
    """An initialized MCP SDK session over streamable HTTP; ``statuses`` collects the HTTP
    status of every response the SDK receives, ``framing`` the JSON-RPC method and the
    media type of the answer of every request the SDK POSTs (``application/json`` or
    ``text/event-stream``); ``logging_callback`` gets the server's log notifications;
    ``verify`` is the TLS trust for an https URL (an SSL context to trust a private CA)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)
        if framing is not None and response.request.method == "POST":
            sent = json.loads(response.request.content)
            if isinstance(sent, dict) and "id" in sent and "method" in sent:
                media = response.headers.get("content-type", "").split(";")[0].strip()
                framing.append((sent["method"], media))

    async with (
        httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(30.0, read=300.0),
            event_hooks={"response": [record]},
            verify=verify,
        ) as http,
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(*streams, logging_callback=logging_callback) as s,
    ):
        await s.initialize()
        yield s


async def tool_names(url: str, token: str | None) -> set[str]:
    """The names of the tools a session with ``token`` lists."""
    async with session(url, token) as s:
        return {t.name for t in (await s.list_tools()).tools}


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def retry_after(result: CallToolResult) -> int:
    match = re.search(r"retry_after=(\d+)", text_of(result))
    assert match, f"no retry_after in {text_of(result)!r}"
    return int(match.group(1))
