"""The MCP server (shield-mcp)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from shield_rag.settings.base import ListenAddress, _Section, check_secret
from shield_rag.settings.mcp_oauth import McpOAuthSettings
from shield_rag.settings.orchestrator import CLIENT_NAME_PATTERN
from shield_rag.settings.tls import ClientTlsSettings, ListenerTlsSettings

ToolScope = Literal["read", "write"]


def _is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class McpTokenSettings(_Section):
    """One bearer token MCP clients may send: its SHA-256, its scopes and the orchestrator
    client it acts as."""

    token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="SHA-256 of the token, in lower-case hex (the token itself is never "
        "written to the settings).",
    )
    scopes: list[ToolScope] = Field(
        ["read", "write"],
        min_length=1,
        description="read: the search, query and job tools only (write tools are not listed "
        "and refused); write: also crawl_web, ingest_doc, qdrant_store and cancelling jobs.",
    )
    client: str | None = Field(
        None,
        pattern=CLIENT_NAME_PATTERN,
        description="The orchestrator client this token's calls are made, limited and "
        "accounted as (sent as X-Shield-Client by the MCP server's delegate key); null: the "
        "token's own name.",
    )


class McpSettings(ClientTlsSettings, ListenerTlsSettings):
    """The MCP server (shield-mcp): listen address, auth, orchestrator client, breaker."""

    transport: Literal["http", "stdio"] = Field(
        "http",
        description="How MCP clients connect: http (streamable HTTP, for deployments) or stdio "
        "(a desktop client starts the server itself); shield-mcp --transport overrides it.",
    )
    host: ListenAddress = Field(
        "127.0.0.1",
        description="Address the streamable HTTP transport listens on; any address other than "
        "loopback requires mcp.auth_token, named tokens or auth_mode oauth.",
    )
    port: int = Field(8601, ge=1, le=65535, description="Port of the streamable HTTP transport.")
    path: str = Field(
        "/mcp",
        pattern=r"^/[A-Za-z0-9/_.-]*$",
        description="URL path of the streamable HTTP endpoint (clients connect to "
        "http://host:port/mcp by default).",
    )
    metrics_host: ListenAddress = Field(
        "127.0.0.1", description="Address the Prometheus /metrics endpoint listens on."
    )
    metrics_port: int = Field(
        9611,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics endpoint; 0 disables it (for example for "
        "a desktop client running the stdio transport).",
    )
    orchestrator_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8600"),
        description="Base URL of the orchestrator API every tool calls.",
    )
    orchestrator_api_key: SecretStr | None = Field(
        None,
        description="Key sent to the orchestrator as 'Authorization: Bearer'; null uses "
        "orchestrator.api_key from the same file, so one value can serve both ends.",
    )
    auth_mode: Literal["static", "oauth"] = Field(
        "static",
        description="How HTTP clients authenticate: static (the bearer tokens of auth_token "
        "and tokens) or oauth (access tokens from the organisation's identity provider, see "
        "mcp.oauth; the MCP authorization spec, for remote connectors).",
    )
    auth_token: SecretStr | None = Field(
        None,
        description="Bearer token MCP clients must send over HTTP (401 without it); required "
        "when mcp.host is not loopback, best passed as SHIELD_MCP__AUTH_TOKEN from a vault.",
    )
    tokens: dict[str, McpTokenSettings] = Field(
        default_factory=dict,
        description="Named bearer tokens, each with its SHA-256, scopes and orchestrator "
        "client; with auth_token set too, that token is one more, with scopes read and write.",
    )
    oauth: McpOAuthSettings = Field(
        default_factory=McpOAuthSettings,
        description="The identity provider whose access tokens are accepted when auth_mode is "
        "oauth (issuer, JWKS, audience, scope names).",
    )
    request_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds allowed for one orchestrator request before it counts as a "
        "failure of the circuit breaker.",
    )
    breaker_failure_threshold: int = Field(
        5,
        ge=1,
        le=1000,
        description="Consecutive failures of one target that open its circuit breaker: the "
        "orchestrator itself (timeouts, connection errors, 5xx answers) or a dependency the "
        "orchestrator names as failing (qdrant, ollama, lightrag, redis); only the tools that "
        "need that target then fail fast.",
    )
    breaker_reset_seconds: float = Field(
        60.0,
        gt=0,
        description="Seconds an open circuit breaker rejects calls before it lets one probe "
        "request through (half-open).",
    )
    read_only: bool = Field(
        False,
        description="Whether to hide the tools that write (crawl_web, ingest_doc, "
        "qdrant_store) and leave only the search, query and job tools.",
    )
    wait_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds between two job status reads while wait_for_job waits.",
    )
    max_wait_seconds: float = Field(
        900.0,
        gt=0,
        description="Longest wait_for_job may wait in one call; a client asking for more "
        "gets this.",
    )
    file_roots: list[Path] = Field(
        default_factory=list,
        description="Directories ingest_doc may read a file_path from (symlinks resolved); "
        "empty disables file paths, so agents send inline content or a URL instead.",
    )
    max_file_bytes: int = Field(
        25 * 1024 * 1024,
        ge=1024,
        description="Largest file or inline document ingest_doc sends to the orchestrator.",
    )

    _check_token = field_validator("auth_token")(
        classmethod(lambda cls, v: check_secret(v, "mcp.auth_token"))
    )
    _check_key = field_validator("orchestrator_api_key")(
        classmethod(lambda cls, v: check_secret(v, "mcp.orchestrator_api_key"))
    )

    def auth_problem(self, transport: str) -> str | None:
        """Why serving ``transport`` with these settings would be unsafe (None if it is not)."""
        if self.auth_mode == "oauth":
            return None
        authenticated = self.auth_token is not None or bool(self.tokens)
        if transport == "http" and not authenticated and not _is_loopback_host(self.host):
            return (
                f"auth_token is required when the HTTP transport listens on {self.host!r} "
                "(not loopback): set SHIELD_MCP__AUTH_TOKEN or name tokens (mcp.tokens), or "
                "listen on 127.0.0.1"
            )
        return None

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, value: dict[str, McpTokenSettings]) -> dict[str, McpTokenSettings]:
        seen: dict[str, str] = {}
        for name, token in value.items():
            if not re.fullmatch(CLIENT_NAME_PATTERN, name):
                raise ValueError(
                    f"token name {name!r} must be 1 to 64 letters, digits or ._:@/- characters"
                )
            if token.token_sha256 in seen:
                raise ValueError(f"tokens {seen[token.token_sha256]!r} and {name!r} are the same")
            seen[token.token_sha256] = name
        return value

    @model_validator(mode="after")
    def _safe(self) -> McpSettings:
        problem = self.auth_problem(self.transport)
        if problem:
            raise ValueError(problem)
        if self.auth_mode == "oauth":
            if self.auth_token is not None or self.tokens:
                raise ValueError(
                    "mcp.auth_mode oauth accepts the identity provider's tokens only: remove "
                    "mcp.auth_token and mcp.tokens (or set mcp.auth_mode: static)"
                )
            problem = self.oauth.problem(self.path)
            if problem:
                raise ValueError(problem)
        if self.metrics_port and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port")
        return self
