"""How a job's hash fields, its progress events and stream ids are written and read."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from shield_rag.api.jobs import TERMINAL, JobStatus

JOB_EVENTS_MAXLEN = 5000
GLOBAL_EVENTS_MAXLEN = 10000
_EVENT_ID_CHARS = frozenset("0123456789-")


def valid_event_id(value: str) -> bool:
    """True when ``value`` is a Redis stream id (``<ms>-<seq>``, each part a 64-bit unsigned
    integer, as Redis reads it)."""
    parts = value.split("-")
    return (
        len(parts) == 2
        and all(p.isdigit() for p in parts)
        and set(value) <= _EVENT_ID_CHARS
        and len(value) <= 41
        and all(int(p) < 2**64 for p in parts)
    )


@dataclass(frozen=True)
class StreamEvent:
    id: str
    data: dict[str, Any]


# json.dumps(..., separators=(",", ":")) builds a new encoder for every call it is given
# options; this one is built once (its output is the same).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def as_text(value: Any) -> str:
    """A Redis reply value as text: bytes decoded, ``None`` as ''."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def new_job_fields(
    *,
    job_id: str,
    kind: str,
    request: dict[str, Any],
    source: str | None,
    max_attempts: int,
    idempotency_key: str | None,
    client: str,
    now: float,
) -> dict[str, str]:
    """The hash of a job just accepted: queued, no attempt made yet."""
    return {
        "id": job_id,
        "kind": kind,
        "status": JobStatus.QUEUED.value,
        "progress": "0",
        "stage": "queued",
        "attempts": "0",
        "max_attempts": str(max_attempts),
        "created_at": repr(now),
        "updated_at": repr(now),
        "request": _COMPACT.encode(request),
        "source": source or "",
        "idempotency_key": idempotency_key or "",
        "cancel_requested": "0",
        "client": client,
    }


def transition_fields(
    now: float,
    *,
    status: JobStatus | None,
    progress: float | None,
    stage: str | None,
    message: str | None,
    fields: dict[str, str] | None,
) -> dict[str, str]:
    """The hash fields a change at ``now`` sets (timestamps, clamped progress, ``fields``)."""
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
    return values


def event_json(
    job_id: str,
    event: str,
    status: JobStatus | None,
    progress: float | None,
    stage: str | None,
    message: str | None,
    extra: dict[str, str] | None = None,
) -> str:
    """A progress event as the JSON appended to the job's and the global event stream."""
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
        phases = {
            name: extra[f"{name}_status"]
            for name in ("vectors", "graph")
            if extra.get(f"{name}_status")
        }
        if phases:
            body["phases"] = phases
    return _COMPACT.encode(body)
