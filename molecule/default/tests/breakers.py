"""What the chaos checks (test_circuit_breakers, test_dependencies_down) drive and observe.

Tool calls go through the MCP server's port published on 127.0.0.1 with the official MCP SDK
client; the services' metrics and the orchestrator's /readyz listen on the host's loopback
and are read there (testinfra over podman exec).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests.support.mcp import session, text_of
from tests.support.molecule import get_on_host, mcp_token
from tests.support.wait import eventually

SCENARIO = yaml.safe_load(Path(__file__).parents[1].joinpath("molecule.yml").read_text())
VARS: dict[str, Any] = SCENARIO["provisioner"]["inventory"]["group_vars"]["all"]

PORT = os.environ.get("SHIELD_MOLECULE_MCP_PORT", "18601")
MCP_URL = f"http://127.0.0.1:{PORT}/mcp"
HEALTHZ = f"http://127.0.0.1:{PORT}/healthz"
THRESHOLD = int(VARS["fastmcp_server_breaker_failure_threshold"])
RESET = float(VARS["fastmcp_server_breaker_reset_seconds"])
TIMEOUT = float(VARS["fastmcp_server_request_timeout"])
WORKER = VARS["orchestrator_workers_settings"]["worker"]
MCP_METRICS = "http://127.0.0.1:9611/metrics"
READYZ = "http://127.0.0.1:8600/readyz"


def scrape(host: Any) -> str:
    """The MCP server's metrics, read once (for several samples of one moment)."""
    return get_on_host(host, MCP_METRICS)[1]


def metric(host: Any, name: str, labels: dict[str, str] | None = None, text: str = "") -> float:
    """One sample of the MCP server's metrics (0 when the series does not exist yet), read
    now or taken from ``text`` (a ``scrape``)."""
    for family in text_string_to_metric_families(text or scrape(host)):
        for sample in family.samples:
            if sample.name == name and all(
                sample.labels.get(k) == v for k, v in (labels or {}).items()
            ):
                return float(sample.value)
    return 0.0


def readiness(host: Any) -> tuple[int, dict[str, Any]]:
    """The orchestrator's /readyz: (HTTP status, its checks by dependency)."""
    status, body = get_on_host(host, READYZ)
    return status, json.loads(body)["checks"]


def breaker() -> str:
    """The MCP server's view of the orchestrator: closed, open or half_open."""
    return str(httpx.get(HEALTHZ, timeout=5).json()["orchestrator_breaker"])


def breakers() -> dict[str, dict[str, Any]]:
    """Every breaker of the MCP server by target (orchestrator, qdrant, ollama, lightrag,
    redis): state, retry_after, consecutive_failures."""
    return dict(httpx.get(HEALTHZ, timeout=5).json()["breakers"])


class Call:
    """One tool call's outcome: is_error, the text or structured result, seconds it took."""

    def __init__(self, is_error: bool, value: Any, seconds: float) -> None:
        self.is_error, self.value, self.seconds = is_error, value, seconds

    def __repr__(self) -> str:
        return f"Call(is_error={self.is_error}, {self.seconds:.3f}s, {self.value!r:.300})"


async def _call(s: Any, name: str, arguments: dict[str, Any]) -> Call:
    start = time.monotonic()
    result = await s.call_tool(name, arguments)
    seconds = time.monotonic() - start
    if result.is_error:
        return Call(True, text_of(result), seconds)
    return Call(False, result.structured_content, seconds)


def calls(name: str, arguments: dict[str, Any], n: int, concurrent: bool = False) -> list[Call]:
    """``n`` calls of one tool in one MCP session, one after another or all at once."""

    async def run() -> list[Call]:
        async with session(MCP_URL, mcp_token()) as s:
            if concurrent:
                return list(
                    await asyncio.gather(*(_call(s, name, arguments) for _unused in range(n)))
                )
            return [await _call(s, name, arguments) for _unused in range(n)]

    return asyncio.run(run())


def call(name: str, arguments: dict[str, Any]) -> Call:
    return calls(name, arguments, 1)[0]


def watch_job(job_id: str, timeout: float, until: Any) -> list[dict[str, Any]]:
    """Poll get_job_status in one session (every 0.2 s) until ``until(record)`` holds; every
    distinct record seen, in order. AssertionError at the deadline, or when a call fails."""

    async def run() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with session(MCP_URL, mcp_token()) as s:

            async def reached() -> Call:
                got = await _call(s, "get_job_status", {"job_id": job_id})
                if got.is_error:
                    return got  # stop polling: asserted below
                if not seen or got.value != seen[-1]:
                    seen.append(got.value)
                if until(got.value):
                    return got
                raise AssertionError(f"job {job_id} is at {got.value}")

            got = await eventually(reached, timeout, f"job {job_id}", interval=0.2)
        assert not got.is_error, got
        return seen

    return asyncio.run(run())
