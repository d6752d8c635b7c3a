"""Job state and progress events in Redis, shared by every orchestrator and worker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from shield_rag.api.jobs import TERMINAL, JobRecord, JobStatus
from shield_rag.jobs import scripts
from shield_rag.jobs.keys import Keys

JOB_EVENTS_MAXLEN = 5000
GLOBAL_EVENTS_MAXLEN = 10000
# What JobStore.transition returns when the job is no longer held by the caller (its fence).
FENCED = -2
_EVENT_ID_CHARS = frozenset("0123456789-")


def valid_event_id(value: str) -> bool:
    """True when ``value`` has the shape of a Redis stream id (``<ms>-<seq>``)."""
    parts = value.split("-")
    return (
        len(parts) == 2
        and all(p.isdigit() for p in parts)
        and set(value) <= _EVENT_ID_CHARS
        and len(value) <= 41
    )


@dataclass(frozen=True)
class CreateOutcome:
    job_id: str
    created: bool
    body_hash: str | None


@dataclass(frozen=True)
class StreamEvent:
    id: str
    data: dict[str, Any]


class QueueFull(Exception):
    """A new job was refused: the client (``scope == "client"``) or everyone together
    (``"global"``) already has the most unfinished jobs allowed. ``ahead`` is how many
    unfinished jobs are older than the client's oldest one (-1: unknown)."""

    def __init__(self, scope: str, unfinished: int, ahead: int = -1) -> None:
        super().__init__(f"{scope}: {unfinished} unfinished jobs")
        self.scope = scope
        self.unfinished = unfinished
        self.ahead = ahead


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request body."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class JobStore:
    """Reads and changes job records; every change also appends a progress event."""

    def __init__(self, redis: Redis, prefix: str, job_ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.job_ttl = job_ttl_seconds
        self._create = redis.register_script(scripts.CREATE_JOB)
        self._transition = redis.register_script(scripts.TRANSITION)
        self._promote = redis.register_script(scripts.PROMOTE_DUE)
        self._take_token = redis.register_script(scripts.RATE_BUCKET)
        self._count_unfinished = redis.register_script(scripts.COUNT_UNFINISHED)
        self._prune_from = 0

    # -- creation -------------------------------------------------------------------------
    async def create(
        self,
        *,
        kind: str,
        request: dict[str, Any],
        source: str | None,
        max_attempts: int,
        idempotency_key: str | None = None,
        body_hash: str | None = None,
        idempotency_ttl: int = 86400,
        blob: bytes | None = None,
        client: str = "",
        client_cap: int = 0,
        global_cap: int = 0,
    ) -> CreateOutcome:
        """Record and enqueue a job, atomically.

        ``client`` is recorded on the job and the job counts as that client's unfinished job
        until it ends. A positive ``client_cap`` / ``global_cap`` refuses the job
        (:class:`QueueFull`) when the client / everyone already has that many unfinished
        jobs; a replay of an Idempotency-Key is answered with its job and never refused.
        """
        job_id = uuid.uuid4().hex
        now = time.time()
        if blob is not None:
            # Stored first: a job is never queued without the document it refers to.
            await self.redis.set(self.keys.job_blob(job_id), blob, ex=self.job_ttl)
        fields: dict[str, str] = {
            "id": job_id,
            "kind": kind,
            "status": JobStatus.QUEUED.value,
            "progress": "0",
            "stage": "queued",
            "attempts": "0",
            "max_attempts": str(max_attempts),
            "created_at": repr(now),
            "updated_at": repr(now),
            "request": json.dumps(request, separators=(",", ":")),
            "source": source or "",
            "idempotency_key": idempotency_key or "",
            "cancel_requested": "0",
            "client": client,
        }
        event = self._event(job_id, "job.queued", JobStatus.QUEUED, 0.0, "queued", "accepted")
        flat: list[str] = [x for kv in fields.items() for x in kv]
        use_key = bool(idempotency_key)
        res = await self._create(
            keys=[
                self.keys.job(job_id),
                self.keys.job_events(job_id),
                self.keys.events,
                self.keys.queue,
                self.keys.idempotency(idempotency_key or "-"),
                self.keys.unfinished,
                self.keys.client_unfinished(client),
            ],
            args=[
                job_id,
                (body_hash or "") if use_key else "",
                idempotency_ttl,
                self.job_ttl,
                event,
                JOB_EVENTS_MAXLEN,
                GLOBAL_EVENTS_MAXLEN,
                client,
                repr(now),
                max(0, client_cap),
                max(0, global_cap),
                *flat,
            ],
        )
        status, *rest = (_s(x) for x in res)
        if status == "refused":
            if blob is not None:
                await self.redis.delete(self.keys.job_blob(job_id))
            raise QueueFull(rest[0], int(rest[1]), int(rest[2]))
        existing_id, stored_hash = rest
        if status == "exists":
            if blob is not None:
                await self.redis.delete(self.keys.job_blob(job_id))
            if stored_hash != body_hash:
                raise IdempotencyConflict(existing_id)
            return CreateOutcome(existing_id, created=False, body_hash=stored_hash)
        return CreateOutcome(job_id, created=True, body_hash=body_hash)

    # -- reads --------------------------------------------------------------------------
    async def get(self, job_id: str) -> JobRecord | None:
        data = await self.redis.hgetall(self.keys.job(job_id))
        if not data:
            return None
        return JobRecord.from_hash({_s(k): _s(v) for k, v in data.items()})

    async def get_raw(self, job_id: str) -> dict[str, str]:
        data = await self.redis.hgetall(self.keys.job(job_id))
        return {_s(k): _s(v) for k, v in data.items()}

    async def get_blob(self, job_id: str) -> bytes | None:
        # make_redis sets decode_responses=False: values come back as bytes.
        return cast("bytes | None", await self.redis.get(self.keys.job_blob(job_id)))

    # -- transitions --------------------------------------------------------------------
    async def transition(
        self,
        job_id: str,
        *,
        allowed: Iterable[JobStatus] | None,
        status: JobStatus | None = None,
        event: str | None = None,
        progress: float | None = None,
        stage: str | None = None,
        message: str | None = None,
        fields: dict[str, str] | None = None,
        fence: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        """Apply a change if the job's current status is in ``allowed`` and it holds every
        field/value of ``fence`` (a worker passes its name and attempt number, so a worker
        that was frozen while another took its job over cannot change it any more).

        Returns ``(1, previous_status)`` on success, ``(0, current_status)`` if the job was
        in another status, ``(-1, '')`` if it does not exist, ``(FENCED, current_status)``
        if the fence did not hold.
        """
        now = time.time()
        values: dict[str, str] = {"updated_at": repr(now)}
        if status is not None:
            values["status"] = status.value
            if status is JobStatus.RUNNING:
                values["started_at"] = repr(now)
            if status in TERMINAL:
                values["finished_at"] = repr(now)
        if progress is not None:
            values["progress"] = f"{max(0.0, min(1.0, progress)):.4f}"
            values["last_progress_at"] = repr(now)
        if stage is not None:
            values["stage"] = stage
        if message is not None:
            values["message"] = message
        if fields:
            values.update(fields)
        ev = ""
        if event is not None:
            ev = self._event(job_id, event, status, progress, stage, message, extra=fields)
        allowed_arg = "*" if allowed is None else ",".join(s.value for s in allowed)
        ttl = str(self.job_ttl)  # refreshed on every change: a live job never expires
        flat = [x for kv in values.items() for x in kv]
        guard = [x for kv in (fence or {}).items() for x in kv]
        keys = [self.keys.job(job_id), self.keys.job_events(job_id), self.keys.events]
        if status is not None and status in TERMINAL:
            # The job leaves the unfinished sets in the same script that ends it. Its client
            # never changes once created, so reading it first is safe.
            client = _s(await self.redis.hget(self.keys.job(job_id), "client"))
            keys += [
                self.keys.unfinished,
                self.keys.client_unfinished(client),
                self.keys.finished,
            ]
        res = await self._transition(
            keys=keys,
            args=[
                allowed_arg,
                ev,
                JOB_EVENTS_MAXLEN,
                GLOBAL_EVENTS_MAXLEN,
                ttl,
                job_id,
                len(guard) // 2,
                *guard,
                *flat,
            ],
        )
        if status is not None and status in TERMINAL and int(res[0]) == 1:
            await self.redis.delete(self.keys.job_blob(job_id))
        return int(res[0]), _s(res[1])

    async def request_cancel(self, job_id: str) -> tuple[str, JobRecord | None]:
        """Cancel a job: at once if queued, at the next checkpoint if running.

        Returns ``(outcome, record)`` with outcome one of ``cancelled``, ``requested``,
        ``terminal`` or ``missing``.
        """
        code, _ = await self.transition(
            job_id,
            allowed=[JobStatus.QUEUED],
            status=JobStatus.CANCELLED,
            event="job.cancelled",
            stage="cancelled",
            message="cancelled by client before it started",
        )
        if code == 1:
            await self.redis.zrem(self.keys.delayed, job_id)
            return "cancelled", await self.get(job_id)
        if code == -1:
            return "missing", None
        code, _ = await self.transition(
            job_id,
            allowed=[JobStatus.RUNNING],
            event="job.cancel_requested",
            message="cancellation requested",
            fields={"cancel_requested": "1"},
        )
        record = await self.get(job_id)
        if code == 1:
            return "requested", record
        if record is not None and record.status is JobStatus.QUEUED:
            # It went back to the queue between our two checks; try once more.
            return await self.request_cancel(job_id)
        return "terminal", record

    # -- events -------------------------------------------------------------------------
    async def read_events(
        self, stream: str, after: str, block_ms: int, count: int = 100
    ) -> list[StreamEvent]:
        # The RESP2 reply (make_redis keeps the default protocol): [[stream, [(id, fields)]]].
        res = cast(
            "list[list[Any]] | None",
            await self.redis.xread({stream: after}, count=count, block=block_ms),
        )
        out: list[StreamEvent] = []
        for _name, entries in res or []:
            for entry_id, payload in entries:
                raw = payload.get(b"data") if b"data" in payload else payload.get("data")
                out.append(StreamEvent(_s(entry_id), json.loads(_s(raw))))
        return out

    async def last_event_id(self, stream: str) -> str:
        entries = await self.redis.xrevrange(stream, count=1)
        return _s(entries[0][0]) if entries else "0-0"

    # -- queue metrics --------------------------------------------------------------------
    async def queue_stats(self) -> dict[str, int]:
        """Jobs waiting (stream lag + delayed retries) and jobs held by workers (pending)."""
        waiting = 0
        pending = 0
        try:
            groups = await self.redis.xinfo_groups(self.keys.queue)
        except Exception:  # noqa: BLE001 - no stream yet
            groups = []
        for g in groups:
            info = {_s(k): v for k, v in g.items()}
            if _s(info.get("name")) == self.keys.group:
                lag = info.get("lag")
                waiting += int(lag) if lag is not None else 0
                pending += int(info.get("pending") or 0)
        if not groups:
            waiting += int(await self.redis.xlen(self.keys.queue) or 0)
        waiting += int(await self.redis.zcard(self.keys.delayed) or 0)
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
        rank = await self.redis.zrank(self.keys.unfinished, f"{_s(oldest[0])} {client}")
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
        entries = [_s(m).split(" ", 1) for m in members]
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id, *_ in entries:
                pipe.hget(self.keys.job(job_id), "status")
            statuses = await pipe.execute()
        final = {s.value for s in TERMINAL}
        stale = [
            (e, m)
            for e, m, status in zip(entries, members, statuses, strict=True)
            if status is None or _s(status) in final
        ]
        if not stale:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            for (job_id, *client), member in stale:
                pipe.zrem(self.keys.unfinished, member)
                pipe.zrem(self.keys.client_unfinished(client[0] if client else ""), job_id)
            await pipe.execute()
        return len(stale)

    async def promote_due(self, limit: int = 100) -> int:
        return int(
            await self._promote(
                keys=[self.keys.delayed, self.keys.queue], args=[repr(time.time()), limit]
            )
        )

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def _event(
        job_id: str,
        event: str,
        status: JobStatus | None,
        progress: float | None,
        stage: str | None,
        message: str | None,
        extra: dict[str, str] | None = None,
    ) -> str:
        body: dict[str, Any] = {"event": event, "job_id": job_id, "ts": time.time()}
        if status is not None:
            body["status"] = status.value
        if progress is not None:
            body["progress"] = round(max(0.0, min(1.0, progress)), 4)
        if stage is not None:
            body["stage"] = stage
        if message is not None:
            body["message"] = message
        if extra:
            if extra.get("error"):
                body["error"] = extra["error"]
            if extra.get("attempts"):
                body["attempts"] = int(extra["attempts"])
            if extra.get("next_attempt_at"):
                body["next_attempt_at"] = float(extra["next_attempt_at"])
        return json.dumps(body, separators=(",", ":"))


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
