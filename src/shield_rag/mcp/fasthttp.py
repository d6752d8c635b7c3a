"""The MCP server's JSON requests to the orchestrator over aiohttp.

Every tool call is one request to the orchestrator. Through httpx (httpcore's pool, h11's
parser, anyio streams) a request cost the MCP server about 1.4 ms of CPU on the stack's
machine, most of what the server itself added to a search; aiohttp's C parser does the same
in a fraction. The answer is handed on as an ``httpx.Response`` (status, headers, body), so
what reads it — refusals, breakers, tools — is unchanged. Uploads (multipart) still go
through httpx: they are rare and large.

Connections are kept open between requests, at most :data:`MAX_CONNECTIONS`; idle ones are
dropped after :data:`KEEPALIVE_SECONDS`, before uvicorn's keep-alive (5 s) closes them under a
request. The proxy named by the environment (``HTTP_PROXY``, ``NO_PROXY``) is read once, as
httpx reads it when its client is made; aiohttp's ``trust_env`` would read it (and
``~/.netrc``) in a worker thread on every request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import aiohttp
import httpx
import pydantic_core
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

MAX_CONNECTIONS = 100
KEEPALIVE_SECONDS = 4.0


class FastHttp:
    """JSON requests to ``base_url``; opened on first use (on the running loop), closed by
    :meth:`aclose`. ``timeout`` bounds the connect and each wait for data, as an httpx
    timeout does. Raises aiohttp's errors (``aiohttp.ClientError``, ``TimeoutError``)."""

    def __init__(self, base_url: str, timeout: float, headers: Mapping[str, str]) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=timeout, sock_read=timeout
        )
        self.proxy: URL | None = None
        self.proxy_auth: aiohttp.BasicAuth | None = None
        with contextlib.suppress(LookupError):
            self.proxy, self.proxy_auth = get_env_proxy_for_url(URL(self.base_url))
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_SECONDS
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector, headers=self.headers, timeout=self.timeout
            )
            # One attempt per request, as httpx makes: aiohttp would send a GET or DELETE again
            # when a kept-alive connection turns out closed (its only switch is private).
            session._retry_connection = False
        return session

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """``method`` ``path`` with ``json`` as the body (none when None); the answer read."""
        sent = dict(headers or {})
        data = None
        if json is not None:
            data = pydantic_core.to_json(json)
            sent["Content-Type"] = "application/json"
        async with self._open().request(
            method,
            self.base_url + path,
            data=data,
            headers=sent,
            proxy=self.proxy,
            proxy_auth=self.proxy_auth,
        ) as answer:
            content = await answer.read()
            return httpx.Response(
                answer.status,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers],
                content=content,
            )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
