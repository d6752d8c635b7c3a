"""A test-only identity provider: an issuer on 127.0.0.1 with its own RSA signing keys, which
publishes them as a JWKS and mints access tokens (JWT) the way Keycloak, Auth0 or Entra ID
do. It stands in for the operator's identity provider in the tests of ``mcp.auth_mode:
oauth``; the role never deploys it.

It serves its discovery documents (``<issuer>/.well-known/openid-configuration`` and RFC
8414's ``/.well-known/oauth-authorization-server<issuer path>``) and ``<issuer>/jwks``, and
counts the JWKS fetches. :meth:`TestIdp.rotate` adds a new signing key (published next to the
old one, as identity providers roll keys) and :meth:`TestIdp.retire` withdraws a key.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwk, jwt

ALG = "RS256"


class TestIdp:
    """The issuer ``http://127.0.0.1:<port>/realms/test`` (start it with :func:`running_idp`)."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.keys: dict[str, jwk.RSAKey] = {}
        self.signing = self.rotate()
        self.jwks_fetches = 0
        self.outage: int | None = None  # an HTTP status the JWKS route answers instead
        self._server: ThreadingHTTPServer | None = None
        self.port = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/realms/test"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def rotate(self) -> str:
        """Add a new signing key (the old ones stay published) and return its key id."""
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = jwk.RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig"})
        self.signing = kid
        return kid

    def retire(self, kid: str) -> None:
        """Stop publishing ``kid`` (tokens it signed no longer verify once keys are re-read)."""
        del self.keys[kid]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**k.as_dict(private=False), "alg": ALG} for k in self.keys.values()]}

    def mint(
        self,
        sub: str = "alice",
        scopes: list[str] | None = None,
        *,
        aud: str | list[str] | None,
        iss: str | None = None,
        expires_in: int = 300,
        kid: str | None = None,
        key: jwk.RSAKey | None = None,
        **claims: Any,
    ) -> str:
        """An access token for ``sub`` with ``scopes`` for audience ``aud``, signed with key
        ``kid`` (the current one by default) or with ``key`` (one this issuer never
        published)."""
        kid = kid or self.signing
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": iss or self.issuer,
            "sub": sub,
            "aud": aud,
            "iat": now,
            "exp": now + expires_in,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes or []),
            **claims,
        }
        signer = key or self.keys[kid]
        return jwt.encode({"alg": ALG, "kid": kid, "typ": "at+jwt"}, payload, signer, [ALG])

    def documents(self) -> dict[str, dict[str, Any]]:
        metadata = {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_url,
            "authorization_endpoint": f"{self.issuer}/auth",
            "token_endpoint": f"{self.issuer}/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": [ALG],
            "subject_types_supported": ["public"],
        }
        return {
            "/realms/test/.well-known/openid-configuration": metadata,
            "/.well-known/oauth-authorization-server/realms/test": metadata,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 200
                if self.path == "/realms/test/jwks":
                    idp.jwks_fetches += 1
                    body: dict[str, Any] | None = idp.jwks()
                    status = idp.outage or status
                else:
                    body = idp.documents().get(self.path)
                data = json.dumps(body or {"error": "not_found"}).encode()
                self.send_response(status if body else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def start(self) -> TestIdp:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def running_idp() -> Iterator[TestIdp]:
    idp = TestIdp().start()
    try:
        yield idp
    finally:
        idp.stop()
