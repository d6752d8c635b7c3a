"""What an orchestrator call carries besides its body: which dependencies its route needs (the
breakers it must pass, :data:`ROUTE_NEEDS`), and who called the tool it runs for
(:data:`CALLER`, set by the tool-call middleware and sent as X-Shield-Client and
X-Shield-Scopes)."""

from __future__ import annotations

import contextvars
import functools
import re
from dataclasses import dataclass

from shield_rag.errors import Dependency

# What each orchestrator route needs besides the orchestrator itself.
NEEDS_JOBS: tuple[Dependency, ...] = ("redis",)  # /ingest-async, /jobs/{id}: the job store
NEEDS_VECTORS: tuple[Dependency, ...] = ("ollama", "qdrant")  # /search, /vectors: embed, store
NEEDS_LIGHTRAG: tuple[Dependency, ...] = ("lightrag",)  # /lightrag/query
ROUTE_NEEDS: dict[str, tuple[Dependency, ...]] = {
    "POST /ingest-async": NEEDS_JOBS,
    "GET /jobs/{id}": NEEDS_JOBS,
    "DELETE /jobs/{id}": NEEDS_JOBS,
    "POST /search": NEEDS_VECTORS,
    "POST /vectors": NEEDS_VECTORS,
    "POST /lightrag/query": NEEDS_LIGHTRAG,
    "POST /lightrag/query/stream": NEEDS_LIGHTRAG,
}


@dataclass(frozen=True, slots=True)
class McpCaller:
    """Who called a tool, as the orchestrator is told: ``client`` goes in X-Shield-Client (the
    client the call is limited, accounted and budgeted as), ``scopes`` (when the caller's
    token has any) in X-Shield-Scopes."""

    client: str
    scopes: str | None = None


# Who called the tool being run (set by the tool-call middleware).
CALLER: contextvars.ContextVar[McpCaller | None] = contextvars.ContextVar(
    "shield_caller", default=None
)
_CLIENT_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/-]+")


@functools.lru_cache(maxsize=1024)  # callers are few and named again on every call
def client_header(raw: str | None) -> str:
    """``mcp:<raw>`` reduced to ``^[A-Za-z0-9._:@/-]{1,64}$`` (``mcp:anonymous`` if empty)."""
    cleaned = _CLIENT_UNSAFE.sub("_", (raw or "").strip()).strip("_")
    return f"mcp:{cleaned or 'anonymous'}"[:64]
