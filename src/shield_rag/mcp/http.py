"""ASGI middleware of the streamable HTTP transport: oversized requests get a reason.

The MCP SDK's transport refuses a request body over ``max_request_body_size`` (by default
:data:`mcp.server.transport_security.DEFAULT_MAX_REQUEST_BODY_SIZE`, 4 MiB) with a plain-text
``413 Request body too large``. The SDK's client only shows "Server returned an error
response" for a non-2xx answer that is not a JSON-RPC error, so the agent never learns why.
This middleware turns that 413 into a JSON-RPC error naming the limit (``id`` null: the
body was not read; the client matches it to its request), which the SDK client shows as is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from mcp_types.jsonrpc import INVALID_REQUEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_REQUEST_BODY_BYTES = DEFAULT_MAX_REQUEST_BODY_SIZE


def too_large_message(limit: int = MAX_REQUEST_BODY_BYTES) -> str:
    return (
        f"Request body too large: the MCP server accepts at most {limit} bytes "
        f"({limit / 1048576:g} MiB) per request. Send less per call: split a batch, or give "
        "a document by url or file_path instead of inline content."
    )


async def send_jsonrpc_error(
    send: Send,
    status: int,
    request_id: Any,
    message: str,
    *,
    data: dict[str, Any] | None = None,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answers an HTTP request with ``status`` and a JSON-RPC error body (code
    ``INVALID_REQUEST``), the form the MCP SDK's client shows to its caller as is."""
    error: dict[str, Any] = {"code": INVALID_REQUEST, "message": message}
    if data is not None:
        error["data"] = data
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ExplainTooLarge:
    """Rewrites the transport's plain 413 answer into a JSON-RPC error with its reason."""

    def __init__(self, app: ASGIApp, limit: int = MAX_REQUEST_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def send_wrapper(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                await send_jsonrpc_error(
                    send,
                    413,
                    None,
                    too_large_message(self.limit),
                    data={"max_request_body_bytes": self.limit},
                )
                return
            if replaced:
                return  # the transport's own plain-text body
            await send(message)

        await self.app(scope, receive, send_wrapper)
