"""One round trip per accepted job: ``POST /ingest-async`` with a JSON body takes its token,
answers a replay, applies the memory guard's verdict and checks the caps in the job creation
script (see ``shield_rag.orchestrator.admission_wiring``). These tests check what that must
keep: a refused request creates nothing, the bucket is the one every route of the client
draws from, a replay takes a token but is never refused by the guard or the caps, and the
bucket still never reaches the append-only file."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from shield_rag.jobs.records import new_job_fields
from shield_rag.jobs.store import JobStore, QueueFull, RateLimited, StorageNearlyFull
from tests.integration.stack import Stack, running_stack
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration
RATE = 0.5
BURST = 4
NO_JOB = "0" * 32


def _aof(stack: Stack) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((stack.root / "redis").rglob("*.aof")))


def test_the_creation_script_takes_the_token_and_refuses_without_a_trace(tmp_path: Path) -> None:
    own = Stack(tmp_path)  # only its Redis (AOF on, appendfsync always), nothing else writes
    own.start_redis()
    prefix = f"one-{uuid.uuid4().hex[:8]}"

    async def body(store: JobStore, redis: Redis) -> dict[str, Any]:
        async def new(client: str, key: str | None = None, **limits: Any) -> Any:
            try:
                outcome = await store.create(
                    kind="text",
                    request={"text": "x"},
                    source=None,
                    max_attempts=3,
                    client=client,
                    idempotency_key=key,
                    body_hash="h" if key else None,
                    rate=1.0,
                    burst=2,
                    **limits,
                )
            except (RateLimited, StorageNearlyFull, QueueFull) as exc:
                return type(exc).__name__, getattr(exc, "wait", None)
            return "created" if outcome.created else "replay", outcome.job_id

        async def aof_size() -> int:
            return int((await redis.info("persistence"))["aof_current_size"])

        out: dict[str, Any] = {"a": [await new("a"), await new("a")]}
        before = await aof_size()
        out["a"].append(await new("a"))  # the bucket is empty
        out["a_read_token"] = await store.take_token("a", 1.0, 2)  # the same bucket
        out["guarded"] = await new("g", refuse_new=True)
        out["refusals_appended"] = await aof_size() - before
        out["a_jobs"] = (
            await redis.zcard(store.keys.client_unfinished("a")),
            await redis.xlen(store.keys.queue),
            await redis.zcard(store.keys.unfinished),
        )
        # b: a replay takes a token, and is answered even while the guard and the caps refuse.
        out["b"] = [
            await new("b", "k"),
            await new("b", "k", refuse_new=True, client_cap=1),
        ]
        out["b_replay_without_token"] = await new("b", "k")
        out["b_jobs"] = await redis.zcard(store.keys.client_unfinished("b"))
        out["c"] = await new("c", client_cap=1, global_cap=100)
        out["c2"] = await new("c", client_cap=1, global_cap=100)
        return out

    async def run() -> dict[str, Any]:
        redis = Redis.from_url(f"redis://127.0.0.1:{own.redis_port}/0")
        try:
            return await body(JobStore(redis, prefix, 600), redis)
        finally:
            await redis.aclose()

    try:
        out = asyncio.run(run())
        aof = _aof(own)
    finally:
        own.stop_redis()
    (s1, _unused), (s2, _unused), (refused, wait) = out["a"]
    assert (s1, s2, refused) == ("created", "created", "RateLimited")
    assert 0 < wait <= 1.0
    # The refused requests created nothing, and appended nothing to the append-only file.
    assert out["a_jobs"] == (2, 2, 2)
    assert out["guarded"] == ("StorageNearlyFull", None)
    assert out["refusals_appended"] == 0
    assert out["a_read_token"] > 0  # reads draw from the bucket accepts emptied
    first, replay = out["b"]
    assert first[0] == "created" and replay == ("replay", first[1])
    assert out["b_replay_without_token"][0] == "RateLimited"  # the replays took the tokens
    assert out["b_jobs"] == 1
    assert out["c"][0] == "created" and out["c2"] == ("QueueFull", None)
    # Jobs are in the append-only file; buckets never are.
    assert f"{prefix}:job:".encode() in aof
    assert f"{prefix}:rate:".encode() not in aof


def test_a_new_jobs_fields_are_stored_as_sent(tmp_path: Path) -> None:
    """The creation script receives the job's fields as one JSON argument: what it stores
    must be byte for byte what one argument per field stored (text outside ASCII, quotes,
    backslashes, control characters, an empty value)."""
    own = Stack(tmp_path)
    own.start_redis()
    prefix = f"fields-{uuid.uuid4().hex[:8]}"
    tricky = 'Ærø «quoted» "x" \\ back\\slash\ttab\nline \x00nul \U0001f600 \u4e2d'

    async def run() -> tuple[dict[str, str], dict[str, str]]:
        redis = Redis.from_url(f"redis://127.0.0.1:{own.redis_port}/0")
        try:
            store = JobStore(redis, prefix, 600)
            outcome = await store.create(
                kind="text",
                request={"type": "text", "text": tricky, "metadata": {"k": tricky}},
                source=tricky,
                max_attempts=7,
                idempotency_key="key-1",
                body_hash="h",
                client="c:1",
            )
            raw = await store.get_raw(outcome.job_id)
            record = await store.get(outcome.job_id)
            assert record is not None
            return raw, {"source": record.source or "", "status": record.status.value}
        finally:
            await redis.aclose()

    try:
        raw, read = asyncio.run(run())
    finally:
        own.stop_redis()
    expected = new_job_fields(
        job_id=raw["id"],
        kind="text",
        request={"type": "text", "text": tricky, "metadata": {"k": tricky}},
        source=tricky,
        max_attempts=7,
        idempotency_key="key-1",
        client="c:1",
        now=float(raw["created_at"]),
    )
    assert raw == expected
    assert read == {"source": tricky, "status": "queued"}


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        Path(tmp_path_factory.mktemp("one-trip")),
        workers=0,
        lightrag=False,
        admission_overrides={"client_requests_per_second": RATE, "client_burst": BURST},
    ) as s:
        yield s


def _unfinished(stack: Stack, client: str) -> int:
    prefix = stack.settings_dict()["redis"].get("key_prefix", "shield")
    return int(stack.redis_cli().zcard(f"{prefix}:unfinished:{client}"))


def test_accepts_and_reads_draw_from_one_bucket(slow: Stack) -> None:
    headers = {"X-Shield-Client": "drawn"}
    with slow.http() as c:
        answers = []
        for i in range(BURST * 3):
            r = c.post("/ingest-async", json={"type": "text", "text": f"t{i}"}, headers=headers)
            answers.append(r.status_code)
            if r.status_code == 429:
                break
        assert r.json()["code"] == "rate_limited" and float(r.headers["Retry-After"]) >= 1
        accepted = answers.count(202)
        assert BURST <= accepted <= BURST + 2, answers
        assert _unfinished(slow, "drawn") == accepted  # the 429 created no job
        # The read is refused by the bucket the accepts emptied.
        assert c.get(f"/jobs/{NO_JOB}", headers=headers).status_code == 429
        # A body refused before its job script runs still needs a token: 429, not 400.
        bad = c.post(
            "/ingest-async", content=b"{", headers={**headers, "content-type": "application/json"}
        )
        assert bad.status_code == 429, bad.text
        # Once a token is back, reads take them all; then an accept is refused, creating nothing.
        wait_until(
            lambda: c.get(f"/jobs/{NO_JOB}", headers=headers).status_code == 404,
            2 / RATE + 2,
            "a token to come back",
        )
        started = time.monotonic()
        while c.get(f"/jobs/{NO_JOB}", headers=headers).status_code == 404:
            assert time.monotonic() - started < 2 / RATE, "the bucket never emptied"
        r = c.post("/ingest-async", json={"type": "text", "text": "late"}, headers=headers)
        assert r.status_code == 429, r.text
        assert _unfinished(slow, "drawn") == accepted
        # Another client has its own bucket.
        other = c.post(
            "/ingest-async", json={"type": "text", "text": "o"}, headers={"X-Shield-Client": "else"}
        )
        assert other.status_code == 202, other.text
