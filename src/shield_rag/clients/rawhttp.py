"""JSON over HTTP/1.1 with aiohttp, for the calls on every search (embed, query points).

The ``ollama`` and ``qdrant-client`` libraries send through httpx, whose per-request cost in
Python (httpcore's connection pool, h11's parser, the anyio streams) measured about
0.8 ms of CPU per call on the stack's machine; aiohttp's C parser sends the same request
and reads the same answer in about 0.3 ms. Both libraries stay for every other call.

Connections are kept open between requests (idle ones dropped after
:data:`KEEPALIVE_SECONDS`, before the servers' own keep-alive closes them under a request),
with no cap on their number, as the httpx pools of the clients were. Proxies are taken
from the environment (``HTTP_PROXY``, ``NO_PROXY``), as httpx does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

KEEPALIVE_SECONDS = 4.0
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def dumps(body: Any) -> bytes:
    """A request body as compact JSON."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class JsonHttp:
    """An aiohttp session opened on first use (on the running loop) and closed by
    :meth:`close`. ``timeout`` bounds the connect and each wait for data, as an httpx
    timeout does. Raises aiohttp's errors (``aiohttp.ClientError``, ``TimeoutError``)."""

    def __init__(self, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=timeout, sock_read=timeout
        )
        self.headers = {**_JSON, **(headers or {})}
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=0, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector, headers=self.headers, timeout=self.timeout, trust_env=True
            )
        return session

    async def request(self, method: str, url: str, body: Any = None) -> Answer:
        data = None if body is None else dumps(body)
        async with self._open().request(method, url, data=data) as response:
            content = await response.read()
            return Answer(response.status, response.reason or "", response.headers, content)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
