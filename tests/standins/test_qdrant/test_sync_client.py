"""The official sync qdrant-client against the stand-in: collections, indexes, points, queries,
the legacy search endpoints.

Every test here runs against the stand-in started from ``bin/qdrant``, or against a real Qdrant
when ``SHIELD_TEST_QDRANT_URL`` (and ``SHIELD_TEST_QDRANT_API_KEY``) are set."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.standins.qdrant.launch import QdrantServer
from tests.standins.test_qdrant.helpers import (
    DIM,
    MARKS,
    create_collection,
    make_points,
    tenant_filter,
)
from tests.support.vectors import cosine

pytestmark = MARKS


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
    blue, _unused = client.scroll(collection, scroll_filter=tenant_filter("blue"), limit=100)
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
