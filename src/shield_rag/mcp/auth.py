"""Bearer-token authentication of the streamable HTTP transport.

One shared token (``mcp.auth_token``) is compared in constant time. FastMCP's auth layer
answers a request without it, or with another token, with 401 and ``WWW-Authenticate:
Bearer``. The stdio transport has no authentication: the client started the process.
"""

from __future__ import annotations

import hmac

from fastmcp.server.auth import AccessToken, TokenVerifier
from pydantic import SecretStr


class SharedTokenVerifier(TokenVerifier):
    """Accepts exactly one configured token."""

    def __init__(self, token: SecretStr) -> None:
        super().__init__()
        self._token = token.get_secret_value().encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if not token or not hmac.compare_digest(token.encode(), self._token):
            return None
        return AccessToken(token=token, client_id="shield-mcp-client", scopes=[])
