"""The MCP server as an OAuth 2.1 resource server (``mcp.auth_mode: oauth``): which identity
provider's access tokens it accepts and how their scopes map onto the tool scopes."""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, field_validator, model_validator

from shield_rag.settings.base import _Section

JwtAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]


def _loopback(url: AnyHttpUrl) -> bool:
    host = (url.host or "").strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class McpOAuthScopes(_Section):
    """The identity provider's scope names that grant the MCP server's tool scopes."""

    read: str = Field(
        "shield:read",
        pattern=r"^[^\s\"\\]+$",
        description="Scope that grants the search, query and job tools; every token needs it "
        "(without it: 403 insufficient_scope).",
    )
    write: str = Field(
        "shield:write",
        pattern=r"^[^\s\"\\]+$",
        description="Scope that also grants the tools that write (crawl_web, ingest_doc, "
        "qdrant_store, cancelling jobs); without it they are not listed and refused.",
    )

    @model_validator(mode="after")
    def _distinct(self) -> McpOAuthScopes:
        if self.read == self.write:
            raise ValueError("mcp.oauth.scopes.read and .write must be different scopes")
        return self


class McpOAuthSettings(_Section):
    """Access tokens (JWT) from the organisation's identity provider, checked against its
    published keys (JWKS); read when mcp.auth_mode is oauth."""

    resource_url: AnyHttpUrl | None = Field(
        None,
        description="The MCP endpoint's public URL as clients reach it (e.g. "
        "https://mcp.example.com/mcp): the resource named in the protected-resource metadata "
        "and the audience tokens must carry (unless audience says otherwise).",
    )
    issuer: str | None = Field(
        None,
        description="The identity provider's issuer, exactly as in its tokens' iss claim "
        "(e.g. https://sso.example.com/realms/shield).",
    )
    jwks_url: AnyHttpUrl | None = Field(
        None,
        description="URL of the identity provider's signing keys (JWKS), fetched on the first "
        "token, cached, and fetched again when a token names a key not yet seen (rotation); "
        "https unless on loopback.",
    )
    audience: list[str] = Field(
        default_factory=list,
        description="Audiences a token may carry (any one); empty: resource_url only, as the "
        "MCP authorization spec asks (RFC 8707 resource indicators).",
    )
    authorization_servers: list[AnyHttpUrl] = Field(
        default_factory=list,
        description="Authorization servers named in the protected-resource metadata, where "
        "clients get tokens; empty: the issuer.",
    )
    scopes: McpOAuthScopes = Field(
        default_factory=McpOAuthScopes,
        description="The identity provider's scope names for the read and write tool scopes.",
    )
    algorithm: JwtAlgorithm = Field(
        "RS256",
        description="The tokens' signing algorithm (RS256 is what Keycloak, Auth0, Entra ID "
        "and Okta sign access tokens with by default).",
    )
    subject_claim: str = Field(
        "sub",
        min_length=1,
        description="Claim whose value names the caller: its calls reach the orchestrator as "
        "client mcp:<value> (limited, accounted and budgeted as that client).",
    )
    clock_skew_seconds: int = Field(
        60,
        ge=0,
        le=600,
        description="Seconds a token's exp, nbf and iat may be off the MCP server's clock.",
    )
    jwks_cache_seconds: int = Field(
        3600,
        ge=60,
        description="Seconds the fetched signing keys are used before they are fetched again.",
    )
    jwks_refresh_seconds: float = Field(
        30.0,
        ge=0,
        description="Fewest seconds between two fetches for a key not in the cache, so tokens "
        "naming unknown keys cannot make the server hammer the identity provider.",
    )
    resource_name: str = Field(
        "Shield RAG", description="Name of the resource in the protected-resource metadata."
    )

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("mcp.oauth.issuer must not be blank")
        return value

    @field_validator("subject_claim")
    @classmethod
    def _subject(cls, value: str) -> str:
        if value in {"scope", "scp", "aud", "exp", "iat", "nbf", "iss"}:
            raise ValueError(f"mcp.oauth.subject_claim {value!r} does not name a caller")
        return value

    @model_validator(mode="after")
    def _https(self) -> McpOAuthSettings:
        for name in ("jwks_url", "resource_url"):
            url = getattr(self, name)
            if url is not None and url.scheme != "https" and not _loopback(url):
                raise ValueError(
                    f"mcp.oauth.{name} must be https (plain http only on loopback): {url}"
                )
        return self

    def problem(self, mcp_path: str) -> str | None:
        """Why these settings cannot serve oauth mode on ``mcp_path`` (None if they can)."""
        missing = [k for k in ("resource_url", "issuer", "jwks_url") if getattr(self, k) is None]
        if missing:
            return "mcp.auth_mode oauth needs mcp.oauth." + ", mcp.oauth.".join(missing)
        assert self.resource_url is not None
        path = urlsplit(str(self.resource_url)).path.rstrip("/") or "/"
        if path != mcp_path.rstrip("/"):
            return (
                f"mcp.oauth.resource_url {self.resource_url} must end with mcp.path "
                f"({mcp_path}): it is the URL clients connect to"
            )
        return None

    @property
    def base_url(self) -> str:
        """``resource_url`` without its path (where the well-known routes live)."""
        assert self.resource_url is not None
        parts = urlsplit(str(self.resource_url))
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def audiences(self) -> list[str]:
        return self.audience or [str(self.resource_url).rstrip("/")]

    @property
    def servers(self) -> list[AnyHttpUrl]:
        return self.authorization_servers or [AnyHttpUrl(str(self.issuer))]
