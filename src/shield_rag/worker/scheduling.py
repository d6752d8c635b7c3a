"""Searchable first: a free graph slot holds back while vector-phase jobs wait for a slot.

The graph stage (LightRAG's entity extraction, an Ollama LLM request stream) and the vector
phase share the worker hosts, Ollama and, on small machines, the CPU. When a burst of jobs
arrives, every graph stage started while vector phases still wait for a slot slows those
vector phases down, and so delays the moment each job becomes searchable. So a free graph
slot starts no new graph stage while vector-phase jobs wait undelivered on their stream —
unless the oldest graph stage waiting for a slot has waited ``worker.graph_yield_seconds``
already, which bounds how long the graph stage can be held back under a sustained load.
Taking over a crashed worker's graph stage is never held back.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from shield_rag.jobs.keys import Keys
from shield_rag.jobs.records import as_text


async def undelivered(redis: Redis, keys: Keys) -> int:
    """Entries on the stage's stream not delivered to any consumer yet: its length minus
    the entries the group holds pending (acknowledged entries are deleted from the stream)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.xlen(keys.queue)
        pipe.xpending(keys.queue, keys.group)
        length, pending = await pipe.execute()
    held = int((pending or {}).get("pending") or 0)
    return max(0, int(length or 0) - held)


async def oldest_undelivered_age(redis: Redis, keys: Keys, now: float | None = None) -> float:
    """Seconds the oldest entry not delivered yet has been on the stage's stream (its id
    holds its creation time in ms); 0 when every entry has been delivered."""
    last = "0-0"
    for group in await redis.xinfo_groups(keys.queue):
        info = {as_text(k): v for k, v in group.items()}
        if as_text(info.get("name")) == keys.group:
            last = as_text(info.get("last-delivered-id")) or "0-0"
    entries = await redis.xrange(keys.queue, min=f"({last}", max="+", count=1)
    if not entries:
        return 0.0
    ms = int(as_text(entries[0][0]).split("-")[0])
    return max(0.0, (time.time() if now is None else now) - ms / 1000)


async def graph_should_yield(redis: Redis, vector: Keys, graph: Keys, limit: float) -> bool:
    """Whether a free graph slot should hold back now: vector-phase jobs wait for a slot and
    no graph stage has waited ``limit`` seconds (0: never hold back)."""
    if limit <= 0 or await undelivered(redis, vector) == 0:
        return False
    return await oldest_undelivered_age(redis, graph) < limit
