"""SingleResultAsJson on the ASGI messages: which SSE streams become one JSON body, and that
every other answer reaches the client byte for byte as the app sent it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from shield_rag.mcp.single import SingleResultAsJson, lone_response

SID = b"0123456789abcdef"
SSE_HEADERS = [
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"mcp-session-id", SID),
    (b"x-accel-buffering", b"no"),
]
RESULT = {"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": "é ok"}]}}
ERROR = {"jsonrpc": "2.0", "id": "7", "error": {"code": -32602, "message": "bad"}}
PROGRESS = {
    "jsonrpc": "2.0",
    "method": "notifications/progress",
    "params": {"progressToken": 1, "progress": 0.5},
}


def event(message: dict[str, Any], *, sep: bytes = b"\r\n", extra: bytes = b"") -> bytes:
    data = json.dumps(message, ensure_ascii=False).encode()
    return b"event: message" + sep + extra + b"data: " + data + sep + sep


def start(headers: list[tuple[bytes, bytes]] | None = None, status: int = 200) -> Message:
    headers = SSE_HEADERS if headers is None else headers
    return {"type": "http.response.start", "status": status, "headers": headers}


def body(chunk: bytes, more: bool = True) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


def sse_app(*chunks: bytes) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An app that answers like sse-starlette: the start, one chunk per event, an empty end."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        for chunk in chunks:
            await send(body(chunk))
        await send(body(b"", more=False))

    return app


async def run(app: Any, method: str = "POST") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the middleware must not read the request")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/mcp", "headers": []}
    await SingleResultAsJson(app)(scope, receive, send)
    return sent


def headers_of(message: Message) -> dict[bytes, bytes]:
    return dict(message["headers"])


@pytest.mark.parametrize("answer", [RESULT, ERROR], ids=["result", "error"])
async def test_a_lone_response_is_sent_as_json_with_the_same_bytes(answer: dict[str, Any]) -> None:
    sent = await run(sse_app(event(answer)))
    assert len(sent) == 2
    head, payload = sent
    assert head["status"] == 200
    headers = headers_of(head)
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"mcp-session-id"] == SID
    assert int(headers[b"content-length"]) == len(payload["body"])
    for gone in (b"cache-control", b"connection", b"x-accel-buffering"):
        assert gone not in headers
    assert payload["body"] == json.dumps(answer, ensure_ascii=False).encode()
    assert not payload.get("more_body", False)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param((event(PROGRESS), event(RESULT)), id="progress-then-result"),
        pytest.param((b": ping - 2026-01-01\r\n\r\n", event(RESULT)), id="keep-alive-first"),
        pytest.param((b"id: s1/0\r\ndata: \r\n\r\n", event(RESULT)), id="priming-event"),
        pytest.param((event(RESULT, extra=b"id: s1/1\r\n"),), id="result-with-event-id"),
        pytest.param((event({**PROGRESS, "id": 9}),), id="request-to-the-client"),
        pytest.param((event({**ERROR, "id": None}),), id="null-id"),
        pytest.param((b"event: message\r\ndata: {not json\r\n\r\n",), id="not-json"),
        pytest.param((event(RESULT) + event(PROGRESS),), id="two-events-in-one-chunk"),
        pytest.param((event(RESULT)[:-2],), id="unterminated-event"),
        pytest.param((event(RESULT) + b"data: {}",), id="result-then-a-partial-event"),
        pytest.param((event(RESULT, sep=b"\n") + b"data: {}\r",), id="result-then-an-open-event"),
        pytest.param((), id="empty-stream"),
    ],
)
async def test_any_other_stream_is_sent_unchanged(chunks: tuple[bytes, ...]) -> None:
    sent = await run(sse_app(*chunks))
    assert sent[0] == start()
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"".join(chunks)
    assert all(m["type"] == "http.response.body" for m in sent[1:])
    assert sent[-1].get("more_body") is False


async def test_the_stream_is_released_at_the_first_event_that_is_not_the_result() -> None:
    """A notification reaches the client when it is sent, not when the call ends."""
    downstream: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        await send(body(event(PROGRESS)))
        # Before the app goes on, the client has the start and the notification.
        assert downstream == [start(), body(event(PROGRESS))]
        await send(body(event(RESULT)))
        assert downstream[-1] == body(event(RESULT))
        await send(body(b"", more=False))

    async def receive() -> Message:
        raise AssertionError("not read")

    async def send(message: Message) -> None:
        downstream.append(message)

    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": []}
    await SingleResultAsJson(app)(scope, receive, send)
    assert downstream[-1] == body(b"", more=False)


@pytest.mark.parametrize("sep", [b"\n", b"\r"], ids=["lf", "cr"])
async def test_events_framed_with_other_line_ends_are_understood(sep: bytes) -> None:
    sent = await run(sse_app(event(RESULT, sep=sep)))
    assert headers_of(sent[0])[b"content-type"] == b"application/json"
    assert json.loads(sent[1]["body"]) == RESULT


async def test_a_result_split_over_chunks_is_still_one_json_body() -> None:
    whole = event(RESULT)
    sent = await run(sse_app(whole[:5], whole[5:20], whole[20:]))
    assert headers_of(sent[0])[b"content-type"] == b"application/json"
    assert json.loads(sent[1]["body"]) == RESULT


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_other_methods_pass_through(method: str) -> None:
    app = sse_app(event(RESULT))
    assert await run(app, method) == [start(), body(event(RESULT)), body(b"", more=False)]


@pytest.mark.parametrize("status", [202, 400, 401, 404, 413])
async def test_non_sse_answers_pass_through(status: int) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(headers, status))
        await send({"type": "http.response.body", "body": b"{}"})

    assert await run(app) == [start(headers, status), {"type": "http.response.body", "body": b"{}"}]


async def test_an_app_failing_mid_stream_releases_what_it_sent() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start())
        await send(body(event(RESULT)[:10]))
        raise RuntimeError("boom")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        raise AssertionError("not read")

    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": []}
    with pytest.raises(RuntimeError, match="boom"):
        await SingleResultAsJson(app)(scope, receive, send)
    assert sent == [start(), body(event(RESULT)[:10])]


def test_lone_response_reads_multi_line_data() -> None:
    stream = b'data: {"jsonrpc": "2.0",\ndata:  "id": 1, "result": {}}\n\n'
    assert json.loads(lone_response(stream) or b"") == {"jsonrpc": "2.0", "id": 1, "result": {}}
