"""A worker process: vector-phase slots and graph-stage slots, each set reading its own
Redis stream through one consumer group."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from shield_rag.breaker import BreakerLimits, DependencyGuard
from shield_rag.clients.embeddings import Embedder
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.clients.vectorstore import VectorStore
from shield_rag.features import FeatureFlags
from shield_rag.jobs.graphdocs import GraphDocs
from shield_rag.jobs.keys import GRAPH_STAGE, Keys
from shield_rag.jobs.queue import Delivery, WorkQueue
from shield_rag.jobs.store import JobStore
from shield_rag.llm.budgets import BudgetLedger
from shield_rag.redis_conn import make_redis
from shield_rag.settings import Settings
from shield_rag.worker.execution import REDIS_ERRORS
from shield_rag.worker.graph import GraphExecution
from shield_rag.worker.metrics import (
    BUSY,
    GRAPH_QUEUE_DEPTH,
    GRAPH_QUEUE_LAG,
    GRAPH_RECLAIMED,
    JOB_SECONDS,
    JOBS,
    RECLAIMED,
)
from shield_rag.worker.pipeline import Pipeline
from shield_rag.worker.scheduling import graph_should_yield

__all__ = ["BUSY", "CONSUMER_PRUNE_IDLE_MS", "JOBS", "JOB_SECONDS", "RECLAIMED", "Worker"]

log = logging.getLogger(__name__)

CONSUMER_PRUNE_IDLE_MS = 3_600_000  # consumers of workers gone for an hour


async def graph_queue_stats(redis: Redis, keys: Keys) -> tuple[int, float]:
    """Entries on the graph stage's stream plus its scheduled retries, and the age in
    seconds of the oldest stream entry (its id holds its creation time in ms)."""
    depth = int(await redis.xlen(keys.queue) or 0) + int(await redis.zcard(keys.delayed) or 0)
    first = await redis.xrange(keys.queue, count=1)
    lag = 0.0
    if first:
        raw_id = first[0][0]
        ms = int((raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)).split("-")[0])
        lag = max(0.0, time.time() - ms / 1000)
    return depth, lag


class Worker(GraphExecution):
    def __init__(self, settings: Settings, name: str | None = None) -> None:
        self.settings = settings
        self.cfg = settings.worker
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.redis = make_redis(settings.redis)
        self.store = JobStore(self.redis, settings.redis.key_prefix, self.cfg.job_ttl_seconds)
        self.lease_ms = int(self.cfg.claim_idle_seconds * 1000)
        prefix = settings.redis.key_prefix
        self.queue = WorkQueue(self.redis, prefix, self.name, self.lease_ms)
        self.graph_keys = Keys(prefix, GRAPH_STAGE)
        self.graph_queue = WorkQueue(self.redis, prefix, self.name, self.lease_ms, GRAPH_STAGE)
        self.graph_docs = GraphDocs(self.redis, prefix, self.cfg.job_ttl_seconds)
        self.ledger = BudgetLedger(
            self.redis, settings.accounting, key_prefix=settings.redis.key_prefix
        )
        self.prices = settings.accounting.prices
        # One breaker per dependency, with the orchestrator's thresholds: while one is open
        # the worker's calls to it fail fast and the job waits for the breaker (re-queued
        # until it lets a probe through); a refused call is not one of the job's attempts.
        limits: BreakerLimits = {
            "failure_threshold": settings.orchestrator.breaker_failure_threshold,
            "reset_seconds": settings.orchestrator.breaker_reset_seconds,
        }
        ca_bundle = self.cfg.ca_bundle  # worker.ca_bundle: private CAs besides certifi's
        self.embedder = Embedder(
            settings.ollama,
            settings.qdrant.vector_size,
            DependencyGuard.counted("ollama", **limits),
            ca_bundle=ca_bundle,
        )
        self.vectors = VectorStore(
            settings.qdrant, DependencyGuard.counted("qdrant", **limits), ca_bundle=ca_bundle
        )
        self.lightrag = (
            LightRAGClient(
                settings.lightrag,
                DependencyGuard.counted("lightrag", **limits),
                ca_bundle=ca_bundle,
            )
            if settings.lightrag.enabled
            else None
        )
        self.features = FeatureFlags(
            settings.features, self.redis, key_prefix=settings.redis.key_prefix
        )
        self.pipeline = Pipeline(
            settings,
            self.embedder,
            self.vectors,
            self.lightrag,
            self.store.get_blob,
            self.graph_docs.stash,
            self.features,
        )
        # Graph-stage slots only where LightRAG is enabled (others leave the stage alone).
        self.graph_slots = self.cfg.graph_concurrency if self.lightrag is not None else 0
        self.stopping = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        if not self.stopping.is_set():
            log.info(
                "stop requested: finishing current jobs (drain %.0fs)",
                self.cfg.drain_timeout_seconds,
            )
            self.stopping.set()

    async def run(self) -> None:
        await self._wait_for_redis()
        pruned = 0
        for queue in (self.queue, self.graph_queue):
            await queue.ensure_group()
            pruned += await queue.prune_consumers(CONSUMER_PRUNE_IDLE_MS)
        if pruned:
            log.info("forgot %d idle consumer(s) of stopped workers", pruned)
        log.info(
            "worker %s ready: %d slot(s), %d graph slot(s), claim idle %.1fs",
            self.name,
            self.cfg.concurrency,
            self.graph_slots,
            self.cfg.claim_idle_seconds,
        )
        slots = [
            asyncio.create_task(self._slot(f"{i}", self.queue, self._process))
            for i in range(self.cfg.concurrency)
        ]
        slots += [
            asyncio.create_task(
                self._slot(f"graph-{i}", self.graph_queue, self._process_graph, self._graph_yields)
            )
            for i in range(self.graph_slots)
        ]
        promoter = asyncio.create_task(self._promoter())
        flags = asyncio.create_task(self.features.run(self.stopping))
        await self.stopping.wait()
        done, pending = await asyncio.wait(slots, timeout=self.cfg.drain_timeout_seconds)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        promoter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await promoter
        await flags
        await self.close()
        log.info(
            "worker %s stopped (%d slot(s) drained, %d interrupted)",
            self.name,
            len(done),
            len(pending),
        )

    async def close(self) -> None:
        await self.embedder.close()
        await self.vectors.close()
        if self.lightrag is not None:
            await self.lightrag.close()
        await self.redis.aclose()

    async def _wait_for_redis(self) -> None:
        delay = 0.2
        while not self.stopping.is_set():
            try:
                await self.redis.ping()
                return
            except REDIS_ERRORS as exc:
                log.warning("Redis not reachable yet (%s); retrying in %.1fs", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                delay = min(delay * 2, 5.0)

    async def _promoter(self) -> None:
        while True:
            try:
                await self.store.promote_due()
                await self.store.promote_due(keys=self.graph_keys)
                depth, lag = await graph_queue_stats(self.redis, self.graph_keys)
                GRAPH_QUEUE_DEPTH.set(depth)
                GRAPH_QUEUE_LAG.set(lag)
            except Exception as exc:  # noqa: BLE001 - keep promoting whatever happens
                log.warning("cannot promote due retries: %s", exc)
            await asyncio.sleep(0.5)

    async def _graph_yields(self) -> bool:
        """Whether a free graph slot holds back now: while features.graph_indexing is off
        (queued graph stages wait for it to be on again), or to let vector work go first
        (:mod:`shield_rag.worker.scheduling`)."""
        if not self.features.enabled("graph_indexing"):
            return True
        return await graph_should_yield(
            self.redis, self.queue.keys, self.graph_keys, self.cfg.graph_yield_seconds
        )

    async def _slot(
        self,
        index: str,
        queue: WorkQueue,
        process: Callable[[Delivery], Awaitable[None]],
        holds_back: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Take jobs from ``queue`` one at a time: a stale one first, else a new one unless
        ``holds_back`` says to wait (then it looks again after ``block_ms``). A slot with
        ``holds_back`` asks it right before each read and so never blocks in one: it looks for
        a new entry, and if there is none, waits ``block_ms`` and asks again."""
        reclaimed = GRAPH_RECLAIMED if queue is self.graph_queue else RECLAIMED
        delay = 0.2
        while not self.stopping.is_set():
            try:
                deliveries = await queue.claim_stale(1)
                if not deliveries and holds_back is not None and await holds_back():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self.stopping.wait(), timeout=self.cfg.block_ms / 1000
                        )
                    continue
                if not deliveries and holds_back is not None:
                    # No blocking read here: a read that blocks on an empty stream takes the
                    # next entry whenever it comes, however many vector jobs wait by then.
                    deliveries = await queue.read_new(1, None)
                    if not deliveries:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                self.stopping.wait(), timeout=self.cfg.block_ms / 1000
                            )
                        continue
                if not deliveries:
                    deliveries = await queue.read_new(1, self.cfg.block_ms)
                delay = 0.2
            except REDIS_ERRORS as exc:
                log.warning("slot %s: Redis error %s; retrying in %.1fs", index, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                delay = min(delay * 2, 5.0)
                with contextlib.suppress(Exception):
                    await queue.ensure_group()
                continue
            for delivery in deliveries:
                if self.stopping.is_set():
                    # Read just as we were told to stop: hand it back for another worker.
                    await queue.ack_and_schedule(delivery.entry_id, delivery.job_id, 0.0)
                    continue
                if delivery.reclaimed:
                    reclaimed.inc()
                    log.info("slot %s took over job %s", index, delivery.job_id)
                try:
                    await process(delivery)
                except REDIS_ERRORS as exc:
                    # The entry stays pending; it is reclaimed after claim_idle_seconds.
                    log.warning("job %s: Redis error %s; it will be retried", delivery.job_id, exc)
                except Exception:  # a slot must outlive any one job
                    log.exception("job %s: unexpected error in the worker", delivery.job_id)
