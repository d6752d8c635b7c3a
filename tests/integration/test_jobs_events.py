"""Job states, SSE progress with resume, idempotency keys and cancellation."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.stack import Stack
from tests.support.site import SiteServer
from tests.support.sse import read_events
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration
TERMINAL_EVENTS = {"job.succeeded", "job.failed", "job.dead", "job.cancelled"}


def _id_key(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


def _submit(stack: Stack, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    with stack.http() as c:
        return c.post("/ingest-async", json=body, headers=headers)


def _slow_crawl(site: SiteServer, pages: int) -> dict:
    return {"type": "url", "url": f"{site.url}/slow/", "max_pages": pages, "max_depth": 1}


def test_job_events_arrive_in_order_and_end_with_the_terminal_event(stack: Stack) -> None:
    job = _submit(stack, {"type": "text", "text": "Events test: the Marrowind bell tolls."})
    job_id = job.json()["job_id"]
    events = read_events(stack.base_url, f"/jobs/{job_id}/events", timeout=60)
    names = [e.event for e in events]
    assert names[0] == "job.queued"
    assert "job.started" in names
    assert "job.progress" in names
    assert names[-1] == "job.succeeded"
    ids = [_id_key(e.id) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    progress = [json.loads(e.data).get("progress") for e in events if e.event == "job.progress"]
    assert progress == sorted(progress)
    assert json.loads(events[-1].data)["status"] == "succeeded"


def test_sse_resume_from_last_event_id_has_no_gaps_or_duplicates(
    stack: Stack, site: SiteServer
) -> None:
    job_id = _submit(stack, _slow_crawl(site, 4)).json()["job_id"]
    first = read_events(stack.base_url, f"/jobs/{job_id}/events", stop_after=3)
    assert len(first) == 3
    rest = read_events(
        stack.base_url,
        f"/jobs/{job_id}/events",
        last_event_id=first[-1].id,
        until_event=TERMINAL_EVENTS,
        timeout=90,
    )
    full = read_events(stack.base_url, f"/jobs/{job_id}/events", timeout=30)
    assert [e.id for e in first + rest] == [e.id for e in full]
    assert rest[-1].event == "job.succeeded"
    # Resuming after the final event ends at once with nothing new.
    beyond = read_events(
        stack.base_url, f"/jobs/{job_id}/events", last_event_id="9999999999999-0", timeout=10
    )
    assert beyond == []
    after_end = read_events(
        stack.base_url, f"/jobs/{job_id}/events", last_event_id=full[-1].id, timeout=10
    )
    assert after_end == []


def test_global_event_stream_resumes_and_sends_keepalive_pings(stack: Stack) -> None:
    marker_id = _submit(stack, {"type": "text", "text": "Global stream marker text."}).json()[
        "job_id"
    ]
    stack.wait_job(marker_id)
    all_events = _read_global_until(stack, "0-0", marker_id)
    cut = all_events[len(all_events) // 2]
    resumed = _read_global_until(stack, cut.id, marker_id)
    assert [e.id for e in resumed] == [e.id for e in all_events if _id_key(e.id) > _id_key(cut.id)]
    # Keep-alive: with no events at all, the server still sends ping comments.
    with httpx.Client(base_url=stack.base_url, timeout=httpx.Timeout(10, read=5)) as c:
        with c.stream("GET", "/events") as r:
            assert r.status_code == 200
            got_ping = False
            for line in r.iter_lines():
                if line.startswith(":"):
                    got_ping = True
                    break
    assert got_ping


def _read_global_until(stack: Stack, after: str, job_id: str) -> list:
    out = []
    for ev in _iter_global(stack, after):
        out.append(ev)
        data = json.loads(ev.data)
        if data.get("job_id") == job_id and ev.event in TERMINAL_EVENTS:
            break
    return out


def _iter_global(stack: Stack, after: str):
    from httpx_sse import connect_sse

    with httpx.Client(base_url=stack.base_url, timeout=httpx.Timeout(10, read=5)) as c:
        with connect_sse(c, "GET", "/events", headers={"Last-Event-ID": after}) as source:
            yield from (sse for sse in source.iter_sse() if sse.data)


def test_idempotency_key_returns_the_same_job_and_rejects_another_body(stack: Stack) -> None:
    body = {"type": "text", "text": "Idempotent text about the Corvid observatory."}
    first = _submit(stack, body, key="idem-test-1")
    second = _submit(stack, body, key="idem-test-1")
    assert first.status_code == second.status_code == 202
    assert first.json()["job_id"] == second.json()["job_id"]
    assert second.headers.get("idempotent-replayed") == "true"
    other = _submit(stack, {**body, "text": "A different body."}, key="idem-test-1")
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    assert first.json()["job_id"] in other.json()["detail"]
    fresh = _submit(stack, body, key="idem-test-2")
    assert fresh.json()["job_id"] != first.json()["job_id"]


def test_cancel_a_running_job(stack: Stack, site: SiteServer) -> None:
    job_id = _submit(stack, _slow_crawl(site, 30)).json()["job_id"]
    stack.wait_job(job_id, statuses={"running"}, timeout=30)
    with stack.http() as c:
        r = c.delete(f"/jobs/{job_id}")
        assert r.status_code == 202, r.text
        done = stack.wait_job(job_id, timeout=30)
        assert done["status"] == "cancelled"
        again = c.delete(f"/jobs/{job_id}")
        assert again.status_code == 409
        assert "cancelled" in again.json()["detail"]
    wait_until(lambda: stack.job(job_id)["status"] == "cancelled", 5, "status to stay cancelled")


def test_start_page_error_fails_the_job_with_a_readable_reason(
    stack: Stack, site: SiteServer
) -> None:
    job_id = _submit(stack, {"type": "url", "url": f"{site.url}/missing-page"}).json()["job_id"]
    job = stack.wait_job(job_id)
    assert job["status"] == "failed"
    assert "404" in job["error"]
    assert job["attempts"] == 1


def test_redirect_to_a_private_address_is_refused_before_connecting(
    stack: Stack, site: SiteServer
) -> None:
    job_id = _submit(stack, {"type": "url", "url": f"{site.url}/redirect-private"}).json()["job_id"]
    job = stack.wait_job(job_id)
    assert job["status"] == "failed"
    assert "10.255.255.1" in job["error"]
