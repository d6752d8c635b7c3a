"""A bare MCP client for section 1: JSON-RPC POSTed with httpx on a streamable HTTP session of
its own, without the MCP SDK.

Section 1 calls ``qdrant_find`` through the SDK's client and through this one, on the same
server: the difference is what the SDK's client costs per call (its transport, its
dispatcher, and the check of every result against the tool's output schema). The session
is the one the SDK opens: ``initialize`` (the SDK's protocol version), ``notifications/
initialized``, then requests carrying ``Mcp-Session-Id`` and ``Mcp-Protocol-Version``.
"""

from __future__ import annotations

import itertools
import json
from types import TracebackType
from typing import Any

import httpx

from tests.support.mcp import ACCEPT, initialize_request


class RawSession:
    """``async with RawSession(url, token) as s: await s.call_tool(name, arguments)``."""

    def __init__(self, url: str, token: str | None) -> None:
        headers = {"Accept": ACCEPT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url
        self.http = httpx.AsyncClient(headers=headers, timeout=30)
        self.ids = itertools.count(1)

    async def __aenter__(self) -> RawSession:
        try:
            init = await self.request(
                "initialize", initialize_request("shield-bench-raw")["params"]
            )
            self.http.headers["Mcp-Protocol-Version"] = init["protocolVersion"]
            sent = await self.http.post(
                self.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}
            )
            sent.raise_for_status()
        except BaseException:
            await self.http.aclose()
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if "Mcp-Session-Id" in self.http.headers:
                await self.http.delete(self.url)
        finally:
            await self.http.aclose()

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The result of one JSON-RPC request; an error answer raises RuntimeError."""
        body = {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}
        response = await self.http.post(self.url, json=body)
        response.raise_for_status()
        session_id = response.headers.get("mcp-session-id")
        if session_id:
            self.http.headers["Mcp-Session-Id"] = session_id
        message = _message(response)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        result: dict[str, Any] = message["result"]
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A successful tool result (a tool error raises RuntimeError)."""
        result = await self.request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            raise RuntimeError(f"{name} failed: {str(result.get('content'))[:300]}")
        return result


def _message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response in an ``application/json`` body or, in an SSE stream, the last
    event's data (a stream that carried notifications before the result)."""
    media = response.headers.get("content-type", "").split(";")[0].strip()
    if media == "text/event-stream":
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        found: dict[str, Any] = json.loads(data[-1])
        return found
    answer: dict[str, Any] = response.json()
    return answer
