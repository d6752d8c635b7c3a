"""The Qdrant stand-in speaks Qdrant's REST API to the official qdrant-client.

Every test here runs against the stand-in started from ``bin/qdrant``, or against a real Qdrant
when ``SHIELD_TEST_QDRANT_URL`` (and ``SHIELD_TEST_QDRANT_API_KEY``) are set; tests about the
stand-in's own process (restart, ``--version``, release archive) are skipped then.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import tarfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.common.version_check import is_compatible
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.standins.qdrant import qdrant_standin
from tests.standins.qdrant.launch import (
    QDRANT_BIN,
    QdrantServer,
    external_qdrant_url,
    standin_env,
    start_qdrant,
)
from tests.standins.qdrant.release import build_release_archive
from tests.support.tokens import secret
from tests.support.vectors import cosine, unit_vector

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection"),
    pytest.mark.filterwarnings("error:Qdrant client version"),  # version check must pass
]

DIM = 384
standin_only = pytest.mark.skipif(
    external_qdrant_url() is not None, reason="about the stand-in process itself"
)


@pytest.fixture(scope="module")
def qdrant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantServer]:
    with start_qdrant(
        tmp_path_factory.mktemp("qdrant"),
        api_key=secret(16),
        read_only_api_key=secret(16),
    ) as server:
        yield server


@pytest.fixture
def client(qdrant: QdrantServer) -> Iterator[QdrantClient]:
    c = QdrantClient(url=qdrant.url, api_key=qdrant.api_key, prefer_grpc=False, timeout=10)
    yield c
    c.close()


@pytest.fixture
def collection(client: QdrantClient) -> Iterator[str]:
    name = f"standin_{uuid.uuid4().hex[:10]}"
    yield name
    if client.collection_exists(name):
        client.delete_collection(name)


def make_points(n: int, seed: int = 7) -> list[models.PointStruct]:
    rng = random.Random(seed)
    return [
        models.PointStruct(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            vector=unit_vector(rng, DIM),
            payload={"tenant": "red" if i % 2 else "blue", "rank": i, "title": f"doc {i}"},
        )
        for i in range(n)
    ]


def tenant_filter(tenant: str) -> models.Filter:
    return models.Filter(
        must=[models.FieldCondition(key="tenant", match=models.MatchValue(value=tenant))]
    )


def create_collection(client: QdrantClient, name: str) -> None:
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
    )


# --------------------------------------------------------------------------- the process


@standin_only
def test_version_flag_prints_a_qdrant_version_line() -> None:
    done = subprocess.run(
        [str(QDRANT_BIN), "--version"],
        env={**os.environ, **standin_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"qdrant {qdrant_standin.standin_version()}"
    assert "stand-in" in done.stderr


def test_root_reports_a_version_the_client_accepts(qdrant: QdrantServer) -> None:
    info = httpx.get(f"{qdrant.url}/", timeout=5).json()
    assert info["title"] == "qdrant - vector search engine"
    from importlib.metadata import version

    assert is_compatible(version("qdrant-client"), info["version"])


def test_health_endpoints_answer_without_a_key(qdrant: QdrantServer) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        assert httpx.get(f"{qdrant.url}{path}", timeout=5).status_code == 200, path


@standin_only
def test_startup_line_names_the_standin(qdrant: QdrantServer) -> None:
    assert qdrant.process is not None
    log = qdrant.process.log_path.read_text()
    assert "Qdrant stand-in" in log
    assert "NOT the real Qdrant server" in log


# --------------------------------------------------------------------------- the sync client


def test_sync_client_create_index_upsert_query_scroll_count_retrieve_delete(
    client: QdrantClient, collection: str
) -> None:
    assert not client.collection_exists(collection)
    create_collection(client, collection)
    assert client.collection_exists(collection)
    assert collection in {c.name for c in client.get_collections().collections}
    client.create_payload_index(collection, "tenant", field_schema=models.PayloadSchemaType.KEYWORD)
    points = make_points(20)
    result = client.upsert(collection, points=points, wait=True)
    assert result.status == models.UpdateStatus.COMPLETED

    info = client.get_collection(collection)
    assert info.points_count == 20
    assert info.config.params.vectors.size == DIM
    assert info.config.params.vectors.distance == models.Distance.COSINE
    assert info.payload_schema["tenant"].data_type == models.PayloadSchemaType.KEYWORD

    # query_points: filter, limit, offset and score_threshold as Qdrant applies them
    probe = points[3].vector
    red = [p for p in points if p.payload["tenant"] == "red"]
    expected = sorted(red, key=lambda p: cosine(probe, p.vector), reverse=True)
    top5 = client.query_points(
        collection, query=probe, query_filter=tenant_filter("red"), limit=5, with_payload=True
    ).points
    assert [p.id for p in top5] == [p.id for p in expected[:5]]
    assert top5[0].id == points[3].id
    assert top5[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(p.payload["tenant"] == "red" for p in top5)
    page2 = client.query_points(
        collection,
        query=probe,
        query_filter=tenant_filter("red"),
        limit=3,
        offset=2,
        with_payload=False,
    ).points
    assert [p.id for p in page2] == [p.id for p in expected[2:5]]
    assert all(p.payload is None for p in page2)
    threshold = cosine(probe, expected[2].vector) - 1e-6
    above = client.query_points(
        collection, query=probe, query_filter=tenant_filter("red"), score_threshold=threshold
    ).points
    assert [p.id for p in above] == [p.id for p in expected[:3]]

    # scroll: pages cover every point once
    seen: list[str] = []
    offset = None
    while True:
        page, offset = client.scroll(collection, limit=6, offset=offset, with_payload=False)
        seen += [str(p.id) for p in page]
        if offset is None:
            break
    assert sorted(seen) == sorted(str(p.id) for p in points)
    blue, _ = client.scroll(collection, scroll_filter=tenant_filter("blue"), limit=100)
    assert len(blue) == 10

    assert client.count(collection, exact=True).count == 20
    assert client.count(collection, count_filter=tenant_filter("blue")).count == 10

    got = client.retrieve(collection, ids=[points[0].id, points[1].id], with_vectors=True)
    assert {str(r.id) for r in got} == {points[0].id, points[1].id}
    by_id = {str(r.id): r for r in got}
    assert by_id[points[0].id].payload == points[0].payload
    assert np.allclose(by_id[points[0].id].vector, points[0].vector, atol=1e-5)

    client.set_payload(collection, {"pinned": True}, points=[points[0].id], wait=True)
    client.delete_payload(collection, ["title"], points=[points[0].id], wait=True)
    (record,) = client.retrieve(collection, ids=[points[0].id])
    assert record.payload == {"tenant": "blue", "rank": 0, "pinned": True}

    client.delete(collection, models.PointIdsList(points=[points[0].id]), wait=True)
    assert client.retrieve(collection, ids=[points[0].id]) == []
    client.delete(collection, models.FilterSelector(filter=tenant_filter("red")), wait=True)
    assert client.count(collection).count == 9
    client.delete_payload_index(collection, "tenant")
    assert "tenant" not in client.get_collection(collection).payload_schema

    assert client.delete_collection(collection)
    assert not client.collection_exists(collection)


def test_query_batch_and_update_collection(client: QdrantClient, collection: str) -> None:
    create_collection(client, collection)
    points = make_points(8, seed=11)
    client.upsert(collection, points=points)
    responses = client.query_batch_points(
        collection,
        requests=[
            models.QueryRequest(query=points[0].vector, limit=1),
            models.QueryRequest(query=points[1].vector, limit=2, filter=tenant_filter("red")),
        ],
    )
    assert [p.id for p in responses[0].points] == [points[0].id]
    assert responses[1].points[0].id == points[1].id
    assert len(responses[1].points) == 2
    assert client.update_collection(
        collection, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1000)
    )
    assert client.get_collection(collection).config.optimizer_config.indexing_threshold == 1000


def test_legacy_search_endpoints_over_http(
    qdrant: QdrantServer, client: QdrantClient, collection: str
) -> None:
    create_collection(client, collection)
    points = make_points(6, seed=3)
    client.upsert(collection, points=points)
    base = f"{qdrant.url}/collections/{collection}/points"
    body = {"vector": points[2].vector, "limit": 2, "with_payload": True}
    hits = httpx.post(f"{base}/search", json=body, headers=qdrant.headers(), timeout=10)
    assert hits.status_code == 200, hits.text
    assert hits.json()["status"] == "ok"
    assert hits.json()["result"][0]["id"] == points[2].id
    assert hits.json()["result"][0]["payload"] == points[2].payload
    batch = {
        "searches": [
            {"vector": points[4].vector, "limit": 1},
            {"vector": points[5].vector, "limit": 1, "filter": tenant_filter("blue").model_dump()},
        ]
    }
    res = httpx.post(f"{base}/search/batch", json=batch, headers=qdrant.headers(), timeout=10)
    assert res.status_code == 200, res.text
    assert res.json()["result"][0][0]["id"] == points[4].id
    assert res.json()["result"][1][0]["id"] != points[5].id  # point 5 is red


# --------------------------------------------------------------------------- the async client


async def test_async_client_round_trip(qdrant: QdrantServer) -> None:
    client = AsyncQdrantClient(url=qdrant.url, api_key=qdrant.api_key, prefer_grpc=False)
    name = f"standin_async_{uuid.uuid4().hex[:10]}"
    try:
        await client.create_collection(
            name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
        )
        assert await client.collection_exists(name)
        await client.create_payload_index(
            name,
            "tenant",
            field_schema=models.KeywordIndexParams(
                type=models.KeywordIndexType.KEYWORD, is_tenant=True
            ),
        )
        points = make_points(12, seed=5)
        await client.upsert(name, points=points[:10], wait=True)
        # wait=False is acknowledged at once and applied later, in order
        acked = await client.upsert(name, points=points[10:], wait=False)
        assert acked.status in (models.UpdateStatus.ACKNOWLEDGED, models.UpdateStatus.COMPLETED)
        deadline = time.monotonic() + 10
        while (await client.count(name)).count < 12:
            assert time.monotonic() < deadline, "un-waited upsert never applied"
            await asyncio.sleep(0.05)

        res = await client.query_points(
            name, query=points[5].vector, query_filter=tenant_filter("red"), limit=2, offset=0
        )
        assert res.points[0].id == points[5].id
        assert len(res.points) == 2
        page, _ = await client.scroll(name, limit=50, scroll_filter=tenant_filter("blue"))
        assert {str(p.id) for p in page} == {p.id for p in points if p.payload["tenant"] == "blue"}
        (got,) = await client.retrieve(name, ids=[points[7].id])
        assert got.payload["rank"] == 7
        await client.delete(name, models.PointIdsList(points=[points[7].id]))
        assert (await client.count(name, count_filter=tenant_filter("red"))).count == 5
        info = await client.get_collection(name)
        assert info.payload_schema["tenant"].params.is_tenant is True
    finally:
        if await client.collection_exists(name):
            await client.delete_collection(name)
        await client.close()


# --------------------------------------------------------------------------- keys and errors


def test_api_key_is_enforced(qdrant: QdrantServer) -> None:
    if not qdrant.api_key:
        pytest.skip("the Qdrant under test has no API key")
    url = f"{qdrant.url}/collections"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, headers={"api-key": "wrong"}, timeout=5).status_code in (401, 403)
    assert httpx.get(url, headers=qdrant.headers(), timeout=5).status_code == 200
    bearer = {"Authorization": f"Bearer {qdrant.api_key}"}
    assert httpx.get(url, headers=bearer, timeout=5).status_code == 200
    assert httpx.get(f"{qdrant.url}/metrics", timeout=5).status_code == 401
    anonymous = QdrantClient(url=qdrant.url, prefer_grpc=False, check_compatibility=False)
    with pytest.raises(UnexpectedResponse) as refused:
        anonymous.get_collections()
    assert refused.value.status_code == 401


def test_read_only_key_reads_but_cannot_write(
    qdrant: QdrantServer, client: QdrantClient, collection: str
) -> None:
    if not qdrant.read_only_api_key:
        pytest.skip("the Qdrant under test has no read-only key")
    create_collection(client, collection)
    points = make_points(4, seed=9)
    client.upsert(collection, points=points)
    reader = QdrantClient(url=qdrant.url, api_key=qdrant.read_only_api_key, prefer_grpc=False)
    assert reader.collection_exists(collection)
    assert reader.count(collection).count == 4
    assert reader.query_points(collection, query=points[0].vector, limit=1).points[0].id == (
        points[0].id
    )
    assert len(reader.scroll(collection, limit=10)[0]) == 4
    assert len(reader.retrieve(collection, ids=[points[1].id])) == 1
    writes = [
        lambda: reader.upsert(collection, points=make_points(1, seed=99)),
        lambda: reader.delete(collection, models.PointIdsList(points=[points[0].id])),
        lambda: reader.create_payload_index(collection, "tenant", models.PayloadSchemaType.KEYWORD),
        lambda: reader.delete_collection(collection),
        lambda: create_collection(reader, f"{collection}_ro"),
    ]
    for write in writes:
        with pytest.raises(UnexpectedResponse) as refused:
            write()
        assert refused.value.status_code == 403
    assert client.count(collection).count == 4


def test_bad_requests_get_qdrant_errors_and_the_server_keeps_serving(
    qdrant: QdrantServer, client: QdrantClient, collection: str
) -> None:
    create_collection(client, collection)
    with pytest.raises(UnexpectedResponse) as wrong_size:
        client.upsert(collection, points=[models.PointStruct(id=1, vector=[0.1, 0.2, 0.3])])
    assert wrong_size.value.status_code == 400
    assert "dimension" in wrong_size.value.content.decode().lower()
    with pytest.raises(UnexpectedResponse) as wrong_query:
        client.query_points(collection, query=[0.1, 0.2, 0.3])
    assert wrong_query.value.status_code == 400
    with pytest.raises(UnexpectedResponse) as missing:
        client.get_collection(f"{collection}_missing")
    assert missing.value.status_code == 404
    with pytest.raises(UnexpectedResponse) as duplicate:
        create_collection(client, collection)
    assert duplicate.value.status_code in (400, 409)

    url = f"{qdrant.url}/collections/{collection}/points"
    broken = httpx.put(
        url,
        content=b"{not json",
        headers={**qdrant.headers(), "content-type": "application/json"},
        timeout=5,
    )
    assert broken.status_code == 400
    assert "error" in broken.json()["status"]
    bad_id = {"points": [{"id": "not-a-uuid", "vector": [0.0] * DIM}]}
    res = httpx.put(url, json=bad_id, headers=qdrant.headers(), timeout=5)
    assert 400 <= res.status_code < 500
    assert set(res.json()) >= {"status", "time"}

    assert httpx.get(f"{qdrant.url}/readyz", timeout=5).status_code == 200
    assert client.count(collection).count == 0
    if qdrant.process is not None:
        assert qdrant.process.alive()


def test_metrics_are_prometheus_text_with_real_gauges(
    qdrant: QdrantServer, client: QdrantClient, collection: str
) -> None:
    create_collection(client, collection)
    client.upsert(collection, points=make_points(3, seed=1))
    text = httpx.get(f"{qdrant.url}/metrics", headers=qdrant.headers(), timeout=5).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["collections_total"].samples[0].value >= 1
    assert "app_info" in families
    if qdrant.external:
        return
    assert families["collections_total"].samples[0].value == len(
        client.get_collections().collections
    )
    points = {s.labels["collection"]: s.value for s in families["collection_points"].samples}
    assert points[collection] == 3
    assert families["collections_vector_total"].samples[0].value >= 3
    assert any(s.labels.get("status") == "200" for s in families["rest_responses"].samples)


# --------------------------------------------------------------------------- persistence


@standin_only
def test_data_survives_a_restart(tmp_path: Path) -> None:
    key = secret(16)
    name = "survivor"
    points = make_points(5, seed=21)
    with start_qdrant(tmp_path, api_key=key, name="qdrant-restart") as server:
        c = QdrantClient(url=server.url, api_key=key, check_compatibility=False)
        create_collection(c, name)
        c.create_payload_index(name, "tenant", field_schema=models.PayloadSchemaType.KEYWORD)
        c.upsert(name, points=points, wait=True)
        c.close()
        assert server.process is not None
        first_pid = server.process.pid
        assert server.stop() == 0
        assert "storage closed" in server.process.log_tail()

        server.start()
        assert server.process.pid != first_pid
        c = QdrantClient(url=server.url, api_key=key, check_compatibility=False)
        assert c.count(name).count == 5
        (got,) = c.retrieve(name, ids=[points[2].id], with_vectors=True)
        assert got.payload == points[2].payload
        assert np.allclose(got.vector, points[2].vector, atol=1e-5)
        assert "tenant" in c.get_collection(name).payload_schema
        assert c.query_points(name, query=points[4].vector, limit=1).points[0].id == points[4].id
        c.close()


@standin_only
def test_second_instance_on_the_same_storage_refuses_to_start(tmp_path: Path) -> None:
    with start_qdrant(tmp_path, name="qdrant-lock") as server:
        assert server.config_path is not None
        clash = subprocess.run(
            [str(QDRANT_BIN), "--config-path", str(server.config_path)],
            env={**os.environ, **standin_env(), "QDRANT__SERVICE__HTTP_PORT": "0"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert clash.returncode != 0
        assert "already accessed" in clash.stderr
        assert http_ready(server)


def http_ready(server: QdrantServer) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200


# --------------------------------------------------------------------------- config and archive


def test_config_file_and_env_overrides(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "log_level: DEBUG\n"
        "storage:\n  storage_path: /data/storage\n  snapshots_path: /data/snapshots\n"
        "  optimizers: {default_segment_number: 2}\n"
        "service:\n  host: 127.0.0.1\n  http_port: 7000\n  api_key: from-file\n"
        "  max_request_size_mb: 32\n"
        "cluster: {enabled: false, p2p: {port: 6335}}\n"
        "telemetry_disabled: true\n"
    )
    s = qdrant_standin.load_settings(str(config), environ={})
    assert (s.host, s.http_port, s.api_key, s.read_only_api_key) == (
        "127.0.0.1",
        7000,
        "from-file",
        None,
    )
    assert s.storage_path == Path("/data/storage")
    assert s.snapshots_path == Path("/data/snapshots")
    assert (s.log_level, s.telemetry_disabled) == ("DEBUG", True)
    env = {
        "QDRANT__SERVICE__HTTP_PORT": "7100",
        "QDRANT__SERVICE__API_KEY": "12345",
        "QDRANT__SERVICE__READ_ONLY_API_KEY": "ro-key",
        "QDRANT__STORAGE__STORAGE_PATH": "/elsewhere",
        "QDRANT__LOG_LEVEL": "WARN",
    }
    s = qdrant_standin.load_settings(str(config), environ=env)
    assert (s.http_port, s.api_key, s.read_only_api_key) == (7100, "12345", "ro-key")
    assert s.storage_path == Path("/elsewhere")
    assert s.log_level == "WARN"
    defaults = qdrant_standin.load_settings(None, environ={})
    assert (defaults.http_port, defaults.api_key) == (6333, None)


@standin_only
def test_release_archive_runs_the_standin_copied_alone(tmp_path: Path) -> None:
    archive = build_release_archive(tmp_path / "dist", version="1.20.3")
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["qdrant"]
        assert tar.getmember("qdrant").mode == 0o755
        tar.extractall(tmp_path / "opt", filter="data")
    binary = tmp_path / "opt" / "qdrant"
    done = subprocess.run(
        [str(binary), "--version"],
        env={**os.environ, **standin_env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "qdrant 1.20.3"
    with start_qdrant(tmp_path, binary=binary, name="qdrant-archive") as server:
        assert httpx.get(f"{server.url}/", timeout=5).json()["version"] == "1.20.3"


# --------------------------------------------------------------------------- LightRAG


async def fake_embed(texts: list[str], **_: object) -> np.ndarray:
    """Deterministic unit vectors: the same text always embeds the same way."""
    rows = []
    for text in texts:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        rows.append(unit_vector(random.Random(seed), DIM))
    return np.array(rows, dtype=np.float32)


async def test_lightrag_qdrant_storage_works_against_it(
    qdrant: QdrantServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LightRAG's own QdrantVectorDBStorage (lightrag/kg/qdrant_impl.py) end to end: it calls
    collection_exists, create_collection (hnsw m=0), create_payload_index (keyword, is_tenant),
    count, get_collection, upsert(wait), query_points(score_threshold, filter), retrieve
    (with vectors), scroll, delete (ids and filter) and delete_collection."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lightrag.kg.qdrant_impl import QdrantVectorDBStorage
        from lightrag.kg.shared_storage import initialize_share_data
        from lightrag.utils import EmbeddingFunc

    monkeypatch.setenv("QDRANT_URL", qdrant.url)
    if qdrant.api_key:
        monkeypatch.setenv("QDRANT_API_KEY", qdrant.api_key)
    monkeypatch.delenv("QDRANT_WORKSPACE", raising=False)
    initialize_share_data()
    embedding = EmbeddingFunc(embedding_dim=DIM, func=fake_embed, model_name="standin-hash")
    workspace = f"ws{uuid.uuid4().hex[:8]}"
    config = {
        "embedding_batch_num": 4,
        "vector_db_storage_cls_kwargs": {"cosine_better_than_threshold": 0.2},
    }

    def storage(namespace: str, meta: set[str]) -> QdrantVectorDBStorage:
        return QdrantVectorDBStorage(
            namespace=namespace,
            global_config=config,
            embedding_func=embedding,
            workspace=workspace,
            meta_fields=meta,
        )

    chunks = storage("chunks", {"content", "full_doc_id"})
    relations = storage("relationships", {"src_id", "tgt_id", "content"})
    await chunks.initialize()
    await relations.initialize()
    docs = {
        f"chunk-{i}": {"content": f"Shield RAG chunk number {i}", "full_doc_id": "doc-1"}
        for i in range(6)
    }
    await chunks.upsert(docs)
    await chunks.index_done_callback()

    hits = await chunks.query("Shield RAG chunk number 4", top_k=3)
    assert hits[0]["id"] == "chunk-4"
    assert hits[0]["distance"] == pytest.approx(1.0, abs=1e-5)
    got = await chunks.get_by_id("chunk-2")
    assert got is not None
    assert got["full_doc_id"] == "doc-1"
    many = await chunks.get_by_ids(["chunk-0", "chunk-5", "missing"])
    assert [d and d["id"] for d in many] == ["chunk-0", "chunk-5", None]
    vectors = await chunks.get_vectors_by_ids(["chunk-1"])
    assert len(vectors["chunk-1"]) == DIM

    await chunks.delete(["chunk-3"])
    await chunks.index_done_callback()
    assert await chunks.get_by_id("chunk-3") is None

    await relations.upsert(
        {
            "rel-ab": {"src_id": "A", "tgt_id": "B", "content": "A knows B"},
            "rel-bc": {"src_id": "B", "tgt_id": "C", "content": "B knows C"},
        }
    )
    await relations.index_done_callback()
    await relations.delete_entity_relation("A")
    assert await relations.get_by_id("rel-ab") is None
    assert await relations.get_by_id("rel-bc") is not None

    raw = QdrantClient(url=qdrant.url, api_key=qdrant.api_key, prefer_grpc=False)
    info = raw.get_collection(chunks.final_namespace)
    assert info.payload_schema["workspace_id"].data_type == models.PayloadSchemaType.KEYWORD
    assert info.config.hnsw_config.m == 0
    assert info.config.hnsw_config.payload_m == 16

    for store in (chunks, relations):
        result = await store.drop()
        assert result["status"] == "success", result
        await store.finalize()
    for name in (chunks.final_namespace, relations.final_namespace):
        if raw.collection_exists(name) and raw.count(name).count == 0:
            raw.delete_collection(name)
    raw.close()
