"""The official async qdrant-client against the stand-in.

Every test here runs against the stand-in started from ``bin/qdrant``, or against a real Qdrant
when ``SHIELD_TEST_QDRANT_URL`` (and ``SHIELD_TEST_QDRANT_API_KEY``) are set."""

from __future__ import annotations

import uuid

from qdrant_client import AsyncQdrantClient, models

from tests.standins.qdrant.launch import QdrantServer
from tests.standins.test_qdrant.helpers import DIM, MARKS, make_points, tenant_filter
from tests.support.wait import eventually

pytestmark = MARKS


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

        async def applied() -> bool:
            return (await client.count(name)).count >= 12

        await eventually(applied, 10, "the un-waited upsert to be applied")

        res = await client.query_points(
            name, query=points[5].vector, query_filter=tenant_filter("red"), limit=2, offset=0
        )
        assert res.points[0].id == points[5].id
        assert len(res.points) == 2
        page, _unused = await client.scroll(name, limit=50, scroll_filter=tenant_filter("blue"))
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
