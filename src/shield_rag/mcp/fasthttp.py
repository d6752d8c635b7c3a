"""The MCP server's JSON requests to the orchestrator over aiohttp.

Every tool call is one request to the orchestrator. Through httpx (httpcore's pool, h11's
parser, anyio streams) a request cost the MCP server about 1.4 ms of CPU on the stack's
machine, most of what the server itself added to a search; aiohttp's C parser does the same
in a fraction. The answer is handed on as an ``httpx.Response`` (status, headers, body), so
what reads it — refusals, breakers, tools — is unchanged. Uploads (multipart) still go
through httpx: they are rare and large.

Connections are kept open between requests, at most :data:`MAX_CONNECTIONS`; idle ones are
dropped after :data:`shield_rag.jsonhttp.KEEPALIVE_SECONDS`, before uvicorn's keep-alive (5 s)
closes them under a request. :class:`shield_rag.jsonhttp.JsonHttp` does the sending (the
proxy read once, one attempt per request).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from shield_rag.jsonhttp import JsonHttp

MAX_CONNECTIONS = 100


class FastHttp:
    """JSON requests to ``base_url`` with ``headers``; opened on first use (on the running
    loop), closed by :meth:`aclose`. ``timeout`` bounds the connect and each wait for data, as
    an httpx timeout does. Raises aiohttp's errors (``aiohttp.ClientError``, ``TimeoutError``)."""

    def __init__(self, base_url: str, timeout: float, headers: Mapping[str, str]) -> None:
        self.http = JsonHttp(base_url, timeout, headers, json_headers=False, limit=MAX_CONNECTIONS)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """``method`` ``path`` with ``json`` as the body (none when None); the answer read."""
        answer = await self.http.request(method, path, json, headers)
        return httpx.Response(
            answer.status, headers=list(answer.headers.items()), content=answer.content
        )

    async def aclose(self) -> None:
        await self.http.close()
