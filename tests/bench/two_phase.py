"""Section 6, two-phase figures: the vector phase, time to searchable, the graph stage.

With LightRAG enabled a job's chunks are searchable when its vector phase ends
(``job.vectors_succeeded``), before its graph stage. Three figures, each against a floor
measured in the same run:

* **vector phase rate**: chunks of K documents submitted to ``POST /ingest-async`` divided
  by the time from the first submit to the last job's ``job.vectors_succeeded`` event. Floor:
  the same chunks embedded with the ``ollama`` client (the workers' batches) and written with
  ``qdrant-client`` as a worker writes them (the same payloads, into the stack's collection
  with its payload indexes and points, one request per document holding the upsert and the
  delete of its stale chunks, ``wait=True``; removed afterwards), as many documents in flight
  as the workers run jobs; the embedder's raw rate is printed beside it. The floor is
  measured right before the jobs are submitted and again once their graph stages are done
  (the machine as quiet as before: the floor must not run beside the graph stage), and the
  faster of the two counts. 48 documents, so that the first job's pick-up and the last one's
  hand-off weigh little against the whole. The stand-in's engine keeps a deleted point's slot
  and scans every slot for a document's stale-chunk delete, so a document costs more the
  more slots the collection holds: the floor's points and the jobs' own are written and
  removed once, untimed, before the first floor, and both floors write the same ids again,
  so the floors and the jobs write where those points were, into a collection of one size.
* **time to searchable** at one client: submit a text, then ``POST /search`` (filtered on its
  source) until its chunk comes back. Floor: the same text embedded and upserted directly,
  then found with ``qdrant-client``.
* **graph stage rate**: documents per second from the first ``job.vectors_succeeded`` to the
  last job's ``finished_at``. Floor: the same documents (each with a distinguishing first
  line, since LightRAG does not index identical content twice) inserted with the LightRAG
  service's own ``POST /documents/text``, as many at once as the workers have graph slots.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import ollama
from qdrant_client import AsyncQdrantClient, models

from shield_rag.clients.qdrant_requests import stale_chunks
from shield_rag.documents import chunk_points, doc_id_for
from shield_rag.ingest.chunk import chunk_text
from shield_rag.settings import Settings
from tests.bench.context import BenchContext
from tests.bench.stats import Figure, percentiles
from tests.bench.throughput import embed_documents, fmt_rate, make_texts
from tests.support.wait import wait_until

FIND_TIMEOUT = 30.0  # seconds a directly upserted document may take to be found


SECTION = "6. ingest throughput"


def _qdrant(settings: Settings) -> AsyncQdrantClient:
    key = settings.qdrant.api_key
    return AsyncQdrantClient(
        url=str(settings.qdrant.url),
        api_key=key.get_secret_value() if key else None,
        check_compatibility=False,
        timeout=int(settings.qdrant.timeout),
    )


async def direct_index(
    settings: Settings,
    documents: list[list[str]],
    in_flight: int,
    find: bool = False,
    names: list[str] | None = None,
    prime: bool = False,
) -> list[float]:
    """Embed each document's chunks and write them directly (worker batches, ``in_flight`` at
    once) with the Qdrant requests a worker makes, into the stack's own collection, then
    delete them; with ``find``, also query until the document's first chunk is found.
    Returns each document's seconds, and the total as the last element.

    The write is what a worker's is, so the floor pays what Qdrant charges for it and
    nothing of the pipeline's own: the same payloads (``chunk_points``), into the same
    collection with its payload indexes and the points already in it, one request holding
    the upsert and the delete of the document's stale chunks, answered once applied.

    ``names`` are the documents' ids (new ones by default). With ``prime``, every document is
    written and deleted once, untimed, before the timed pass, which then writes where its
    points were: the stand-in's engine keeps a deleted point's slot and scans every slot of
    the collection for the stale-chunk delete, so passes that write the same ids this way
    run on a collection of the same size, however many of them run."""
    embedder = ollama.AsyncClient(host=str(settings.ollama.url), timeout=settings.ollama.timeout)
    qdrant = _qdrant(settings)
    collection = settings.qdrant.collection
    run = uuid.uuid4().hex[:8]
    names = names or [f"bench-floor-{run}-{i}" for i in range(len(documents))]
    size = settings.ollama.embed_batch_size
    gate = asyncio.Semaphore(in_flight)
    written: list[str] = []

    async def one(index: int, chunks: list[str]) -> float:
        async with gate:
            started = time.perf_counter()
            vectors: list[list[float]] = []
            for start in range(0, len(chunks), size):
                res = await embedder.embed(
                    model=settings.ollama.embed_model,
                    input=chunks[start : start + size],
                    keep_alive=settings.ollama.keep_alive,
                )
                vectors += [list(v) for v in res.embeddings]
            doc = names[index] if index >= 0 else f"{names[0]}-warm-up"
            if doc not in written:
                written.append(doc)
            ids, payloads = chunk_points(
                doc,
                chunks,
                source=doc,
                title=None,
                content_type="text/plain",
                kind="text",
                job_id="",
                metadata={},
                ingested_at=time.time(),
            )
            points = [
                models.PointStruct(id=i, vector=v, payload=p)
                for i, v, p in zip(ids, vectors, payloads, strict=True)
            ]
            await qdrant.batch_update_points(
                collection,
                [
                    models.UpsertOperation(upsert=models.PointsList(points=points)),
                    models.DeleteOperation(delete=stale_chunks(doc, len(ids))),
                ],
                wait=True,
            )
            if find:
                match = models.Filter(
                    must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc))]
                )
                # Polled until found, within a deadline (the bench is bounded in time).
                deadline = time.monotonic() + FIND_TIMEOUT
                while not (
                    await qdrant.query_points(
                        collection, query=vectors[0], query_filter=match, limit=1
                    )
                ).points:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"document {doc} not found within {FIND_TIMEOUT} s")
                    await asyncio.sleep(0.005)
            return time.perf_counter() - started

    async def delete_written() -> None:
        mine = models.Filter(
            must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=written))]
        )
        await qdrant.delete(collection, points_selector=models.FilterSelector(filter=mine))

    try:
        await one(-1, documents[0])  # warm-up: connections and model load
        if prime:
            await asyncio.gather(*(one(i, d) for i, d in enumerate(documents)))
            await delete_written()
        started = time.perf_counter()
        each = await asyncio.gather(*(one(i, d) for i, d in enumerate(documents)))
        return [*each, time.perf_counter() - started]
    finally:
        if written:
            await delete_written()
        await qdrant.close()


def _job_events(ctx: BenchContext, prefix: str, job_id: str) -> dict[str, float]:
    """The time of each event of a job, by event name (the first of each)."""
    out: dict[str, float] = {}
    for _id, fields in ctx.stack.redis_cli().xrange(f"{prefix}:job:{job_id}:events"):
        body = json.loads(fields[b"data"])
        out.setdefault(body["event"], float(body["ts"]))
    return out


def job_doc_ids(sources: list[str]) -> list[str]:
    """The document ids the vector phase gives texts submitted with these sources."""
    return [doc_id_for("text", source) for source in sources]


def run_two_phase(
    ctx: BenchContext, settings: Settings, texts: list[str], sources: list[str], timeout: float
) -> dict[str, Any]:
    """Submit ``texts`` (``sources[i]`` for ``texts[i]``), wait until every job succeeded;
    return the submit time, each job's vector-phase end and finish, and the chunks stored."""
    with ctx.stack.http(timeout=30) as http:
        started = time.time()
        job_ids = []
        for text, source in zip(texts, sources, strict=True):
            r = http.post("/ingest-async", json={"type": "text", "text": text, "source": source})
            r.raise_for_status()
            job_ids.append(r.json()["job_id"])
        pending = list(job_ids)
        jobs: list[dict[str, Any]] = []

        def all_done() -> bool:
            while pending:
                job = http.get(f"/jobs/{pending[0]}").json()
                if job["status"] in ("failed", "dead", "cancelled"):
                    raise RuntimeError(f"job {job['job_id']} ended {job['status']}: {job['error']}")
                if job["status"] != "succeeded":
                    return False
                jobs.append(job)
                pending.pop(0)
            return True

        wait_until(all_done, timeout, f"{len(texts)} two-phase jobs to succeed", interval=0.25)
    events = [_job_events(ctx, settings.redis.key_prefix, j) for j in job_ids]
    vectors_done = [e["job.vectors_succeeded"] for e in events]
    return {
        "started": started,
        "vectors_done": vectors_done,
        "each": sorted(e["job.vectors_succeeded"] - e["job.started"] for e in events),
        "retried": sum(1 for e in events if "job.retrying" in e),
        "graph_early": sum(
            1 for e in events if e.get("job.graph_started", float("inf")) < max(vectors_done)
        ),
        "finished": [float(j["finished_at"]) for j in jobs],
        "chunks": sum(int(j["result"]["chunks"]) for j in jobs),
        "graph": {j["phases"]["graph"] for j in jobs},
    }


async def lightrag_direct(settings: Settings, texts: list[str], in_flight: int) -> float:
    """Insert ``texts`` (made distinct) with the LightRAG service's own API; seconds."""
    key = settings.lightrag.api_key
    headers = {"X-API-Key": key.get_secret_value()} if key else {}
    tag = uuid.uuid4().hex[:8]
    gate = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(
        base_url=str(settings.lightrag.url).rstrip("/"),
        headers=headers,
        timeout=settings.lightrag.timeout,
    ) as client:

        async def one(i: int, text: str) -> None:
            async with gate:
                body = {
                    "text": f"Copy {tag}-{i}.\n\n{text}",
                    "id": f"doc-bench-{tag}-{i}",
                    "file_source": f"direct-{tag}-{i}",
                }
                r = await client.post("/documents/text", json=body)
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))
        return time.perf_counter() - started


def time_to_searchable(ctx: BenchContext, settings: Settings, count: int) -> list[float]:
    """Milliseconds from submit to the text's chunk answered by ``POST /search``."""
    tag = uuid.uuid4().hex[:8]
    out: list[float] = []
    with ctx.stack.http(timeout=30) as http:
        for i, text in enumerate(make_texts(count, seed=83, paragraphs=1)):
            source = f"tts-{tag}-{i}"
            query = {"query": text[:200], "limit": 1, "filters": {"source": source}}
            started = time.perf_counter()
            r = http.post("/ingest-async", json={"type": "text", "text": text, "source": source})
            r.raise_for_status()
            wait_until(
                lambda q=query: bool(http.post("/search", json=q).json()["results"]),
                120,
                f"{source} searchable",
                interval=0.005,
            )
            out.append((time.perf_counter() - started) * 1000)
    return out


def figures(ctx: BenchContext, settings: Settings) -> list[Figure]:
    count = ctx.scaled(48, 4)
    texts = make_texts(count, seed=97)
    cfg = settings.chunking
    documents = [chunk_text(t, cfg.max_chars, cfg.overlap_chars) for t in texts]
    planned = sum(len(d) for d in documents)
    in_flight = len(ctx.stack.workers) * settings.worker.concurrency
    graph_slots = len(ctx.stack.workers) * settings.worker.graph_concurrency

    ctx.progress(f"  two-phase: {count} documents, {planned} chunks, LightRAG enabled")
    # Both floor passes write the same point ids (primed), so the collection they write into
    # differs only by the jobs' points: the jobs run between the two sizes.
    tag = uuid.uuid4().hex[:8]
    sources = [f"tp-{tag}-{i}" for i in range(count)]
    floor_docs = [f"bench-floor-{tag}-{i}" for i in range(count)]
    asyncio.run(direct_index(settings, documents, in_flight, names=job_doc_ids(sources)))
    floor_before = asyncio.run(
        direct_index(settings, documents, in_flight, names=floor_docs, prime=True)
    )[-1]
    raw_s = asyncio.run(embed_documents(settings, documents, in_flight))
    run = run_two_phase(ctx, settings, texts, sources, timeout=600 if not ctx.quick else 180)
    # Every graph stage is done: the machine is as quiet as for the first measurement.
    floor_after = asyncio.run(
        direct_index(settings, documents, in_flight, names=floor_docs, prime=True)
    )[-1]
    floor_s = min(floor_before, floor_after)
    vectors_s = max(run["vectors_done"]) - run["started"]
    graph_s = max(run["finished"]) - min(run["vectors_done"])
    ctx.progress(f"  graph floor: {count} documents into LightRAG directly ({graph_slots} at once)")
    graph_floor_s = asyncio.run(lightrag_direct(settings, texts, max(1, graph_slots)))

    samples = ctx.scaled(20, 3)
    ctx.progress(f"  time to searchable: {samples} texts at 1 client")
    tts = time_to_searchable(ctx, settings, samples)
    tts_floor_docs = [
        chunk_text(t, cfg.max_chars, cfg.overlap_chars)
        for t in make_texts(samples, seed=84, paragraphs=1)
    ]
    tts_floor = asyncio.run(direct_index(settings, tts_floor_docs, 1, find=True))[:-1]
    vec_rate, floor_rate = run["chunks"] / vectors_s, planned / floor_s
    setup = (
        f"{len(ctx.stack.workers)} workers, concurrency {settings.worker.concurrency}, "
        f"graph_concurrency {settings.worker.graph_concurrency}"
    )
    return [
        Figure(
            section=SECTION,
            name="vector phase with LightRAG enabled: POST /ingest-async → job.vectors_succeeded",
            floor_name="the same chunks embedded (ollama client) and written (qdrant-client) "
            "directly, with a worker's Qdrant request",
            unit="chunks/s",
            measured={"value": vec_rate},
            floor={"value": floor_rate},
            samples=count,
            floor_samples=count,
            higher_is_better=True,
            notes=[
                f"vector phase {fmt_rate(vec_rate)} chunks/s vs direct embed+upsert "
                f"{fmt_rate(floor_rate)} chunks/s; the embedder alone {fmt_rate(planned / raw_s)} "
                f"chunks/s ({setup}); the direct floor ran at {fmt_rate(planned / floor_before)} "
                f"chunks/s before the jobs and {fmt_rate(planned / floor_after)} after their graph "
                "stages (the faster is the floor); the floors and the jobs wrote where points of "
                "the same ids had been written and removed before the first floor (the stand-in "
                "keeps a deleted point's slot and scans every slot for a stale-chunk delete), so "
                "all three ran on a collection of one size.",
                f"each job's vector phase (job.started → job.vectors_succeeded): p50 "
                f"{run['each'][len(run['each']) // 2] * 1000:.0f} ms, max "
                f"{run['each'][-1] * 1000:.0f} ms; {run['retried']} jobs retried; "
                f"{run['graph_early']} graph stages started before the last vector phase ended.",
                f"graph phases at the end: {sorted(run['graph'])}.",
            ],
        ),
        Figure(
            section=SECTION,
            name="time to searchable at 1 client: submit → POST /search returns the chunk",
            floor_name="the same text embedded, upserted and found with ollama + qdrant-client",
            unit="ms",
            measured=percentiles(tts),
            floor=percentiles([s * 1000 for s in tts_floor]),
            samples=len(tts),
            floor_samples=len(tts_floor),
            notes=["LightRAG enabled: the chunk is searchable before the job's graph stage ends."],
        ),
        Figure(
            section=SECTION,
            name="graph stage: first job.vectors_succeeded → last job finished",
            floor_name="the same documents inserted with the LightRAG service's own API",
            unit="docs/s",
            measured={"value": count / graph_s},
            floor={"value": count / graph_floor_s},
            samples=count,
            floor_samples=count,
            higher_is_better=True,
            notes=[
                f"{graph_slots} graph slots in all; the floor sends as many inserts at once "
                "(the LightRAG service runs its writes one at a time either way).",
                "graph slots hold back while vector-phase jobs wait for a slot "
                f"(worker.graph_yield_seconds {settings.worker.graph_yield_seconds:g}), so the "
                "window also holds the vector phases of the jobs after the first.",
            ],
        ),
    ]
