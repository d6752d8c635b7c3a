"""The MCP server's JSON requests to the orchestrator over aiohttp.

Every tool call is one request to the orchestrator. Through httpx (httpcore's pool, h11's
parser, anyio streams) a request cost the MCP server about 1.4 ms of CPU on the stack's
machine, most of what the server itself added to a search; aiohttp's C parser does the same
in a fraction. The answer is handed on as an ``httpx.Response`` (status, headers, body), so
what reads it — refusals, breakers, tools — is unchanged; a successful answer that is only
read into a model is handed on as it was read (:class:`Reply`). Uploads (multipart) still go
through httpx: they are rare and large.

Connections are kept open between requests, at most :data:`MAX_CONNECTIONS`; idle ones are
dropped after :data:`shield_rag.jsonhttp.KEEPALIVE_SECONDS`, before uvicorn's keep-alive (5 s)
closes them under a request. :class:`shield_rag.jsonhttp.JsonHttp` does the sending (the
proxy read once, one attempt per request).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from shield_rag.jsonhttp import JsonHttp

MAX_CONNECTIONS = 100


class Reply:
    """An answer as read off the wire (status, headers, body); :meth:`response` makes the
    ``httpx.Response`` of it. Building that costs more than reading a search answer into its
    model (the headers normalised, the body streamed through httpx's decoders), so the calls
    that only need the status and the body read them here."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def response(self) -> httpx.Response:
        return httpx.Response(
            self.status_code, headers=list(self.headers.items()), content=self.content
        )


class FastHttp:
    """JSON requests to ``base_url`` with ``headers``; opened on first use (on the running
    loop), closed by :meth:`aclose`. ``timeout`` bounds the connect and each wait for data, as
    an httpx timeout does. Raises aiohttp's errors (``aiohttp.ClientError``, ``TimeoutError``)."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        headers: Mapping[str, str],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.http = JsonHttp(
            base_url,
            timeout,
            headers,
            json_headers=False,
            limit=MAX_CONNECTIONS,
            ssl_context=ssl_context,
        )

    async def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Reply:
        """``method`` ``path`` with ``json`` as the body (none when None); the answer read."""
        answer = await self.http.request(method, path, json, headers)
        return Reply(answer.status, answer.headers, answer.content)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Like :meth:`send`, the answer as an ``httpx.Response``."""
        return (await self.send(method, path, headers=headers, json=json)).response()

    async def aclose(self) -> None:
        await self.http.close()
