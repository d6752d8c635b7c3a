"""The search path's own HTTP calls (shield_rag/jsonhttp.py): Ollama's embed, Qdrant's query
and a document's write (the worker's batch update) are sent as the libraries send them, over
kept-alive connections, and their failures keep the contract of the library calls they
replace (refusal, failure, timeout)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from qdrant_client import models
from qdrant_client.http.api.points_api import jsonable_encoder

from shield_rag.clients.embeddings import Embedder, EmbeddingError
from shield_rag.clients.qdrant_requests import build_filter, document_batch, points_of, stale_chunks
from shield_rag.clients.vectorstore import VectorStore, VectorStoreError
from shield_rag.documents import chunk_points
from shield_rag.errors import DependencyRejected
from shield_rag.jsonhttp import JsonHttp, dumps, env_proxy, loads
from shield_rag.settings import OllamaSettings, QdrantSettings
from tests.support.httpserver import JsonServer, serving
from tests.support.procs import free_port

Answer = tuple[int, Any]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    async with serving(JsonServer) as start:
        yield start


# -- Ollama ---------------------------------------------------------------------------------
async def test_embed_sends_what_the_ollama_client_sends_and_keeps_its_connection(
    serve: Any,
) -> None:
    server, url = await serve(lambda *_unused: (200, {"embeddings": [[1, 0.5, 0, 2]]}))
    emb = Embedder(OllamaSettings(url=url, embed_model="m", keep_alive="5m"), 4)
    try:
        for _unused in range(3):
            assert await emb.embed_one("a text") == [1.0, 0.5, 0.0, 2.0]
    finally:
        await emb.close()
    method, path, headers, body = server.requests[0]
    assert (method, path) == ("POST", "/api/embed")
    assert headers["content-type"] == "application/json"
    assert body == {"model": "m", "input": ["a text"], "keep_alive": "5m"}
    assert server.connections == 1 and len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "payload", "kind", "said"),
    [
        (400, {"error": "input too long"}, DependencyRejected, "input too long"),
        (404, {"error": 'model "m" not found'}, DependencyRejected, 'model "m" not found'),
        (500, {"error": "model crashed"}, EmbeddingError, "model crashed"),
        (200, {"no": "embeddings"}, EmbeddingError, "no embeddings"),
        (200, b"not json", EmbeddingError, "unexpected answer"),
    ],
)
async def test_embed_answers_keep_their_meaning(
    serve: Any, status: int, payload: Any, kind: type, said: str
) -> None:
    _unused, url = await serve(lambda *_unused: (status, payload))
    emb = Embedder(OllamaSettings(url=url), 4)
    try:
        with pytest.raises(kind, match=said) as err:
            await emb.embed(["a text"])
    finally:
        await emb.close()
    assert err.value.dependency == "ollama"
    if kind is DependencyRejected:
        assert err.value.status == status  # type: ignore[attr-defined]


async def test_embed_refused_connection_and_silence(serve: Any) -> None:
    emb = Embedder(OllamaSettings(url=f"http://127.0.0.1:{free_port()}"), 4)
    with pytest.raises(EmbeddingError, match="unreachable") as err:
        await emb.embed(["a text"])
    assert err.value.timeout is False
    await emb.close()
    _unused, url = await serve(lambda *_unused: None)
    emb = Embedder(OllamaSettings(url=url, timeout=0.2), 4)
    with pytest.raises(EmbeddingError, match="no answer within") as err:
        await emb.embed(["a text"])
    assert err.value.timeout is True
    await emb.close()


# -- Qdrant ---------------------------------------------------------------------------------
def _qdrant(points: list[dict[str, Any]]) -> Callable[[str, str, Any], Answer]:
    return lambda *_unused: (200, {"result": {"points": points}, "status": "ok", "time": 0})


def _store(url: str, **settings: Any) -> VectorStore:
    """A store whose collection is taken as checked (the fake serves searches only)."""
    store = VectorStore(QdrantSettings(url=url, vector_size=4, **settings))
    store._ready = True
    return store


async def test_search_sends_the_body_qdrant_client_sends(serve: Any) -> None:
    hit = {"id": 7, "score": 0.5, "payload": {"text": "t"}, "version": 1}
    server, url = await serve(_qdrant([hit, {"id": "a-b", "score": 1, "version": 1}]))
    store = _store(url, collection="c-1", api_key="k")
    query_filter = build_filter({"source": "s", "chunk_index": {"gte": 2}, "doc_id": ["x"]})
    try:
        hits = await store.search(
            [0.1, 0.2, 0.3, 0.4], limit=5, offset=10, query_filter=query_filter, score_threshold=0.2
        )
        await store.search([0.1, 0.2, 0.3, 0.4], limit=3)
    finally:
        await store.close()
    assert [(h.id, h.score, h.payload) for h in hits] == [
        ("7", 0.5, {"text": "t"}),
        ("a-b", 1.0, {}),
    ]
    (method, path, headers, body), (*_unused, plain) = server.requests
    assert (method, path, headers["api-key"]) == ("POST", "/collections/c-1/points/query", "k")
    assert query_filter is not None
    assert body == {
        "query": [0.1, 0.2, 0.3, 0.4],
        "limit": 5,
        "offset": 10,
        "with_payload": True,
        "filter": {
            "must": [
                {"key": "source", "match": {"value": "s"}},
                {"key": "chunk_index", "range": {"gte": 2}},
                {"key": "doc_id", "match": {"any": ["x"]}},
            ]
        },
        "score_threshold": 0.2,
    }
    assert plain == {"query": [0.1, 0.2, 0.3, 0.4], "limit": 3, "offset": 0, "with_payload": True}
    assert isinstance(query_filter, models.Filter)


@pytest.mark.parametrize(
    ("status", "payload", "kind", "said"),
    [
        (400, {"status": {"error": "bad filter"}}, DependencyRejected, "bad filter"),
        (503, {"status": {"error": "busy"}}, VectorStoreError, r"search failed \(503\)"),
        (200, b"not json", VectorStoreError, "unreachable during search"),
        (200, {"result": {"points": 3}}, VectorStoreError, "unreachable during search"),
    ],
)
async def test_search_answers_keep_their_meaning(
    serve: Any, status: int, payload: Any, kind: type, said: str
) -> None:
    _unused, url = await serve(lambda *_unused: (status, payload))
    store = _store(url)
    try:
        with pytest.raises(kind, match=said) as err:
            await store.search([0.0] * 4, limit=1)
    finally:
        await store.close()
    assert err.value.dependency == "qdrant"


async def test_search_silence_is_a_timeout(serve: Any) -> None:
    _unused, url = await serve(lambda *_unused: None)
    store = _store(url, timeout=1)
    try:
        with pytest.raises(VectorStoreError, match="no answer to search") as err:
            await store.search([0.0] * 4, limit=1)
    finally:
        await store.close()
    assert err.value.timeout is True


def _library_batch(
    ids: list[str],
    vectors: list[list[float]],
    payloads: list[dict[str, Any]],
    deletes: list[models.FilterSelector],
) -> str:
    """The body qdrant-client's batch_update_points sends: the points upserted, then each of
    ``deletes`` deleted."""
    points = [
        models.PointStruct(id=i, vector=v, payload=p)
        for i, v, p in zip(ids, vectors, payloads, strict=True)
    ]
    return jsonable_encoder(
        models.UpdateOperations(
            operations=[
                models.UpsertOperation(upsert=models.PointsList(points=points)),
                *(models.DeleteOperation(delete=d) for d in deletes),
            ]
        )
    )


@pytest.mark.parametrize("former", [None, ("doc-0", "text:5e8ff9bf55ba")])
async def test_a_document_is_written_with_the_body_qdrant_client_sends(
    serve: Any, former: tuple[str, str] | None
) -> None:
    server, url = await serve(lambda *_unused: (200, {"result": [], "status": "ok", "time": 0}))
    store = _store(url, collection="c-1", api_key="k")
    ids, payloads = chunk_points(
        "doc-1",
        ["first", "second"],
        source="s",
        title=None,
        content_type="text/plain",
        kind="text",
        job_id="j",
        metadata={"n": 1.5, "gone": None},
        ingested_at=1700000000.123,
    )
    vectors = [[0.1, -0.2, 1e-7, 0.30000000000000004], [0.0, 1.0, -1.0, 0.5]]
    try:
        await store.store_document("doc-1", ids, vectors, payloads, former)
    finally:
        await store.close()
    deletes = [stale_chunks("doc-1", 2), *([points_of(*former)] if former else [])]
    library = _library_batch(ids, vectors, payloads, deletes)
    ((method, path, headers, body),) = server.requests
    assert (method, path, headers["api-key"]) == (
        "POST",
        "/collections/c-1/points/batch?wait=true",
        "k",
    )
    assert dumps(document_batch("doc-1", ids, vectors, payloads, former)) == library.encode()
    assert body == json.loads(library)


async def test_entries_are_written_with_the_body_qdrant_client_sends(serve: Any) -> None:
    server, url = await serve(lambda *_unused: (200, {"result": [], "status": "ok", "time": 0}))
    store = _store(url, collection="c-1")
    ids = ["5b458d57-54dc-587d-95fe-350963d10ea0", "0c7e6c3e-8d3b-5a55-a2f2-2f1e5b0d6a10"]
    vectors = [[0.5, -0.25], [1.0, 0.0]]
    payloads: list[dict[str, Any]] = [{"text": "a", "source": "n"}, {"text": "b"}]
    formers = [("d-1", "vector:d-1"), ("d-2", "vector:d-2")]
    try:
        await store.store_entries(ids, vectors, payloads, formers)
    finally:
        await store.close()
    library = _library_batch(ids, vectors, payloads, [points_of(*f) for f in formers])
    ((method, path, _headers, body),) = server.requests
    assert (method, path) == ("POST", "/collections/c-1/points/batch?wait=true")
    assert body == json.loads(library)


@pytest.mark.parametrize(
    ("status", "payload", "kind", "said"),
    [
        (400, {"status": {"error": "wrong vector size"}}, DependencyRejected, "wrong vector size"),
        (503, {"status": {"error": "busy"}}, VectorStoreError, r"upsert failed \(503\)"),
        (200, b"not json", VectorStoreError, "unreachable during upsert"),
        (200, {"status": "ok"}, VectorStoreError, "unreachable during upsert"),
    ],
)
async def test_document_write_answers_keep_their_meaning(
    serve: Any, status: int, payload: Any, kind: type, said: str
) -> None:
    _unused, url = await serve(lambda *_unused: (status, payload))
    store = _store(url)
    try:
        with pytest.raises(kind, match=said) as err:
            await store.store_document(
                "d", ["5b458d57-54dc-587d-95fe-350963d10ea0"], [[0.0] * 4], [{}]
            )
    finally:
        await store.close()
    assert err.value.dependency == "qdrant"


async def test_document_write_silence_is_a_timeout(serve: Any) -> None:
    _unused, url = await serve(lambda *_unused: None)
    store = _store(url, timeout=1)
    try:
        with pytest.raises(VectorStoreError, match="no answer to upsert") as err:
            await store.store_document(
                "d", ["5b458d57-54dc-587d-95fe-350963d10ea0"], [[0.0] * 4], [{}]
            )
    finally:
        await store.close()
    assert err.value.timeout is True


# -- proxies --------------------------------------------------------------------------------
def test_the_environment_proxy_is_read_once_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://user:pw@proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "qdrant.internal")
    proxied = JsonHttp("http://ollama.example:11434", 5.0)
    assert str(proxied.proxy) == "http://proxy.example:3128"
    assert proxied.proxy_auth is not None and proxied.proxy_auth.login == "user"
    assert env_proxy("http://qdrant.internal:6333") == (None, None)
    monkeypatch.delenv("HTTP_PROXY")
    assert env_proxy("http://ollama.example:11434") == (None, None)
    assert str(proxied.proxy) == "http://proxy.example:3128"  # kept from construction


def test_json_bodies_round_trip_floats_exactly() -> None:
    vector = [0.1, -1e-7, 1 / 3, 2.5e300, 0.0, 123456789.123456789]
    body = {"query": vector, "limit": 5, "text": "é ✓"}
    assert json.loads(dumps(body)) == body
    assert loads(json.dumps(body).encode()) == body
    with pytest.raises(ValueError, match="expected"):
        loads(b"not json")
