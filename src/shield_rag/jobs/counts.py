"""Queue depth and admission counts: token buckets and the unfinished-job sets in Redis."""

from __future__ import annotations

import time
from typing import cast

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from shield_rag.api.jobs import TERMINAL
from shield_rag.jobs.keys import Keys
from shield_rag.jobs.records import as_text


class JobCounts:
    """What :class:`~shield_rag.jobs.store.JobStore` counts: jobs waiting and held, tokens
    of the rate limit, unfinished jobs by client, and the repair of those sets."""

    # Set by JobStore.__init__.
    redis: Redis
    keys: Keys
    _promote: AsyncScript
    _take_token: AsyncScript
    _count_unfinished: AsyncScript
    _token_and_counts: AsyncScript
    _prune_from: int

    # -- queue metrics --------------------------------------------------------------------
    async def queue_stats(self, keys: Keys | None = None) -> dict[str, int]:
        """Jobs waiting (stream lag + delayed retries) and jobs held by workers (pending), of
        the stage ``keys`` names (default the vector phase)."""
        stage = keys or self.keys
        waiting = 0
        pending = 0
        try:
            groups = await self.redis.xinfo_groups(stage.queue)
        except Exception:  # noqa: BLE001 - no stream yet
            groups = []
        for g in groups:
            info = {as_text(k): v for k, v in g.items()}
            if as_text(info.get("name")) == stage.group:
                lag = info.get("lag")
                waiting += int(lag) if lag is not None else 0
                pending += int(info.get("pending") or 0)
        if not groups:
            waiting += int(await self.redis.xlen(stage.queue) or 0)
        waiting += int(await self.redis.zcard(stage.delayed) or 0)
        return {"waiting": waiting, "pending": pending}

    # -- admission --------------------------------------------------------------------------
    async def take_token(self, client: str, rate: float, burst: int) -> float:
        """Take one token from ``client``'s bucket: 0.0 if it had one, else the seconds
        until it will have one (the request must then be refused)."""
        allowed, wait_ms = await self._take_token(
            keys=[self.keys.rate(client)], args=[repr(float(rate)), burst, 1]
        )
        return 0.0 if int(allowed) else int(wait_ms) / 1000.0

    async def admission_counts(
        self, client: str, client_cap: int, idempotency_key: str | None
    ) -> tuple[int, int, bool, int]:
        """In one round trip: (the client's unfinished jobs, everyone's, whether
        ``idempotency_key`` is stored — a replay —, and the unfinished jobs ahead of the
        client's oldest one when the client is at ``client_cap``, else -1)."""
        mine, everyone, replay, ahead = await self._count_unfinished(
            keys=[
                self.keys.client_unfinished(client),
                self.keys.unfinished,
                self.keys.idempotency(idempotency_key) if idempotency_key else "",
            ],
            args=[client, max(1, client_cap)],
        )
        return int(mine), int(everyone), bool(int(replay)), int(ahead)

    async def take_token_and_counts(
        self, client: str, rate: float, burst: int, client_cap: int, idempotency_key: str | None
    ) -> tuple[float, tuple[int, int, bool, int] | None]:
        """:meth:`take_token` and, when the token was there, :meth:`admission_counts`, in one
        script (one round trip, one atomic step). The counts are None when the bucket refused:
        the request is then refused whatever they say."""
        reply = await self._token_and_counts(
            keys=[
                self.keys.rate(client),
                self.keys.client_unfinished(client),
                self.keys.unfinished,
                self.keys.idempotency(idempotency_key) if idempotency_key else "",
            ],
            args=[repr(float(rate)), burst, 1, client, max(1, client_cap)],
        )
        if not int(reply[0]):
            return int(reply[1]) / 1000.0, None
        _unused, _unused, mine, everyone, replay, ahead = reply
        return 0.0, (int(mine), int(everyone), bool(int(replay)), int(ahead))

    async def unfinished_counts(self, client: str) -> tuple[int, int]:
        """(the client's unfinished jobs, everyone's unfinished jobs)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(self.keys.client_unfinished(client))
            pipe.zcard(self.keys.unfinished)
            mine, everyone = await pipe.execute()
        return int(mine), int(everyone)

    async def jobs_ahead_of_oldest(self, client: str) -> int:
        """Unfinished jobs created before ``client``'s oldest unfinished one (-1: none)."""
        oldest = await self.redis.zrange(self.keys.client_unfinished(client), 0, 0)
        if not oldest:
            return -1
        rank = await self.redis.zrank(self.keys.unfinished, f"{as_text(oldest[0])} {client}")
        # Without withscore the reply is the rank or None.
        return rank if isinstance(rank, int) else -1

    async def finished_total(self) -> int:
        return int(await self.redis.get(self.keys.finished) or 0)

    async def prune_unfinished(self, limit: int = 200) -> int:
        """Repair the unfinished sets: drop jobs whose record is gone (it expired after
        ``job_ttl`` untouched, or was deleted by hand) or already final (ended by a worker
        that predates these sets, during a rolling upgrade). Each call looks at the next
        ``limit`` entries, so repeated calls go round the whole set. Creation adds the record
        and the entries in one step, so an entry without a record is never a job being made."""
        start = self._prune_from
        # Without withscores the reply is the members, bytes (decode_responses=False).
        members = cast(
            "list[bytes]",
            await self.redis.zrange(self.keys.unfinished, start, start + limit - 1),
        )
        self._prune_from = start + limit if len(members) == limit else 0
        if not members:
            return 0
        entries = [as_text(m).split(" ", 1) for m in members]
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id, *_unused in entries:
                pipe.hget(self.keys.job(job_id), "status")
            statuses = await pipe.execute()
        final = {s.value for s in TERMINAL}
        stale = [
            (e, m)
            for e, m, status in zip(entries, members, statuses, strict=True)
            if status is None or as_text(status) in final
        ]
        if not stale:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            for (job_id, *client), member in stale:
                pipe.zrem(self.keys.unfinished, member)
                pipe.zrem(self.keys.client_unfinished(client[0] if client else ""), job_id)
            await pipe.execute()
        return len(stale)

    async def promote_due(self, limit: int = 100, keys: Keys | None = None) -> int:
        """Queue again the retries that are due (of the stage ``keys`` names, default the
        vector phase)."""
        k = keys or self.keys
        return int(await self._promote(keys=[k.delayed, k.queue], args=[repr(time.time()), limit]))
