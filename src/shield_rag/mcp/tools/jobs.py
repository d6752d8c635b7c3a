"""``get_job_status`` and ``wait_for_job`` (progress notifications; cancel on cancel).

``wait_for_job`` polls ``GET /jobs/{id}`` every ``mcp.wait_poll_seconds`` rather than
holding the job's SSE stream open: each poll is one short request through the circuit
breaker, so a failing orchestrator trips it like any other call, and a wait costs no
connection between polls. A notification is sent whenever the job's status, stage or
progress changed.
"""

import asyncio
import logging
import time
from typing import Annotated, Any

import anyio
from fastmcp import Context, FastMCP
from pydantic import Field, FiniteFloat

from shield_rag.api.jobs import TERMINAL, JobStatus
from shield_rag.mcp.models import JobReport, JobWait
from shield_rag.mcp.orchestrator import OrchestratorError, OrchestratorUnavailable
from shield_rag.mcp.tools.common import Deps, JobId, guarded

log = logging.getLogger(__name__)
READ = {"read_only_hint": True, "open_world_hint": False}
CANCEL_TIMEOUT = 10.0
STILL_RUNNING = "still running: call wait_for_job again, or get_job_status later"


def _describe(job: dict[str, Any]) -> str:
    parts = [str(job.get("status"))]
    if job.get("stage"):
        parts.append(str(job["stage"]))
    if job.get("message"):
        parts.append(str(job["message"]))
    if job.get("error"):
        parts.append(f"error: {job['error']}")
    return ": ".join(parts)[:300]


def register(mcp: FastMCP, deps: Deps) -> None:
    client = deps.orchestrator
    settings = deps.settings

    @mcp.tool(annotations=READ)
    async def get_job_status(job_id: JobId) -> JobReport:
        """Read an ingest job's status once: queued, running, succeeded, failed, dead or
        cancelled, with progress (0 to 1), the current stage, the error if it failed, and
        the result (pages and chunks stored) once its vectors are stored. phases.vectors
        'succeeded' means the content is searchable with qdrant_find; phases.graph says
        where the knowledge-graph stage is (the job succeeds when it is done or skipped)."""
        body = await guarded("get_job_status", client.job(job_id))
        return JobReport.model_validate(body)

    @mcp.tool(annotations=READ)
    async def wait_for_job(
        job_id: JobId,
        ctx: Context,
        timeout_seconds: Annotated[
            FiniteFloat,
            Field(
                gt=0,
                le=86400,
                description="Longest wait in seconds before returning with done=false (the "
                "server caps it at mcp.max_wait_seconds); the job keeps running either way",
            ),
        ] = 300.0,
    ) -> JobWait:
        """Wait until an ingest job finishes, reporting MCP progress notifications meanwhile.

        Returns the job's final state (done=true), or its current state (done=false) when
        timeout_seconds passed first: then call wait_for_job again. Cancelling this call
        cancels the job too (unless the server is read-only).
        """
        limit = min(timeout_seconds, settings.max_wait_seconds)
        started = time.monotonic()
        sent = -1.0
        last: tuple[Any, ...] | None = None
        try:
            while True:
                job = await guarded("wait_for_job", client.job(job_id))
                state = (job.get("status"), job.get("progress"), job.get("stage"))
                done = JobStatus(job["status"]) in TERMINAL
                if state != last:
                    last = state
                    # MCP progress must increase with every notification.
                    pct = 100.0 if done else min(99.9, float(job.get("progress") or 0) * 100)
                    sent = pct if pct > sent else sent + 0.01
                    await ctx.report_progress(round(sent, 2), 100.0, _describe(job))
                waited = time.monotonic() - started
                if done or waited >= limit:
                    return JobWait.model_validate(
                        {
                            **job,
                            "done": done,
                            "waited_seconds": round(waited, 3),
                            "hint": "finished" if done else STILL_RUNNING,
                        }
                    )
                await asyncio.sleep(min(settings.wait_poll_seconds, limit - waited))
        except asyncio.CancelledError:
            if not settings.read_only:
                await _cancel(deps, job_id)
            raise


async def _cancel(deps: Deps, job_id: str) -> None:
    """Cancel the job although the call that waits for it is being cancelled."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(CANCEL_TIMEOUT):
        try:
            await deps.orchestrator.cancel_job(job_id)
            log.info("wait_for_job cancelled by the client: cancelled job %s", job_id)
        except OrchestratorError as exc:
            log.info("job %s not cancelled: %s", job_id, exc.detail)
        except OrchestratorUnavailable as exc:
            log.warning("job %s not cancelled: %s", job_id, exc.reason)
