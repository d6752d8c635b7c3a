"""shield-lightrag end to end: real processes for Qdrant, Ollama and the service.

Qdrant and Ollama are the stand-ins unless ``SHIELD_TEST_QDRANT_URL`` /
``SHIELD_TEST_OLLAMA_URL`` name real servers. The service runs with a dead HTTP(S) proxy and
an emptied ``TIKTOKEN_CACHE_DIR``, so anything it tried to fetch from outside would fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient, models

from shield_rag.lightrag_service.tokenizer import CL100K_SHA256, cache_file_name
from tests.lightrag.launch import LightRAGProcess, command, start_lightrag, write_config
from tests.standins.ollama.launch import URL_ENV as OLLAMA_URL_ENV
from tests.standins.ollama.launch import start_ollama
from tests.standins.qdrant.launch import QdrantServer, start_qdrant
from tests.support.procs import free_port
from tests.support.tokens import unique
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

API_KEY = unique("lightrag-test-key-", 8)
# Both sources end in index.html: LightRAG alone would keep only that basename and refuse
# the second document.
DOC_A = (
    "doc-crystal",
    "https://docs.example/crystal/index.html",
    "The Zorblax crystal from Quentara glows bright violet. "
    "Professor Hilda Marsh studied the Zorblax crystal at the Quentara Institute in 1987.",
)
DOC_B = (
    "doc-dam",
    "https://wiki.example/dam/index.html",
    "The Velmora River floods every spring near Tarsk City. "
    "Engineers of the Tarsk Water Agency built the Grendel Dam to hold back the floods.",
)
FACT_A, QUESTION_A = "glows bright violet", "What colour does the Zorblax crystal glow?"
FACT_B, QUESTION_B = "built the Grendel Dam", "Who built the Grendel Dam?"
MODES = ["naive", "local", "global", "hybrid", "mix"]
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lightrag")


@pytest.fixture(scope="module")
def qdrant(tmp: Path) -> Iterator[QdrantServer]:
    with start_qdrant(tmp, api_key="") as server:
        yield server


@pytest.fixture(scope="module")
def ollama_url(tmp: Path) -> Iterator[str]:
    proc, url = start_ollama(tmp)
    yield url
    if proc is not None:
        proc.stop()


@pytest.fixture(scope="module")
def workspace() -> str:
    """A workspace of its own, so a shared real Qdrant keeps runs apart."""
    return unique("t", 4)


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def client(service: LightRAGProcess) -> Iterator[httpx.Client]:
    with service.client() as c:
        yield c


@pytest.fixture(scope="module")
def indexed(client: httpx.Client) -> dict[str, dict[str, str]]:
    answers = {}
    for doc_id, source, text in (DOC_A, DOC_B):
        started = time.monotonic()
        r = client.post("/documents/text", json={"text": text, "file_source": source, "id": doc_id})
        TIMINGS[f"insert {doc_id}"] = time.monotonic() - started
        assert r.status_code == 200, r.text
        answers[doc_id] = r.json()
    return answers


def chunk_points(qdrant: QdrantServer, workspace: str) -> int:
    """Points LightRAG stored for ``workspace`` in its chunk collection(s)."""
    with warnings.catch_warnings():  # "Api key is used with an insecure connection"
        warnings.simplefilter("ignore", UserWarning)
        client = QdrantClient(url=qdrant.url, api_key=qdrant.api_key)
    try:
        names = [c.name for c in client.get_collections().collections]
        flt = models.Filter(
            must=[
                models.FieldCondition(key="workspace_id", match=models.MatchValue(value=workspace))
            ]
        )
        return sum(
            client.count(name, count_filter=flt, exact=True).count
            for name in names
            if name.startswith("lightrag_vdb_chunks")
        )
    finally:
        client.close()


def doc_status(service: LightRAGProcess, workspace: str) -> dict[str, dict]:
    path = service.working_dir / workspace / "kv_store_doc_status.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_service_starts_offline_with_the_bundled_tiktoken_encoding(
    service: LightRAGProcess,
) -> None:
    cache = service.working_dir / "tiktoken" / cache_file_name()
    assert cache.is_file()
    assert hashlib.sha256(cache.read_bytes()).hexdigest() == CL100K_SHA256
    health = httpx.get(f"{service.url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.json()["configuration"]["tokenizer_model"] == "gpt-4"


def test_insert_returns_success_with_the_given_id(indexed: dict[str, dict[str, str]]) -> None:
    assert indexed[DOC_A[0]]["status"] == "success"
    assert indexed[DOC_A[0]]["id"] == DOC_A[0]
    assert indexed[DOC_B[0]]["id"] == DOC_B[0]


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_answers_from_the_document_that_holds_the_fact(
    client: httpx.Client, indexed: dict[str, dict[str, str]], mode: str
) -> None:
    for question, fact, other in ((QUESTION_A, FACT_A, FACT_B), (QUESTION_B, FACT_B, FACT_A)):
        started = time.monotonic()
        r = client.post("/query", json={"query": question, "mode": mode})
        TIMINGS[f"query {mode}"] = time.monotonic() - started
        assert r.status_code == 200, r.text
        answer = r.json()["response"]
        assert fact.lower() in answer.lower(), f"{mode}: {answer!r}"
        if not os.environ.get(OLLAMA_URL_ENV):  # the stand-in quotes only the best sentences
            assert other.lower() not in answer.lower(), f"{mode}: {answer!r}"


def test_only_need_context_returns_the_retrieved_text(
    client: httpx.Client, indexed: dict[str, dict[str, str]]
) -> None:
    r = client.post(
        "/query", json={"query": QUESTION_B, "mode": "naive", "only_need_context": True}
    )
    assert r.status_code == 200, r.text
    assert FACT_B in r.json()["response"]
    # the full source is the citation, "/" shown as U+2215 (see engine.lightrag_file_path)
    assert "https:\u2215\u2215wiki.example\u2215dam\u2215index.html" in r.json()["response"]


def test_bypass_mode_asks_the_llm_directly(
    client: httpx.Client, indexed: dict[str, dict[str, str]]
) -> None:
    r = client.post("/query", json={"query": "Say something about rivers.", "mode": "bypass"})
    assert r.status_code == 200, r.text
    assert r.json()["response"].strip()


def test_inserting_the_same_id_again_changes_nothing(
    client: httpx.Client,
    service: LightRAGProcess,
    qdrant: QdrantServer,
    workspace: str,
    indexed: dict[str, dict[str, str]],
) -> None:
    points = chunk_points(qdrant, workspace)
    assert points >= 2
    doc_id, source, text = DOC_A
    r = client.post("/documents/text", json={"text": text, "file_source": source, "id": doc_id})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success"
    assert r.json()["id"] == doc_id
    assert chunk_points(qdrant, workspace) == points
    statuses = doc_status(service, workspace)
    assert [k for k in statuses if k == doc_id] == [doc_id]
    assert statuses[doc_id]["status"] == "processed"
    assert not [k for k in statuses if k.startswith("dup-")]


def context_for(client: httpx.Client, question: str) -> str:
    body = {"query": question, "mode": "naive", "only_need_context": True}
    r = client.post("/query", json=body)
    assert r.status_code == 200, r.text
    return r.json()["response"]


def test_same_id_with_other_content_replaces_the_old_version(
    client: httpx.Client, indexed: dict[str, dict[str, str]]
) -> None:
    doc = {"id": "notice-1", "file_source": "notice.txt"}
    first = client.post(
        "/documents/text", json={**doc, "text": "The Brindle ferry leaves at noon."}
    )
    assert first.status_code == 200, first.text
    second = client.post(
        "/documents/text", json={**doc, "text": "The Brindle ferry leaves at midnight."}
    )
    assert second.status_code == 200, second.text
    assert second.json()["message"] == "document replaced"
    context = context_for(client, "When does the Brindle ferry leave?")
    assert "leaves at midnight" in context
    assert "leaves at noon" not in context


def test_another_document_from_a_source_of_the_same_name_is_kept_apart(
    client: httpx.Client, indexed: dict[str, dict[str, str]]
) -> None:
    text = "The Pellow lighthouse keeper is Orla Quist."
    r = client.post(
        "/documents/text", json={"text": text, "file_source": DOC_A[1], "id": "other-1"}
    )
    assert r.status_code == 200, r.text
    context = context_for(client, "Who keeps the Pellow lighthouse?")
    assert "Orla Quist" in context
    assert "index.html (other-1)" in context  # LightRAG allows one document per name
    assert client.delete("/documents/other-1").status_code == 200


def test_content_already_indexed_under_another_id_is_not_indexed_twice(
    client: httpx.Client,
    service: LightRAGProcess,
    workspace: str,
    indexed: dict[str, dict[str, str]],
) -> None:
    r = client.post(
        "/documents/text", json={"text": DOC_B[2], "file_source": "copy.txt", "id": "other-2"}
    )
    assert r.status_code == 200, r.text
    assert DOC_B[0] in r.json()["message"]
    statuses = doc_status(service, workspace)
    assert "other-2" not in statuses
    assert not [k for k in statuses if k.startswith("dup-")]
    assert client.delete("/documents/other-2").status_code == 404


def test_delete_removes_the_document_from_answers(
    client: httpx.Client, indexed: dict[str, dict[str, str]]
) -> None:
    text = "The Ombrix lantern in Feldwick burns green oil."
    r = client.post("/documents/text", json={"text": text, "file_source": "lantern.txt"})
    assert r.status_code == 200, r.text
    doc_id = r.json()["id"]
    question = {"query": "What oil does the Ombrix lantern burn?", "mode": "naive"}
    context = {**question, "only_need_context": True}
    assert "burns green oil" in client.post("/query", json=context).json()["response"]

    deleted = client.delete(f"/documents/{doc_id}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["doc_id"] == doc_id
    assert "burns green oil" not in client.post("/query", json=context).json()["response"]
    assert client.delete(f"/documents/{doc_id}").status_code == 404


def test_delete_document_in_lightrag_server_form(
    client: httpx.Client, indexed: dict[str, dict[str, str]]
) -> None:
    r = client.post(
        "/documents/text", json={"text": "Temporary note about Pellow Bay.", "id": "tmp-1"}
    )
    assert r.status_code == 200, r.text
    deleted = client.request("DELETE", "/documents/delete_document", json={"doc_ids": ["tmp-1"]})
    assert deleted.status_code == 200, deleted.text
    assert client.delete("/documents/tmp-1").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/documents/text", {"text": "x"}),
        ("POST", "/query", {"query": "x"}),
        ("DELETE", f"/documents/{DOC_A[0]}", None),
    ],
)
@pytest.mark.parametrize("key", [None, "wrong-key-wrong-key-wrong"])
def test_api_key_is_required_except_for_health(
    service: LightRAGProcess, method: str, path: str, body: dict | None, key: str | None
) -> None:
    headers = {"X-API-Key": key} if key else {}
    r = httpx.request(method, service.url + path, json=body, headers=headers, timeout=30)
    assert r.status_code == 401
    assert "X-API-Key" in r.json()["detail"]
    assert httpx.get(f"{service.url}/health").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/query", {"query": "   "}, "query must not be empty"),
        ("/query", {"query": ""}, "query must not be empty"),
        # LightRAG's minimum query length: a caller's mistake (422), not a LightRAG failure
        ("/query", {"query": "ab"}, "RAG query is too short"),
        ("/query", {"query": " x ", "mode": "naive"}, "RAG query is too short"),
        ("/query", {"query": "字"}, "RAG query is too short"),
        ("/query", {"query": "x", "mode": "sideways"}, "'naive'"),
        ("/query", {"query": "x", "top_k": 0}, "greater than or equal to 1"),
        ("/query", {}, "Field required"),
        ("/documents/text", {"text": " \n "}, "text must not be empty"),
        ("/documents/text", {"text": "ok", "id": "../etc"}, "pattern"),
        ("/documents/text", {"file_source": "a.txt"}, "Field required"),
    ],
)
def test_invalid_requests_get_422_with_a_clear_message(
    client: httpx.Client, path: str, body: dict, needle: str
) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert needle in json.dumps(r.json())


def test_metrics_count_operations(
    service: LightRAGProcess, indexed: dict[str, dict[str, str]], client: httpx.Client
) -> None:
    client.post("/query", json={"query": QUESTION_A, "mode": "naive"})
    text = httpx.get(service.metrics_url).text
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert lines['lightrag_operations_total{operation="insert",status="success"}'] >= 2
    assert lines['lightrag_operations_total{operation="query",status="success"}'] >= 1
    assert lines['lightrag_operation_duration_seconds_count{operation="query"}'] >= 1
    assert lines["lightrag_ready"] == 1


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
            ollama, _ = start_ollama(tmp / "outage", port=port)
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
        [*command(), "--config", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert needle in done.stderr
