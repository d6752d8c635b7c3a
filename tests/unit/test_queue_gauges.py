"""The orchestrator's queue gauges: the vector phase's (worker_queue_size, active_jobs) and,
apart, the graph stage's (worker_graph_queue_size, active_graph_jobs), each from its own stream
and retry set."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import REGISTRY
from redis.exceptions import ResponseError

from shield_rag.jobs.keys import GRAPH_STAGE, Keys
from shield_rag.jobs.store import JobStore
from shield_rag.orchestrator.app import _refresh_queue_gauges


class _Redis:
    """Streams with their consumer groups (XINFO GROUPS), stream lengths and retry sets."""

    def __init__(
        self,
        groups: dict[str, list[dict[bytes, Any]]],
        lengths: dict[str, int],
        delayed: dict[str, int],
    ) -> None:
        self.groups, self.lengths, self.delayed = groups, lengths, delayed

    def register_script(self, _script: str) -> None:
        return None

    async def xinfo_groups(self, name: str) -> list[dict[bytes, Any]]:
        if name not in self.groups:
            raise ResponseError("ERR no such key")
        return self.groups[name]

    async def xlen(self, name: str) -> int:
        return self.lengths.get(name, 0)

    async def zcard(self, name: str) -> int:
        return self.delayed.get(name, 0)


def _group(name: str, lag: int, pending: int) -> dict[bytes, Any]:
    return {b"name": name.encode(), b"lag": lag, b"pending": pending}


def _store() -> JobStore:
    redis = _Redis(
        groups={
            "p:queue": [_group("workers", 3, 2), _group("other", 50, 50)],
            "p:graph:queue": [_group("workers", 7, 1)],
        },
        lengths={"p:queue": 5, "p:graph:queue": 8},
        delayed={"p:delayed": 1, "p:graph:delayed": 4},
    )
    return JobStore(redis, "p", 3600)  # type: ignore[arg-type]


def test_queue_stats_count_the_stage_the_keys_name() -> None:
    store = _store()
    assert asyncio.run(store.queue_stats()) == {"waiting": 4, "pending": 2}
    graph = Keys("p", GRAPH_STAGE)
    assert asyncio.run(store.queue_stats(graph)) == {"waiting": 11, "pending": 1}


def test_queue_stats_of_a_stream_without_its_group_count_its_entries() -> None:
    redis = _Redis(groups={}, lengths={"p:graph:queue": 2}, delayed={"p:graph:delayed": 1})
    store = JobStore(redis, "p", 3600)  # type: ignore[arg-type]
    assert asyncio.run(store.queue_stats(Keys("p", GRAPH_STAGE))) == {"waiting": 3, "pending": 0}


def test_the_graph_stage_has_gauges_of_its_own() -> None:
    async def one_round() -> None:
        task = asyncio.create_task(_refresh_queue_gauges(_store()))
        await asyncio.sleep(0.05)  # one refresh, then the loop sleeps
        task.cancel()

    asyncio.run(one_round())
    value = REGISTRY.get_sample_value
    assert (value("worker_queue_size"), value("active_jobs")) == (4.0, 2.0)
    assert (value("worker_graph_queue_size"), value("active_graph_jobs")) == (11.0, 1.0)
