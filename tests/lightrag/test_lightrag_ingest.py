"""shield-lightrag end to end, ingest and query: real Qdrant, Ollama and service processes.

Qdrant and Ollama are the stand-ins unless ``SHIELD_TEST_QDRANT_URL`` /
``SHIELD_TEST_OLLAMA_URL`` name real servers. The service runs with a dead HTTP(S) proxy and
an emptied ``TIKTOKEN_CACHE_DIR``, so anything it tried to fetch from outside would fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings

import httpx
import pytest
from qdrant_client import QdrantClient, models

from shield_rag.lightrag_service.tokenizer import CL100K_SHA256, cache_file_name
from tests.lightrag.corpus import (
    DOC_A,
    DOC_B,
    FACT_A,
    FACT_B,
    MODES,
    QUESTION_A,
    QUESTION_B,
    TIMINGS,
)
from tests.lightrag.launch import LightRAGProcess
from tests.standins.ollama.launch import URL_ENV as OLLAMA_URL_ENV
from tests.standins.qdrant.launch import QdrantServer

pytestmark = pytest.mark.integration


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
