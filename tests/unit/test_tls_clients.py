"""Outbound HTTPS of every client checks the server against certifi's CAs plus the private CA
bundle the settings name (``<section>.ca_bundle``): a real https server on 127.0.0.1 whose
certificate a throwaway CA signed is reached with the bundle and refused without it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import certifi
import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from qdrant_client.http.exceptions import ResponseHandlingException

from shield_rag import tls
from shield_rag.clients.embeddings import Embedder
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.clients.vectorstore import VectorStore
from shield_rag.lightrag_service.engine import trust_private_ca
from shield_rag.mcp.breakers import Breakers
from shield_rag.mcp.orchestrator import OrchestratorClient, OrchestratorUnavailable
from shield_rag.settings import (
    LightRAGSettings,
    McpSettings,
    OllamaSettings,
    QdrantSettings,
    Settings,
)
from shield_rag.smoke import CA_BUNDLE_ENV
from shield_rag.smoke import main as smoke_main
from tests.support.httpserver import JsonServer, serving
from tests.support.settings import MINIMAL
from tests.support.tls import Pki, make_pki

VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def answer(method: str, path: str, body: Any) -> tuple[int, Any]:
    """What the https server answers: enough of the orchestrator, Qdrant, Ollama and LightRAG."""
    if path.startswith("/collections"):
        return 200, {"result": {"collections": []}, "status": "ok", "time": 0.0}
    if path == "/api/tags":
        return 200, {"models": []}
    if path == "/search":
        return 200, {"results": [], "limit": 1, "offset": 0}
    return 200, {"status": "ok", "path": path}


@pytest_asyncio.fixture(loop_scope="function")  # the server runs on the test's loop
async def https(pki: Pki) -> AsyncIterator[tuple[JsonServer, str]]:
    async with serving(JsonServer, tls=pki.server_context()) as start:
        server, url = await start(answer)
        yield server, url


# -- the context ---------------------------------------------------------------------------------


def test_the_context_trusts_certifi_and_the_bundle_and_is_made_once(pki: Pki) -> None:
    plain = tls.client_context()
    private = tls.client_context(pki.ca)
    assert private is tls.client_context(str(pki.ca))  # cached per bundle path
    assert plain is tls.client_context(None)
    assert private.cert_store_stats()["x509_ca"] == plain.cert_store_stats()["x509_ca"] + 1
    certifi_count = Path(certifi.where()).read_text().count("BEGIN CERTIFICATE")
    assert plain.cert_store_stats()["x509_ca"] == certifi_count


async def test_httpx_verifies_with_the_bundle_and_fails_without(
    https: tuple[JsonServer, str], pki: Pki
) -> None:
    _unused, url = https
    async with httpx.AsyncClient(verify=tls.client_context(pki.ca)) as client:
        assert (await client.get(url + "/healthz")).status_code == 200
    async with httpx.AsyncClient(verify=tls.client_context()) as client:
        with pytest.raises(httpx.ConnectError, match=VERIFY_FAILED):
            await client.get(url + "/healthz")


# -- the MCP server's orchestrator client: aiohttp (JSON calls) and httpx (the rest) --------


def mcp_client(url: str, ca_bundle: Path | None) -> OrchestratorClient:
    cfg = McpSettings(orchestrator_url=url, ca_bundle=ca_bundle)  # type: ignore[arg-type]
    client = OrchestratorClient(cfg, SecretStr("orch-key-0123456789abcdef"), Breakers(cfg))
    client.start()
    return client


async def test_mcp_reaches_an_https_orchestrator_over_both_clients_with_the_bundle(
    https: tuple[JsonServer, str], pki: Pki
) -> None:
    server, url = https
    client = mcp_client(url, pki.ca)
    try:
        fast = await client.request("GET", "/jobs/a", ())  # aiohttp
        slow = await client.request("GET", "/jobs/b", (), params={"x": "1"})  # httpx
    finally:
        await client.aclose()
    assert (fast.status_code, slow.status_code) == (200, 200)
    assert [path for _unused, path, _unused, _unused in server.requests] == [
        "/jobs/a",
        "/jobs/b?x=1",
    ]
    assert {h["authorization"] for _unused, _unused, h, _unused in server.requests} == {
        "Bearer orch-key-0123456789abcdef"
    }


@pytest.mark.parametrize("extra", [{}, {"params": {"x": "1"}}], ids=["aiohttp", "httpx"])
async def test_mcp_refuses_an_orchestrator_its_bundle_does_not_vouch_for(
    https: tuple[JsonServer, str], extra: dict[str, Any]
) -> None:
    server, url = https
    client = mcp_client(url, None)
    try:
        with pytest.raises(OrchestratorUnavailable) as caught:
            await client.request("GET", "/jobs/a", (), **extra)
    finally:
        await client.aclose()
    assert "certificate verify failed" in str(caught.value).lower()
    assert server.requests == []  # nothing was sent to an unverified server


# -- the stack's clients: Qdrant (qdrant-client and aiohttp), Ollama, LightRAG --------------------


async def test_qdrant_client_and_its_fast_path_verify_with_the_bundle(
    https: tuple[JsonServer, str], pki: Pki
) -> None:
    _unused, url = https
    store = VectorStore(QdrantSettings(url=url), ca_bundle=pki.ca)  # type: ignore[arg-type]
    try:
        assert (await store.client.get_collections()).collections == []
        assert (await store.http.request("GET", "/collections")).status == 200
    finally:
        await store.close()
    bare = VectorStore(QdrantSettings(url=url))  # type: ignore[arg-type]
    try:
        with pytest.raises(ResponseHandlingException, match=VERIFY_FAILED):
            await bare.client.get_collections()
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await bare.http.request("GET", "/collections")
    finally:
        await bare.close()


async def test_ollama_and_lightrag_clients_verify_with_the_bundle(
    https: tuple[JsonServer, str], pki: Pki
) -> None:
    _unused, url = https
    embedder = Embedder(OllamaSettings(url=url), 384, ca_bundle=pki.ca)  # type: ignore[arg-type]
    lightrag = LightRAGClient(LightRAGSettings(url=url), ca_bundle=pki.ca)  # type: ignore[arg-type]
    try:
        await embedder.ready()
        await lightrag.ready()
    finally:
        await embedder.close()
        await lightrag.close()
    embedder = Embedder(OllamaSettings(url=url), 384)  # type: ignore[arg-type]
    lightrag = LightRAGClient(LightRAGSettings(url=url))  # type: ignore[arg-type]
    try:
        with pytest.raises(ConnectionError, match=VERIFY_FAILED):
            await embedder.ready()
        with pytest.raises(httpx.ConnectError, match=VERIFY_FAILED):
            await lightrag.ready()
    finally:
        await embedder.close()
        await lightrag.close()


def test_lightrag_service_hands_certifi_and_the_bundle_to_the_libraries(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    settings = Settings(
        **MINIMAL,
        lightrag_service={"working_dir": tmp_path / "lr", "ca_bundle": pki.ca},
    )
    trust_private_ca(settings)
    combined = Path(os.environ["SSL_CERT_FILE"])
    assert combined == tmp_path / "lr" / "tls" / "ca-bundle.pem"
    text = combined.read_text()
    assert pki.ca.read_text().strip() in text
    assert Path(certifi.where()).read_text().strip() in text
    # httpx clients built without verify= (LightRAG's Ollama and Qdrant ones) read it.
    context = httpx.create_ssl_context()
    assert (
        context.cert_store_stats()["x509_ca"]
        == tls.client_context(pki.ca).cert_store_stats()["x509_ca"]
    )


# -- shield-smoke --------------------------------------------------------------------------------


async def smoke(*argv: str) -> int:
    return await asyncio.to_thread(smoke_main, list(argv))


async def test_smoke_search_verifies_with_its_ca_bundle(
    https: tuple[JsonServer, str],
    pki: Pki,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _unused, url = https
    monkeypatch.delenv(CA_BUNDLE_ENV, raising=False)
    assert await smoke("search", "--url", url, "--ca-bundle", str(pki.ca)) == 0
    assert json.loads(capsys.readouterr().out)["status"] == 200
    assert await smoke("search", "--url", url) == 1
    assert "certificate verify failed" in capsys.readouterr().err.lower()
    monkeypatch.setenv(CA_BUNDLE_ENV, str(pki.ca))
    assert await smoke("search", "--url", url) == 0


def test_smoke_refuses_a_ca_bundle_that_is_no_pem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for bundle, said in ((junk, "holds no PEM certificate"), (tmp_path / "nope", "does not")):
        with pytest.raises(SystemExit) as exited:
            smoke_main(["search", "--url", "https://127.0.0.1:1", "--ca-bundle", str(bundle)])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert said in err and str(bundle) in err and CA_BUNDLE_ENV in err
