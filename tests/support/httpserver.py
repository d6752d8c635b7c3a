"""A minimal HTTP/1.1 server on 127.0.0.1 for client tests: it answers each request with what
``answer(method, path, body)`` gives, records the requests and counts connections.

``answer`` returns ``(status, headers, content)``; ``"close"`` closes the connection without
an answer; ``None`` never answers (the client's timeout is what the test is about).
:class:`JsonServer` reads request bodies as JSON and answers ``(status, payload)`` as JSON.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


class Server:
    def __init__(self, answer: Callable[..., Any]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.connections = 0

    def body(self, raw: bytes) -> Any:
        """A request body as recorded and passed to ``answer``."""
        return raw

    def reply(self, answer: Any) -> Answer:
        """What ``answer`` returned, as status, headers and content."""
        status, headers, content = answer
        return status, headers, content

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _unused = line.split(" ")
                pairs = (h.split(": ", 1) for h in lines if ": " in h)
                headers = {k.lower(): v for k, v in pairs}
                body = self.body(await reader.readexactly(int(headers.get("content-length", 0))))
                self.requests.append((method, path, headers, body))
                answer = self.answer(method, path, body)
                if answer == "close":
                    return  # closes the connection without an answer
                if answer is None:
                    await reader.read()  # until the client gives up
                    return
                status, extra, content = self.reply(answer)
                out = [f"HTTP/1.1 {status} X", f"content-length: {len(content)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + content)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class JsonServer(Server):
    def body(self, raw: bytes) -> Any:
        return json.loads(raw) if raw else None

    def reply(self, answer: Any) -> Answer:
        status, payload = answer
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return status, {"content-type": "application/json"}, data


@asynccontextmanager
async def serving(
    kind: type[Server] = Server, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Callable[..., Any]]:
    """``start(answer)`` → ``(server, url)``: servers of ``kind``, closed on exit; over
    https with ``tls`` (a server context, tests/support/tls.py)."""
    listeners: list[asyncio.Server] = []

    async def start(answer: Callable[..., Any]) -> tuple[Server, str]:
        server = kind(answer)
        listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
        listeners.append(listener)
        scheme = "https" if tls is not None else "http"
        return server, f"{scheme}://127.0.0.1:{listener.sockets[0].getsockname()[1]}"

    try:
        yield start
    finally:
        for listener in listeners:
            listener.close()
