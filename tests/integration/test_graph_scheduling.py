"""Searchable first, against a real Redis: a free graph slot holds back exactly while
vector-phase jobs wait undelivered on their stream, and no longer once the oldest graph
stage waiting has waited ``worker.graph_yield_seconds``."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from redis.asyncio import Redis

from shield_rag.jobs.keys import GRAPH_STAGE, Keys
from shield_rag.jobs.queue import Delivery, WorkQueue
from shield_rag.settings import load_settings
from shield_rag.worker.runner import Worker
from shield_rag.worker.scheduling import (
    graph_should_yield,
    oldest_undelivered_age,
    undelivered,
)
from tests.integration.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.integration


def test_graph_slots_hold_back_only_while_vector_jobs_wait(stack: Stack) -> None:
    prefix = f"sched-{uuid.uuid4().hex[:8]}"
    vector, graph = Keys(prefix), Keys(prefix, GRAPH_STAGE)

    async def run() -> list[object]:
        redis = Redis.from_url(f"redis://127.0.0.1:{stack.redis_port}/0")
        seen: list[object] = []
        try:
            vq = WorkQueue(redis, prefix, "w1", 3000)
            gq = WorkQueue(redis, prefix, "w1", 3000, GRAPH_STAGE)
            for queue in (vq, gq):
                await queue.ensure_group()
            # Nothing waits anywhere: no reason to hold back.
            seen.append(await graph_should_yield(redis, vector, graph, 30))
            await redis.xadd(graph.queue, {"job_id": "g1"})
            for job in ("v1", "v2"):
                await redis.xadd(vector.queue, {"job_id": job})
            # Two vector jobs wait, a graph stage has waited a moment: hold back.
            seen.append(await undelivered(redis, vector))
            seen.append(await graph_should_yield(redis, vector, graph, 30))
            # 0 turns it off.
            seen.append(await graph_should_yield(redis, vector, graph, 0))
            # A graph stage that has waited the limit is started even so.
            seen.append(await graph_should_yield(redis, vector, graph, 1e-9))
            # Both vector jobs delivered (held by a slot, not waiting): no holding back.
            delivered = await vq.read_new(2, 100)
            seen.append(len(delivered))
            seen.append(await undelivered(redis, vector))
            seen.append(await graph_should_yield(redis, vector, graph, 30))
            # A delivered graph entry no longer counts as waiting; an old one waiting does.
            await gq.read_new(1, 100)
            seen.append(await oldest_undelivered_age(redis, graph))
            await redis.xadd(graph.queue, {"job_id": "g2"})
            await redis.xadd(vector.queue, {"job_id": "v3"})
            later = await oldest_undelivered_age(redis, graph, now=time.time() + 120)
            seen.append(119 <= later <= 121)
            seen.append(await graph_should_yield(redis, vector, graph, 30))
        finally:
            await redis.delete(vector.queue, graph.queue)
            await redis.aclose()
        return seen

    assert asyncio.run(run()) == [False, 2, True, False, False, 2, 0, False, 0.0, True, True]


def test_an_idle_graph_slot_takes_no_graph_stage_while_vector_jobs_wait(stack: Stack) -> None:
    """The slot asks whether to hold back right before each read: a graph stage queued while
    the slot was idle waits while vector jobs wait undelivered, and starts once they are taken
    (a slot blocked in a read on the empty graph stream took it at once, burst or not)."""
    base = load_settings(stack.config_path)
    prefix = f"idle-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(
        update={
            "redis": base.redis.model_copy(update={"key_prefix": prefix}),
            "worker": base.worker.model_copy(update={"graph_yield_seconds": 30.0}),
        }
    )
    vector, graph = Keys(prefix), Keys(prefix, GRAPH_STAGE)

    async def run() -> tuple[list[str], list[str], int]:
        worker = Worker(settings, name="idle-slot")
        taken: list[str] = []
        asked: list[bool] = []

        async def process(delivery: Delivery) -> None:
            taken.append(delivery.job_id)
            await worker.graph_queue.ack(delivery.entry_id)

        async def holds_back() -> bool:
            answer = await worker._graph_yields()
            asked.append(answer)
            return answer

        try:
            for queue in (worker.queue, worker.graph_queue):
                await queue.ensure_group()
            slot = asyncio.create_task(
                worker._slot("graph-0", worker.graph_queue, process, holds_back)
            )
            # Idle: it has looked at the empty graph stream (and found nothing to hold back for).
            await eventually(lambda: len(asked) >= 2, 10, "the idle slot to look twice")
            for job in ("v1", "v2"):
                await worker.redis.xadd(vector.queue, {"job_id": job})
            await worker.redis.xadd(graph.queue, {"job_id": "g1"})
            # It has held back twice since the burst came, and the graph stage still waits.
            seen = len(asked)
            await eventually(lambda: sum(asked[seen:]) >= 2, 10, "the slot to hold back twice")
            during = list(taken)
            waiting = await undelivered(worker.redis, graph)
            # The vector jobs are taken by a vector slot: the graph stage starts.
            await worker.queue.read_new(2, 100)
            await eventually(lambda: taken == ["g1"], 10, "the graph stage to start")
            worker.request_stop()
            await asyncio.wait_for(slot, 10)
        finally:
            await worker.redis.delete(vector.queue, graph.queue)
            await worker.close()
        return during, taken, waiting

    during, taken, waiting = asyncio.run(run())
    assert during == []
    assert waiting == 1
    assert taken == ["g1"]
