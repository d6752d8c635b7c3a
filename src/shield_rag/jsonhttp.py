"""JSON over HTTP/1.1 with aiohttp, for the calls on every search: embed and query points
(clients), and the MCP server's requests to the orchestrator (mcp/fasthttp.py).

The ``ollama`` and ``qdrant-client`` libraries send through httpx, whose per-request cost in
Python (httpcore's connection pool, h11's parser, the anyio streams) measured about
0.8 ms of CPU per call on the stack's machine; aiohttp's C parser sends the same request
and reads the same answer in about 0.3 ms. Both libraries stay for every other call.

Connections are kept open between requests (idle ones dropped after
:data:`KEEPALIVE_SECONDS`, before the servers' own keep-alive closes them under a request),
with no cap on their number, as the httpx pools of the clients were. The proxy is taken
from the environment (``HTTP_PROXY``, ``NO_PROXY``) once, when the client is made, as httpx
does; aiohttp's own ``trust_env`` would read it (and ``~/.netrc``) again in a worker thread on
every request, two thread hops per call.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pydantic_core
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

KEEPALIVE_SECONDS = 4.0
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


# JSON through pydantic-core's encoder and parser (Rust): a vector of 384 floats takes
# ~17 µs each way where the json module takes ~150 µs to write it and ~110 µs to read it.
# Floats are written in their shortest round-trip form, as json.dumps writes them.
def dumps(body: Any) -> bytes:
    """A request body as compact JSON."""
    return pydantic_core.to_json(body)


def loads(content: bytes) -> Any:
    """A JSON answer; ``ValueError`` when it is not JSON."""
    return pydantic_core.from_json(content)


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> Any:
        return loads(self.content)


def env_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for ``url`` (and its credentials), or none."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None


class JsonHttp:
    """Requests to one server (``base_url``) over an aiohttp session opened on first use
    (on the running loop) and closed by :meth:`close`. ``timeout`` bounds the connect and
    each wait for data, as an httpx timeout does. Raises aiohttp's errors
    (``aiohttp.ClientError``, ``TimeoutError``)."""

    def __init__(
        self,
        base_url: str,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        *,
        json_headers: bool = True,
        limit: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.proxy, self.proxy_auth = env_proxy(self.base_url)
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=timeout, sock_read=timeout
        )
        # json_headers: every request says it sends and accepts JSON (else only one with a body)
        self.headers = {**(_JSON if json_headers else {}), **(headers or {})}
        self.limit = limit  # connections at most; 0: no cap
        # whom https servers are checked against (None: aiohttp's default, the system's CAs)
        self.ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limit,
                limit_per_host=0,
                keepalive_timeout=KEEPALIVE_SECONDS,
                ssl=self.ssl,
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
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """``method`` ``path`` (under ``base_url``) with ``body`` as JSON (none when None) and
        ``headers`` besides the client's; the answer read."""
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = dumps(body)
            sent.setdefault("Content-Type", "application/json")
        async with self._open().request(
            method,
            self.base_url + path,
            data=data,
            headers=sent,
            proxy=self.proxy,
            proxy_auth=self.proxy_auth,
        ) as response:
            content = await response.read()
            return Answer(response.status, response.reason or "", response.headers, content)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
