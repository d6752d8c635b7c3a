"""``/jobs/{id}``: job status and cancellation."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.responses import JSONResponse

from shield_rag.api.errors import error_responses
from shield_rag.jobs.models import JobRecord
from shield_rag.orchestrator import admission
from shield_rag.orchestrator.deps import ServicesDep, require_api_key

router = APIRouter(
    tags=["jobs"],
    dependencies=[Depends(require_api_key), admission.RateLimited],
    responses=error_responses(429),
)
JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")
JobId = Annotated[str, Path(description="The job_id returned by POST /ingest-async")]


def check_job_id(job_id: str) -> str:
    if not JOB_ID_RE.match(job_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no job {job_id[:64]!r}: job ids are 32 lowercase hex characters",
        )
    return job_id


@router.get("/jobs/{job_id}", response_model=JobRecord, summary="Job status and progress")
async def get_job(job_id: JobId, services: ServicesDep) -> JobRecord:
    record = await services.store.get(check_job_id(job_id))
    if record is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"no job {job_id}: it never existed or expired "
            f"(worker.job_ttl_seconds={services.settings.worker.job_ttl_seconds})",
        )
    return record


@router.delete(
    "/jobs/{job_id}",
    summary="Cancel a job",
    responses={
        200: {"description": "Cancelled"},
        202: {"description": "Running; it stops at its next checkpoint"},
        409: {"description": "Already finished"},
    },
)
async def cancel_job(job_id: JobId, services: ServicesDep) -> JSONResponse:
    outcome, record = await services.store.request_cancel(check_job_id(job_id))
    if outcome == "missing" or record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no job {job_id}")
    body = record.model_dump(mode="json")
    if outcome == "cancelled":
        return JSONResponse(status_code=200, content=body)
    if outcome == "requested":
        return JSONResponse(status_code=202, content=body)
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        detail=f"job {job_id} already finished with status {record.status.value}",
    )
