"""shield-lightrag end to end, resilience: dead Qdrant, Ollama outage, SIGTERM, bad config.

Each test starts a service of its own next to the shared Qdrant and Ollama.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.lightrag.corpus import DOC_B
from tests.lightrag.launch import command, start_lightrag, write_config
from tests.standins.ollama.launch import URL_ENV as OLLAMA_URL_ENV
from tests.standins.ollama.launch import start_ollama
from tests.standins.qdrant.launch import QdrantServer
from tests.support.procs import free_port
from tests.support.tokens import unique
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration


def test_health_is_503_until_qdrant_answers(tmp: Path, ollama_url: str) -> None:
    dead_qdrant = f"http://127.0.0.1:{free_port()}"
    svc = start_lightrag(
        tmp, qdrant_url=dead_qdrant, ollama_url=ollama_url, name="no-qdrant", wait=False
    )
    try:

        def answered() -> bool:
            return httpx.get(f"{svc.url}/health", timeout=2).status_code == 503

        wait_until(answered, 60, "shield-lightrag to answer /health")
        health = httpx.get(f"{svc.url}/health").json()
        assert health["status"] == "starting"
        assert "last_error" in health or svc.process.alive()
        q = httpx.post(f"{svc.url}/query", json={"query": "anything"}, timeout=10)
        assert q.status_code == 503
        assert svc.process.alive()
    finally:
        svc.stop()


@pytest.mark.skipif(
    bool(os.environ.get(OLLAMA_URL_ENV)), reason="needs an Ollama the test can stop and start"
)
def test_ollama_outage_gives_502_and_a_retry_of_the_same_id_succeeds(
    tmp: Path, qdrant: QdrantServer
) -> None:
    port = free_port()
    svc = start_lightrag(
        tmp,
        qdrant_url=qdrant.url,
        qdrant_api_key=qdrant.api_key,
        ollama_url=f"http://127.0.0.1:{port}",
        workspace=unique("outage", 3),
        name="outage",
    )
    ollama = None
    doc = {"text": "Captain Ilsa Varn sailed the Morrow Sea.", "id": "voyage-1"}
    try:
        with svc.client() as c:
            down = c.post("/documents/text", json=doc)
            assert down.status_code == 502, down.text
            assert "Ollama" in down.json()["detail"]
            query = c.post("/query", json={"query": "Who sailed the Morrow Sea?"})
            assert query.status_code == 502, query.text
            ollama, _unused = start_ollama(tmp / "outage", port=port)
            retried = c.post("/documents/text", json=doc)
            assert retried.status_code == 200, retried.text
            answer = c.post("/query", json={"query": "Who sailed the Morrow Sea?", "mode": "naive"})
            assert "Ilsa Varn" in answer.json()["response"]
    finally:
        svc.stop()
        if ollama is not None:
            ollama.stop()


def test_sigterm_finalises_storages_and_flushes_the_graph(
    tmp: Path, qdrant: QdrantServer, ollama_url: str
) -> None:
    svc = start_lightrag(
        tmp,
        qdrant_url=qdrant.url,
        qdrant_api_key=qdrant.api_key,
        ollama_url=ollama_url,
        workspace=unique("sigterm", 3),
        name="sigterm",
    )
    try:
        with svc.client() as c:
            r = c.post("/documents/text", json={"text": DOC_B[2], "file_source": DOC_B[1]})
            assert r.status_code == 200, r.text
    finally:
        code = svc.stop()
    assert code in (0, -15)
    assert "storages finalised" in svc.process.log_path.read_text()
    graphs = list(svc.working_dir.glob("*/graph_chunk_entity_relation.graphml"))
    assert graphs
    assert "Grendel Dam" in graphs[0].read_text()


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"lightrag_service": {"tokenizer_model": "no-such-model"}}, "tokenizer_model"),
        ({"lightrag_service": {"bogus": 1}}, "lightrag_service.bogus"),
        ({"lightrag": {"api_key": "short"}}, "lightrag.api_key"),
    ],
)
def test_configuration_errors_exit_2_with_the_key_named(
    tmp_path: Path, config: dict, needle: str
) -> None:
    base = {
        "redis": {"url": "redis://127.0.0.1:1/0"},
        "qdrant": {"url": "http://127.0.0.1:1"},
        "ollama": {"url": "http://127.0.0.1:1"},
        "lightrag_service": {"working_dir": str(tmp_path / "work")},
    }
    for section, values in config.items():
        base[section] = {**base.get(section, {}), **values}
    path = write_config(tmp_path / "bad.yaml", base)
    done = subprocess.run(
        [*command(), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
