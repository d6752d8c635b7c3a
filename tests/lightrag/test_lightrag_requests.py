"""shield-lightrag end to end, requests: the API key, invalid input and metrics."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.lightrag.corpus import DOC_A, QUESTION_A
from tests.lightrag.launch import LightRAGProcess

pytestmark = pytest.mark.integration


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
