"""Running one delivered job: lease, attempt, heartbeat, then success, retry or its end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shield_rag.api.jobs import JobStatus
from shield_rag.errors import DependencyUnavailable, JobCancelled, PermanentJobError, ShieldError
from shield_rag.jobs.keys import Keys
from shield_rag.jobs.queue import Delivery, WorkQueue, backoff_delay
from shield_rag.jobs.store import FENCED, JobStore
from shield_rag.settings import WorkerSettings
from shield_rag.worker.metrics import BUSY, JOB_SECONDS, JOBS
from shield_rag.worker.pipeline import Pipeline

# The name the worker's job log lines have always carried.
log = logging.getLogger("shield_rag.worker.runner")

_ACTIVE = [JobStatus.QUEUED, JobStatus.RUNNING]
# The share of a job's progress its vector phase reports when a graph stage may follow.
VECTOR_SHARE = 0.8
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
# A job whose call an open breaker refused waits at least this long (never a hot loop).
BREAKER_WAIT_FLOOR_SECONDS = 0.5


def breaker_refusal(exc: BaseException) -> DependencyUnavailable | None:
    """``exc`` when a dependency's open breaker refused the call without sending it: the
    dependency is known to be down and never saw the job, so that is not one of its attempts."""
    if isinstance(exc, DependencyUnavailable) and not exc.sent:
        return exc
    return None


def breaker_wait(exc: DependencyUnavailable, attempts: int, cfg: WorkerSettings) -> float:
    """How long a job refused by ``exc`` waits: the breaker's own ``retry_after`` (else the
    backoff of attempt ``attempts``), at least :data:`BREAKER_WAIT_FLOOR_SECONDS`."""
    wait = exc.retry_after
    if wait is None:
        wait = backoff_delay(attempts, cfg.backoff_base_seconds, cfg.backoff_max_seconds)
    return max(wait, BREAKER_WAIT_FLOOR_SECONDS)


def deferral_note(exc: DependencyUnavailable, delay: float) -> str:
    """The message of a retry that does not count as an attempt."""
    return f"{exc.dependency} circuit open: waiting {delay:.1f}s, attempt not counted ({exc})"


class _Abandon(Exception):
    """This worker lost the job's lease (another worker took over); drop it silently."""


class JobExecution:
    """How a :class:`~shield_rag.worker.runner.Worker` runs one job it was delivered."""

    # Set by Worker.__init__.
    cfg: WorkerSettings
    name: str
    redis: Redis
    store: JobStore
    queue: WorkQueue
    graph_keys: Keys
    lease_ms: int
    pipeline: Pipeline

    # -- one job ---------------------------------------------------------------------------
    async def _process(self, d: Delivery) -> None:
        if not await self.queue.acquire_lease(d.job_id, self.lease_ms):
            log.info("job %s is held by another live worker; leaving it", d.job_id)
            return
        try:
            await self._process_leased(d)
        finally:
            with contextlib.suppress(*REDIS_ERRORS):
                await self.queue.release_lease(d.job_id)

    async def _process_leased(self, d: Delivery) -> None:
        raw = await self.store.get_raw(d.job_id)
        if not raw:
            await self.queue.ack(d.entry_id)
            return
        status = JobStatus(raw["status"])
        if status.terminal or raw.get("vectors_status") == "succeeded":
            # Done, or its vectors are stored and the graph stage has it (a redelivery of
            # an entry whose hand-off was not acknowledged before a crash).
            await self.queue.ack(d.entry_id)
            return
        if raw.get("cancel_requested") == "1":
            await self._finish(d, JobStatus.CANCELLED, "job.cancelled", "cancelled by client")
            return
        attempts = int(raw.get("attempts") or 0) + 1
        max_attempts = int(raw.get("max_attempts") or self.cfg.max_attempts)
        if attempts > max_attempts:
            last = raw.get("error") or "the worker stopped while running it"
            await self._finish(
                d,
                JobStatus.DEAD,
                "job.dead",
                f"gave up after {max_attempts} attempts",
                error=f"gave up after {max_attempts} attempts; last error: {last}",
            )
            return
        code, _unused = await self.store.transition(
            d.job_id,
            allowed=_ACTIVE,
            status=JobStatus.RUNNING,
            event="job.started",
            stage="started",
            message=f"attempt {attempts}/{max_attempts} on {self.name}",
            fields={
                "attempts": str(attempts),
                "worker": self.name,
                "next_attempt_at": "",
                "vectors_status": "running",
            },
        )
        if code != 1:
            await self.queue.ack(d.entry_id)
            return
        raw["attempts"] = str(attempts)
        await self._execute(d, raw, attempts, max_attempts)

    async def _execute(
        self, d: Delivery, raw: dict[str, str], attempts: int, max_attempts: int
    ) -> None:
        cancel_reason: dict[str, str] = {}
        # Every change this attempt makes holds only while the job is still this worker's
        # attempt: a worker frozen past claim_idle_seconds, whose job another worker took over,
        # must not write progress, results or a retry over the new attempt when it resumes.
        mine = {"worker": self.name, "attempts": str(attempts)}

        async def progress(stage: str, fraction: float, message: str) -> None:
            code, _unused = await self.store.transition(
                d.job_id,
                allowed=[JobStatus.RUNNING],
                event="job.progress",
                progress=fraction * VECTOR_SHARE,
                stage=stage,
                message=message,
                fence=mine,
            )
            if code != 1:
                await self._lost_or_cancelled(d.job_id, code)

        async def body() -> None:
            result = await asyncio.wait_for(
                self.pipeline.run(raw, progress), timeout=self.cfg.job_timeout_seconds
            )
            fields = {
                "result": json.dumps(result, separators=(",", ":")),
                "error": "",
                "vectors_status": "succeeded",
            }
            if result.get("graph") == "queued":
                # Searchable now; the job moves to the graph stage's queue in the same change.
                fields |= {"graph_status": "queued", "graph_attempts": "0"}
                code, _unused = await self.store.transition(
                    d.job_id,
                    allowed=[JobStatus.RUNNING],
                    event="job.vectors_succeeded",
                    progress=VECTOR_SHARE,
                    stage="graph-queued",
                    message=f"{result.get('chunks')} chunks searchable; graph stage queued",
                    fields=fields,
                    fence=mine,
                    enqueue=self.graph_keys.queue,
                )
            else:
                fields["graph_status"] = "skipped"
                code, _unused = await self.store.transition(
                    d.job_id,
                    allowed=[JobStatus.RUNNING],
                    status=JobStatus.SUCCEEDED,
                    event="job.succeeded",
                    progress=1.0,
                    stage="done",
                    message="done",
                    fields=fields,
                    fence=mine,
                )
            if code != 1:
                await self._lost_or_cancelled(d.job_id, code)

        task = asyncio.create_task(body())
        watcher = asyncio.create_task(self._watch(d, task, cancel_reason))
        BUSY.inc()
        started = time.perf_counter()
        try:
            await task
            await self.queue.ack(d.entry_id)
            JOBS.labels("succeeded").inc()
        except asyncio.CancelledError:
            reason = cancel_reason.get("reason")
            if reason == "lease":
                log.warning("job %s: lease lost to another worker; abandoning", d.job_id)
                JOBS.labels("abandoned").inc()
            elif reason == "cancel":
                await self._finish(
                    d, JobStatus.CANCELLED, "job.cancelled", "cancelled by client", fence=mine
                )
            else:  # this worker is shutting down: hand the job back at once
                await self._retry(
                    d, attempts - 1, "the worker shut down while running it", 0.0, fence=mine
                )
                raise
        except _Abandon as exc:
            # Another worker holds the job now (e.g. after a Redis outage longer than the
            # lease); leave its state and its queue entry alone.
            log.warning("job %s: %s; abandoning this attempt", d.job_id, exc)
            JOBS.labels("abandoned").inc()
        except JobCancelled as exc:
            await self._finish(d, JobStatus.CANCELLED, "job.cancelled", str(exc), fence=mine)
        except PermanentJobError as exc:
            await self._finish(
                d, JobStatus.FAILED, "job.failed", str(exc), error=str(exc), fence=mine
            )
            JOBS.labels("failed").inc()
        except TimeoutError:
            await self._fail_or_retry(
                d,
                attempts,
                max_attempts,
                f"the job took longer than {self.cfg.job_timeout_seconds:.0f}s",
                mine,
            )
        except Exception as exc:
            refused = breaker_refusal(exc)
            if refused is not None:
                await self._defer(d, attempts, refused, mine)
                return
            log.warning(
                "job %s attempt %d failed: %s",
                d.job_id,
                attempts,
                exc,
                exc_info=not isinstance(exc, (ShieldError, ConnectionError, OSError)),
            )
            error = str(exc) or type(exc).__name__
            wait = exc.retry_after if isinstance(exc, DependencyUnavailable) else None
            await self._fail_or_retry(d, attempts, max_attempts, error, mine, wait)
        finally:
            BUSY.dec()
            JOB_SECONDS.observe(time.perf_counter() - started)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _lost_or_cancelled(self, job_id: str, code: int) -> None:
        """The job left RUNNING under us or is another attempt's now (``code`` FENCED):
        raise JobCancelled if a client cancelled our attempt, otherwise _Abandon."""
        if code == FENCED:
            raise _Abandon("another worker took the job over")
        raw = await self.store.get_raw(job_id)
        if raw.get("cancel_requested") == "1" or raw.get("status") == JobStatus.CANCELLED.value:
            raise JobCancelled("cancelled by client")
        raise _Abandon(f"the job is {raw.get('status') or 'gone'} and no longer ours")

    async def _watch(
        self,
        d: Delivery,
        task: asyncio.Task[None],
        reason: dict[str, str],
        queue: WorkQueue | None = None,
    ) -> None:
        """Heartbeat the job while it runs; stop it if cancelled or if the lease is lost."""
        while not task.done():
            await asyncio.wait({task}, timeout=self.cfg.heartbeat_seconds)
            if task.done():
                return
            try:
                if not await (queue or self.queue).heartbeat(d, self.lease_ms):
                    reason["reason"] = "lease"
                    task.cancel()
                    return
                flag = await self.redis.hget(self.store.keys.job(d.job_id), "cancel_requested")
                if flag in (b"1", "1"):
                    reason["reason"] = "cancel"
                    task.cancel()
                    return
            except REDIS_ERRORS as exc:
                log.warning("job %s: heartbeat failed: %s", d.job_id, exc)

    async def _fail_or_retry(
        self,
        d: Delivery,
        attempts: int,
        max_attempts: int,
        error: str,
        fence: dict[str, str],
        retry_after: float | None = None,
    ) -> None:
        if attempts >= max_attempts:
            await self._finish(
                d,
                JobStatus.DEAD,
                "job.dead",
                f"gave up after {attempts} attempts",
                error=f"gave up after {attempts} attempts; last error: {error}",
                fence=fence,
            )
            JOBS.labels("dead").inc()
            return
        delay = backoff_delay(attempts, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds)
        if retry_after is not None:  # e.g. an open breaker: no sooner than it admits a probe
            delay = max(delay, retry_after)
        await self._retry(d, attempts, error, delay, fence=fence)
        JOBS.labels("retried").inc()

    async def _defer(
        self, d: Delivery, attempts: int, exc: DependencyUnavailable, fence: dict[str, str]
    ) -> None:
        """Re-queue the job like a retry, with attempt ``attempts`` not counted: an open
        breaker refused the call, so the job waits for the breaker and is never dead-lettered
        by such refusals."""
        delay = breaker_wait(exc, attempts, self.cfg)
        note = deferral_note(exc, delay)
        log.info("job %s attempt %d: %s", d.job_id, attempts, note)
        await self._retry(d, attempts - 1, str(exc), delay, fence=fence, message=note)
        JOBS.labels("retried").inc()

    async def _retry(
        self,
        d: Delivery,
        attempts: int,
        error: str,
        delay: float,
        *,
        fence: dict[str, str],
        message: str | None = None,
    ) -> None:
        due = time.time() + delay
        code, _unused = await self.store.transition(
            d.job_id,
            allowed=[JobStatus.RUNNING],
            status=JobStatus.QUEUED,
            event="job.retrying",
            stage="retry-wait",
            message=message or f"retrying in {delay:.1f}s: {error}",
            fields={"error": error, "next_attempt_at": repr(due), "attempts": str(attempts)},
            fence=fence,
        )
        if code == 1:
            await self.queue.ack_and_schedule(d.entry_id, d.job_id, due)
        elif code != FENCED:  # a fenced entry is the new attempt's to acknowledge
            await self.queue.ack(d.entry_id)

    async def _finish(
        self,
        d: Delivery,
        status: JobStatus,
        event: str,
        message: str,
        error: str | None = None,
        fence: dict[str, str] | None = None,
    ) -> None:
        """End the job in ``status``. ``fence``: only if it is still that attempt's (a
        fenced-off entry is left for the worker that holds the job now)."""
        fields = {"error": error} if error is not None else None
        code, _unused = await self.store.transition(
            d.job_id,
            allowed=_ACTIVE,
            status=status,
            event=event,
            stage=status.value,
            message=message,
            fields=fields,
            fence=fence,
        )
        if code != FENCED:
            await self.queue.ack(d.entry_id)
