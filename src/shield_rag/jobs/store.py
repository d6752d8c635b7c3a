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
from shield_rag.jobs.batch import ScriptBatch
from shield_rag.jobs.counts import JobCounts
from shield_rag.jobs.keys import GRAPH_STAGE, Keys
from shield_rag.jobs.records import (
    GLOBAL_EVENTS_MAXLEN,
    JOB_EVENTS_MAXLEN,
    StreamEvent,
    as_text,
    event_json,
    new_job_fields,
    transition_fields,
    valid_event_id,
)

__all__ = [
    "FENCED",
    "GLOBAL_EVENTS_MAXLEN",
    "JOB_EVENTS_MAXLEN",
    "CreateOutcome",
    "IdempotencyConflict",
    "JobStore",
    "QueueFull",
    "RateLimited",
    "StorageNearlyFull",
    "StreamEvent",
    "valid_event_id",
]

# What JobStore.transition returns when the job is no longer held by the caller (its fence).
FENCED = -2
# The creation script's one argument (see scripts.CREATE_JOB): json.dumps(...,
# ensure_ascii=False, separators=(",", ":")), with its encoder built once rather than per job.
# Not ASCII-escaped: the script's JSON decoder keeps UTF-8 bytes as they are.
_CALL_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class CreateOutcome:
    job_id: str
    created: bool
    body_hash: str | None


class QueueFull(Exception):
    """A new job was refused: the client (``scope == "client"``) or everyone together
    (``"global"``) already has the most unfinished jobs allowed. ``ahead`` is how many
    unfinished jobs are older than the client's oldest one (-1: unknown)."""

    def __init__(self, scope: str, unfinished: int, ahead: int = -1) -> None:
        super().__init__(f"{scope}: {unfinished} unfinished jobs")
        self.scope = scope
        self.unfinished = unfinished
        self.ahead = ahead


class RateLimited(Exception):
    """A new job was refused by the client's rate-limit bucket, taken in the creation script;
    ``wait`` is the seconds until the bucket has a token."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"no token for {wait:g} s")
        self.wait = wait


class StorageNearlyFull(Exception):
    """A new job was refused because the caller said the memory guard refuses new work (a
    replay of its Idempotency-Key is answered all the same)."""


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request body."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class JobStore(JobCounts):
    """Reads and changes job records; every change also appends a progress event."""

    def __init__(self, redis: Redis, prefix: str, job_ttl_seconds: int) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.job_ttl = job_ttl_seconds
        # Accepts arriving together share one write to Redis (see jobs/batch.py).
        self._create = ScriptBatch(redis, redis.register_script(scripts.CREATE_JOB))
        self._transition = redis.register_script(scripts.TRANSITION)
        self._promote = redis.register_script(scripts.PROMOTE_DUE)
        self._take_token = redis.register_script(scripts.RATE_BUCKET)
        self._count_unfinished = redis.register_script(scripts.COUNT_UNFINISHED)
        self._token_and_counts = redis.register_script(scripts.TOKEN_AND_COUNTS)
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
        rate: float = 0.0,
        burst: int = 0,
        refuse_new: bool = False,
    ) -> CreateOutcome:
        """Record and enqueue a job, atomically, in one script (one round trip).

        ``client`` is recorded on the job and the job counts as that client's unfinished job
        until it ends. A positive ``rate`` (tokens per second, with ``burst``) first takes a
        token from the client's rate-limit bucket (:meth:`take_token`'s), replays included,
        and refuses the job without one (:class:`RateLimited`). A replay of an
        Idempotency-Key is then answered with its job and refused by nothing that follows:
        ``refuse_new`` (the memory guard's verdict) refuses the job
        (:class:`StorageNearlyFull`); a positive ``client_cap`` / ``global_cap`` refuses it
        (:class:`QueueFull`) when the client / everyone already has that many unfinished jobs.
        """
        job_id = uuid.uuid4().hex
        now = time.time()
        if blob is not None:
            # Stored first: a job is never queued without the document it refers to.
            await self.redis.set(self.keys.job_blob(job_id), blob, ex=self.job_ttl)
        fields = new_job_fields(
            job_id=job_id,
            kind=kind,
            request=request,
            source=source,
            max_attempts=max_attempts,
            idempotency_key=idempotency_key,
            client=client,
            now=now,
        )
        event = event_json(job_id, "job.queued", JobStatus.QUEUED, 0.0, "queued", "accepted")
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
                self.keys.rate(client),
            ],
            args=[
                _CALL_JSON.encode(
                    {
                        "id": job_id,
                        "hash": (body_hash or "") if use_key else "",
                        "idem_ttl": str(idempotency_ttl),
                        "ttl": str(self.job_ttl),
                        "event": event,
                        "job_maxlen": str(JOB_EVENTS_MAXLEN),
                        "global_maxlen": str(GLOBAL_EVENTS_MAXLEN),
                        "client": client,
                        "now": repr(now),
                        "client_cap": str(max(0, client_cap)),
                        "global_cap": str(max(0, global_cap)),
                        "rate": repr(float(rate)) if rate > 0 else "0",
                        "burst": str(burst),
                        "refuse": "1" if refuse_new else "0",
                        "fields": fields,
                    }
                )
            ],
        )
        status, *rest = (as_text(x) for x in res)
        if status in ("refused", "limited"):
            if blob is not None:
                await self.redis.delete(self.keys.job_blob(job_id))
            if status == "limited":
                raise RateLimited(int(rest[0]) / 1000.0)
            if rest[0] == "storage":
                raise StorageNearlyFull()
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
        return JobRecord.from_hash({as_text(k): as_text(v) for k, v in data.items()})

    async def owner(self, job_id: str) -> str | None:
        """The client that submitted ``job_id`` (None: no such job, or an expired one)."""
        raw = await self.redis.hget(self.keys.job(job_id), "client")
        return as_text(raw) if raw else None

    async def get_raw(self, job_id: str) -> dict[str, str]:
        data = await self.redis.hgetall(self.keys.job(job_id))
        return {as_text(k): as_text(v) for k, v in data.items()}

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
        enqueue: str | None = None,
    ) -> tuple[int, str]:
        """Apply a change if the job's current status is in ``allowed`` and it holds every
        field/value of ``fence`` (a worker passes its name and attempt number, so a worker
        that was frozen while another took its job over cannot change it any more).
        ``enqueue`` names a stage's stream the job is added to in the same atomic change
        (not with a final status).

        Returns ``(1, previous_status)`` on success, ``(0, current_status)`` if the job was
        in another status, ``(-1, '')`` if it does not exist, ``(FENCED, current_status)``
        if the fence did not hold.
        """
        now = time.time()
        values = transition_fields(
            now, status=status, progress=progress, stage=stage, message=message, fields=fields
        )
        ev = ""
        if event is not None:
            ev = event_json(job_id, event, status, progress, stage, message, extra=fields)
        allowed_arg = "*" if allowed is None else ",".join(s.value for s in allowed)
        ttl = str(self.job_ttl)  # refreshed on every change: a live job never expires
        flat = [x for kv in values.items() for x in kv]
        guard = [x for kv in (fence or {}).items() for x in kv]
        keys = [self.keys.job(job_id), self.keys.job_events(job_id), self.keys.events]
        if enqueue is not None:
            if status is not None and status in TERMINAL:
                raise ValueError("a job that ends cannot be queued for another stage")
            keys.append(enqueue)
        if status is not None and status in TERMINAL:
            # The job leaves the unfinished sets in the same script that ends it. Its client
            # never changes once created, so reading it first is safe.
            client = as_text(await self.redis.hget(self.keys.job(job_id), "client"))
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
        return int(res[0]), as_text(res[1])

    async def request_cancel(self, job_id: str) -> tuple[str, JobRecord | None]:
        """Cancel a job: at once if queued or if only its graph stage is left and waits in
        its queue, at the next checkpoint if running.

        Returns ``(outcome, record)`` with outcome one of ``cancelled``, ``requested``,
        ``terminal`` or ``missing``.
        """
        code, _unused = await self.transition(
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
        code, _unused = await self.transition(
            job_id,
            allowed=[JobStatus.RUNNING],
            status=JobStatus.CANCELLED,
            event="job.cancelled",
            stage="cancelled",
            message="cancelled by client before its graph stage started",
            fields={"graph_status": "cancelled"},
            fence={"graph_status": "queued"},
        )
        if code == 1:
            # Its graph stream entry, if any, is acknowledged by the slot that reads it.
            graph = Keys(self.keys.prefix, GRAPH_STAGE)
            await self.redis.zrem(graph.delayed, job_id)
            await self.redis.delete(self.keys.graph_docs(job_id))
            return "cancelled", await self.get(job_id)
        code, _unused = await self.transition(
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
                out.append(StreamEvent(as_text(entry_id), json.loads(as_text(raw))))
        return out

    async def last_event_id(self, stream: str) -> str:
        entries = await self.redis.xrevrange(stream, count=1)
        return as_text(entries[0][0]) if entries else "0-0"
