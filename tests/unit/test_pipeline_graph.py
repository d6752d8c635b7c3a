"""``graph: false`` ingests into the vector store only: LightRAG is not called, the job's
result says so, and a LightRAG that is down does not matter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shield_rag.api.jobs import TextIngest, UrlIngest
from shield_rag.clients.lightrag import LightRAGError
from shield_rag.settings import Settings
from shield_rag.worker.pipeline import Pipeline

SETTINGS = Settings(
    redis={"url": "redis://127.0.0.1:1/0"},  # type: ignore[arg-type]
    qdrant={"url": "http://127.0.0.1:1"},  # type: ignore[arg-type]
    ollama={"url": "http://127.0.0.1:1"},  # type: ignore[arg-type]
)


class Embedder:
    async def embed(self, texts: list[str]) -> list[list[float]]:
        return [[0.0] * 4 for _ in texts]


class Vectors:
    def __init__(self) -> None:
        self.upserted = 0

    async def upsert(self, ids: list[str], vectors: Any, payloads: Any) -> None:
        self.upserted += len(ids)

    async def delete_stale_chunks(self, doc_id: str, keep: int) -> None:
        return None


class DownLightRAG:
    def __init__(self) -> None:
        self.calls = 0

    async def insert(self, text: str, doc_id: str, file_source: str) -> dict[str, Any]:
        self.calls += 1
        raise LightRAGError("LightRAG at http://127.0.0.1:1 is unreachable")


async def progress(stage: str, fraction: float, message: str) -> None:
    return None


async def no_blob(job_id: str) -> bytes | None:
    return None


def pipeline(lightrag: DownLightRAG) -> tuple[Pipeline, Vectors]:
    vectors = Vectors()
    return Pipeline(SETTINGS, Embedder(), vectors, lightrag, no_blob), vectors  # type: ignore[arg-type]


def job(request: dict[str, Any]) -> dict[str, str]:
    return {"id": "j1", "kind": "text", "request": json.dumps(request)}


async def test_graph_false_skips_lightrag_and_says_so() -> None:
    lightrag = DownLightRAG()
    run, vectors = pipeline(lightrag)
    req = TextIngest(type="text", text="A fact about rivers.", graph=False).model_dump()
    result = await run.run(job(req), progress)
    assert result["graph"] == "skipped" and result["chunks"] == 1
    assert vectors.upserted == 1 and lightrag.calls == 0


async def test_graph_true_needs_lightrag() -> None:
    lightrag = DownLightRAG()
    run, _ = pipeline(lightrag)
    req = TextIngest(type="text", text="A fact about rivers.").model_dump()
    assert req["graph"] is True
    with pytest.raises(LightRAGError):
        await run.run(job(req), progress)
    assert lightrag.calls == 1


async def test_jobs_queued_before_the_field_existed_index_the_graph() -> None:
    lightrag = DownLightRAG()
    run, _ = pipeline(lightrag)
    with pytest.raises(LightRAGError):
        await run.run(job({"type": "text", "text": "Old job.", "metadata": {}}), progress)


def test_graph_defaults_to_true_on_both_request_kinds() -> None:
    assert UrlIngest(type="url", url="https://example.org/", graph=False).graph is False
    assert UrlIngest(type="url", url="https://example.org/").graph is True
