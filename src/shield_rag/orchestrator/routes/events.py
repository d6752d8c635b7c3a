"""Server-sent events: one job's progress, or every job's.

Event ids are Redis stream ids. A client that reconnects with ``Last-Event-ID`` (or
``?last_event_id=``) gets every event after that id, once and in order, because the
stream is read from that position rather than from memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from shield_rag.api.errors import ApiError, ErrorCode, error_responses
from shield_rag.api.jobs import JobStatus
from shield_rag.jobs.store import JobStore, valid_event_id
from shield_rag.orchestrator.auth import Caller, current_caller, sees_job
from shield_rag.orchestrator.deps import (
    REDIS_ERRORS,
    ROUTE_ERRORS,
    ServicesDep,
    client_router,
)
from shield_rag.orchestrator.routes.jobs import JobId, check_job_id, job_not_found

router = client_router("events")
_TERMINAL_EVENTS = {f"job.{s.value}" for s in JobStatus if s.terminal}
_BLOCK_MS = 1000
# Each part a 64-bit unsigned integer (valid_event_id checks the value): 20 digits at most.
_EVENT_ID = r"^[0-9]{1,20}-[0-9]{1,20}$"
_LAST_EVENT_ID = "The id of the last event received; the stream goes on after it"
LastEventIdHeader = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID", description=_LAST_EVENT_ID, json_schema_extra={"pattern": _EVENT_ID}
    ),
]
LastEventIdQuery = Annotated[
    str | None,
    Query(
        alias="last_event_id",
        description=_LAST_EVENT_ID + " (the header wins)",
        json_schema_extra={"pattern": _EVENT_ID},
    ),
]
# One event of the stream: its id (resume after it with Last-Event-ID), its name, and its data,
# a JSON object naming the event and the job (docs/jobs.md lists the events and their fields).
_EVENT = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": _EVENT_ID},
        "event": {"type": "string", "pattern": r"^job\.[a-z_.]+$"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "required": ["event", "job_id", "ts"],
                "properties": {
                    "event": {"type": "string"},
                    "job_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                    "ts": {"type": "number"},
                },
            },
        },
    },
}
_STREAM = {
    200: {
        "description": "An event stream (text/event-stream): id, event and JSON data per event",
        "content": {"text/event-stream": {"schema": _EVENT}},
    },
    **error_responses(*ROUTE_ERRORS, *REDIS_ERRORS, 400),
}


def _id_key(event_id: str) -> tuple[int, int]:
    ms, _unused, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def _resume_from(header: str | None, query: str | None, default: str) -> str:
    # A header that is sent is read, even empty (and refused then): it wins over the query.
    value = header if header is not None else query
    if value is None:
        return default
    if not valid_event_id(value):
        raise ApiError(
            ErrorCode.MALFORMED_REQUEST,
            f"Last-Event-ID {value[:64]!r} is not an event id (like 1700000000000-0); "
            "use the id of the last event you received",
        )
    return value


class _Visible:
    """Which jobs' events a caller of ``GET /events`` is shown: its own (``admin``: all).
    Each job's owner is read once per stream (it never changes)."""

    def __init__(self, caller: Caller, store: JobStore) -> None:
        self.caller = caller
        self.store = store
        self.owners: dict[str, str | None] = {}

    async def __call__(self, job_id: object) -> bool:
        if self.caller.may("admin"):
            return True
        if not isinstance(job_id, str):
            return False
        if job_id not in self.owners:
            if len(self.owners) >= _OWNERS_CACHED:
                self.owners.clear()
            self.owners[job_id] = await self.store.owner(job_id)
        return sees_job(self.caller, self.owners[job_id])


_OWNERS_CACHED = 4096  # job owners one /events stream remembers


async def _stream(
    request: Request,
    store: JobStore,
    stream: str,
    after: str,
    stop_on_terminal: bool,
    visible: _Visible | None = None,
) -> AsyncIterator[ServerSentEvent]:
    cursor = after
    while True:
        if await request.is_disconnected():
            return
        events = await store.read_events(stream, cursor, block_ms=_BLOCK_MS)
        for ev in events:
            cursor = ev.id
            if visible is not None and not await visible(ev.data.get("job_id")):
                continue
            name = str(ev.data.get("event", "message"))
            yield ServerSentEvent(id=ev.id, event=name, data=json.dumps(ev.data))
            if stop_on_terminal and name in _TERMINAL_EVENTS:
                return


@router.get(
    "/jobs/{job_id}/events",
    summary="Stream one job's progress (SSE)",
    response_class=EventSourceResponse,
    responses={**_STREAM, **error_responses(404)},
)
async def job_events(
    job_id: JobId,
    request: Request,
    services: ServicesDep,
    last_event_id: LastEventIdHeader = None,
    last_event_id_q: LastEventIdQuery = None,
) -> EventSourceResponse:
    check_job_id(job_id)
    after = _resume_from(last_event_id, last_event_id_q, "0-0")
    record = await services.store.get(job_id)
    if record is None or not sees_job(current_caller(request), record.client):
        raise job_not_found(job_id, services.settings.worker.job_ttl_seconds)
    stream = services.store.keys.job_events(job_id)
    if record.status.terminal and after != "0-0":
        last = await services.store.last_event_id(stream)
        if _id_key(after) >= _id_key(last):
            # Everything was delivered already; an empty stream that ends is the answer.
            return EventSourceResponse(
                _empty(), ping=services.settings.orchestrator.sse_ping_seconds
            )
    return EventSourceResponse(
        _stream(request, services.store, stream, after, stop_on_terminal=True),
        ping=services.settings.orchestrator.sse_ping_seconds,
    )


async def _empty() -> AsyncIterator[ServerSentEvent]:
    return
    yield  # pragma: no cover - makes this an async generator


@router.get(
    "/events",
    summary="Stream the events of every job the client may see (SSE): its own; all for admin",
    response_class=EventSourceResponse,
    responses=_STREAM,
)
async def all_events(
    request: Request,
    services: ServicesDep,
    last_event_id: LastEventIdHeader = None,
    last_event_id_q: LastEventIdQuery = None,
) -> EventSourceResponse:
    stream = services.store.keys.events
    default = await services.store.last_event_id(stream)
    after = _resume_from(last_event_id, last_event_id_q, default)
    visible = _Visible(current_caller(request), services.store)
    return EventSourceResponse(
        _stream(request, services.store, stream, after, stop_on_terminal=False, visible=visible),
        ping=services.settings.orchestrator.sse_ping_seconds,
    )
