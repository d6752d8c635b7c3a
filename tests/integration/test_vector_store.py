"""The vector phase's one Qdrant request per document: the chunks stored, and the chunks a
longer earlier version of the document left behind deleted, other documents untouched."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from qdrant_client import models

from shield_rag.clients.vectorstore import VectorStore
from shield_rag.documents import chunk_points
from shield_rag.settings import QdrantSettings
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

DIM = 384


def _points(doc_id: str, chunks: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    return chunk_points(
        doc_id,
        chunks,
        source=f"src-{doc_id}",
        title=None,
        content_type="text/plain",
        kind="text",
        job_id="job-1",
        metadata={},
        ingested_at=0.0,
    )


async def _chunks_of(store: VectorStore, doc_id: str) -> dict[int, str]:
    match = models.Filter(
        must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))]
    )
    points, _unused = await store.client.scroll(
        store.collection, scroll_filter=match, limit=100, with_payload=True
    )
    return {int(p.payload["chunk_index"]): str(p.payload["text"]) for p in points if p.payload}


def test_store_document_replaces_a_longer_version_and_leaves_others(stack: Stack) -> None:
    settings = QdrantSettings(
        url=stack.qdrant_url,  # type: ignore[arg-type]
        api_key=stack.qdrant_api_key,  # type: ignore[arg-type]
        collection=f"vs_{uuid.uuid4().hex[:8]}",
        vector_size=DIM,
    )

    async def run() -> tuple[dict[int, str], dict[int, str]]:
        store = VectorStore(settings)
        try:
            long_text = [f"long {i}" for i in range(5)]
            other = [f"other {i}" for i in range(4)]
            for doc, chunks in (("doc-a", long_text), ("doc-b", other)):
                ids, payloads = _points(doc, chunks)
                await store.store_document(doc, ids, [[0.1] * DIM for _unused in ids], payloads)
            short = ["short 0", "short 1"]
            ids, payloads = _points("doc-a", short)
            await store.store_document("doc-a", ids, [[0.2] * DIM for _unused in ids], payloads)
            return await _chunks_of(store, "doc-a"), await _chunks_of(store, "doc-b")
        finally:
            await store.client.delete_collection(settings.collection)
            await store.close()

    doc_a, doc_b = asyncio.run(run())
    assert doc_a == {0: "short 0", 1: "short 1"}
    assert doc_b == {i: f"other {i}" for i in range(4)}
