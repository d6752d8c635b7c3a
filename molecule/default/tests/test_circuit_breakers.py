"""The MCP server's circuit breaker on a deployed stack, under systemd, through the real path.

In file order (each phase leaves the stack healthy for the next): the orchestrator stopped
(fail fast, nothing sent, a clear error with retry_after); one probe after the reset timeout;
the orchestrator back (the breaker closes without an MCP restart); the orchestrator frozen
with SIGSTOP (the breaker opens on timeouts, no caller waits longer than the timeout).

Every test takes the `host` fixture so that pytest keeps the file order (see
molecule/grafana_alerts/tests/test_grafana_alerts.py).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from breakers import (
    RESET,
    THRESHOLD,
    TIMEOUT,
    breaker,
    call,
    calls,
    metric,
    readiness,
    scrape,
)
from tests.support.molecule import figure
from tests.support.wait import wait_until

CHAOS = True  # after the other checks of the scenario (conftest.py)

TARGET = "orchestrator"
STATUS = ("get_job_status", {"job_id": uuid.uuid4().hex})  # unknown: a healthy 404


def half_open() -> bool:
    return breaker() == "half_open"


def test_breaker_is_closed_and_tools_work(host: Any) -> None:
    assert breaker() == "closed"
    got = call(*STATUS)
    assert got.is_error, got  # unknown job: a clear "not found" from the orchestrator
    assert "(404): no job" in got.value, got
    assert "retry_after=" not in got.value, got


def test_stopped_orchestrator_opens_the_breaker_then_calls_fail_fast_unsent(host: Any) -> None:
    assert host.run("systemctl stop shield-orchestrator.service").rc == 0
    failing = calls(*STATUS, THRESHOLD)
    assert all(c.is_error for c in failing), failing
    assert breaker() == "open"
    # One read of the metrics (each is a podman exec): the calls below must come within the
    # reset timeout, or one of them goes through as the probe.
    before = scrape(host)
    rejected = metric(host, "circuit_breaker_rejections_total", {"target": TARGET}, before)
    summed = metric(host, "tool_duration_seconds_sum", {"tool": "get_job_status"}, before)
    count = metric(host, "tool_duration_seconds_count", {"tool": "get_job_status"}, before)
    results = calls(*STATUS, 20)
    assert all(c.is_error and "retry_after=" in c.value for c in results), results
    client_ms = sorted(c.seconds * 1000 for c in results)
    inside = metric(host, "tool_duration_seconds_sum", {"tool": "get_job_status"}) - summed
    figure(
        "fail fast",
        calls=20,
        client_p50_ms=client_ms[9],
        client_max_ms=client_ms[-1],
        server_mean_ms=round(inside / 20 * 1000, 2),
    )
    # Every call was refused by the breaker (none sent) and counted by the server; how fast is
    # a benchmark figure (make bench, section 5), not a timed assertion.
    assert metric(host, "circuit_breaker_rejections_total", {"target": TARGET}) - rejected == 20
    assert metric(host, "tool_duration_seconds_count", {"tool": "get_job_status"}) - count == 20


def test_after_the_reset_timeout_exactly_one_probe_goes_through(host: Any) -> None:
    wait_until(half_open, RESET + 5, "half-open", interval=0.2)
    rejected = metric(host, "circuit_breaker_rejections_total", {"target": TARGET})
    started = time.monotonic()
    results = calls(*STATUS, 5, concurrent=True)
    state, read_after = breaker(), time.monotonic() - started
    assert all(c.is_error for c in results), results
    # The probe failed: open again, until the next reset timeout, which a starved run may
    # have seen go by already (half-open again only once RESET has passed since the calls).
    assert state == "open" or (state == "half_open" and read_after >= RESET), (state, read_after)
    # Four refused without a request; the fifth was the probe.
    assert metric(host, "circuit_breaker_rejections_total", {"target": TARGET}) - rejected == 4


def test_restarted_orchestrator_closes_the_breaker_without_an_mcp_restart(host: Any) -> None:
    mcp_pid = host.check_output("systemctl show -p MainPID --value shield-mcp.service")
    assert host.run("systemctl start shield-orchestrator.service").rc == 0
    started = time.monotonic()
    # The probe goes to an orchestrator that listens (systemd starts it before it does).
    wait_until(lambda: readiness(host)[0] == 200, 60, "the orchestrator ready", interval=0.5)
    wait_until(half_open, RESET + 5, "half-open", interval=0.2)
    got = call(*STATUS)
    assert "retry_after=" not in got.value, got
    assert breaker() == "closed"
    figure("closed again", seconds_after_start=time.monotonic() - started)
    assert host.check_output("systemctl show -p MainPID --value shield-mcp.service") == mcp_pid


def test_frozen_orchestrator_opens_the_breaker_on_timeouts(host: Any) -> None:
    assert host.run("systemctl kill -s SIGSTOP shield-orchestrator.service").rc == 0
    try:
        results = calls(*STATUS, THRESHOLD + 2)
    finally:
        host.run("systemctl kill -s SIGCONT shield-orchestrator.service")
    assert all(c.is_error for c in results), results
    # No caller waited much longer than the request timeout, and after THRESHOLD timeouts
    # the rest failed fast.
    assert max(c.seconds for c in results) < TIMEOUT + 1.0, results
    figure("frozen", timeout=TIMEOUT, waits=" ".join(f"{c.seconds:.2f}" for c in results))
    assert all("retry_after=" in c.value for c in results[THRESHOLD:]), results
    wait_until(half_open, RESET + 5, "half-open", interval=0.2)
    got = call(*STATUS)
    assert "retry_after=" not in got.value, got
    assert breaker() == "closed"
