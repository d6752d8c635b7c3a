"""The circuit breaker and cancellation against the real orchestrator, stopped, hung and back.

``shield-mcp`` reaches the orchestrator through a counting TCP proxy (tests.mcp.proxies), so
the tests count the requests that actually left the MCP server. The stack has no worker, so
an ingest job stays queued until it is cancelled; LightRAG is off (not needed here).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp.client.session import ClientSession
from mcp_types import CallToolResult

from tests.mcp.proxies import CountingProxy
from tests.mcp.server import KeyedStack, McpServer
from tests.support.mcp import retry_after, session, text_of
from tests.support.wait import eventually

pytestmark = pytest.mark.integration
RESET = 2.0
TIMEOUT = 1.0
THRESHOLD = 5
UNREACHABLE = "cannot reach the orchestrator"
FAST_FAIL = "no request was sent"


@pytest.fixture(scope="module")
def stack_options() -> dict[str, Any]:
    return {"workers": 0, "lightrag": False}


@pytest.fixture(scope="module")
def proxy(stack: KeyedStack) -> Iterator[CountingProxy]:
    p = CountingProxy(stack.orch_port).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def server(stack: KeyedStack, proxy: CountingProxy, root: Path) -> Iterator[McpServer]:
    mcp = McpServer(
        stack,
        root,
        orchestrator_url=proxy.url,
        orchestrator_api_key=stack.api_key,
        request_timeout=TIMEOUT,
        breaker_failure_threshold=THRESHOLD,
        breaker_reset_seconds=RESET,
        wait_poll_seconds=0.2,
    ).start()
    yield mcp
    mcp.stop()


@pytest.fixture(scope="module")
def job_id(stack: KeyedStack) -> str:
    """A job that stays queued (no workers), the MCP caller's: get_job_status on it
    succeeds."""
    with stack.http(as_mcp=True) as c:
        r = c.post("/ingest-async", json={"type": "text", "text": "Kept queued."})
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


@pytest_asyncio.fixture(loop_scope="function")
async def healthy(stack: KeyedStack, server: McpServer, job_id: str) -> None:
    """Each test starts with the orchestrator up and the breaker closed."""
    orchestrator = stack.orchestrator
    assert orchestrator is not None
    orchestrator.signal(signal.SIGCONT)
    if not orchestrator.alive():
        stack.start_orchestrator()
    await eventually(
        lambda: server.healthz()["orchestrator_breaker"] in ("closed", "half_open"),
        RESET + 10,
        "the breaker to admit a call",
    )
    async with session(server.url, server.token) as s:
        if server.healthz()["orchestrator_breaker"] != "closed":
            assert not (await _status(s, job_id)).is_error
    assert server.breaker_state() == 0


async def _status(s: ClientSession, job_id: str) -> CallToolResult:
    return await s.call_tool("get_job_status", {"job_id": job_id})


def _transitions(server: McpServer, before: str, after: str) -> float:
    labels = {"target": "orchestrator", "from_state": before, "to_state": after}
    return server.metric("circuit_breaker_transitions_total", labels)


async def _trip_with_stopped_orchestrator(
    stack: KeyedStack, server: McpServer, proxy: CountingProxy, s: ClientSession, job_id: str
) -> None:
    assert stack.orchestrator is not None
    stack.orchestrator.stop()
    sent = proxy.requests
    for _unused in range(THRESHOLD):
        result = await _status(s, job_id)
        assert result.is_error and UNREACHABLE in text_of(result), text_of(result)
    assert proxy.requests == sent + THRESHOLD
    assert server.breaker_state() == 2


@pytest.mark.usefixtures("healthy")
async def test_cancelling_wait_for_job_cancels_the_job(
    stack: KeyedStack, server: McpServer
) -> None:
    cancelled = {"tool": "wait_for_job", "status": "cancelled"}
    before = server.metric("tool_calls_total", cancelled)
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with session(server.url, server.token) as s:
        accepted = await s.call_tool("ingest_doc", {"text": "A job to cancel."})
        job_id = accepted.structured_content["job_id"]  # type: ignore[index]
        waiting = asyncio.create_task(
            s.call_tool(
                "wait_for_job",
                {"job_id": job_id, "timeout_seconds": 600},
                progress_callback=on_progress,
            )
        )
        await eventually(lambda: bool(messages), 10, "wait_for_job's first progress")
        assert (messages[0] or "").startswith("queued")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

        def job_status() -> str:
            with stack.http(as_mcp=True) as c:
                return str(c.get(f"/jobs/{job_id}").json()["status"])

        # The session stays open: the cancellation reached the server as an MCP
        # notifications/cancelled, not as a closed connection.
        await eventually(lambda: job_status() == "cancelled", 10, "the job to be cancelled")
    assert server.metric("tool_calls_total", cancelled) == before + 1


@pytest.mark.usefixtures("healthy")
async def test_stopped_orchestrator_opens_the_breaker_and_calls_then_fail_fast_unsent(
    stack: KeyedStack, server: McpServer, proxy: CountingProxy, job_id: str
) -> None:
    opened = _transitions(server, "closed", "open")
    async with session(server.url, server.token) as s:
        baseline = float("inf")
        for _unused in range(3):  # a warm successful call, for comparison
            started = time.perf_counter()
            assert not (await _status(s, job_id)).is_error
            baseline = min(baseline, time.perf_counter() - started)
        await _trip_with_stopped_orchestrator(stack, server, proxy, s, job_id)
        assert _transitions(server, "closed", "open") == opened + 1

        counted = server.metric("tool_duration_seconds_count", {"tool": "get_job_status"})
        summed = server.metric("tool_duration_seconds_sum", {"tool": "get_job_status"})
        sent = proxy.requests
        started = time.perf_counter()
        result = await _status(s, job_id)
        round_trip = time.perf_counter() - started
        assert result.is_error
        assert FAST_FAIL in text_of(result) and "Orchestrator unavailable" in text_of(result)
        assert 1 <= retry_after(result) <= RESET
        assert proxy.requests == sent, "a request left the MCP server although the breaker is open"
        # Measured inside the server (the tool's duration histogram); how fast is a benchmark
        # figure (make bench: breaker), not a timed assertion.
        assert (
            server.metric("tool_duration_seconds_count", {"tool": "get_job_status"}) == counted + 1
        )
        inside = server.metric("tool_duration_seconds_sum", {"tool": "get_job_status"}) - summed
        assert server.breaker_state() == 2
    print(
        f"\nfast fail: {inside * 1000:.2f} ms in the server, {round_trip * 1000:.1f} ms round "
        f"trip over MCP/HTTP; a successful call: {baseline * 1000:.1f} ms round trip "
        f"(ratio {round_trip / baseline:.2f})"
    )


@pytest.mark.usefixtures("healthy")
async def test_half_open_sends_exactly_one_probe_and_recovery_closes_the_breaker(
    stack: KeyedStack, server: McpServer, proxy: CountingProxy, job_id: str
) -> None:
    counts = {
        (a, b): _transitions(server, a, b)
        for a, b in [("open", "half_open"), ("half_open", "open"), ("half_open", "closed")]
    }
    async with session(server.url, server.token) as s:
        await _trip_with_stopped_orchestrator(stack, server, proxy, s, job_id)

        # Still down: of 10 concurrent calls after the reset timeout, one probe is sent.
        await eventually(
            lambda: server.healthz()["orchestrator_breaker"] == "half_open", RESET + 5, "half-open"
        )
        sent = proxy.requests
        results = await asyncio.gather(*(_status(s, job_id) for _unused in range(10)))
        texts = [text_of(r) for r in results]
        assert all(r.is_error for r in results)
        assert sum(UNREACHABLE in t for t in texts) == 1, texts
        assert sum(FAST_FAIL in t for t in texts) == 9, texts
        assert proxy.requests == sent + 1
        assert server.breaker_state() == 2  # the failed probe opened it again

        # Back up: the probe is held at the proxy while 9 concurrent callers fail fast.
        stack.start_orchestrator()
        await eventually(
            lambda: server.healthz()["orchestrator_breaker"] == "half_open", RESET + 5, "half-open"
        )
        sent = proxy.requests
        proxy.hold()
        try:
            calls = [asyncio.create_task(_status(s, job_id)) for _unused in range(10)]
            await eventually(
                lambda: proxy.held == 1 and sum(c.done() for c in calls) == 9,
                10,
                "one probe held at the proxy and nine fast failures",
            )
            assert server.breaker_state() == 1
        finally:
            proxy.release()
        results = await asyncio.gather(*calls)
        succeeded = [r for r in results if not r.is_error]
        assert len(succeeded) == 1
        assert succeeded[0].structured_content["status"] == "queued"  # type: ignore[index]
        assert all(FAST_FAIL in text_of(r) for r in results if r.is_error)
        assert proxy.requests == sent + 1
        assert server.breaker_state() == 0
        assert not (await _status(s, job_id)).is_error
    assert _transitions(server, "open", "half_open") == counts["open", "half_open"] + 2
    assert _transitions(server, "half_open", "open") == counts["half_open", "open"] + 1
    assert _transitions(server, "half_open", "closed") == counts["half_open", "closed"] + 1


@pytest.mark.usefixtures("healthy")
async def test_hung_orchestrator_trips_the_breaker_by_timeout(
    stack: KeyedStack, server: McpServer, proxy: CountingProxy, job_id: str
) -> None:
    orchestrator = stack.orchestrator
    assert orchestrator is not None
    async with session(server.url, server.token) as s:
        orchestrator.signal(signal.SIGSTOP)
        try:
            started = time.perf_counter()
            results = await asyncio.gather(*(_status(s, job_id) for _unused in range(THRESHOLD)))
            elapsed = time.perf_counter() - started
            for result in results:
                assert result.is_error
                assert f"gave no answer within {TIMEOUT:g}s" in text_of(result), text_of(result)
            assert elapsed >= TIMEOUT
            assert server.breaker_state() == 2
            sent = proxy.requests
            result = await _status(s, job_id)
            assert FAST_FAIL in text_of(result)
            assert proxy.requests == sent
        finally:
            orchestrator.signal(signal.SIGCONT)
        await eventually(
            lambda: server.healthz()["orchestrator_breaker"] == "half_open", RESET + 5, "half-open"
        )
        assert not (await _status(s, job_id)).is_error
        assert server.breaker_state() == 0
