"""LightRAG's Qdrant storage against the stand-in.

Every test here runs against the stand-in started from ``bin/qdrant``, or against a real Qdrant
when ``SHIELD_TEST_QDRANT_URL`` (and ``SHIELD_TEST_QDRANT_API_KEY``) are set."""

from __future__ import annotations

import hashlib
import random
import uuid
import warnings

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.standins.qdrant.launch import QdrantServer
from tests.standins.test_qdrant.helpers import DIM, MARKS
from tests.support.vectors import unit_vector

pytestmark = MARKS


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
