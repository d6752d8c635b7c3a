"""Bearer-token authentication of the streamable HTTP transport, with scopes.

Tokens are named in ``mcp.tokens``; the settings keep each one's SHA-256 only, so a request's
token is hashed and looked up. Each token has scopes (``read``: the search, query and job
tools; ``write``: the tools that write too) and names the orchestrator client its calls are
made as (its own name unless ``client`` says otherwise): the MCP server sends that name in
``X-Shield-Client`` and the token's scopes in ``X-Shield-Scopes`` with its own delegate key,
so the orchestrator limits, accounts and budgets each caller as that client. The single
``mcp.auth_token`` of earlier releases is one more token, with scopes read and write, whose
calls are named ``mcp:shield-mcp-client`` as before.

FastMCP's auth layer answers a request without a known token with 401 and ``WWW-Authenticate:
Bearer``; :func:`scope_middleware` hides the write tools from a read-only token and refuses
them (FastMCP's ``AuthMiddleware`` with ``restrict_tag``). The stdio transport has no
authentication: the client started the process.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.middleware import AuthMiddleware
from fastmcp.utilities.authorization import restrict_tag

from shield_rag.settings import McpSettings

LEGACY_CLIENT = "shield-mcp-client"
# Claim marking a token whose client name goes to the orchestrator as it is (no "mcp:").
NAMED = "shield_named_client"


@dataclass(frozen=True, slots=True)
class _Token:
    client: str
    scopes: tuple[str, ...]
    named: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ScopedTokenVerifier(TokenVerifier):
    """Accepts the tokens of ``mcp.tokens`` and ``mcp.auth_token``, each with its scopes."""

    def __init__(self, settings: McpSettings) -> None:
        super().__init__()
        self._tokens = {
            token.token_sha256: _Token(token.client or name, tuple(token.scopes), named=True)
            for name, token in settings.tokens.items()
        }
        if settings.auth_token is not None:
            legacy = _Token(LEGACY_CLIENT, ("read", "write"), named=False)
            self._tokens.setdefault(_digest(settings.auth_token.get_secret_value()), legacy)

    async def verify_token(self, token: str) -> AccessToken | None:
        found = self._tokens.get(_digest(token)) if token else None
        if found is None:
            return None
        return AccessToken(
            token=token,
            client_id=found.client,
            scopes=list(found.scopes),
            claims={NAMED: found.named},
        )


def verifier(settings: McpSettings) -> ScopedTokenVerifier | None:
    """The verifier of the HTTP transport, or None when no token is configured."""
    if settings.auth_token is None and not settings.tokens:
        return None
    return ScopedTokenVerifier(settings)


def scope_middleware() -> AuthMiddleware:
    """Write tools (tagged ``write``) need the ``write`` scope: not listed, and refused, for a
    token without it."""
    return AuthMiddleware(auth=restrict_tag("write", scopes=["write"]))
