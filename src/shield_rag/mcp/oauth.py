"""``mcp.auth_mode: oauth``: the MCP server as an OAuth 2.1 resource server, as the MCP
authorization spec asks of a remote server.

FastMCP provides the pieces: :class:`JWTVerifier` fetches the identity provider's signing keys
(JWKS), caches them and fetches them again when a token names a key it has not seen (key
rotation), and :class:`RemoteAuthProvider` serves the protected-resource metadata (RFC 9728)
and answers a request without a valid token with 401 and ``WWW-Authenticate: Bearer
resource_metadata="..."``, a token without the required scope with 403 ``insufficient_scope``.

:class:`IdpTokenVerifier` adds what Shield needs on top:

- the claims are checked with joserfc's claims registry and the configured clock skew:
  ``iss``, ``aud`` (the server's resource URL), ``exp`` and the subject claim are required,
  ``nbf`` and ``iat`` honoured (JWTVerifier lets a token without ``exp`` through and allows
  no skew on it);
- the identity provider's scope names map to the tool scopes ``read`` and ``write`` (other
  scopes are dropped, so a token can never carry ``admin`` or ``delegate``), which
  :func:`shield_rag.mcp.auth.scope_middleware` then checks as for static tokens (write tools
  not listed); a call of a write tool without ``write`` is answered 403 with the spec's
  scope challenge by :class:`WriteScopeChallenge` before it reaches FastMCP;
- the subject becomes the caller: its calls reach the orchestrator as client ``mcp:<subject>``
  (never a named orchestrator client, whatever the token's claims say).

The JWKS URL comes from the operator's settings, not from a token or a client, so it is
fetched as FastMCP fetches operator-configured URLs (``ssrf_safe=False``, which allows an
identity provider on a private network); the settings require it to be https unless it is on
loopback, and the fetch trusts ``mcp.ca_bundle`` besides certifi's CAs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2
from fastmcp.server.auth import AccessToken, RemoteAuthProvider
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.utilities.auth import decode_jwt_header
from joserfc import jwk, jwt
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry
from mcp.server.auth.routes import build_resource_metadata_url
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shield_rag import tls
from shield_rag.mcp.auth import NAMED
from shield_rag.mcp.http import send_jsonrpc_error
from shield_rag.mcp.tools import WRITE_TOOLS
from shield_rag.settings import McpSettings
from shield_rag.settings.mcp_oauth import McpOAuthSettings

# The tool scopes an identity provider's token can be granted (never admin nor delegate).
TOOL_SCOPES = ("read", "write")


def _public_key(pem: str | bytes, algorithm: str) -> jwk.RSAKey | jwk.ECKey | jwk.OKPKey:
    if algorithm.startswith(("RS", "PS")):
        return jwk.import_key(pem, "RSA")
    if algorithm.startswith("ES"):
        return jwk.import_key(pem, "EC")
    return jwk.import_key(pem, "OKP")


class IdpUnavailable(Exception):
    """The identity provider's JWKS could not be fetched (no answer, or a 5xx): a token
    signed by a key not cached cannot be checked now. Answered 503, not 401, by
    :class:`IdpOutage`: the caller's token may be perfectly good."""


class IdpTokenVerifier(JWTVerifier):
    """JWT access tokens of one issuer, keys from its JWKS, scopes mapped to read/write."""

    def __init__(self, cfg: McpOAuthSettings, http_client: httpx2.AsyncClient) -> None:
        super().__init__(
            jwks_uri=str(cfg.jwks_url),
            issuer=cfg.issuer,
            audience=cfg.audiences,
            algorithm=cfg.algorithm,
            required_scopes=["read"],
            http_client=http_client,
            jwks_refresh_interval=cfg.jwks_refresh_seconds,
        )
        self._cache_ttl = cfg.jwks_cache_seconds
        self.cfg = cfg
        self._to_tool = {cfg.scopes.read: "read", cfg.scopes.write: "write"}
        self._to_idp = {v: k for k, v in self._to_tool.items()}
        self._claims = JWTClaimsRegistry(
            leeway=cfg.clock_skew_seconds,
            iss={"essential": True, "value": cfg.issuer or ""},
            aud={"essential": True, "values": cfg.audiences},
            exp={"essential": True},
        )
        self._claims.options[cfg.subject_claim] = {"essential": True}
        self._outage: str | None = None  # why the last JWKS fetch failed, if it did

    async def _fetch_jwks(self) -> dict[str, Any]:
        """The JWKS, or :class:`IdpUnavailable` when the identity provider does not answer
        or answers 5xx (a 4xx or a malformed set stays a refused token)."""
        try:
            jwks = await super()._fetch_jwks()
        except httpx2.TransportError as exc:
            self._outage = f"{type(exc).__name__}: {exc}".rstrip(": ")
        except httpx2.HTTPStatusError as exc:
            if exc.response.status_code < 500:
                raise
            self._outage = f"HTTP {exc.response.status_code}"
        else:
            self._outage = None
            return jwks
        raise IdpUnavailable(self._outage)

    async def _get_jwks_key(self, kid: str | None) -> str:
        """As :class:`JWTVerifier`, but while the last fetch of the JWKS found the identity
        provider down, a key that is not cached is :class:`IdpUnavailable`, not a refusal."""
        try:
            return await super()._get_jwks_key(kid)
        except ValueError:
            if self._outage is not None:
                raise IdpUnavailable(self._outage) from None
            raise

    @property
    def scopes_supported(self) -> list[str]:
        return [self.cfg.scopes.read, self.cfg.scopes.write]

    def get_challenge_scopes(self, required_scopes: list[str] | None = None) -> list[str]:
        """The identity provider's names of the tool scopes a challenge asks for."""
        wanted = self.required_scopes if required_scopes is None else required_scopes
        return [self._to_idp.get(s, s) for s in wanted]

    def tool_scopes(self, claims: dict[str, Any]) -> list[str]:
        """The tool scopes the token's ``scope`` (or ``scp``) grants, in a fixed order."""
        granted = {self._to_tool[s] for s in self._extract_scopes(claims) if s in self._to_tool}
        return [s for s in TOOL_SCOPES if s in granted]

    async def load_access_token(self, token: str) -> AccessToken | None:
        """The access token's caller and tool scopes, or None (401) when the token is not one
        of the issuer's, for this server, and current."""
        try:
            header = decode_jwt_header(token)
            if "crit" in header or header.get("alg") != self.algorithm:
                return None
            key = _public_key(await self._get_verification_key(token), self.algorithm)
            registry = JWSRegistry(algorithms=[self.algorithm], strict_check_header=False)
            claims = jwt.decode(token, key, algorithms=[self.algorithm], registry=registry).claims
            self._claims.validate(claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            self.logger.info("Bearer token refused: %s", exc)
            return None
        subject = claims[self.cfg.subject_claim]
        if not isinstance(subject, str | int) or not str(subject).strip():
            self.logger.info(
                "Bearer token refused: claim %s names no caller", self.cfg.subject_claim
            )
            return None
        scopes = self.tool_scopes(claims)
        if "read" not in scopes:
            self.logger.info(
                "Bearer token of %s lacks scope %s (has %s)",
                subject,
                self.cfg.scopes.read,
                " ".join(self._extract_scopes(claims)) or "none",
            )
        return AccessToken(
            token=token,
            client_id=str(subject),
            scopes=scopes,
            # The transport refuses a token past expires_at: the skew applies there too.
            expires_at=int(claims["exp"]) + self.cfg.clock_skew_seconds,
            subject=str(subject),
            claims={**claims, NAMED: False},
        )


# The largest request body read to find a write-tool call (the MCP SDK refuses more than 4 MiB).
_MAX_PEEK = 4 * 1024 * 1024 + 1


class WriteScopeChallenge:
    """ASGI middleware: a call of a write tool with a token without the write scope is
    answered as the MCP authorization spec asks (scope challenge handling): ``403`` with
    ``WWW-Authenticate: Bearer error="insufficient_scope", scope="<read> <write>",
    resource_metadata=...``, so an OAuth client can step up, and a JSON-RPC error body the MCP
    SDK surfaces as the call's error. Nothing reaches the tool, nor the orchestrator."""

    def __init__(self, app: ASGIApp, auth: IdpAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Without a valid token the transport answers 401 itself (scope["user"] unauthenticated).
        user, creds = scope.get("user"), scope.get("auth")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not getattr(user, "is_authenticated", False)
            or creds is None
            or "write" in creds.scopes
        ):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            size += len(message.get("body", b""))
            if not message.get("more_body") or size >= _MAX_PEEK:
                break
        body = b"".join(m.get("body", b"") for m in messages)
        call = _write_call(body) if size < _MAX_PEEK else None
        if call is not None:
            await self._refuse(send, *call)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, request_id: Any, tool: str) -> None:
        cfg = self.auth.verifier.cfg
        wanted = f"{cfg.scopes.read} {cfg.scopes.write}"
        message = (
            f"Authorization failed for tool '{tool}': insufficient scope "
            f"(required: {cfg.scopes.write})"
        )
        challenge = f'Bearer error="insufficient_scope", scope="{wanted}"'
        resource = self.auth._resource_url
        if resource is not None:
            challenge += f', resource_metadata="{build_resource_metadata_url(resource)}"'
        challenge += f', error_description="{message}"'
        await send_jsonrpc_error(
            send, 403, request_id, message, headers=[(b"www-authenticate", challenge.encode())]
        )


class IdpOutage:
    """ASGI middleware, outside FastMCP's bearer authentication: a request whose token
    cannot be checked because the identity provider is down (:class:`IdpUnavailable`) is
    answered ``503`` with ``Retry-After`` and a JSON-RPC error naming the identity provider,
    not ``401``: the token may be valid, and a 401 would send an OAuth client to sign in
    again for nothing. Logged once per outage, without the token."""

    def __init__(self, app: ASGIApp, auth: IdpAuth) -> None:
        self.app = app
        self.auth = auth
        self._logged_at = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except IdpUnavailable as exc:
            cfg = self.auth.verifier.cfg
            now = time.monotonic()
            if now - self._logged_at > cfg.jwks_refresh_seconds:
                self._logged_at = now
                self.auth.verifier.logger.warning(
                    "Identity provider unreachable (%s): %s", cfg.jwks_url, exc
                )
            retry = max(1, round(cfg.jwks_refresh_seconds))
            message = (
                f"The identity provider's signing keys ({cfg.jwks_url}) cannot be fetched "
                f"({exc}); the token cannot be checked now. Retry in {retry} s."
            )
            await send_jsonrpc_error(
                send,
                503,
                None,
                message,
                data={"dependency": "identity_provider"},
                headers=[(b"retry-after", str(retry).encode())],
            )


def _write_call(body: bytes) -> tuple[Any, str] | None:
    """The id and tool of a ``tools/call`` of a write tool in a JSON-RPC body, else None."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    for message in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            continue
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if name in WRITE_TOOLS:
            return message.get("id"), str(name)
    return None


class IdpAuth(RemoteAuthProvider):
    """The resource server: the verifier above plus the protected-resource metadata."""

    def __init__(self, cfg: McpOAuthSettings, ca_bundle: Path | None = None) -> None:
        self._verify = tls.client_context(ca_bundle)
        self.http = self._client()
        self.verifier = IdpTokenVerifier(cfg, self.http)
        super().__init__(
            token_verifier=self.verifier,
            authorization_servers=cfg.servers,
            base_url=cfg.base_url,
            scopes_supported=self.verifier.scopes_supported,
            resource_name=cfg.resource_name,
        )

    def get_routes(self, mcp_path: str | None = None) -> list[Route]:
        """The protected-resource metadata at RFC 9728's path for the resource
        (``/.well-known/oauth-protected-resource/mcp``), which the 401 challenges name, and
        at the root well-known path too, where clients that do not read the challenge look."""
        routes = super().get_routes(mcp_path)
        root = "/.well-known/oauth-protected-resource"
        for route in list(routes):
            if isinstance(route, Route) and route.path.startswith(root + "/"):
                routes.append(Route(root, endpoint=route.endpoint, methods=["GET", "OPTIONS"]))
        return routes

    def get_middleware(self) -> list[Any]:
        """The identity provider's outage answer, FastMCP's bearer authentication, then the
        write tools' scope challenge."""
        return [
            Middleware(IdpOutage, auth=self),
            *super().get_middleware(),
            Middleware(WriteScopeChallenge, auth=self),
        ]

    def _client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=httpx2.Timeout(10.0), verify=self._verify)

    def start(self) -> None:
        """Open the JWKS client again after :meth:`aclose` (a server's lifespan can run
        more than once)."""
        if self.http.is_closed:
            self.http = self.verifier._http_client = self._client()

    async def aclose(self) -> None:
        await self.http.aclose()


def oauth_provider(settings: McpSettings) -> IdpAuth:
    """The auth provider of ``mcp.auth_mode: oauth``."""
    return IdpAuth(settings.oauth, settings.ca_bundle)
