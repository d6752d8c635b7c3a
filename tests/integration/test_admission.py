"""Admission control: rate limits, queue caps, the Redis memory guard, and the exact
unfinished-job counts behind them.

This module runs its own stack (LightRAG off, no worker until a test starts one, tight
limits) so that jobs stay queued while the caps are tested. Each test names its clients with
the ``X-Shield-Client`` header, so their buckets and counts do not mix.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from shield_rag.api.jobs import JobStatus
from shield_rag.jobs.store import JobStore, QueueFull
from tests.integration.stack import REDIS_MAXMEMORY, Stack, metric_value, running_stack
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration
RATE = 20.0
BURST = 20
CLIENT_CAP = 3
GLOBAL_CAP = 6
NO_JOB = "0" * 32


@pytest.fixture(scope="module")
def astack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        Path(tmp_path_factory.mktemp("admission")),
        workers=0,
        lightrag=False,
        admission_overrides={
            "client_requests_per_second": RATE,
            "client_burst": BURST,
            "client_max_queued_jobs": CLIENT_CAP,
            "max_queued_jobs": GLOBAL_CAP,
            "redis_memory_check_seconds": 0.2,
        },
    ) as s:
        yield s


def _text(note: str) -> dict[str, Any]:
    return {"type": "text", "text": f"Admission test {note}: {uuid.uuid4().hex}"}


def _post(
    c: httpx.Client, client: str, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"X-Shield-Client": client}
    if key:
        headers["Idempotency-Key"] = key
    return c.post("/ingest-async", json=body, headers=headers)


def _refused(r: httpx.Response, status: int, code: str) -> float:
    """Check a refusal's status, code and Retry-After; return the Retry-After."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    retry = float(r.headers["Retry-After"])
    assert retry >= 1 and body["retry_after"] == retry, (r.headers, body)
    return retry


def _refusals(stack: Stack, reason: str) -> float:
    return (
        metric_value(
            stack.metrics(stack.orch_metrics_port), "admission_refusals_total", {"reason": reason}
        )
        or 0.0
    )


def _drain(stack: Stack, job_ids: list[str]) -> None:
    """Run one worker until every job in ``job_ids`` is finished, then stop it."""
    worker = stack.start_worker(f"drain-{uuid.uuid4().hex[:6]}")
    try:
        for job_id in job_ids:
            assert stack.wait_job(job_id, timeout=60)["status"] == "succeeded"
    finally:
        worker.stop()
        stack.workers = {k: v for k, v in stack.workers.items() if v is not worker}


def _store_run(stack: Stack, body: Any) -> Any:
    async def run() -> Any:
        redis = Redis.from_url(f"redis://127.0.0.1:{stack.redis_port}/0")
        try:
            return await body(JobStore(redis, f"adm-{uuid.uuid4().hex[:8]}", 600), redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


# -- the counts, at the job store -----------------------------------------------------------
def test_every_terminal_path_removes_the_job_from_the_counts_exactly_once(astack: Stack) -> None:
    async def body(store: JobStore, redis: Redis) -> dict[str, Any]:
        async def new() -> str:
            out = await store.create(
                kind="text", request={}, source=None, max_attempts=3, client="paths"
            )
            return out.job_id

        ids = [await new() for _unused in range(6)]
        counts = [await store.unfinished_counts("paths")]
        running = {"worker": "w", "attempts": "1"}

        async def run(job_id: str) -> None:
            await store.transition(
                job_id, allowed=[JobStatus.QUEUED], status=JobStatus.RUNNING, fields=running
            )

        # succeeded, failed, dead after a retry, dead on takeover while queued, cancelled
        # while queued, cancelled while running.
        await run(ids[0])
        await store.transition(ids[0], allowed=[JobStatus.RUNNING], status=JobStatus.SUCCEEDED)
        await run(ids[1])
        await store.transition(ids[1], allowed=[JobStatus.RUNNING], status=JobStatus.FAILED)
        await run(ids[2])
        await store.transition(ids[2], allowed=[JobStatus.RUNNING], status=JobStatus.QUEUED)
        counts.append(await store.unfinished_counts("paths"))  # a retry is still unfinished
        await run(ids[2])
        await store.transition(
            ids[2], allowed=[JobStatus.RUNNING], status=JobStatus.DEAD, fence=running
        )
        await store.transition(
            ids[3], allowed=[JobStatus.QUEUED, JobStatus.RUNNING], status=JobStatus.DEAD
        )
        assert (await store.request_cancel(ids[4]))[0] == "cancelled"
        await run(ids[5])
        assert (await store.request_cancel(ids[5]))[0] == "requested"
        counts.append(await store.unfinished_counts("paths"))  # asked, not yet cancelled
        await store.transition(
            ids[5], allowed=[JobStatus.RUNNING], status=JobStatus.CANCELLED, fence=running
        )
        # Ending a finished job again changes nothing: refused, or (allowed from any status)
        # applied without counting it twice.
        refused = await store.transition(
            ids[0], allowed=[JobStatus.RUNNING], status=JobStatus.FAILED
        )
        await store.transition(ids[1], allowed=None, status=JobStatus.CANCELLED)
        counts.append(await store.unfinished_counts("paths"))
        return {
            "counts": counts,
            "refused": refused,
            "finished": await store.finished_total(),
            "client": (await store.get(ids[0])).client,  # type: ignore[union-attr]
            "sets": await redis.exists(
                store.keys.unfinished, store.keys.client_unfinished("paths")
            ),
        }

    out = _store_run(astack, body)
    assert out["counts"] == [(6, 6), (4, 4), (1, 1), (0, 0)]
    assert out["refused"] == (0, "succeeded")
    assert out["finished"] == 6
    assert out["client"] == "paths"
    assert out["sets"] == 0  # empty sets are gone: nothing left behind


def test_a_write_takes_its_token_and_its_counts_in_one_script(astack: Stack) -> None:
    async def body(store: JobStore, redis: Redis) -> dict[str, Any]:
        async def new(client: str, key: str | None = None) -> None:
            await store.create(
                kind="text",
                request={},
                source=None,
                max_attempts=3,
                client=client,
                idempotency_key=key,
                body_hash="h" if key else None,
            )

        await new("other")
        for key in ("k1", None, None):
            await new("tc", key)
        both = [
            await store.take_token_and_counts("tc", 1.0, 2, 3, "k1"),
            await store.take_token_and_counts("tc", 1.0, 2, 3, None),
            await store.take_token_and_counts("tc", 1.0, 2, 3, "k1"),  # the bucket is empty
        ]
        return {
            "both": both,
            "alone": [
                await store.admission_counts("tc", 3, "k1"),
                await store.admission_counts("tc", 4, None),
            ],
            "bucket": await store.take_token("tc", 1.0, 2),  # the same bucket
        }

    out = _store_run(astack, body)
    # Three unfinished jobs of the client (at its cap of 3), four in all, one ahead of its
    # oldest; "k1" is a stored key (a replay), no key is none.
    assert out["both"][:2] == [(0.0, (3, 4, True, 1)), (0.0, (3, 4, False, 1))]
    wait, counts = out["both"][2]
    assert 0 < wait <= 1.0 and counts is None
    # The same counts as the read-only script alone (below the cap: nothing ahead).
    assert out["alone"] == [(3, 4, True, 1), (3, 4, False, -1)]
    assert out["bucket"] > 0


def test_caps_hold_exactly_under_concurrent_creation(astack: Stack) -> None:
    async def body(store: JobStore, _unused: Redis) -> tuple[list[Any], tuple[int, int], list[Any]]:
        async def create(client: str, n: int) -> Any:
            try:
                return await store.create(
                    kind="text",
                    request={"n": n},
                    source=None,
                    max_attempts=3,
                    client=client,
                    client_cap=10,
                    global_cap=15,
                    idempotency_key=f"{client}-{n}",
                    body_hash=f"h{n}",
                )
            except QueueFull as exc:
                return exc

        a = await asyncio.gather(*(create("a", n) for n in range(40)))
        b = await asyncio.gather(*(create("b", n) for n in range(40)))
        # Replays of accepted keys are answered with their job even at the caps.
        kept = [n for n, o in enumerate(a) if not isinstance(o, QueueFull)]
        accepted = [a[n] for n in kept]
        replays = await asyncio.gather(*(create("a", n) for n in kept))
        return a + b, await store.unfinished_counts("a"), [accepted, replays]

    outcomes, counts, (accepted, replays) = _store_run(astack, body)
    created_a = [o for o in outcomes[:40] if not isinstance(o, QueueFull)]
    created_b = [o for o in outcomes[40:] if not isinstance(o, QueueFull)]
    refused_b = [o for o in outcomes[40:] if isinstance(o, QueueFull)]
    assert len(created_a) == 10 and len(created_b) == 5
    assert {o.scope for o in outcomes[:40] if isinstance(o, QueueFull)} == {"client"}
    assert {o.scope for o in refused_b} == {"global"}
    assert counts == (10, 15)
    assert [r.job_id for r in replays] == [o.job_id for o in accepted]
    assert not any(r.created for r in replays)


def test_entries_of_expired_or_already_final_jobs_are_pruned(astack: Stack) -> None:
    async def body(store: JobStore, redis: Redis) -> list[Any]:
        async def new() -> str:
            out = await store.create(
                kind="text", request={}, source=None, max_attempts=3, client="x"
            )
            return out.job_id

        expired, ended_elsewhere, *live = [await new() for _unused in range(5)]
        # A record that expired; a job ended without the sets (an older worker's script).
        await redis.delete(store.keys.job(expired))
        await redis.hset(store.keys.job(ended_elsewhere), "status", "succeeded")
        await store.transition(live[0], allowed=None, status=JobStatus.RUNNING)
        # Small windows: the scan goes round the set in several calls.
        pruned = [await store.prune_unfinished(limit=2) for _unused in range(4)]
        return [sum(pruned), await store.unfinished_counts("x")]

    assert _store_run(astack, body) == [2, (3, 3)]


# -- over HTTP ---------------------------------------------------------------------------------
def _at_once(urls: list[str], count: int, client: str) -> tuple[list[httpx.Response], float]:
    """Send ``count`` reads of a missing job for ``client`` together, round robin over
    ``urls``; return the answers and the seconds from the first sent to the last answered.

    Sent together, the bucket is tested by how many requests arrive in a short time, not by
    how fast this process sends them one by one: the tests run at a low priority beside the
    Molecule scenarios, where one-by-one requests can be slower than the bucket refills."""

    async def run() -> tuple[list[httpx.Response], float]:
        clients = [httpx.AsyncClient(base_url=u, timeout=30) for u in urls]
        headers = {"X-Shield-Client": client}
        try:
            started = time.monotonic()
            answers = await asyncio.gather(
                *(
                    clients[i % len(urls)].get(f"/jobs/{NO_JOB}", headers=headers)
                    for i in range(count)
                )
            )
            return answers, time.monotonic() - started
        finally:
            for c in clients:
                await c.aclose()

    return asyncio.run(run())


def test_rate_limit_answers_429_with_retry_after_and_the_bucket_refills(astack: Stack) -> None:
    before = _refusals(astack, "rate_limited")
    answers, elapsed = _at_once([astack.base_url], BURST * 3, "rate-a")
    refused_at = time.monotonic()
    statuses = [r.status_code for r in answers]
    passed = statuses.count(404)
    # The full bucket lets its burst through, plus what refilled while the requests came in.
    assert BURST <= passed <= BURST + RATE * elapsed + 1, (statuses, elapsed)
    assert statuses.count(429) == len(statuses) - passed, statuses
    retry = _refused(next(r for r in answers if r.status_code == 429), 429, "rate_limited")
    with astack.http() as c:
        # Another client has its own bucket; health is never limited.
        assert c.get(f"/jobs/{NO_JOB}", headers={"X-Shield-Client": "rate-b"}).status_code == 404
        assert c.get("/healthz", headers={"X-Shield-Client": "rate-a"}).status_code == 200
        wait_until(
            lambda: (
                c.get(f"/jobs/{NO_JOB}", headers={"X-Shield-Client": "rate-a"}).status_code == 404
            ),
            retry + 2,
            "rate-a's bucket to refill",
        )
        refill = time.monotonic() - refused_at
    assert refill <= retry + 1, refill
    assert _refusals(astack, "rate_limited") >= before + 1


def test_two_orchestrators_share_one_bucket(astack: Stack) -> None:
    other = astack.start_extra_orchestrator()
    urls = [astack.base_url, other]
    answers, elapsed = _at_once(urls, BURST * 4, "shared")
    statuses = {u: [r.status_code for r in answers[i :: len(urls)]] for i, u in enumerate(urls)}
    passed = {u: s.count(404) for u, s in statuses.items()}
    refused = {u: s.count(429) for u, s in statuses.items()}
    assert sum(passed.values()) + sum(refused.values()) == len(answers), statuses
    total = sum(passed.values())
    # One shared bucket lets through its burst plus what refilled meanwhile, and both
    # replicas refuse once it is empty; two separate buckets would each have let through a
    # burst.
    assert total <= BURST + RATE * elapsed + 1, (passed, elapsed)
    assert all(n > 0 for n in passed.values()), passed
    assert all(n > 0 for n in refused.values()), refused


def test_global_cap_is_503_overloaded_until_jobs_finish(astack: Stack) -> None:
    before = _refusals(astack, "overloaded")
    with astack.http() as c:
        ids = []
        for client in ("g1", "g2"):
            for i in range(CLIENT_CAP):
                r = _post(c, client, _text(f"{client}-{i}"))
                assert r.status_code == 202, r.text
                ids.append(r.json()["job_id"])
        _refused(_post(c, "g3", _text("g3")), 503, "overloaded")
        # Writes of any kind are refused while the queue is full; reads keep working.
        assert (
            c.post("/vectors", json={"text": "x"}, headers={"X-Shield-Client": "g3"}).status_code
            == 503
        )
        assert c.get(f"/jobs/{ids[0]}", headers={"X-Shield-Client": "g3"}).status_code == 200
        search = c.post("/search", json={"query": "admission"}, headers={"X-Shield-Client": "g3"})
        assert search.status_code == 200, search.text
        assert _refusals(astack, "overloaded") >= before + 2
        _drain(astack, ids)
        r = _post(c, "g3", _text("g3 again"))
        assert r.status_code == 202, r.text
        _drain(astack, [r.json()["job_id"]])


def test_client_cap_is_429_replays_pass_and_it_lifts_when_jobs_finish(astack: Stack) -> None:
    with astack.http() as c:
        accepted = []
        bodies = [_text(f"capped-{i}") for i in range(CLIENT_CAP)]
        for i in range(CLIENT_CAP):
            r = _post(c, "capped", bodies[i], key=f"capped-key-{i}")
            assert r.status_code == 202, r.text
            accepted.append(r.json()["job_id"])
        body = _text("capped-over")
        _refused(_post(c, "capped", body), 429, "too_many_queued_jobs")
        # A replay of an accepted job is answered with it, not refused.
        first = astack.job(accepted[0])
        replay = _post(c, "capped", bodies[0], "capped-key-0")
        assert replay.status_code == 202 and replay.json()["job_id"] == accepted[0], replay.text
        assert replay.headers.get("Idempotent-Replayed") == "true"
        assert first["client"] == "capped"
        # Another client is not affected.
        other = _post(c, "uncapped", _text("uncapped"))
        assert other.status_code == 202, other.text
        _drain(astack, [*accepted, other.json()["job_id"]])
        again = _post(c, "capped", body)
        assert again.status_code == 202, again.text
        _drain(astack, [again.json()["job_id"]])
    counts = astack.redis_cli()
    try:
        assert counts.zcard("shield:unfinished:capped") == 0
        assert counts.zcard("shield:unfinished") == 0
    finally:
        counts.close()


def test_memory_guard_refuses_new_work_but_not_reads_or_replays(astack: Stack) -> None:
    r = astack.redis_cli()
    headers = {"X-Shield-Client": "mem"}
    with astack.http() as c:

        def store_status() -> int:
            # /vectors is a write the guard refuses, and it queues no job while we wait.
            return c.post(
                "/vectors", json={"text": "memory guard probe"}, headers=headers
            ).status_code

        kept_body = _text("before")
        kept = _post(c, "mem", kept_body, key="mem-key")
        assert kept.status_code == 202, kept.text
        used = int(r.info("memory")["used_memory"])
        # The watermark is 0.8: a limit 10% above what is used now puts Redis over it while
        # leaving room for the writes reads do (the rate limiter's bucket).
        r.config_set("maxmemory", str(int(used * 1.1)))
        try:
            wait_until(lambda: store_status() == 503, 10, "the memory guard to refuse writes")
            _refused(_post(c, "mem", _text("during")), 503, "storage_nearly_full")
            store = c.post("/vectors", json={"text": "x"}, headers=headers)
            _refused(store, 503, "storage_nearly_full")
            job = c.get(f"/jobs/{kept.json()['job_id']}", headers=headers)
            assert job.status_code == 200, job.text
            found = c.post("/search", json={"query": "admission"}, headers=headers)
            assert found.status_code == 200, found.text
            replay = _post(c, "mem", kept_body, key="mem-key")
            assert replay.status_code == 202, replay.text
            assert replay.json()["job_id"] == kept.json()["job_id"]
            ratio = metric_value(
                astack.metrics(astack.orch_metrics_port), "admission_redis_memory_ratio"
            )
            assert ratio is not None and ratio >= 0.8, ratio
        finally:
            r.config_set("maxmemory", REDIS_MAXMEMORY)
            r.close()
        wait_until(lambda: store_status() == 200, 10, "writes to be accepted again")
        after = _post(c, "mem", _text("after"))
        assert after.status_code == 202, after.text
        _drain(astack, [kept.json()["job_id"], after.json()["job_id"]])


def test_the_rate_bucket_costs_no_append_only_file_write(tmp_path: Path) -> None:
    """The bucket is memory-only state: taking tokens (and being refused) appends nothing to
    Redis' append-only file, so an ``appendfsync always`` Redis does not fsync per request."""
    own = Stack(tmp_path)  # only its Redis (AOF on, appendfsync always), nothing else writes
    own.start_redis()

    async def take(store: JobStore, redis: Redis) -> tuple[list[float], int, int]:
        before = int((await redis.info("persistence"))["aof_current_size"])
        waits = [await store.take_token("aof-client", 1.0, 3) for _unused in range(4)]
        # A write's token, taken with its counts, costs no append either.
        writes = [
            await store.take_token_and_counts("aof-w", 1.0, 2, 5, None) for _unused in range(3)
        ]
        waits += [wait for wait, _unused in writes]
        after = int((await redis.info("persistence"))["aof_current_size"])
        return waits, before, after

    try:
        waits, before, after = _store_run(own, take)
    finally:
        own.stop_redis()
    # The buckets still limit: 3 tokens, then none; 2, then none.
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] > 0, waits
    assert waits[4:6] == [0.0, 0.0] and waits[6] > 0, waits
    assert after == before
