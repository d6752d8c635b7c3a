"""shield-lightrag fixtures: Qdrant, Ollama and one service shared by the package's modules.

Package-scoped, so the ingest/query, request and resilience modules see the same processes
and the same indexed documents, as they did when they were one module; tests that depend on
running in order stay together in ``test_lightrag_ingest.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.lightrag.corpus import API_KEY, DOC_A, DOC_B, TIMINGS
from tests.lightrag.launch import LightRAGProcess, start_lightrag
from tests.standins.ollama.launch import start_ollama
from tests.standins.qdrant.launch import QdrantServer, start_qdrant
from tests.support.tokens import unique


@pytest.fixture(scope="package")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lightrag")


@pytest.fixture(scope="package")
def qdrant(tmp: Path) -> Iterator[QdrantServer]:
    with start_qdrant(tmp, api_key="") as server:
        yield server


@pytest.fixture(scope="package")
def ollama_url(tmp: Path) -> Iterator[str]:
    proc, url = start_ollama(tmp)
    yield url
    if proc is not None:
        proc.stop()


@pytest.fixture(scope="package")
def workspace() -> str:
    """A workspace of its own, so a shared real Qdrant keeps runs apart."""
    return unique("t", 4)


@pytest.fixture(scope="package")
def service(
    tmp: Path, qdrant: QdrantServer, ollama_url: str, workspace: str
) -> Iterator[LightRAGProcess]:
    started = time.monotonic()
    svc = start_lightrag(
        tmp,
        qdrant_url=qdrant.url,
        qdrant_api_key=qdrant.api_key,
        ollama_url=ollama_url,
        api_key=API_KEY,
        workspace=workspace,
    )
    TIMINGS["start"] = time.monotonic() - started
    yield svc
    svc.stop()
    print("\nshield-lightrag timings (s):", {k: round(v, 3) for k, v in TIMINGS.items()})


@pytest.fixture(scope="package")
def client(service: LightRAGProcess) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


@pytest.fixture(scope="package")
def indexed(client: httpx.Client) -> dict[str, dict[str, str]]:
    answers = {}
    for doc_id, source, text in (DOC_A, DOC_B):
        started = time.monotonic()
        r = client.post("/documents/text", json={"text": text, "file_source": source, "id": doc_id})
        TIMINGS[f"insert {doc_id}"] = time.monotonic() - started
        assert r.status_code == 200, r.text
        answers[doc_id] = r.json()
    return answers
