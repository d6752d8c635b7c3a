"""Read server-sent events in tests (httpx-sse), with a deadline."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from httpx_sse import connect_sse


@dataclass(frozen=True)
class Event:
    id: str
    event: str
    data: str


def read_events(
    base_url: str,
    path: str,
    *,
    last_event_id: str | None = None,
    stop_after: int | None = None,
    until_event: set[str] | None = None,
    timeout: float = 60.0,
    headers: dict[str, str] | None = None,
) -> list[Event]:
    """Collect events until ``stop_after`` events, an event named in ``until_event``, the
    server closing the stream, or ``timeout`` seconds (then AssertionError). ``headers`` go
    with the request (e.g. Authorization)."""
    headers = dict(headers or {})
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    out: list[Event] = []
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=5.0)) as client:
        with connect_sse(client, "GET", path, headers=headers) as source:
            source.response.raise_for_status()
            for sse in source.iter_sse():
                if not sse.data:
                    continue  # a keep-alive comment; browsers dispatch no event for it
                out.append(Event(sse.id, sse.event, sse.data))
                if stop_after is not None and len(out) >= stop_after:
                    break
                if until_event and sse.event in until_event:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"SSE {path}: no end within {timeout}s; got {out}")
    return out
