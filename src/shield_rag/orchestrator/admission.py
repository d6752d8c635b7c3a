"""Admission control: one client can never deny service to the others.

Four limits, all kept in Redis so that every orchestrator replica enforces the same ones:

- **Who the client is.** The ``X-Shield-Client`` header when it is a valid name
  (``^[A-Za-z0-9._:@/-]{1,64}$``; the MCP server sends its caller's), else ``ip:<address>``
  (the peer address, or the one a trusted proxy put in ``X-Forwarded-For``). The header is
  trusted as sent: it names callers behind a shared component, it does not authenticate them.
- **Rate.** A token bucket per client (``admission.client_requests_per_second`` refilling up
  to ``client_burst``), one hash ``<prefix>:rate:<client>`` changed by one Lua script
  (:data:`shield_rag.jobs.scripts.RATE_BUCKET`) that reads Redis' own clock, so replicas share
  the bucket and their clocks do not matter. It applies to every route but health/readiness;
  a refusal is 429 ``rate_limited`` with the time until the next token as Retry-After. The
  key expires once the bucket would be full again, so idle clients cost nothing. The bucket
  is kept in Redis' memory only (never in its append-only file, so no fsync per request): a
  Redis restart refills the buckets, nothing else. A JSON ``POST /ingest-async`` takes its
  token in the job creation script (:data:`shield_rag.jobs.scripts.CREATE_JOB`, the same
  bucket function), which then also judges the memory guard and the caps: one round trip
  per accepted job (:mod:`shield_rag.orchestrator.admission_wiring`).
- **Unfinished jobs**, per client (``client_max_queued_jobs``, 429 ``too_many_queued_jobs``)
  and all together (``max_queued_jobs``, 503 ``overloaded``). The counts are two sorted
  sets maintained *inside the scripts that change jobs*: the creation script adds the job to
  ``<prefix>:unfinished`` (member ``<job id> <client>``) and ``<prefix>:unfinished:<client>``
  (member ``<job id>``), both scored by creation time, after checking the caps in the same
  script; the transition script removes it from both when it moves the job to a final status
  (succeeded, failed, dead, cancelled — whichever path: the pipeline, a permanent error,
  dead-lettering, a takeover past max_attempts, a cancel while queued). A set rather than a
  counter because membership is idempotent: adding or removing the same job twice changes
  nothing, so no retry, replay or racing transition can make the count drift, and ZCARD is
  the exact number. Caps are checked in the creation script, so two replicas admitting at the
  same moment cannot both take the last place. What the scripts cannot see — a record
  expiring unfinished after ``worker.job_ttl_seconds`` untouched, or a job ended by a worker
  of an older release during a rolling upgrade — is repaired by
  :meth:`JobStore.prune_unfinished`, which each replica runs once a minute over the next part
  of the set. An Idempotency-Key replay is answered before any cap is checked: it adds no
  work (it still takes a token, as every request does).
- **Redis memory.** Each replica reads ``INFO memory`` at most every
  ``redis_memory_check_seconds`` and refuses new work (503 ``storage_nearly_full``) while
  ``used_memory`` is above ``redis_memory_high_watermark`` times ``maxmemory``. Redis runs with
  ``noeviction``, so the headroom above the watermark is what lets accepted jobs record their
  progress and finish.

Caps and the memory guard apply to writes (``POST /ingest-async``, ``POST /vectors``); reads
keep working while writes are refused. The Retry-After of a queue refusal is estimated from
the rate at which jobs finish (a counter the transition script increments), as measured by
this replica over the last minute. If Redis fails during admission the request fails as
Redis unavailable (the RedisError propagates to its handler).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from typing import Any

from fastapi import Request

from shield_rag.api.errors import ApiError, ErrorCode
from shield_rag.jobs.store import JobStore, QueueFull
from shield_rag.orchestrator.metrics import (
    ADMISSION_REFUSALS,
    REDIS_MEMORY_RATIO,
    REDIS_MEMORY_WATERMARK,
    UNFINISHED_JOBS,
)
from shield_rag.settings import AdmissionSettings

log = logging.getLogger(__name__)

CLIENT_HEADER = "X-Shield-Client"
CLIENT_RE = re.compile(r"^[A-Za-z0-9._:@/-]{1,64}$")
MAX_RETRY_AFTER = 60.0
UNKNOWN_DRAIN_RETRY_AFTER = 5.0
STORAGE_RETRY_AFTER = 10.0
DRAIN_WINDOW_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 60.0


def client_id(request: Request) -> str:
    """The name admission counts a request against."""
    header = request.headers.get(CLIENT_HEADER)
    if header is not None and CLIENT_RE.fullmatch(header):
        return header
    host = request.client.host if request.client else "unknown"
    return f"ip:{host}"


class Admission:
    """One replica's admission control; the state it enforces lives in Redis."""

    def __init__(self, store: JobStore, settings: AdmissionSettings) -> None:
        self.store = store
        self.cfg = settings
        self._lock = asyncio.Lock()
        self._read_at = -math.inf
        self._pruned_at = -math.inf
        self.used_memory = 0
        self.maxmemory = 0
        self.unfinished = 0
        # (monotonic time, finished-jobs counter) samples, for the drain rate.
        self._samples: deque[tuple[float, int]] = deque()
        REDIS_MEMORY_WATERMARK.set(settings.redis_memory_high_watermark)

    # -- what this replica knows of Redis ----------------------------------------------------
    @property
    def memory_ratio(self) -> float:
        return self.used_memory / self.maxmemory if self.maxmemory else 0.0

    async def refresh(self) -> None:
        """Read Redis' memory use, the unfinished jobs and the finished-jobs counter, at most
        once every ``redis_memory_check_seconds``."""
        if time.monotonic() - self._read_at < self.cfg.redis_memory_check_seconds:
            return  # read recently: no lock to take (checked again under it)
        async with self._lock:
            now = time.monotonic()
            if now - self._read_at < self.cfg.redis_memory_check_seconds:
                return
            redis = self.store.redis
            async with redis.pipeline(transaction=False) as pipe:
                pipe.info("memory")
                pipe.zcard(self.store.keys.unfinished)
                pipe.get(self.store.keys.finished)
                info, unfinished, finished = await pipe.execute()
            self.used_memory = int(info.get("used_memory") or 0)
            self.maxmemory = int(info.get("maxmemory") or 0)
            self.unfinished = int(unfinished or 0)
            self._read_at = now
            self._samples.append((now, int(finished or 0)))
            while self._samples and now - self._samples[0][0] > DRAIN_WINDOW_SECONDS:
                self._samples.popleft()
            REDIS_MEMORY_RATIO.set(self.memory_ratio)
            UNFINISHED_JOBS.set(self.unfinished)

    def drain_rate(self) -> float | None:
        """Jobs finished per second over the last minute (None: not measured yet)."""
        if len(self._samples) < 2:
            return None
        (t0, f0), (t1, f1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 2.0:
            return None
        return max(0, f1 - f0) / (t1 - t0)

    def eta(self, jobs: int) -> float:
        """Seconds until ``jobs`` more jobs have finished, at the measured drain rate."""
        rate = self.drain_rate()
        if rate is None:
            return UNKNOWN_DRAIN_RETRY_AFTER
        if rate <= 0:
            return MAX_RETRY_AFTER
        return float(min(MAX_RETRY_AFTER, max(1, math.ceil(max(1, jobs) / rate))))

    async def run(self) -> None:
        """Keep the view (and the gauges) fresh while no request asks; prune now and then."""
        while True:
            try:
                await self.refresh()
                if time.monotonic() - self._pruned_at >= PRUNE_EVERY_SECONDS:
                    self._pruned_at = time.monotonic()
                    pruned = await self.store.prune_unfinished()
                    if pruned:
                        log.warning("dropped %d unfinished jobs whose records expired", pruned)
            except Exception as exc:  # noqa: BLE001 - the view must not kill the API
                log.debug("admission view not refreshed: %s", exc)
            await asyncio.sleep(self.cfg.redis_memory_check_seconds)

    # -- the checks -----------------------------------------------------------------------
    def _refuse(self, code: ErrorCode, detail: str, retry_after: float) -> ApiError:
        ADMISSION_REFUSALS.labels(code.value).inc()
        return ApiError(code, detail, retry_after=float(max(1, math.ceil(retry_after))))

    async def check_rate(self, client: str) -> None:
        if not self.cfg.enabled:
            return
        wait = await self.store.take_token(
            client, self.cfg.client_requests_per_second, self.cfg.client_burst
        )
        self._rate_verdict(client, wait)

    async def check_rate_of_write(
        self, client: str, idempotency_key: str | None
    ) -> tuple[int, int, bool, int] | None:
        """:meth:`check_rate` for a write, reading in the same script the counts that
        :meth:`check_write` then judges (None when admission is off)."""
        if not self.cfg.enabled:
            return None
        wait, counts = await self.store.take_token_and_counts(
            client,
            self.cfg.client_requests_per_second,
            self.cfg.client_burst,
            self.cfg.client_max_queued_jobs,
            idempotency_key,
        )
        if counts is None:  # the bucket refused (and nothing was counted)
            raise self.rate_refusal(client, wait)
        return counts

    def _rate_verdict(self, client: str, wait: float) -> None:
        if wait > 0:
            raise self.rate_refusal(client, wait)

    def rate_refusal(self, client: str, wait: float) -> ApiError:
        return self._refuse(
            ErrorCode.RATE_LIMITED,
            f"client {client!r} sends more than {self.cfg.client_requests_per_second:g} "
            f"requests/s (burst {self.cfg.client_burst}; admission.client_requests_per_"
            "second); slow down and retry after Retry-After",
            wait,
        )

    async def check_write(
        self,
        client: str,
        idempotency_key: str | None,
        size: int = 0,
        counts: tuple[int, int, bool, int] | None = None,
    ) -> None:
        """Refuse new work when Redis is nearly full or a queue cap is reached. A replay of
        an Idempotency-Key already stored passes: it adds no work. ``size`` (the request's
        Content-Length) is added to this replica's view of Redis' memory at once, so that
        uploads arriving between two reads of INFO cannot overshoot the watermark unseen.
        ``counts`` are :meth:`JobStore.admission_counts` when already read for this request
        (by :meth:`check_rate_of_write`); else they are read now."""
        if not self.cfg.enabled:
            return
        await self.refresh()
        mine, everyone, replay, ahead = counts or await self.store.admission_counts(
            client, self.cfg.client_max_queued_jobs, idempotency_key
        )
        if replay:
            return
        if self.storage_full:
            raise self.storage_refusal()
        if mine >= self.cfg.client_max_queued_jobs:
            raise await self.queue_full(client, QueueFull("client", mine, ahead))
        if everyone >= self.cfg.max_queued_jobs:
            raise await self.queue_full(client, QueueFull("global", everyone))
        self.used_memory += max(0, size)

    @property
    def storage_full(self) -> bool:
        """Whether the memory guard refuses new work, by this replica's last reading."""
        return bool(self.maxmemory) and self.memory_ratio >= self.cfg.redis_memory_high_watermark

    def storage_refusal(self) -> ApiError:
        return self._refuse(
            ErrorCode.STORAGE_NEARLY_FULL,
            f"Redis holds {self.memory_ratio:.0%} of its maxmemory, above the "
            f"{self.cfg.redis_memory_high_watermark:.0%} kept for accepted jobs (admission."
            "redis_memory_high_watermark); new work is refused until jobs finish — reads still "
            "work",
            max(STORAGE_RETRY_AFTER, self.cfg.redis_memory_check_seconds),
        )

    async def queue_full(self, client: str, exc: QueueFull) -> ApiError:
        """The answer to a job refused by a queue cap (here or in the creation script)."""
        if exc.scope == "client":
            ahead = exc.ahead if exc.ahead >= 0 else await self.store.jobs_ahead_of_oldest(client)
            return self._refuse(
                ErrorCode.TOO_MANY_QUEUED_JOBS,
                f"client {client!r} already has {exc.unfinished} unfinished jobs, the most "
                f"allowed (admission.client_max_queued_jobs={self.cfg.client_max_queued_jobs}); "
                "wait for some to finish",
                self.eta(ahead + 1),
            )
        return self._refuse(
            ErrorCode.OVERLOADED,
            f"the stack has {exc.unfinished} unfinished jobs, the most it accepts "
            f"(admission.max_queued_jobs={self.cfg.max_queued_jobs}); retry later",
            self.eta(exc.unfinished - self.cfg.max_queued_jobs + 1),
        )

    def create_limits(self, client: str) -> dict[str, Any]:
        """Keyword arguments of :meth:`JobStore.create` for a job of ``client``."""
        on = self.cfg.enabled
        return {
            "client": client,
            "client_cap": self.cfg.client_max_queued_jobs if on else 0,
            "global_cap": self.cfg.max_queued_jobs if on else 0,
        }

    async def one_trip_limits(self, client: str, size: int) -> dict[str, Any]:
        """:meth:`create_limits` of a write whose admission is left to the creation script:
        its token, the memory guard's verdict (this replica's view, refreshed as
        :meth:`check_write` does) and the caps. ``size`` is counted as :meth:`check_write`
        counts it."""
        await self.refresh()
        full = self.storage_full
        if not full:
            self.used_memory += max(0, size)
        return {
            **self.create_limits(client),
            "rate": self.cfg.client_requests_per_second,
            "burst": self.cfg.client_burst,
            "refuse_new": full,
        }
