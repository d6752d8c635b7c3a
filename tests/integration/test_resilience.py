"""Workers killed, services restarted: no job is lost, no vector is duplicated.

This module runs its own stack (LightRAG off, to keep jobs short) because it kills and
restarts components.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models
from redis.asyncio import Redis

from shield_rag.api.jobs import JobStatus
from shield_rag.jobs.store import FENCED, JobStore
from tests.integration.stack import Stack, running_stack
from tests.support.site import SiteServer
from tests.support.sse import read_events
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration
CLAIM_IDLE = 3.0


@pytest.fixture(scope="module")
def rstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        Path(tmp_path_factory.mktemp("resilience")),
        lightrag=False,
        worker_overrides={"claim_idle_seconds": CLAIM_IDLE, "max_attempts": 3},
    ) as s:
        yield s


def _points_for(stack: Stack, doc_ids: list[str]) -> list[models.Record]:
    client = QdrantClient(
        url=stack.qdrant_url, api_key=stack.qdrant_api_key, check_compatibility=False
    )
    try:
        records, _unused = client.scroll(
            stack.collection,
            scroll_filter=models.Filter(
                must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=doc_ids))]
            ),
            limit=10_000,
            with_payload=True,
        )
        return records
    finally:
        client.close()


def _submit(stack: Stack, body: dict) -> str:
    with stack.http() as c:
        r = c.post("/ingest-async", json=body)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def test_kill_9_of_a_worker_mid_job_loses_nothing_and_duplicates_nothing(
    rstack: Stack, site: SiteServer
) -> None:
    job_id = _submit(
        rstack, {"type": "url", "url": f"{site.url}/slow/", "max_pages": 9, "max_depth": 1}
    )
    # Wait until some pages are stored, then kill the worker holding the job.
    running = rstack.wait_job(job_id, statuses={"running"}, timeout=30)
    wait_until(lambda: rstack.job(job_id)["progress"] >= 0.3, 30, "the crawl to be under way")
    victim = rstack.job(job_id)["worker"] or running["worker"]
    assert victim in rstack.workers
    rstack.workers[victim].kill9()
    try:
        job = rstack.wait_job(job_id, timeout=CLAIM_IDLE + 60)
    finally:
        rstack.start_worker(victim)  # back to two workers for the next tests
    assert job["status"] == "succeeded", job
    assert job["worker"] != victim
    # The survivor took it over. On a starved machine its own lease (CLAIM_IDLE, 3 s) can
    # lapse once and the job is taken over again: at-least-once, and still nothing is lost
    # or stored twice (below).
    assert 2 <= job["attempts"] <= 3, job
    points = _points_for(rstack, job["result"]["doc_ids"])
    assert len(points) == job["result"]["chunks"]
    keys = {(p.payload["doc_id"], p.payload["chunk_index"]) for p in points}
    assert len(keys) == len(points)  # no chunk stored twice
    assert len({p.payload["doc_id"] for p in points}) == job["result"]["documents"] == 9


def test_a_frozen_worker_resumed_after_a_takeover_changes_nothing(
    rstack: Stack, site: SiteServer
) -> None:
    """SIGSTOP the worker mid-crawl, let another take the job over, SIGCONT the first while
    the second still runs it: the resumed worker abandons its attempt. Its progress, result
    or retry would interleave with the new attempt's; the job's events after the takeover
    show only the new attempt's progress, rising."""
    job_id = _submit(
        rstack, {"type": "url", "url": f"{site.url}/slow/", "max_pages": 14, "max_depth": 1}
    )
    rstack.wait_job(job_id, statuses={"running"}, timeout=30)
    wait_until(lambda: rstack.job(job_id)["progress"] >= 0.15, 30, "the crawl to be under way")
    victim = rstack.job(job_id)["worker"]
    frozen = rstack.workers[victim]
    frozen.signal(signal.SIGSTOP)
    try:
        taken = wait_until(
            lambda: (j := rstack.job(job_id))["worker"] != victim and j["status"] == "running",
            CLAIM_IDLE + 30,
            "another worker to take the frozen worker's job over",
        )
        assert taken
    finally:
        frozen.signal(signal.SIGCONT)
    job = rstack.wait_job(job_id, timeout=90)
    assert job["status"] == "succeeded", job
    assert job["worker"] != victim and job["attempts"] == 2, job
    events = read_events(rstack.base_url, f"/jobs/{job_id}/events", timeout=30)
    restarted = max(i for i, e in enumerate(events) if e.event == "job.started")
    after = [json.loads(e.data) for e in events[restarted + 1 :]]
    progress = [e["progress"] for e in after if e.get("progress") is not None]
    assert progress == sorted(progress), progress
    assert [e for e in events[restarted + 1 :] if e.event == "job.succeeded"] == [events[-1]]
    wait_until(
        lambda: "abandoning" in frozen.log_tail(200), 30, "the resumed worker to give up its job"
    )
    points = _points_for(rstack, job["result"]["doc_ids"])
    keys = {(p.payload["doc_id"], p.payload["chunk_index"]) for p in points}
    assert len(keys) == len(points) == job["result"]["chunks"]


def test_a_fenced_transition_changes_nothing(rstack: Stack) -> None:
    """The job store's fence, alone: a change conditioned on another worker's attempt is
    refused (FENCED), writes no field and appends no event."""

    async def run() -> tuple[tuple[int, str], dict[str, str], int, tuple[int, str]]:
        redis = Redis.from_url(f"redis://127.0.0.1:{rstack.redis_port}/0")
        store = JobStore(redis, "fence-test", 600)
        try:
            created = await store.create(kind="text", request={}, source=None, max_attempts=3)
            job_id = created.job_id
            new_owner = {"worker": "w-new", "attempts": "2"}
            await store.transition(job_id, allowed=None, status=JobStatus.RUNNING, fields=new_owner)
            events = await redis.xlen(store.keys.job_events(job_id))
            stale = await store.transition(
                job_id,
                allowed=[JobStatus.RUNNING],
                status=JobStatus.SUCCEEDED,
                event="job.succeeded",
                fields={"result": "{}"},
                fence={"worker": "w-old", "attempts": "1"},
            )
            after = await store.get_raw(job_id)
            grown = await redis.xlen(store.keys.job_events(job_id)) - events
            current = await store.transition(
                job_id, allowed=[JobStatus.RUNNING], progress=0.5, fence=new_owner
            )
            return stale, after, grown, current
        finally:
            await redis.aclose()

    stale, after, grown, current = asyncio.run(run())
    assert stale == (FENCED, "running")
    assert after["status"] == "running" and after["worker"] == "w-new", after
    assert "result" not in after and grown == 0
    assert current == (1, "running")


def test_sigterm_drains_the_current_job_before_exit(rstack: Stack, site: SiteServer) -> None:
    job_id = _submit(
        rstack, {"type": "url", "url": f"{site.url}/slow/", "max_pages": 5, "max_depth": 1}
    )
    running = rstack.wait_job(job_id, statuses={"running"}, timeout=30)
    name = running["worker"]
    proc = rstack.workers[name]
    proc.signal(signal.SIGTERM)
    assert proc.proc is not None
    code = proc.proc.wait(timeout=60)
    assert code == 0, proc.log_tail()
    job = rstack.job(job_id)
    assert job["status"] == "succeeded", job
    assert job["worker"] == name and job["attempts"] == 1
    rstack.start_worker(name)


def test_orchestrator_restart_loses_no_job(rstack: Stack) -> None:
    ids = [
        _submit(
            rstack,
            {
                "type": "text",
                "text": f"Orchestrator restart doc {i}: the Kestrel tower has {i} windows.",
            },
        )
        for i in range(10)
    ]
    assert rstack.orchestrator is not None
    rstack.orchestrator.stop()
    rstack.start_orchestrator()
    more = [_submit(rstack, {"type": "text", "text": f"After restart {i}."}) for i in range(3)]
    for job_id in ids + more:
        assert rstack.wait_job(job_id, timeout=60)["status"] == "succeeded"


def test_redis_restart_with_aof_loses_no_job(rstack: Stack) -> None:
    ids = [
        _submit(
            rstack,
            {
                "type": "text",
                "text": f"Redis restart doc {i}: the Sable ferry crosses {i} times a day. " * 20,
            },
        )
        for i in range(20)
    ]
    rstack.stop_redis()
    with rstack.http() as c:
        down = c.get(f"/jobs/{ids[0]}")
    assert down.status_code == 503
    assert "Redis" in down.json()["detail"]
    rstack.start_redis()
    wait_until(
        lambda: rstack.http().get("/readyz").status_code == 200,
        60,
        "readiness after the Redis restart",
    )
    statuses = {}
    for job_id in ids:
        with rstack.http() as c:
            r = c.get(f"/jobs/{job_id}")
        assert r.status_code == 200, f"job {job_id} lost: {r.text}"
        statuses[job_id] = rstack.wait_job(job_id, timeout=90)["status"]
    assert set(statuses.values()) == {"succeeded"}, statuses
    doc_ids = [rstack.job(j)["result"]["doc_ids"][0] for j in ids]
    points = _points_for(rstack, doc_ids)
    assert len({p.payload["doc_id"] for p in points}) == 20


def test_a_job_that_keeps_failing_is_dead_lettered_with_its_reason(
    rstack: Stack, site: SiteServer
) -> None:
    job_id = _submit(rstack, {"type": "url", "url": f"{site.url}/always-503"})
    job = rstack.wait_job(job_id, timeout=60)
    assert job["status"] == "dead", job
    assert job["attempts"] == 3
    assert "503" in job["error"] and "gave up after 3 attempts" in job["error"]


def test_idle_consumers_left_by_gone_workers_are_pruned(rstack: Stack) -> None:
    from shield_rag.jobs.queue import WorkQueue

    async def run() -> tuple[set[str], set[str], int]:
        redis = Redis.from_url(f"redis://127.0.0.1:{rstack.redis_port}/0")
        queue = WorkQueue(redis, "shield", "pruner", 1000)
        try:
            await redis.xgroup_createconsumer(queue.keys.queue, queue.keys.group, "ghost")

            async def names() -> set[str]:
                rows = await redis.xinfo_consumers(queue.keys.queue, queue.keys.group)
                return {r["name"].decode() for r in rows}

            before = await names()
            removed = await queue.prune_consumers(0)
            return before, await names(), removed
        finally:
            await redis.aclose()

    before, after, removed = asyncio.run(run())
    assert "ghost" in before
    assert "ghost" not in after
    assert removed >= 1
