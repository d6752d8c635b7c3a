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
from shield_rag.jobs.queue import WorkQueue
from shield_rag.worker.scheduling import (
    graph_should_yield,
    oldest_undelivered_age,
    undelivered,
)
from tests.integration.stack import Stack

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
