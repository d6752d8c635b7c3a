"""The work queue: a Redis stream read by a consumer group.

Why Redis Streams consumer groups rather than a task library (arq, rq, Celery): a stream
entry stays *pending* with the consumer that read it until that consumer acknowledges it,
so a worker killed with ``kill -9`` leaves its job pending, and ``XAUTOCLAIM`` hands it to
another worker once it has been idle for ``claim_idle_seconds``. Live workers keep their
entries fresh with a heartbeat (``XCLAIM ... JUSTID``) and hold a per-job lease, so a job
runs on one worker at a time. Retries go to a sorted set scored by due time and come back
through an atomic Lua move; dead-lettering is a job status with the reason kept. arq offers
retries but no dead-letter state and recovers a killed job only after its whole timeout;
rq and Celery bring brokers and result backends we would not otherwise run.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shield_rag.jobs import scripts
from shield_rag.jobs.keys import Keys


@dataclass(frozen=True)
class Delivery:
    entry_id: str
    job_id: str
    reclaimed: bool


def _s(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class WorkQueue:
    """Consumer-side operations on the job stream for one worker process."""

    def __init__(
        self, redis: Redis, prefix: str, consumer: str, claim_idle_ms: int, stage: str = ""
    ) -> None:
        self.redis = redis
        self.keys = Keys(prefix, stage)
        self.consumer = consumer
        # The lease owner is unique per process even if two workers share a --name.
        self.lease_owner = f"{consumer}:{uuid.uuid4().hex[:12]}"
        self.claim_idle_ms = claim_idle_ms
        self._lease_acquire = redis.register_script(scripts.LEASE_ACQUIRE)
        self._lease_renew = redis.register_script(scripts.LEASE_RENEW)
        self._lease_release = redis.register_script(scripts.LEASE_RELEASE)

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.queue, self.keys.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def prune_consumers(self, idle_ms: int) -> int:
        """Forget consumers (old worker processes) idle for ``idle_ms`` that hold nothing."""
        removed = 0
        try:
            consumers = await self.redis.xinfo_consumers(self.keys.queue, self.keys.group)
        except ResponseError:
            return 0
        for info in consumers:
            row = {_s(k): v for k, v in info.items()}
            name = _s(row.get("name"))
            if name == self.consumer or int(row.get("pending") or 0) > 0:
                continue
            if int(row.get("idle") or 0) >= idle_ms:
                await self.redis.xgroup_delconsumer(self.keys.queue, self.keys.group, name)
                removed += 1
        return removed

    async def claim_stale(self, count: int) -> list[Delivery]:
        """Take over entries whose worker stopped heartbeating (crashed or killed)."""
        res = await self.redis.xautoclaim(
            self.keys.queue,
            self.keys.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=count,
        )
        entries = res[1] if len(res) > 1 else []
        out: list[Delivery] = []
        for entry_id, fields in entries:
            if not fields:
                continue  # deleted entry
            job_id = fields.get(b"job_id") or fields.get("job_id")
            if job_id is None:
                await self.ack(_s(entry_id))
                continue
            out.append(Delivery(_s(entry_id), _s(job_id), reclaimed=True))
        return out

    async def read_new(self, count: int, block_ms: int | None) -> list[Delivery]:
        """Up to ``count`` entries never delivered; waits up to ``block_ms`` for one when
        there is none (``None``: answers at once)."""
        # The RESP2 reply (make_redis keeps the default protocol): [[stream, [(id, fields)]]].
        res = cast(
            list[list[Any]] | None,
            await self.redis.xreadgroup(
                self.keys.group, self.consumer, {self.keys.queue: ">"}, count=count, block=block_ms
            ),
        )
        out: list[Delivery] = []
        for _stream, entries in res or []:
            for entry_id, fields in entries:
                job_id = fields.get(b"job_id") or fields.get("job_id")
                if job_id is None:
                    await self.ack(_s(entry_id))
                    continue
                out.append(Delivery(_s(entry_id), _s(job_id), reclaimed=False))
        return out

    async def heartbeat(self, delivery: Delivery, lease_ms: int) -> bool:
        """Keep ``delivery`` ours: renew the job lease and reset the entry's idle time."""
        if not await self.renew_lease(delivery.job_id, lease_ms):
            return False
        pending = await self.redis.xpending_range(
            self.keys.queue, self.keys.group, min=delivery.entry_id, max=delivery.entry_id, count=1
        )
        if pending and _s(pending[0]["consumer"]) == self.consumer:
            await self.redis.xclaim(
                self.keys.queue,
                self.keys.group,
                self.consumer,
                min_idle_time=0,
                message_ids=[delivery.entry_id],
                justid=True,
            )
        return True

    async def ack(self, entry_id: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.keys.queue, self.keys.group, entry_id)
            pipe.xdel(self.keys.queue, entry_id)
            await pipe.execute()

    async def ack_and_schedule(self, entry_id: str, job_id: str, due: float) -> None:
        """Acknowledge this delivery and schedule the job again at ``due`` (epoch seconds)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(self.keys.delayed, {job_id: due})
            pipe.xack(self.keys.queue, self.keys.group, entry_id)
            pipe.xdel(self.keys.queue, entry_id)
            await pipe.execute()

    async def acquire_lease(self, job_id: str, lease_ms: int) -> bool:
        return bool(
            await self._lease_acquire(
                keys=[self.keys.lease(job_id)], args=[self.lease_owner, lease_ms]
            )
        )

    async def renew_lease(self, job_id: str, lease_ms: int) -> bool:
        return bool(
            await self._lease_renew(
                keys=[self.keys.lease(job_id)], args=[self.lease_owner, lease_ms]
            )
        )

    async def release_lease(self, job_id: str) -> None:
        await self._lease_release(keys=[self.keys.lease(job_id)], args=[self.lease_owner])


def backoff_delay(attempt: int, base: float, maximum: float) -> float:
    """Exponential backoff: base * 2**(attempt-1), capped at ``maximum``."""
    return float(min(maximum, base * (2 ** min(max(0, attempt - 1), 64))))


def now() -> float:
    return time.time()
