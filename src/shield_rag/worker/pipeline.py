"""The ingest pipeline's vector phase: fetch or parse → chunk → embed → upsert to Qdrant.

Each document that goes to the knowledge graph too is handed to ``stash`` (its text and
source, kept in Redis for the job's graph stage, :mod:`shield_rag.worker.graph`), and the
job's result says ``"graph": "queued"``. A request with ``graph: false`` skips the graph
(``"graph": "skipped"``; ``"off"`` while the feature ``graph_indexing`` is off): the content
is searchable with vector search and the job does not need LightRAG, so it succeeds while
LightRAG is down.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Histogram

from shield_rag.clients.embeddings import Embedder
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.clients.vectorstore import VectorStore
from shield_rag.documents import (
    chunk_points,
    doc_id_for,
    entry_doc_id,
    former_unnamed_doc_id,
)
from shield_rag.errors import PermanentJobError
from shield_rag.features import FeatureFlags
from shield_rag.ingest.chunk import chunk_text
from shield_rag.ingest.extract import extract
from shield_rag.ingest.fetch import crawl
from shield_rag.settings import Settings

log = logging.getLogger(__name__)

STAGE_SECONDS = Histogram(
    "worker_stage_duration_seconds",
    "Time spent per pipeline stage",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
CHUNKS = Counter("worker_chunks_total", "Chunks embedded and stored")
DOCUMENTS = Counter("worker_documents_total", "Documents ingested")

Progress = Callable[[str, float, str], Awaitable[None]]
# stash(job id, document id, text, source): keep a document for the job's graph stage.
Stash = Callable[[str, str, str, str], Awaitable[None]]


def _graph(req: dict[str, Any]) -> bool:
    """Whether the request asks for the knowledge graph (jobs queued before the field existed
    have no ``graph`` and get it)."""
    return req.get("graph", True) is not False


@dataclass
class Document:
    doc_id: str
    text: str
    title: str | None
    source: str
    content_type: str
    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)
    graph: bool = True
    # A doc id and a source whose points the write deletes (an unnamed text's former points).
    former: tuple[str, str] | None = None


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        vectors: VectorStore,
        lightrag: LightRAGClient | None,
        load_blob: Callable[[str], Awaitable[bytes | None]],
        stash: Stash,
        features: FeatureFlags | None = None,
    ) -> None:
        self.settings = settings
        self.features = features
        self.embedder = embedder
        self.vectors = vectors
        self.lightrag = lightrag
        self.load_blob = load_blob
        self.stash = stash

    async def run(self, job: dict[str, str], progress: Progress) -> dict[str, Any]:
        kind = job["kind"]
        request: dict[str, Any] = json.loads(job["request"])
        job_id = job["id"]
        if kind == "text":
            return await self._text(job_id, request, progress)
        if kind == "document":
            return await self._document(job_id, request, progress)
        if kind == "url":
            return await self._crawl(job_id, request, progress)
        raise PermanentJobError(f"unknown job kind {kind!r}")

    def graph_result(self, req: dict[str, Any]) -> str:
        """What the vector phase did about the knowledge graph, for the job's result
        (``queued`` becomes ``indexed`` when the graph stage is done)."""
        if not _graph(req):
            return "skipped"
        if self.lightrag is None:
            return "disabled"
        if self.features is not None and not self.features.enabled("graph_indexing"):
            return "off"  # features.graph_indexing was off when the vectors were written
        return "queued"

    async def _text(self, job_id: str, req: dict[str, Any], progress: Progress) -> dict[str, Any]:
        source = req.get("source")
        former = None
        if not source:
            source = f"text:{hashlib.sha256(req['text'].encode()).hexdigest()[:12]}"
            former = (former_unnamed_doc_id("text", req["text"]), source)
        doc = Document(
            doc_id=entry_doc_id("text", req.get("source"), req["text"]),
            text=req["text"],
            title=req.get("title"),
            source=source,
            content_type="text/plain",
            kind="text",
            metadata=req.get("metadata") or {},
            graph=_graph(req),
            former=former,
        )
        chunks = await self._index(job_id, doc, progress, 0.05, 1.0)
        return {
            "documents": 1,
            "chunks": chunks,
            "doc_ids": [doc.doc_id],
            "graph": self.graph_result(req),
        }

    async def _document(
        self, job_id: str, req: dict[str, Any], progress: Progress
    ) -> dict[str, Any]:
        await progress("parse", 0.02, f"parsing {req.get('filename')}")
        blob = await self.load_blob(job_id)
        if blob is None:
            raise PermanentJobError(
                "the uploaded document is no longer stored (expired); upload it again"
            )
        started = time.perf_counter()
        extracted = await asyncio.to_thread(
            extract, blob, req.get("content_type"), req.get("filename")
        )
        STAGE_SECONDS.labels("parse").observe(time.perf_counter() - started)
        doc = Document(
            doc_id=doc_id_for("document", blob),
            text=extracted.text,
            title=req.get("title") or extracted.title or req.get("filename"),
            source=req.get("filename") or "upload",
            content_type=extracted.content_type,
            kind="document",
            metadata=req.get("metadata") or {},
            graph=_graph(req),
        )
        await progress("parse", 0.1, f"extracted {len(doc.text)} characters")
        chunks = await self._index(job_id, doc, progress, 0.1, 1.0)
        return {
            "documents": 1,
            "chunks": chunks,
            "doc_ids": [doc.doc_id],
            "graph": self.graph_result(req),
        }

    async def _crawl(self, job_id: str, req: dict[str, Any], progress: Progress) -> dict[str, Any]:
        crawl_cfg = self.settings.crawl
        max_pages = int(req.get("max_pages") or crawl_cfg.default_max_pages)
        depth = req.get("max_depth")
        max_depth = int(depth if depth is not None else crawl_cfg.default_max_depth)
        await progress("fetch", 0.01, f"crawling {req['url']} (max {max_pages} pages)")
        doc_ids: list[str] = []
        skipped: list[dict[str, str]] = []
        chunks = 0
        pages = 0
        async for page in crawl(
            req["url"],
            allowed_domains=req.get("allowed_domains"),
            max_pages=max_pages,
            max_depth=max_depth,
            settings=crawl_cfg,
        ):
            pages += 1
            lo = min(0.95, pages / (max_pages + 1))
            hi = min(0.99, (pages + 1) / (max_pages + 1))
            await progress("fetch", lo, f"fetched {page.final_url} ({pages}/{max_pages})")
            try:
                extracted = await asyncio.to_thread(
                    extract, page.content, page.content_type, page.final_url
                )
            except PermanentJobError as exc:
                skipped.append({"url": page.final_url, "reason": str(exc)})
                continue
            doc = Document(
                doc_id=doc_id_for("url", page.final_url),
                text=extracted.text,
                title=extracted.title,
                source=page.final_url,
                content_type=extracted.content_type,
                kind="url",
                metadata=req.get("metadata") or {},
                graph=_graph(req),
            )
            chunks += await self._index(job_id, doc, progress, lo, hi)
            doc_ids.append(doc.doc_id)
        if not doc_ids:
            reasons = "; ".join(f"{s['url']}: {s['reason']}" for s in skipped[:3])
            raise PermanentJobError(
                f"no page of {req['url']} could be ingested"
                + (f" ({reasons})" if reasons else " (nothing fetched)")
            )
        return {
            "documents": len(doc_ids),
            "pages": pages,
            "chunks": chunks,
            "doc_ids": doc_ids,
            "skipped": skipped,
            "graph": self.graph_result(req),
        }

    async def _index(
        self, job_id: str, doc: Document, progress: Progress, lo: float, hi: float
    ) -> int:
        span = hi - lo
        cfg = self.settings.chunking
        started = time.perf_counter()
        chunks = chunk_text(doc.text, cfg.max_chars, cfg.overlap_chars)
        STAGE_SECONDS.labels("chunk").observe(time.perf_counter() - started)
        if not chunks:
            raise PermanentJobError(f"{doc.source} has no text to index")
        await progress("chunk", lo + span * 0.1, f"{doc.source}: {len(chunks)} chunks")

        started = time.perf_counter()
        vectors = await self.embedder.embed(chunks)
        STAGE_SECONDS.labels("embed").observe(time.perf_counter() - started)
        await progress("embed", lo + span * 0.5, f"{doc.source}: embedded {len(chunks)} chunks")

        ids, payloads = chunk_points(
            doc.doc_id,
            chunks,
            source=doc.source,
            title=doc.title,
            content_type=doc.content_type,
            kind=doc.kind,
            job_id=job_id,
            metadata=doc.metadata,
            ingested_at=time.time(),
        )
        started = time.perf_counter()
        await self.vectors.store_document(doc.doc_id, ids, vectors, payloads, doc.former)
        STAGE_SECONDS.labels("upsert").observe(time.perf_counter() - started)
        await progress("upsert", lo + span * 0.7, f"{doc.source}: stored {len(chunks)} vectors")

        if self.lightrag is not None and doc.graph:
            await self.stash(job_id, doc.doc_id, doc.text, doc.source)
        CHUNKS.inc(len(chunks))
        DOCUMENTS.inc()
        return len(chunks)
