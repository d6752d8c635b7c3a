"""The vector phase never calls LightRAG: ``graph: false`` ingests into the vector store only
and says so; otherwise each document is stashed for the job's graph stage and the result
says ``queued``. A LightRAG that is down does not matter to the vector phase."""

from __future__ import annotations

import json
from typing import Any

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
        return [[0.0] * 4 for _unused in texts]


class Vectors:
    def __init__(self) -> None:
        self.upserted = 0

    async def store_document(
        self,
        doc_id: str,
        ids: list[str],
        vectors: Any,
        payloads: Any,
        former: tuple[str, str] | None = None,
    ) -> None:
        self.upserted += len(ids)


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


class Stash:
    def __init__(self) -> None:
        self.docs: list[tuple[str, str, str, str]] = []

    async def __call__(self, job_id: str, doc_id: str, text: str, source: str) -> None:
        self.docs.append((job_id, doc_id, text, source))


def pipeline(lightrag: DownLightRAG | None, stash: Stash) -> tuple[Pipeline, Vectors]:
    vectors = Vectors()
    built = Pipeline(SETTINGS, Embedder(), vectors, lightrag, no_blob, stash)  # type: ignore[arg-type]
    return built, vectors


def job(request: dict[str, Any]) -> dict[str, str]:
    return {"id": "j1", "kind": "text", "request": json.dumps(request)}


async def test_graph_false_skips_lightrag_and_says_so() -> None:
    lightrag, stash = DownLightRAG(), Stash()
    run, vectors = pipeline(lightrag, stash)
    req = TextIngest(type="text", text="A fact about rivers.", graph=False).model_dump()
    result = await run.run(job(req), progress)
    assert result["graph"] == "skipped" and result["chunks"] == 1
    assert vectors.upserted == 1 and lightrag.calls == 0 and stash.docs == []


async def test_graph_true_stashes_the_document_for_the_graph_stage() -> None:
    lightrag, stash = DownLightRAG(), Stash()
    run, vectors = pipeline(lightrag, stash)
    req = TextIngest(type="text", text="A fact about rivers.", source="rivers").model_dump()
    assert req["graph"] is True
    result = await run.run(job(req), progress)
    assert result["graph"] == "queued" and vectors.upserted == 1
    assert lightrag.calls == 0  # the vector phase does not wait for LightRAG
    assert stash.docs == [("j1", result["doc_ids"][0], "A fact about rivers.", "rivers")]


async def test_lightrag_disabled_says_so_and_stashes_nothing() -> None:
    stash = Stash()
    run, _unused = pipeline(None, stash)
    result = await run.run(job(TextIngest(type="text", text="Plain.").model_dump()), progress)
    assert result["graph"] == "disabled" and stash.docs == []


async def test_jobs_queued_before_the_field_existed_index_the_graph() -> None:
    stash = Stash()
    run, _unused = pipeline(DownLightRAG(), stash)
    result = await run.run(job({"type": "text", "text": "Old job.", "metadata": {}}), progress)
    assert result["graph"] == "queued" and len(stash.docs) == 1


def test_graph_defaults_to_true_on_both_request_kinds() -> None:
    assert UrlIngest(type="url", url="https://example.org/", graph=False).graph is False
    assert UrlIngest(type="url", url="https://example.org/").graph is True
