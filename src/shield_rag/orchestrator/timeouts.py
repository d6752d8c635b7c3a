"""Slow clients cannot hold server slots: a header timeout and a body read timeout; and
request heads (line and headers) are bounded in size.

uvicorn (0.55) has neither: ``timeout_keep_alive`` only covers the idle time *between*
requests, so a client that opens a connection and sends half a request line, or headers
with a ``Content-Length`` it never fulfils, keeps a connection (and for the body, a running
request task) until it gives up. Two small pieces close that gap:

- :func:`header_timeout_protocol` subclasses uvicorn's httptools protocol: a timer armed when
  the connection is made and when a request's first byte arrives, cancelled when its headers
  are complete. When it fires the connection is closed (there is no request to answer yet).
  It is handed to uvicorn as its ``http`` protocol class in ``orchestrator/main.py``. It also
  refuses, with ``400 malformed_request``, a request whose line and headers exceed
  :data:`MAX_HEAD_BYTES`.
- :class:`BodyTimeoutMiddleware` wraps the ASGI ``receive``: while the request body is not
  complete, each wait for more body is bounded by ``body_timeout``. When it expires the app
  is told the client is gone (``http.disconnect``), whatever it answers is dropped, and the
  client gets ``408 request_timeout`` with ``Connection: close`` (uvicorn then closes the
  connection). Once the body is complete, ``receive`` is passed through untouched (event
  streams wait on it for the disconnect).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shield_rag.api.errors import ApiError, ErrorCode
from shield_rag.orchestrator.errors import render

# The request line and headers of one request, at most (nginx's default buffers hold 32 KiB):
# more is refused, as uvicorn itself sets no bound and keeps every header in memory.
MAX_HEAD_BYTES = 64 * 1024


class _HeadTooLarge(Exception):
    """Raised from a parser callback: httptools stops and uvicorn answers 400."""


class _HeaderTimeoutProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_too_large = False

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise _HeadTooLarge

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request its parser refuses, as an error body like every
        other answer (uvicorn's own is plain text)."""
        if self._head_too_large:
            self.logger.info("refusing a request whose headers exceed %d bytes", MAX_HEAD_BYTES)
            detail = (
                f"the request line and headers exceed {MAX_HEAD_BYTES} bytes; send fewer or "
                "shorter headers"
            )
        else:
            detail = (
                "the request is not valid HTTP/1.1: check its request line, its header names "
                "and values, and its Content-Length or Transfer-Encoding"
            )
        response = render(ApiError(ErrorCode.MALFORMED_REQUEST, detail))
        head = [b"HTTP/1.1 400 Bad Request"]
        head += [name + b": " + value for name, value in response.raw_headers]
        head.append(b"connection: close")
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + bytes(response.body))
        self.transport.close()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.logger.info("closing a connection whose request headers were not sent in time")
            self.transport.close()

    # As uvicorn's own: it needs an asyncio.Transport, narrower than BaseProtocol's.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()


def header_timeout_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing connections whose headers take over ``seconds``."""
    return type("HeaderTimeoutProtocol", (_HeaderTimeoutProtocol,), {"header_timeout": seconds})


class BodyTimeoutMiddleware:
    """Answer ``408 request_timeout`` when the request body stalls for ``body_timeout`` s."""

    def __init__(self, app: ASGIApp, body_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"body_done": False, "timed_out": False, "started": False}

        async def timed_receive() -> Message:
            if state["body_done"]:
                return await receive()
            if state["timed_out"]:
                return {"type": "http.disconnect"}
            try:
                # asyncio.timeout, not wait_for: no task of its own for every body chunk.
                async with asyncio.timeout(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                state["timed_out"] = True
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if state["timed_out"]:
                return  # the app's answer to a vanished client; the 408 replaces it
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not state["timed_out"]:
                raise
        if state["timed_out"] and not state["started"]:
            await _send_408(send, self.body_timeout)


async def _send_408(send: Send, seconds: float) -> None:
    response = render(
        ApiError(
            ErrorCode.REQUEST_TIMEOUT,
            f"the request body stalled: no bytes for {seconds:g} s "
            "(orchestrator.body_timeout_seconds); send the whole body at once, or a "
            "Content-Length that matches it",
            headers={"Connection": "close"},
        )
    )
    start = {"type": "http.response.start", "status": response.status_code}
    await send({**start, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})
