"""Section 6: ingest throughput end to end against the embedder's raw throughput.

Measured: K generated text documents of several chunks each are submitted to
``POST /ingest-async`` one after another; the rate is the chunks the jobs report
(``result.chunks``) divided by the time from the first submit to the last job's
``finished_at``. That is the whole pipeline: accept, queue, claim by a worker, chunk, embed,
upsert to Qdrant and add to LightRAG.

With LightRAG enabled, :mod:`tests.bench.two_phase` adds the vector phase's rate, the time
to searchable and the graph stage's rate, each against its own floor.

Floor: the embedder alone. The same documents are chunked here with the workers' chunking
settings and their chunks embedded with the ``ollama`` client at the same Ollama, each
document's chunks in the batches a worker sends (``ollama.embed_batch_size``), with as many
documents in flight as the workers run jobs at once. Embedding is the one step no pipeline
can skip, so its rate is the ceiling of the pipeline's; the ratio says how much of it the
pipeline keeps. The floor is measured right before and right after the pipeline, and the
faster of the two counts.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import ollama
from prometheus_client.parser import text_string_to_metric_families

from shield_rag.ingest.chunk import chunk_text
from shield_rag.settings import Settings, load_settings
from tests.bench.context import BenchContext
from tests.bench.stats import Figure
from tests.support.wait import wait_until

PLACES = [
    "Elsmere",
    "Halvorsen Point",
    "Brackwater",
    "Morrow Fen",
    "Idris Ridge",
    "Caldy Reach",
    "Tollan Weir",
    "Vessey Moor",
]
SUBJECTS = [
    "the survey station",
    "the tide gauge",
    "the grain berth",
    "the weather mast",
    "the pumping house",
    "the signal tower",
    "the seed store",
    "the ferry slip",
]
VERBS = ["records", "reports", "measures", "logs", "checks", "stores", "signals", "counts"]
THINGS = [
    "water levels",
    "wind gusts",
    "cargo tonnage",
    "lamp hours",
    "seed lots",
    "crossings",
    "rainfall",
    "hull inspections",
]
PERIODS = ["every dawn", "each tide", "twice a week", "every night", "at each shift change"]


def make_text(rng: random.Random, index: int, paragraphs: int = 5) -> str:
    """A deterministic field report of about ``paragraphs`` times 500 characters."""
    place = rng.choice(PLACES)
    parts = [f"Field report {index} from {place}"]
    for p in range(paragraphs):
        sentences = []
        for _unused in range(5):
            sentences.append(
                f"At {rng.choice(PLACES)}, {rng.choice(SUBJECTS)} {rng.choice(VERBS)} "
                f"{rng.randint(2, 990)} units of {rng.choice(THINGS)} {rng.choice(PERIODS)}, "
                f"as noted in ledger {index}-{p}-{rng.randint(100, 999)}."
            )
        parts.append(" ".join(sentences))
    return "\n\n".join(parts)


def make_texts(count: int, seed: int = 7, paragraphs: int = 5) -> list[str]:
    """``count`` different generated documents, the same for the same ``seed``."""
    rng = random.Random(seed)
    return [make_text(rng, i, paragraphs) for i in range(count)]


async def embed_documents(settings: Settings, documents: list[list[str]], in_flight: int) -> float:
    """Embed every document's chunks as a worker would (its batches, ``in_flight``
    documents at once); return the seconds it took."""
    client = ollama.AsyncClient(host=str(settings.ollama.url), timeout=settings.ollama.timeout)
    size = settings.ollama.embed_batch_size
    gate = asyncio.Semaphore(in_flight)

    async def one(chunks: list[str]) -> None:
        async with gate:
            for start in range(0, len(chunks), size):
                res = await client.embed(
                    model=settings.ollama.embed_model,
                    input=chunks[start : start + size],
                    keep_alive=settings.ollama.keep_alive,
                )
                if len(res.embeddings) != len(chunks[start : start + size]):
                    raise RuntimeError("Ollama returned fewer vectors than texts")

    await one(documents[0])  # warm-up: connection and model load
    started = time.perf_counter()
    await asyncio.gather(*(one(chunks) for chunks in documents))
    return time.perf_counter() - started


def stage_seconds(ctx: BenchContext) -> dict[str, float]:
    """Seconds the workers spent per pipeline stage so far (``worker_stage_duration_seconds``)."""
    totals: dict[str, float] = {}
    for port in ctx.stack.worker_metrics.values():
        for family in text_string_to_metric_families(ctx.stack.metrics(port)):
            for sample in family.samples:
                if sample.name == "worker_stage_duration_seconds_sum":
                    stage = sample.labels.get("stage", "?")
                    totals[stage] = totals.get(stage, 0.0) + float(sample.value)
    return totals


def run_pipeline(ctx: BenchContext, texts: list[str], timeout: float) -> tuple[float, int]:
    """Submit ``texts`` and wait until every job succeeded; return (seconds, chunks)."""
    tag = uuid.uuid4().hex[:8]
    job_ids: list[str] = []
    with ctx.stack.http(timeout=30) as http:
        started = time.time()
        for i, text in enumerate(texts):
            body = {
                "type": "text",
                "text": text,
                "source": f"bench-{tag}-{i}",
                "title": f"Field report {i}",
            }
            r = http.post("/ingest-async", json=body)
            r.raise_for_status()
            job_ids.append(r.json()["job_id"])
        ctx.progress(f"  submitted {len(texts)} documents in {time.time() - started:.2f} s")
        # The end time is the jobs' own finished_at, so polling only has to notice the end:
        # one request per poll, in submission order, to keep the orchestrator out of the way.
        pending = list(job_ids)
        done: dict[str, dict[str, Any]] = {}
        ended: list[dict[str, Any]] = []  # a job that ended otherwise than succeeded

        def all_done() -> bool:
            while pending:
                job = http.get(f"/jobs/{pending[0]}").json()
                if job["status"] in ("failed", "dead", "cancelled"):
                    ended.append(job)
                    return True
                if job["status"] != "succeeded":
                    return False
                done[pending.pop(0)] = job
            return True

        wait_until(all_done, timeout, f"{len(texts)} ingest jobs to succeed", interval=0.25)
    if ended:
        job = ended[0]
        raise RuntimeError(f"ingest job {job['job_id']} ended {job['status']}: {job.get('error')}")
    finished = max(float(job["finished_at"]) for job in done.values())
    chunks = sum(int(job["result"]["chunks"]) for job in done.values())
    return finished - started, chunks


def run(ctx: BenchContext) -> list[Figure]:
    settings = load_settings(ctx.stack.config_path)
    if not ctx.stack.workers:
        raise RuntimeError("no workers are running")
    count = ctx.scaled(40, 8)
    texts = make_texts(count, seed=61)
    documents = [
        chunk_text(t, settings.chunking.max_chars, settings.chunking.overlap_chars) for t in texts
    ]
    planned = sum(len(d) for d in documents)
    in_flight = len(ctx.stack.workers) * settings.worker.concurrency

    ctx.progress(f"  floor: embedding {planned} chunks directly ({in_flight} documents in flight)")
    floor_before = asyncio.run(embed_documents(settings, documents, in_flight))
    stages_before = stage_seconds(ctx)
    ctx.progress(f"  pipeline: {count} documents, {planned} chunks, through POST /ingest-async")
    seconds, chunks = run_pipeline(ctx, texts, timeout=240 if not ctx.quick else 90)
    stages = {k: v - stages_before.get(k, 0.0) for k, v in stage_seconds(ctx).items()}
    floor_after = asyncio.run(embed_documents(settings, documents, in_flight))
    ctx.progress(f"  floor again: {planned / floor_after:.0f} chunks/s")

    rate = chunks / seconds
    floor_rate = planned / min(floor_before, floor_after)
    share = rate / floor_rate
    busy = sum(stages.values()) or 1.0
    spent = ", ".join(
        f"{k} {v:.2f} s ({v / busy:.0%})" for k, v in sorted(stages.items(), key=lambda kv: -kv[1])
    )
    notes = [
        f"the pipeline reaches {share:.1%} of the embedder's raw rate ({fmt_rate(rate)} vs "
        f"{fmt_rate(floor_rate)} chunks/s): {count} documents, {chunks} chunks "
        f"(chunking.max_chars {settings.chunking.max_chars}), in {seconds:.2f} s from the first "
        f"submit to the last job's finish, with {len(ctx.stack.workers)} workers, each with "
        f"concurrency {settings.worker.concurrency}.",
        f"embedder alone: {planned / floor_before:.0f} chunks/s before and "
        f"{planned / floor_after:.0f} chunks/s after the pipeline (the faster is the floor); "
        f"batches of up to {settings.ollama.embed_batch_size} texts per request.",
        f"worker time by stage during the pipeline (summed over workers): {spent or 'none'}; "
        "embedding is only a part of a job, so the ratio is what the other stages (above all "
        "LightRAG indexing, when it is enabled) and the queue cost.",
    ]
    if chunks != planned:
        notes.append(f"the workers stored {chunks} chunks where local chunking gives {planned}.")
    extra: list[Figure] = []
    if settings.lightrag.enabled:
        from tests.bench.two_phase import figures  # it imports this module's helpers

        extra = figures(ctx, settings)
    return [
        Figure(
            section="6. ingest throughput",
            name="ingest end to end: POST /ingest-async → every job succeeded",
            floor_name="the same chunks embedded directly with the ollama client "
            "(worker batches and parallelism)",
            unit="chunks/s",
            measured={"value": rate},
            floor={"value": floor_rate},
            samples=count,
            floor_samples=count,
            higher_is_better=True,
            notes=notes,
        ),
        *extra,
    ]


def fmt_rate(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2f}"
