"""The snapshot tests' helpers: a collection with every kind of config and vector, its full
state (config, payload schema, points with vectors) and searches, compared before and after."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from qdrant_client import QdrantClient, models

from tests.standins.qdrant.launch import QdrantServer
from tests.standins.test_qdrant.helpers import DIM, tenant_filter
from tests.support.vectors import unit_vector


def snapshots_dir(server: QdrantServer) -> Path:
    assert server.config_path is not None
    config = yaml.safe_load(server.config_path.read_text(encoding="utf-8"))
    return Path(config["storage"]["snapshots_path"])


def rich_collection(client: QdrantClient, name: str) -> list[models.PointStruct]:
    """Named dense vectors of two sizes and distances, a sparse vector, metadata, HNSW,
    optimizer and WAL settings, two payload indexes, and int and UUID point ids."""
    client.create_collection(
        name,
        vectors_config={
            "dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE),
            "small": models.VectorParams(size=4, distance=models.Distance.DOT),
        },
        sparse_vectors_config={"words": models.SparseVectorParams()},
        hnsw_config=models.HnswConfigDiff(m=24, ef_construct=77),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1234),
        wal_config=models.WalConfigDiff(wal_capacity_mb=48),
        metadata={"owner": "snapshots-test", "generation": 3},
    )
    client.create_payload_index(name, "tenant", field_schema=models.PayloadSchemaType.KEYWORD)
    client.create_payload_index(name, "rank", field_schema=models.PayloadSchemaType.INTEGER)
    rng = random.Random(5)
    points = []
    for i in range(40):
        pid: int | str = i * 7 + 1 if i % 2 else str(uuid.UUID(int=rng.getrandbits(128)))
        words = sorted(rng.sample(range(500), 5))
        points.append(
            models.PointStruct(
                id=pid,
                vector={
                    "dense": unit_vector(rng, DIM),
                    "small": [rng.uniform(-1, 1) for _unused in range(4)],
                    "words": models.SparseVector(
                        indices=words, values=[rng.uniform(0.1, 2) for _unused in words]
                    ),
                },
                payload={"tenant": ["red", "blue"][i % 2], "rank": i, "tags": {"n": [i, "x"]}},
            )
        )
    client.upsert(name, points=points, wait=True)
    return points


def state(client: QdrantClient, name: str) -> dict[str, Any]:
    """What a snapshot must bring back: the config, the payload schema and every point."""
    info = client.get_collection(name)
    records, offset = [], None
    while True:
        page, offset = client.scroll(
            name, limit=17, offset=offset, with_payload=True, with_vectors=True
        )
        records += page
        if offset is None:
            break
    return {
        "params": info.config.params.model_dump(),
        "hnsw": info.config.hnsw_config.model_dump(),
        "optimizer": info.config.optimizer_config.model_dump(),
        "wal": info.config.wal_config.model_dump() if info.config.wal_config else None,
        "metadata": info.config.metadata,
        "schema": {k: v.data_type for k, v in info.payload_schema.items()},
        "count": info.points_count,
        "points": {str(r.id): (r.id, r.payload, r.vector) for r in records},
    }


def assert_same_state(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("params", "hnsw", "optimizer", "wal", "metadata", "schema", "count"):
        assert got[key] == want[key], key
    assert got["points"].keys() == want["points"].keys()
    for pid, (raw_id, payload, vector) in want["points"].items():
        got_id, got_payload, got_vector = got["points"][pid]
        assert (got_id, got_payload) == (raw_id, payload), pid
        named = vector if isinstance(vector, dict) else {"": vector}
        got_named = got_vector if isinstance(got_vector, dict) else {"": got_vector}
        assert got_named.keys() == named.keys(), pid
        for using, v in named.items():
            g = got_named[using]
            if isinstance(v, models.SparseVector):
                assert g.indices == v.indices, (pid, using)
                assert np.allclose(g.values, v.values, atol=1e-6), (pid, using)
            else:
                assert np.allclose(g, v, atol=1e-6), (pid, using)


def searches(client: QdrantClient, name: str, points: list[models.PointStruct]) -> list[Any]:
    """Ids and scores of dense, filtered and sparse searches."""
    probe, sparse = points[3].vector, points[8].vector
    assert isinstance(probe, dict) and isinstance(sparse, dict)
    queries: list[dict[str, Any]] = [
        {"query": probe["dense"], "using": "dense"},
        {"query": probe["small"], "using": "small", "query_filter": tenant_filter("red")},
        {"query": sparse["words"], "using": "words"},
    ]
    return [
        [(str(p.id), p.score) for p in client.query_points(name, limit=7, **q).points]
        for q in queries
    ]


def assert_same_hits(got: list[Any], want: list[Any]) -> None:
    assert [[pid for pid, _unused in hits] for hits in got] == [
        [pid for pid, _unused in h] for h in want
    ]
    for hits, expected in zip(got, want, strict=True):
        assert [s for _unused, s in hits] == pytest.approx([s for _unused, s in expected], abs=1e-5)


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert body["status"]["error"], body
    return str(body["status"]["error"])
