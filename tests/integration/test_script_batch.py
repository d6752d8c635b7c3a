"""Job creation scripts called at the same moment share one write to Redis
(``shield_rag.jobs.batch``): each call must still get its own reply or its own error, in
the order the calls were made, a script Redis forgot is loaded again, and a Redis that
cannot be reached is every call's error."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from shield_rag.jobs.batch import ScriptBatch
from shield_rag.jobs.store import JobStore, QueueFull
from shield_rag.redis_conn import make_redis
from shield_rag.settings import RedisSettings
from tests.integration.stack import Stack
from tests.support.procs import free_port

pytestmark = pytest.mark.integration

# Appends its argument to a list and answers the list's length, or fails on 'boom'.
APPEND = """
if ARGV[1] == 'boom' then return redis.error_reply('boom refused') end
return redis.call('RPUSH', KEYS[1], ARGV[1])
"""


class _CountingRedis(Redis):
    """Counts the pipelines (one write each) and the single script calls."""

    pipelines = 0
    singles = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        type(self).pipelines += 1
        return super().pipeline(*args, **kwargs)

    async def evalsha(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        type(self).singles += 1
        return await super().evalsha(*args, **kwargs)


@pytest.fixture
def own_redis(tmp_path: Path) -> Any:
    stack = Stack(tmp_path)
    stack.start_redis()
    try:
        yield stack.redis_port
    finally:
        stack.stop_redis()


def test_calls_made_together_share_one_write_and_keep_their_own_answers(own_redis: int) -> None:
    async def run() -> dict[str, Any]:
        redis = _CountingRedis.from_url(f"redis://127.0.0.1:{own_redis}/0")
        try:
            batch = ScriptBatch(redis, redis.register_script(APPEND))
            values = ["a", "b", "boom", "c", "d"]
            answers = await asyncio.gather(
                *(batch(keys=["list"], args=[v]) for v in values), return_exceptions=True
            )
            # Two writes: the script was not loaded yet, so it was loaded and the five sent again.
            pipelines = _CountingRedis.pipelines
            alone = await batch(keys=["list"], args=["e"])
            after_alone = _CountingRedis.pipelines
            # Redis forgets its scripts: the next calls made together load it again.
            await redis.script_flush()
            again = await asyncio.gather(*(batch(keys=["list"], args=[v]) for v in "fg"))
            stored = [x.decode() for x in await redis.lrange("list", 0, -1)]
            return {
                "answers": answers,
                "pipelines": pipelines,
                "after_alone": after_alone,
                "alone": alone,
                "again": again,
                "stored": stored,
            }
        finally:
            await redis.aclose()

    out = asyncio.run(run())
    a, b, boom, c, d = out["answers"]
    assert (a, b, c, d) == (1, 2, 3, 4)  # in the order made, each its own reply
    assert isinstance(boom, ResponseError) and "boom refused" in str(boom)
    assert out["pipelines"] == 2  # five calls, one write (twice: see above)
    assert out["after_alone"] == out["pipelines"] and out["alone"] == 5  # alone: by itself
    assert out["again"] == [6, 7]
    assert out["stored"] == ["a", "b", "c", "d", "e", "f", "g"]


def test_job_creations_made_together_are_judged_one_by_one(own_redis: int) -> None:
    """Three clients at a cap of one job, two requests each, all at once: one job each, and
    the second of each is refused by the cap it would break."""

    async def run() -> list[Any]:
        redis = Redis.from_url(f"redis://127.0.0.1:{own_redis}/0")
        store = JobStore(redis, "batch", 600)

        async def new(client: str) -> Any:
            try:
                outcome = await store.create(
                    kind="text",
                    request={"text": client},
                    source=None,
                    max_attempts=3,
                    client=client,
                    client_cap=1,
                )
            except QueueFull as exc:
                return ("refused", exc.scope)
            return ("created", outcome.job_id)

        try:
            return list(await asyncio.gather(*(new(c) for c in "xyzxyz")))
        finally:
            await redis.aclose()

    answers = asyncio.run(run())
    assert [a[0] for a in answers] == ["created"] * 3 + ["refused"] * 3
    assert len({a[1] for a in answers[:3]}) == 3


def test_an_unreachable_redis_is_every_calls_error() -> None:
    async def run() -> list[Any]:
        settings = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1.0)
        redis = make_redis(settings)
        try:
            batch = ScriptBatch(redis, redis.register_script(APPEND))
            return list(
                await asyncio.gather(
                    *(batch(keys=["l"], args=[v]) for v in "abc"), return_exceptions=True
                )
            )
        finally:
            await redis.aclose()

    answers = asyncio.run(run())
    assert len(answers) == 3
    assert all(isinstance(a, RedisConnectionError) for a in answers), answers
