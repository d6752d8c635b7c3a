"""``mcp.auth_mode: oauth``: the MCP server as an OAuth 2.1 resource server, served in process
over HTTP, with access tokens minted by a test-only identity provider (its own keys and JWKS
on 127.0.0.1) and the official MCP SDK client; the orchestrator is a recording double.

Valid, expired, wrong-audience, wrong-issuer and foreign-key tokens, key rotation, the scope
mapping (a read-scope token neither sees nor calls the write tools; a token without the read
scope is 403), the 401 challenge naming the protected-resource metadata, the metadata itself,
and the settings that refuse an unsafe or incomplete oauth configuration."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from joserfc import jwk
from mcp import MCPError
from pydantic import ValidationError

from shield_rag.mcp.main import http_middleware
from shield_rag.mcp.server import create_server
from shield_rag.mcp.tools import READ_TOOLS, WRITE_TOOLS
from shield_rag.settings import Settings
from tests.mcp.memory import BASE, UvicornServed
from tests.support.idp import TestIdp, running_idp
from tests.support.mcp import ACCEPT, initialize_request, session, tool_names
from tests.support.procs import free_port

READ, WRITE = "shield:read", "shield:write"
HIT = {"id": "p1", "score": 0.9, "text": "The ferry carries 340 bicycles.", "source": "s"}


class Orchestrator:
    """Answers search and store, and records each call's path, client and scopes."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/features":
            return httpx.Response(200, json={"features": []})
        headers = request.headers
        self.seen.append(
            (request.url.path, headers.get("x-shield-client"), headers.get("x-shield-scopes"))
        )
        if request.url.path == "/search":
            return httpx.Response(200, json={"results": [HIT], "limit": 1, "offset": 0})
        return httpx.Response(200, json={"ids": ["p2"], "count": 1, "collection": "c"})


class Served(UvicornServed):
    """``shield-mcp``'s HTTP app under uvicorn in this process, in oauth mode."""

    def __init__(self, idp: TestIdp, jwks_url: str | None = None) -> None:
        self.idp = idp
        self.orchestrator = Orchestrator()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/mcp"
        oauth = {
            "resource_url": self.url,
            "issuer": idp.issuer,
            "jwks_url": jwks_url or idp.jwks_url,
            "jwks_refresh_seconds": 0,
            "clock_skew_seconds": 60,
        }
        settings = Settings(**BASE, mcp={"auth_mode": "oauth", "oauth": oauth})  # type: ignore[arg-type]
        shield = create_server(settings, transport=httpx.MockTransport(self.orchestrator))
        super().__init__(shield, http_middleware(), port)

    def token(self, scopes: list[str], **kwargs: Any) -> str:
        return self.idp.mint(kwargs.pop("sub", "alice"), scopes, aud=self.url, **kwargs)

    async def rpc(self, token: str | None, body: dict[str, Any]) -> httpx.Response:
        """One raw JSON-RPC request, to look at the HTTP answer itself."""
        headers = {"Accept": ACCEPT}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient() as http:
            return await http.post(self.url, json=body, headers=headers)

    async def post(self, token: str | None) -> httpx.Response:
        """One raw JSON-RPC initialize."""
        return await self.rpc(token, initialize_request("raw"))


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIdp]:
    with running_idp() as started:
        yield started


@pytest_asyncio.fixture(loop_scope="function")
async def served(idp: TestIdp) -> AsyncIterator[Served]:
    async with Served(idp) as started:
        yield started


def _challenge(resp: httpx.Response) -> str:
    return resp.headers.get("www-authenticate", "")


# -- tokens that are accepted -----------------------------------------------------------------


async def test_a_read_and_write_token_lists_every_tool_and_calls_as_its_subject(
    served: Served,
) -> None:
    token = served.token([READ, WRITE, "openid", "profile"], sub="alice@example.com")
    assert await tool_names(served.url, token) == set(READ_TOOLS | WRITE_TOOLS)
    async with session(served.url, token) as s:
        found = await s.call_tool("qdrant_find", {"query": "ferry", "limit": 1})
        stored = await s.call_tool("qdrant_store", {"text": "a note"})
    assert not found.is_error and not stored.is_error
    assert served.orchestrator.seen == [
        ("/search", "mcp:alice@example.com", "read write"),
        ("/vectors", "mcp:alice@example.com", "read write"),
    ]


def _write_args(tool: str) -> dict[str, Any]:
    return {"url": "http://127.0.0.1:1/"} if tool == "crawl_web" else {"text": "a note"}


async def test_a_read_token_neither_lists_nor_calls_the_write_tools(served: Served) -> None:
    token = served.token([READ], sub="bob")
    assert await tool_names(served.url, token) == set(READ_TOOLS)
    statuses: list[int] = []
    async with session(served.url, token, statuses) as s:
        for tool in sorted(WRITE_TOOLS):
            with pytest.raises(MCPError) as refused:
                await s.call_tool(tool, _write_args(tool))
            assert str(refused.value) == (
                f"Authorization failed for tool '{tool}': insufficient scope (required: {WRITE})"
            )
        found = await s.call_tool("qdrant_find", {"query": "ferry", "limit": 1})
    assert not found.is_error  # the session goes on after the refusals
    assert statuses.count(403) == len(WRITE_TOOLS)
    assert served.orchestrator.seen == [("/search", "mcp:bob", "read")]


async def test_a_write_tool_call_without_the_write_scope_is_403_with_a_step_up_challenge(
    served: Served,
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "qdrant_store", "arguments": {"text": "a note"}},
    }
    resp = await served.rpc(served.token([READ]), call)
    assert resp.status_code == 403
    metadata = f"{served.base}/.well-known/oauth-protected-resource/mcp"
    assert _challenge(resp).startswith(
        f'Bearer error="insufficient_scope", scope="{READ} {WRITE}", resource_metadata="{metadata}"'
    )
    assert resp.json()["id"] == 7 and resp.json()["error"]["code"] == -32600
    # Without a token, or with one not for this server, the same call is 401, not 403.
    for token in (None, served.idp.mint("bob", [READ], aud="https://other.example.com/mcp")):
        assert (await served.rpc(token, call)).status_code == 401
    assert served.orchestrator.seen == []


async def test_a_subject_never_becomes_a_named_client_nor_gets_other_scopes(
    served: Served,
) -> None:
    # Claims that would name an orchestrator client, and scopes Shield uses elsewhere, count
    # for nothing: the caller is mcp:<sub> with the mapped tool scopes only.
    token = served.token(
        [READ, "admin", "delegate", "write"], sub="admin", shield_named_client=True
    )
    async with session(served.url, token) as s:
        await s.call_tool("qdrant_find", {"query": "ferry", "limit": 1})
    assert served.orchestrator.seen == [("/search", "mcp:admin", "read")]


async def test_a_token_expired_within_the_clock_skew_is_accepted(served: Served) -> None:
    assert await tool_names(served.url, served.token([READ], expires_in=-20)) == set(READ_TOOLS)


# -- tokens that are refused (401) ------------------------------------------------------------


async def test_no_token_is_401_with_a_challenge_naming_the_resource_metadata(
    served: Served,
) -> None:
    resp = await served.post(None)
    assert resp.status_code == 401
    metadata = f"{served.base}/.well-known/oauth-protected-resource/mcp"
    assert _challenge(resp) == f'Bearer scope="{READ}", resource_metadata="{metadata}"'


@pytest.mark.parametrize(
    "case",
    ["expired", "wrong_audience", "wrong_issuer", "foreign_key", "no_expiry", "unsigned"],
)
async def test_a_token_not_for_this_server_is_401_invalid_token(served: Served, case: str) -> None:
    idp = served.idp
    if case == "expired":
        token = served.token([READ, WRITE], expires_in=-120)  # beyond the 60 s skew
    elif case == "wrong_audience":
        token = idp.mint("alice", [READ, WRITE], aud="https://other.example.com/mcp")
    elif case == "wrong_issuer":
        token = served.token([READ, WRITE], iss="https://sso.example.com/realms/other")
    elif case == "foreign_key":  # the current key id, but a key the issuer never published
        foreign = jwk.RSAKey.generate_key(2048, parameters={"kid": idp.signing})
        token = served.token([READ, WRITE], key=foreign)
    elif case == "no_expiry":
        token = served.token([READ, WRITE], exp=None)
    else:
        head, payload, _signature = served.token([READ, WRITE]).split(".")
        token = f"{head}.{payload}."
    resp = await served.post(token)
    assert resp.status_code == 401
    assert _challenge(resp).startswith('Bearer error="invalid_token"')
    assert f'resource_metadata="{served.base}/.well-known/' in _challenge(resp)
    assert served.orchestrator.seen == []


async def test_a_token_without_the_read_scope_is_403_insufficient_scope(served: Served) -> None:
    resp = await served.post(served.token(["openid", WRITE]))
    assert resp.status_code == 403
    challenge = _challenge(resp)
    assert challenge.startswith('Bearer error="insufficient_scope"')
    assert f'scope="{READ}"' in challenge
    assert f'resource_metadata="{served.base}/.well-known/oauth-protected-resource/mcp"' in (
        challenge
    )


# -- keys -------------------------------------------------------------------------------------


async def test_a_rotated_key_is_fetched_on_its_first_token_and_a_retired_one_refused(
    served: Served,
) -> None:
    idp = served.idp
    old = idp.signing
    old_token = served.token([READ])
    assert await tool_names(served.url, old_token) == set(READ_TOOLS)
    fetched = idp.jwks_fetches
    assert await tool_names(served.url, served.token([READ])) == set(READ_TOOLS)
    assert idp.jwks_fetches == fetched  # a known key: the cached set serves

    idp.rotate()
    idp.retire(old)
    assert await tool_names(served.url, served.token([READ])) == set(READ_TOOLS)
    assert idp.jwks_fetches == fetched + 1  # the new key id was not cached: fetched once
    assert (await served.post(old_token)).status_code == 401  # its key is gone from the set


# -- the protected-resource metadata ----------------------------------------------------------


@pytest.mark.parametrize("path", ["/mcp", ""])
async def test_the_protected_resource_metadata_names_the_issuer_and_the_scopes(
    served: Served, path: str
) -> None:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{served.base}/.well-known/oauth-protected-resource{path}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["resource"] == served.url
    assert body["authorization_servers"] == [served.idp.issuer]
    assert body["scopes_supported"] == [READ, WRITE]
    assert body["bearer_methods_supported"] == ["header"]
    assert body["resource_name"] == "Shield RAG"


# -- settings ---------------------------------------------------------------------------------

GOOD = {
    "resource_url": "https://mcp.example.com/mcp",
    "issuer": "https://sso.example.com/realms/shield",
    "jwks_url": "https://sso.example.com/realms/shield/protocol/openid-connect/certs",
}


def _settings(**mcp: Any) -> Settings:
    return Settings(**BASE, mcp=mcp)  # type: ignore[arg-type]


def test_static_mode_is_the_default_and_ignores_the_oauth_section() -> None:
    settings = _settings(auth_token="x7Qp2LmZr9Vt4Kw8Nd3Hs6Jb", oauth={"issuer": "https://a.b"})
    assert settings.mcp.auth_mode == "static"


@pytest.mark.parametrize(
    ("mcp", "message"),
    [
        ({"oauth": {}}, "needs mcp.oauth.resource_url, mcp.oauth.issuer, mcp.oauth.jwks_url"),
        ({"oauth": {**GOOD, "jwks_url": None}}, "needs mcp.oauth.jwks_url"),
        (
            {"oauth": {**GOOD, "jwks_url": "http://sso.example.com/certs"}},
            "mcp.oauth.jwks_url must be https",
        ),
        (
            {"oauth": {**GOOD, "resource_url": "https://mcp.example.com/other"}},
            "must end with mcp.path (/mcp)",
        ),
        (
            {"oauth": GOOD, "auth_token": "x7Qp2LmZr9Vt4Kw8Nd3Hs6Jb"},
            "remove mcp.auth_token and mcp.tokens",
        ),
        (
            {"oauth": {**GOOD, "scopes": {"read": "mcp", "write": "mcp"}}},
            "must be different scopes",
        ),
    ],
)
def test_an_incomplete_or_unsafe_oauth_configuration_is_refused(
    mcp: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        _settings(auth_mode="oauth", **mcp)


def test_oauth_mode_may_listen_beyond_loopback_without_static_tokens() -> None:
    settings = _settings(auth_mode="oauth", host="0.0.0.0", oauth=GOOD)
    assert settings.mcp.oauth.audiences == [GOOD["resource_url"]]
    assert [str(s) for s in settings.mcp.oauth.servers] == [GOOD["issuer"]]


async def test_an_identity_provider_answering_5xx_is_503_naming_it_then_tokens_pass_again(
    idp: TestIdp,
) -> None:
    served = await Served(idp).start()
    idp.outage = 503
    try:
        token = served.token([READ])
        resp = await served.post(token)
        assert resp.status_code == 503, resp.text
        assert int(resp.headers["retry-after"]) >= 1
        error = resp.json()["error"]
        assert idp.jwks_url in error["message"] and "HTTP 503" in error["message"]
        assert error["data"] == {"dependency": "identity_provider"}
        assert token not in resp.text
        idp.outage = None
        assert (await served.post(token)).status_code == 200
    finally:
        idp.outage = None
        await served.stop()


async def test_an_identity_provider_not_answering_is_503_not_401(idp: TestIdp) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/realms/test/jwks"
    served = await Served(idp, jwks_url=nowhere).start()
    try:
        resp = await served.post(served.token([READ]))
        assert resp.status_code == 503, resp.text
        assert nowhere in resp.json()["error"]["message"]
        assert "ConnectError" in resp.json()["error"]["message"]
        assert "www-authenticate" not in resp.headers  # not a sign-in challenge
    finally:
        await served.stop()


async def test_a_jwks_url_answering_404_still_refuses_the_token(idp: TestIdp) -> None:
    served = await Served(idp).start()
    idp.outage = 404
    try:
        resp = await served.post(served.token([READ]))
        assert resp.status_code == 401, resp.text
    finally:
        idp.outage = None
        await served.stop()
