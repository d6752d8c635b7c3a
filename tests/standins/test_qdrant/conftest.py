"""One Qdrant (the stand-in, or the real one named by the environment) for the package's tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from tests.standins.qdrant.launch import QdrantServer, start_qdrant
from tests.support.tokens import secret


@pytest.fixture(scope="package")
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
