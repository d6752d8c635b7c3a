"""A job's graph stage: add the documents its vector phase stored to LightRAG.

The stage has its own Redis stream (``<prefix>:graph:queue``), retry set, leases, attempt
count and slots (``worker.graph_concurrency``) and reuses the vector phase's queue mechanics
(:class:`~shield_rag.jobs.queue.WorkQueue`): a killed worker's entry is claimed by another
after ``claim_idle_seconds``, failures are retried with backoff and, after
``worker.graph_max_attempts``, the job is dead-lettered (a call LightRAG's open breaker
refused is not an attempt: the stage waits for the breaker). The job stays ``running`` (with
``phases.vectors: succeeded``) while the stage is queued or runs, and ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping

from shield_rag.api.jobs import JobStatus
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.errors import DependencyUnavailable, JobCancelled, PermanentJobError, ShieldError
from shield_rag.jobs.graphdocs import GraphDocs
from shield_rag.jobs.queue import Delivery, WorkQueue, backoff_delay
from shield_rag.jobs.store import FENCED
from shield_rag.llm.budgets import BudgetLedger
from shield_rag.llm.metrics import observe
from shield_rag.llm.usage import Usage
from shield_rag.settings.accounting import ModelPrice
from shield_rag.worker.execution import (
    REDIS_ERRORS,
    VECTOR_SHARE,
    JobExecution,
    _Abandon,
    breaker_refusal,
    breaker_wait,
    deferral_note,
)
from shield_rag.worker.metrics import GRAPH_BUSY, GRAPH_JOBS, GRAPH_SECONDS
from shield_rag.worker.pipeline import STAGE_SECONDS

log = logging.getLogger("shield_rag.worker.graph")

_RUNNING = [JobStatus.RUNNING]


class GraphExecution(JobExecution):
    """How a worker runs the graph stage of a job it was delivered on the graph stream."""

    # Set by Worker.__init__.
    graph_queue: WorkQueue
    graph_docs: GraphDocs
    ledger: BudgetLedger
    prices: Mapping[str, ModelPrice]
    lightrag: LightRAGClient | None

    async def _process_graph(self, d: Delivery) -> None:
        if not await self.graph_queue.acquire_lease(d.job_id, self.lease_ms):
            log.info("graph stage of job %s is held by another live worker", d.job_id)
            return
        try:
            await self._graph_leased(d)
        finally:
            with contextlib.suppress(*REDIS_ERRORS):
                await self.graph_queue.release_lease(d.job_id)

    async def _graph_leased(self, d: Delivery) -> None:
        raw = await self.store.get_raw(d.job_id)
        done = raw.get("graph_status") in ("succeeded", "skipped")
        if not raw or JobStatus(raw["status"]).terminal or done:
            await self.graph_queue.ack(d.entry_id)
            return
        if raw.get("cancel_requested") == "1":
            await self._graph_end(d, JobStatus.CANCELLED, "cancelled by client", None, None)
            return
        attempts = int(raw.get("graph_attempts") or 0) + 1
        limit = self.cfg.graph_max_attempts
        if attempts > limit:
            last = raw.get("error") or "the worker stopped while running it"
            error = f"graph stage gave up after {limit} attempts; last error: {last}"
            await self._graph_end(d, JobStatus.DEAD, error, error, None)
            GRAPH_JOBS.labels("dead").inc()
            return
        code, _unused = await self.store.transition(
            d.job_id,
            allowed=_RUNNING,
            event="job.graph_started",
            stage="graph",
            message=f"graph stage attempt {attempts}/{limit} on {self.name}",
            fields={
                "graph_status": "running",
                "graph_attempts": str(attempts),
                "graph_worker": self.name,
                "next_attempt_at": "",
            },
        )
        if code != 1:
            await self.graph_queue.ack(d.entry_id)
            return
        await self._graph_execute(d, raw, attempts)

    async def _account(self, client: str, usage: object) -> None:
        """Account the model calls of one insert (graph extraction) to the job's client: in
        its budget's spend (never refused: the job was accepted) and in the metrics. A
        document LightRAG had indexed before (a retried stage) used nothing and counts 0."""
        if not isinstance(usage, list):
            return
        for entry in (Usage.from_dict(u) for u in usage if isinstance(u, dict)):
            observe(client, entry, self.prices)
            try:
                await self.ledger.record(
                    client,
                    entry.model,
                    entry.prompt_tokens,
                    entry.completion_tokens,
                    entry.compute_seconds,
                )
            except Exception as exc:  # noqa: BLE001 - the document is indexed; keep the job
                log.warning("job of %s: graph usage not recorded: %s", client, exc)

    async def _graph_execute(self, d: Delivery, raw: dict[str, str], attempts: int) -> None:
        mine = {"graph_worker": self.name, "graph_attempts": str(attempts)}
        lightrag = self.lightrag
        assert lightrag is not None  # graph slots run only where LightRAG is enabled

        async def body() -> None:
            docs = await self.graph_docs.pending(d.job_id)
            for n, doc in enumerate(docs, start=1):
                inserting = time.perf_counter()
                inserted = await lightrag.insert(doc.text, f"doc-{doc.doc_id}", doc.source)
                STAGE_SECONDS.labels("lightrag").observe(time.perf_counter() - inserting)
                usage = inserted.get("usage") if isinstance(inserted, dict) else None
                await self._account(raw.get("client") or "unknown", usage)
                await self.graph_docs.done(d.job_id, doc.doc_id)
                code, _unused = await self.store.transition(
                    d.job_id,
                    allowed=_RUNNING,
                    event="job.progress",
                    progress=VECTOR_SHARE + (1 - VECTOR_SHARE) * n / len(docs),
                    stage="lightrag",
                    message=f"{doc.source}: added to the knowledge graph",
                    fence=mine,
                )
                if code != 1:
                    await self._lost_or_cancelled(d.job_id, code)
            result = json.loads(raw.get("result") or "{}")
            result["graph"] = "indexed"
            code, _unused = await self.store.transition(
                d.job_id,
                allowed=_RUNNING,
                status=JobStatus.SUCCEEDED,
                event="job.succeeded",
                progress=1.0,
                stage="done",
                message="done",
                fields={
                    "result": json.dumps(result, separators=(",", ":")),
                    "graph_status": "succeeded",
                    "error": "",
                },
                fence=mine,
            )
            if code != 1:
                await self._lost_or_cancelled(d.job_id, code)

        reason: dict[str, str] = {}
        task = asyncio.create_task(asyncio.wait_for(body(), timeout=self.cfg.job_timeout_seconds))
        watcher = asyncio.create_task(self._watch(d, task, reason, self.graph_queue))
        GRAPH_BUSY.inc()
        started = time.perf_counter()
        try:
            await task
            await self.graph_docs.drop(d.job_id)
            await self.graph_queue.ack(d.entry_id)
            GRAPH_JOBS.labels("succeeded").inc()
        except asyncio.CancelledError:
            why = reason.get("reason")
            if why == "lease":
                GRAPH_JOBS.labels("abandoned").inc()
            elif why == "cancel":
                await self._graph_end(d, JobStatus.CANCELLED, "cancelled by client", None, mine)
            else:
                await self._graph_retry(d, attempts - 1, "the worker shut down", 0.0, mine)
                raise
        except _Abandon as exc:
            log.warning("job %s graph stage: %s; abandoning this attempt", d.job_id, exc)
            GRAPH_JOBS.labels("abandoned").inc()
        except JobCancelled as exc:
            await self._graph_end(d, JobStatus.CANCELLED, str(exc), None, mine)
        except PermanentJobError as exc:
            await self._graph_end(d, JobStatus.FAILED, str(exc), str(exc), mine)
            GRAPH_JOBS.labels("failed").inc()
        except Exception as exc:
            refused = breaker_refusal(exc)
            if refused is not None:
                await self._graph_defer(d, attempts, refused, mine)
                return
            log.warning(
                "job %s graph attempt %d failed: %s",
                d.job_id,
                attempts,
                exc,
                exc_info=not isinstance(exc, (ShieldError, ConnectionError, OSError, TimeoutError)),
            )
            error = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                error = f"the graph stage took longer than {self.cfg.job_timeout_seconds:.0f}s"
            wait = exc.retry_after if isinstance(exc, DependencyUnavailable) else None
            await self._graph_fail_or_retry(d, attempts, error, mine, wait)
        finally:
            GRAPH_BUSY.dec()
            GRAPH_SECONDS.observe(time.perf_counter() - started)
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    async def _graph_fail_or_retry(
        self,
        d: Delivery,
        attempts: int,
        error: str,
        fence: dict[str, str],
        retry_after: float | None,
    ) -> None:
        if attempts >= self.cfg.graph_max_attempts:
            message = f"graph stage gave up after {attempts} attempts; last error: {error}"
            await self._graph_end(d, JobStatus.DEAD, message, message, fence)
            GRAPH_JOBS.labels("dead").inc()
            return
        delay = backoff_delay(attempts, self.cfg.backoff_base_seconds, self.cfg.backoff_max_seconds)
        if retry_after is not None:
            delay = max(delay, retry_after)
        await self._graph_retry(d, attempts, error, delay, fence)
        GRAPH_JOBS.labels("retried").inc()

    async def _graph_defer(
        self, d: Delivery, attempts: int, exc: DependencyUnavailable, fence: dict[str, str]
    ) -> None:
        """Re-queue the graph stage like a retry, with attempt ``attempts`` not counted: the
        LightRAG breaker refused the call, so the stage waits for the breaker and is never
        dead-lettered by such refusals."""
        delay = breaker_wait(exc, attempts, self.cfg)
        note = deferral_note(exc, delay)
        log.info("job %s graph attempt %d: %s", d.job_id, attempts, note)
        await self._graph_retry(d, attempts - 1, str(exc), delay, fence, f"graph stage: {note}")
        GRAPH_JOBS.labels("retried").inc()

    async def _graph_retry(
        self,
        d: Delivery,
        attempts: int,
        error: str,
        delay: float,
        fence: dict[str, str],
        message: str | None = None,
    ) -> None:
        due = time.time() + delay
        code, _unused = await self.store.transition(
            d.job_id,
            allowed=_RUNNING,
            event="job.graph_retrying",
            stage="graph-retry-wait",
            message=message or f"graph stage retrying in {delay:.1f}s: {error}",
            fields={
                "graph_status": "queued",
                "graph_attempts": str(attempts),
                "error": error,
                "next_attempt_at": repr(due),
            },
            fence=fence,
        )
        if code == 1:
            await self.graph_queue.ack_and_schedule(d.entry_id, d.job_id, due)
        elif code != FENCED:
            await self.graph_queue.ack(d.entry_id)

    async def _graph_end(
        self,
        d: Delivery,
        status: JobStatus,
        message: str,
        error: str | None,
        fence: dict[str, str] | None,
    ) -> None:
        """End the job in ``status`` from its graph stage (its vectors stay stored)."""
        fields = {"graph_status": status.value}
        if error is not None:
            fields["error"] = error
        code, _unused = await self.store.transition(
            d.job_id,
            allowed=_RUNNING,
            status=status,
            event=f"job.{status.value}",
            stage=status.value,
            message=message,
            fields=fields,
            fence=fence,
        )
        if code != FENCED:
            await self.graph_docs.drop(d.job_id)
            await self.graph_queue.ack(d.entry_id)
