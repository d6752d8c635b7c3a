"""TLS settings: a CA bundle that cannot serve and a listener without both of its files are
refused at start-up and by shield-check-config, with the key and the path named; the services
hand the listener files and the trusted proxies to uvicorn, and admission counts the client
address uvicorn resolved from a trusted proxy's X-Forwarded-For."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import certifi
import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shield_rag import check_config, tls
from shield_rag.mcp.main import uvicorn_config
from shield_rag.orchestrator import main as orchestrator_main
from shield_rag.orchestrator.admission import client_id
from shield_rag.settings import ConfigError, McpSettings, OrchestratorSettings, load_settings
from tests.support.procs import free_port
from tests.support.settings import config_with, write_file
from tests.support.tls import Pki, make_pki
from tests.support.wait import eventually

pytestmark = pytest.mark.usefixtures("clean_shield_env")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other"))


def refusal(tmp_path: Path, service: str = "orchestrator", **sections: dict[str, Any]) -> str:
    path = write_file(tmp_path, config_with(**sections))
    with pytest.raises(ConfigError) as caught:
        check_config.check(str(path), service)
    return str(caught.value)


# -- the CA bundle -------------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["orchestrator", "worker", "lightrag_service", "mcp"])
def test_every_calling_service_takes_a_ca_bundle(tmp_path: Path, pki: Pki, section: str) -> None:
    path = write_file(tmp_path, config_with(**{section: {"ca_bundle": str(pki.ca)}}))
    service = {"lightrag_service": "lightrag"}.get(section, section)
    settings = check_config.check(str(path), service)
    assert getattr(settings, section).ca_bundle == pki.ca


def test_a_missing_bundle_is_refused_naming_the_key_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.pem"
    message = refusal(tmp_path, "worker", worker={"ca_bundle": str(missing)})
    assert "worker.ca_bundle" in message
    assert f"{missing} does not exist" in message


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"just some text\n", "holds no PEM certificate"),
        (b"", "holds no PEM certificate"),
        (b"\x00\x01\xff\xfe binary", "not a PEM file"),
        (
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "cannot be read",
        ),
    ],
    ids=["text", "empty", "binary", "broken"],
)
def test_a_bundle_without_a_certificate_is_refused(
    tmp_path: Path, content: bytes, said: str
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(content)
    message = refusal(tmp_path, "mcp", mcp={"ca_bundle": str(bundle)})
    assert "mcp.ca_bundle" in message
    assert said in message and str(bundle) in message


def test_a_system_style_bundle_with_comments_is_taken(tmp_path: Path, pki: Pki) -> None:
    # certifi's own file carries UTF-8 comments and ~150 certificates; the private CA follows.
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + pki.ca.read_bytes())
    assert McpSettings(ca_bundle=bundle).ca_bundle == bundle


def test_an_unreadable_bundle_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, orchestrator={"ca_bundle": str(tmp_path)})  # a directory
    assert "orchestrator.ca_bundle" in message and f"cannot read {tmp_path}" in message


def test_the_bundle_may_come_from_the_environment(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIELD_LIGHTRAG_SERVICE__CA_BUNDLE", str(pki.ca))
    path = write_file(tmp_path, config_with())
    assert load_settings(path).lightrag_service.ca_bundle == pki.ca
    monkeypatch.setenv("SHIELD_LIGHTRAG_SERVICE__CA_BUNDLE", str(tmp_path / "gone.pem"))
    with pytest.raises(ConfigError, match=r"lightrag_service\.ca_bundle"):
        load_settings(path)


# -- the listeners -------------------------------------------------------------------------------


@pytest.mark.parametrize("section", ["orchestrator", "mcp", "lightrag_service"])
@pytest.mark.parametrize("given", ["tls_certfile", "tls_keyfile"])
def test_a_listener_needs_both_files(tmp_path: Path, pki: Pki, section: str, given: str) -> None:
    value = str(pki.cert if given == "tls_certfile" else pki.key)
    service = {"lightrag_service": "lightrag"}.get(section, section)
    message = refusal(tmp_path, service, **{section: {given: value}})
    assert f"  {section}:" in message
    assert "tls_certfile and tls_keyfile must be set together" in message


def test_a_listener_takes_a_matching_pair(tmp_path: Path, pki: Pki, other: Pki) -> None:
    cfg = OrchestratorSettings(tls_certfile=pki.cert, tls_keyfile=pki.key)
    assert cfg.scheme == "https"
    assert OrchestratorSettings().scheme == "http"
    message = refusal(
        tmp_path, orchestrator={"tls_certfile": str(pki.cert), "tls_keyfile": str(other.key)}
    )
    assert "cannot be loaded together" in message and str(other.key) in message
    # The key's content is never shown, only its path.
    assert "PRIVATE KEY" not in message
    message = refusal(
        tmp_path,
        orchestrator={"tls_certfile": str(tmp_path / "c.pem"), "tls_keyfile": str(pki.key)},
    )
    assert f"the certificate file {tmp_path / 'c.pem'} does not exist" in message


def test_an_encrypted_key_is_refused_without_a_prompt(tmp_path: Path, pki: Pki) -> None:
    key = serialization.load_pem_private_key(pki.key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a passphrase"),
        )
    )
    message = refusal(
        tmp_path, "mcp", mcp={"tls_certfile": str(pki.cert), "tls_keyfile": str(encrypted)}
    )
    assert f"the key {encrypted} is encrypted" in message


def test_the_mcp_transport_serves_tls_with_its_files(pki: Pki) -> None:
    config = uvicorn_config(McpSettings(tls_certfile=pki.cert, tls_keyfile=pki.key))
    assert (config["ssl_certfile"], config["ssl_keyfile"]) == (pki.cert, pki.key)
    plain = uvicorn_config(McpSettings())
    assert (plain["ssl_certfile"], plain["ssl_keyfile"]) == (None, None)


async def test_the_mcp_options_make_a_real_https_listener(pki: Pki) -> None:
    """uvicorn with the MCP transport's options serves HTTPS that the private CA vouches for."""

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.url.scheme)

    port = free_port()
    options = uvicorn_config(McpSettings(tls_certfile=pki.cert, tls_keyfile=pki.key))
    config = uvicorn.Config(Starlette(routes=[Route("/", ok)]), "127.0.0.1", port, **options)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, 20, "uvicorn to listen")
        url = f"https://127.0.0.1:{port}/"
        async with httpx.AsyncClient(verify=tls.client_context(pki.ca)) as client:
            answer = await client.get(url)
        assert (answer.status_code, answer.text) == (200, "https")
        async with httpx.AsyncClient(verify=tls.client_context()) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(url)
    finally:
        server.should_exit = True
        await serving


def test_the_orchestrator_hands_tls_and_its_proxies_to_uvicorn(
    tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(orchestrator_main.uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setattr(orchestrator_main, "start_http_server", lambda *a, **kw: None)
    orchestrator = {
        "tls_certfile": str(pki.cert),
        "tls_keyfile": str(pki.key),
        "forwarded_allow_ips": ["10.1.2.3", "192.0.2.0/24"],
    }
    path = write_file(tmp_path, config_with(orchestrator=orchestrator))
    assert orchestrator_main.main(["--config", str(path)]) == 0
    assert (seen["ssl_certfile"], seen["ssl_keyfile"]) == (pki.cert, pki.key)
    assert seen["proxy_headers"] is True
    assert seen["forwarded_allow_ips"] == ["10.1.2.3", "192.0.2.0/24"]


# -- the client address behind the edge -----------------------------------------------------------


def test_trusted_proxies_default_to_loopback_and_must_be_addresses() -> None:
    assert OrchestratorSettings().forwarded_allow_ips == ["127.0.0.1"]
    assert OrchestratorSettings(forwarded_allow_ips=["*"]).forwarded_allow_ips == ["*"]
    with pytest.raises(ValueError, match="neither an IP address"):
        OrchestratorSettings(forwarded_allow_ips=["edge.example.org"])
    with pytest.raises(ValueError, match="at least 1 item"):
        OrchestratorSettings(forwarded_allow_ips=[])


async def admitted_as(peer: str, trusted: list[str]) -> str:
    async def who(request: Request) -> PlainTextResponse:
        return PlainTextResponse(client_id(request))

    app = ProxyHeadersMiddleware(Starlette(routes=[Route("/", who)]), trusted_hosts=trusted)
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as client:
        answer = await client.get(
            "/", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        )
    return answer.text


async def test_admission_counts_the_client_a_trusted_proxy_names() -> None:
    assert await admitted_as("10.1.2.3", ["10.1.2.3"]) == "ip:203.0.113.9"
    # Anyone else's header is ignored: a client cannot pick its own bucket.
    assert await admitted_as("10.9.9.9", ["10.1.2.3"]) == "ip:10.9.9.9"
