"""API keys (full and read-only), Qdrant's error answers, and the Prometheus metrics.

Every test here runs against the stand-in started from ``bin/qdrant``, or against a real Qdrant
when ``SHIELD_TEST_QDRANT_URL`` (and ``SHIELD_TEST_QDRANT_API_KEY``) are set."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.standins.qdrant.launch import QdrantServer
from tests.standins.test_qdrant.helpers import DIM, MARKS, create_collection, make_points

pytestmark = MARKS


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
