"""The MCP server in memory: built from settings that point at nothing (every data-plane URL
refuses), its orchestrator a scripted double behind ``httpx.MockTransport``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.middleware import Middleware

from shield_rag.mcp.server import ShieldMcp, create_server
from shield_rag.settings import Settings
from tests.support.asgi import ServedApp

# The sections every Settings needs; nothing listens on these addresses.
BASE: dict[str, dict[str, str]] = {
    "redis": {"url": "redis://127.0.0.1:1/0"},
    "qdrant": {"url": "http://127.0.0.1:1"},
    "ollama": {"url": "http://127.0.0.1:1"},
}


def memory_server(
    orchestrator: Callable[[httpx.Request], httpx.Response], **sections: Any
) -> ShieldMcp:
    """``create_server`` with ``sections`` (e.g. ``mcp={...}``, ``features={...}``) over
    :data:`BASE`, every request to the orchestrator answered by ``orchestrator``."""
    settings = Settings(**BASE, **sections)  # type: ignore[arg-type]
    return create_server(settings, transport=httpx.MockTransport(orchestrator))


class UvicornServed(ServedApp):
    """An MCP server's HTTP app under uvicorn in this process, on 127.0.0.1:``port``
    (``url`` is its MCP endpoint)."""

    def __init__(self, shield: ShieldMcp, middleware: list[Middleware], port: int) -> None:
        super().__init__(shield.server.http_app(path="/mcp", middleware=middleware), port=port)
        self.url = f"{self.base}/mcp"
