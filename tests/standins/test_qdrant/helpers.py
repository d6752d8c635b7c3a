"""Shared by the Qdrant stand-in tests: marks, points and filters, one collection's setup."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest
from qdrant_client import QdrantClient, models

from tests.standins.qdrant.launch import QdrantServer, external_qdrant_url
from tests.support.vectors import unit_vector

# Every module's pytestmark.
MARKS = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection"),
    pytest.mark.filterwarnings("error:Qdrant client version"),  # version check must pass
]

DIM = 384
standin_only = pytest.mark.skipif(
    external_qdrant_url() is not None, reason="about the stand-in process itself"
)


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


def http_ready(server: QdrantServer) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
