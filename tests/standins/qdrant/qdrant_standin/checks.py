"""Qdrant's input checks that local mode does not make: vector dimensions, point ids."""

from __future__ import annotations

import uuid
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client.http import models

from .errors import QdrantError


def dense_sizes(client: QdrantClient, name: str) -> dict[str, int]:
    """Dense (single-vector) sizes by vector name, ``""`` for the unnamed vector."""
    vectors = client.get_collection(name).config.params.vectors
    named = {"": vectors} if isinstance(vectors, models.VectorParams) else dict(vectors or {})
    return {k: v.size for k, v in named.items() if v.multivector_config is None}


def check_dims(sizes: dict[str, int], vector: Any, using: str | None) -> None:
    """Qdrant's "Vector dimension error" for a dense vector of the wrong length."""
    if isinstance(vector, models.NearestQuery):
        vector = vector.nearest
    if not (isinstance(vector, list) and vector and isinstance(vector[0], int | float)):
        return
    size = sizes.get(using or "")
    if size is not None and len(vector) != size:
        raise QdrantError(
            400, f"Wrong input: Vector dimension error: expected dim: {size}, got {len(vector)}"
        )


def check_upsert_dims(client: QdrantClient, name: str, body: Any) -> None:
    sizes = dense_sizes(client, name)
    if isinstance(body, models.PointsList):
        structs = [p.vector for p in body.points]
    elif isinstance(body.batch.vectors, dict):
        structs = [{k: v} for k, vs in body.batch.vectors.items() for v in vs]
    else:
        structs = list(body.batch.vectors)
    for struct in structs:
        for using, vector in struct.items() if isinstance(struct, dict) else [("", struct)]:
            check_dims(sizes, vector, using)


def check_point_ids(body: Any) -> None:
    """Reject ids that are neither unsigned integers nor UUIDs, as Qdrant's parser does."""
    ids: list[Any] = []
    if isinstance(body, models.PointsList | models.UpdateVectors):
        ids = [p.id for p in body.points]
    elif isinstance(body, models.PointsBatch):
        ids = list(body.batch.ids)
    elif isinstance(body, models.PointIdsList):
        ids = list(body.points)
    elif isinstance(body, models.PointRequest):
        ids = list(body.ids)
    elif isinstance(body, models.SetPayload | models.DeletePayload | models.DeleteVectors):
        ids = list(body.points or [])
    for pid in ids:
        if isinstance(pid, uuid.UUID) or (isinstance(pid, int) and pid >= 0):
            continue
        try:
            uuid.UUID(str(pid))
        except ValueError:
            raise QdrantError(
                400,
                f"Format error in JSON body: value {pid} is not a valid point ID, "
                "valid values are either an unsigned integer or a UUID",
            ) from None
