"""``/jobs/{id}``: job status and cancellation, for the client that submitted the job (and
``admin`` clients)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path, Request
from fastapi.responses import JSONResponse

from shield_rag.api.errors import ApiError, ErrorCode, error_responses
from shield_rag.api.jobs import JOB_ID_PATTERN, JobRecord
from shield_rag.orchestrator.auth import current_caller, requires, sees_job
from shield_rag.orchestrator.deps import (
    REDIS_ERRORS,
    ROUTE_ERRORS,
    WRITE_OFF,
    ServicesDep,
    client_router,
)

router = client_router("jobs")
JOB_ID_RE = re.compile(JOB_ID_PATTERN)
# The pattern is documented, not enforced by FastAPI: an id of another shape is answered
# with 404 (no such job) rather than 422, as it always was.
JobId = Annotated[
    str,
    Path(
        description="The job_id returned by POST /ingest-async (32 lowercase hex characters)",
        json_schema_extra={"pattern": JOB_ID_PATTERN},
    ),
]
JOB_ERRORS = error_responses(*ROUTE_ERRORS, *REDIS_ERRORS, 404)


def check_job_id(job_id: str) -> str:
    if not JOB_ID_RE.match(job_id):
        raise ApiError(
            ErrorCode.NOT_FOUND,
            f"no job {job_id[:64]!r}: job ids are 32 lowercase hex characters",
        )
    return job_id


@router.get(
    "/jobs/{job_id}",
    response_model=JobRecord,
    summary="Job status and progress",
    responses=JOB_ERRORS,
)
async def get_job(job_id: JobId, request: Request, services: ServicesDep) -> JobRecord:
    record = await services.store.get(check_job_id(job_id))
    if record is None or not sees_job(current_caller(request), record.client):
        raise job_not_found(job_id, services.settings.worker.job_ttl_seconds)
    return record


def job_not_found(job_id: str, ttl_seconds: int) -> ApiError:
    """The 404 of a job that does not exist, expired, or is another client's: the three are
    told apart for no one but an ``admin`` client."""
    return ApiError(
        ErrorCode.NOT_FOUND,
        f"no job {job_id}: it never existed, expired (worker.job_ttl_seconds={ttl_seconds}), "
        "or another client submitted it",
    )


@router.delete(
    "/jobs/{job_id}",
    summary="Cancel a job",
    response_model=JobRecord,
    responses={
        200: {"description": "Cancelled", "model": JobRecord},
        202: {"description": "Running; it stops at its next checkpoint", "model": JobRecord},
        **JOB_ERRORS,
        **error_responses(409, WRITE_OFF),
    },
)
@requires("write")
async def cancel_job(job_id: JobId, request: Request, services: ServicesDep) -> JSONResponse:
    ttl = services.settings.worker.job_ttl_seconds
    # The owner never changes once a job exists: checked first, nothing of another client's
    # job is touched.
    if not sees_job(current_caller(request), await services.store.owner(check_job_id(job_id))):
        raise job_not_found(job_id, ttl)
    outcome, record = await services.store.request_cancel(job_id)
    if outcome == "missing" or record is None:
        raise job_not_found(job_id, ttl)
    body = record.model_dump(mode="json")
    if outcome == "cancelled":
        return JSONResponse(status_code=200, content=body)
    if outcome == "requested":
        return JSONResponse(status_code=202, content=body)
    raise ApiError(
        ErrorCode.CONFLICT,
        f"job {job_id} already finished with status {record.status.value}",
    )
