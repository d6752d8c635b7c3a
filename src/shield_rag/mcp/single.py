"""ASGI middleware of the streamable HTTP transport: a POST whose answer is only its result
gets that result as one ``application/json`` body instead of a one-event SSE stream.

The MCP SDK's stateful transport answers every JSON-RPC request POST with
``text/event-stream``, so a progress notification or a log message the tool sends can travel
on the request's own stream before its result. Most requests never send anything but their
result (``ping``, ``tools/list``, a tool call without a ``progressToken``...), and for those
the stream only costs: the SDK client parses SSE and closes the response once it has the
result, before the stream's end, so its HTTP connection cannot be reused and the next call
opens a new one.

The streamable HTTP spec lets the server answer a POST with either content type when the
client accepts both (it must, to reach the SSE transport). This middleware holds the SSE
response back until the first event: if the stream ends with that event being the JSON-RPC
response and nothing else, the client gets it as ``application/json`` (same status, same
``Mcp-Session-Id``); as soon as anything else shows up (a notification, a request to the
client, a resumability priming event, or the keep-alive comment the SSE response sends
after 15 silent seconds), the held stream goes out unchanged and the rest streams as
before. So every message the server sends still reaches the client, in order, as it did;
only the framing of a lone result changes. The decision is made on the wire (the SSE
framing and JSON-RPC, both specified), not on the SDK's internals.
"""

from __future__ import annotations

import functools
from typing import Any

import pydantic_core
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SSE = b"text/event-stream"
JSON = b"application/json"
# Headers of the held SSE response that do not belong on a JSON body.
DROPPED = frozenset(
    {b"content-type", b"content-length", b"transfer-encoding", b"cache-control", b"connection"}
    | {b"x-accel-buffering"}
)


class SingleResultAsJson:
    """Answers a POST whose SSE stream holds only the request's result with that result as
    ``application/json``; any other stream is sent unchanged (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        held = _HeldStream(send)
        try:
            await self.app(scope, receive, held.send)
        finally:
            # The app ended (or failed) with the stream still held: the client gets what it
            # would have got without this middleware.
            await held.release()


class _HeldStream:
    """The ``send`` of one POST: passes everything through, except an SSE response, which it
    holds until it knows whether the stream is a lone JSON-RPC response."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None  # the held http.response.start
        self._body = bytearray()

    async def send(self, message: Message) -> None:
        if self._start is None:
            if message["type"] == "http.response.start" and _is_sse(message):
                self._start = message
                return
            await self._send(message)
            return
        if message["type"] != "http.response.body":
            await self.release()
            await self._send(message)
            return
        self._body += message.get("body", b"")
        if not message.get("more_body", False):
            answer = lone_response(bytes(self._body))
            if answer is not None:
                start, self._start = self._start, None
                self._body.clear()
                await self._send(_json_start(start, len(answer)))
                await self._send({"type": "http.response.body", "body": answer})
                return
            await self.release(more_body=False)
            return
        if not _may_be_lone_response(bytes(self._body)):
            await self.release()

    async def release(self, *, more_body: bool = True) -> None:
        """Send the held SSE response as it is and stop holding."""
        if self._start is None:
            return
        start, self._start = self._start, None
        body = bytes(self._body)
        self._body.clear()
        await self._send(start)
        if body or not more_body:
            await self._send({"type": "http.response.body", "body": body, "more_body": more_body})


def _is_sse(start: Message) -> bool:
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == SSE)
    return False


def _json_start(start: Message, length: int) -> Message:
    headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() not in DROPPED]
    headers += [(b"content-type", JSON), (b"content-length", str(length).encode())]
    return {"type": "http.response.start", "status": start["status"], "headers": headers}


def _events(stream: bytes) -> tuple[list[tuple[bytes, ...]], bytes]:
    """The complete events of an SSE stream (their lines, up to a blank line; a blank line
    with no event before it dispatches nothing) and the rest. Lines end with CRLF, LF or CR,
    the three SSE line ends, which are the ones ``bytes.splitlines`` splits on: one pass in C
    over a result of tens of kilobytes, where a regular expression took a tenth of a
    millisecond per scan."""
    lines = stream.splitlines()
    tail = b"" if not lines or stream.endswith((b"\n", b"\r")) else lines.pop()
    events: list[tuple[bytes, ...]] = []
    start = 0
    for i, line in enumerate(lines):
        if not line:
            if i > start:
                events.append(tuple(lines[start:i]))
            start = i + 1
    return events, b"".join(lines[start:]) + tail


def _may_be_lone_response(stream: bytes) -> bool:
    """Whether a stream not yet ended can still turn out a lone JSON-RPC response."""
    events, _unused = _events(stream)
    if not events:
        return True
    return len(events) == 1 and _response_of(events[0]) is not None


def lone_response(stream: bytes) -> bytes | None:
    """The JSON-RPC response of a complete SSE stream made of that one event and nothing
    else (no comment, no other event, no event id or retry field), else None."""
    events, rest = _events(stream)
    if len(events) != 1 or rest.strip():
        return None
    return _response_of(events[0])


# Cached: the same event is judged while the stream is held and again when it ends. Its JSON
# is read by pydantic-core's parser, several times faster than the json module's.
@functools.lru_cache(maxsize=16)
def _response_of(event: tuple[bytes, ...]) -> bytes | None:
    """The data of an SSE event (its lines) that is a JSON-RPC response to a request (result
    or error with a non-null id), else None."""
    data: list[bytes] = []
    for line in event:
        name, _unused, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name != b"event" or value != b"message":
            return None  # a comment (keep-alive), an id, a retry, another event type
    payload = b"\n".join(data)
    try:
        message: Any = pydantic_core.from_json(payload)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    if message.get("id") is None or "method" in message:
        return None
    if ("result" in message) == ("error" in message):
        return None
    return payload
