"""Section 5: the circuit breaker's fast-fail while it is open, against its floor.

``get_job_status`` on an MCP server whose orchestrator URL is a closed port, after a few
calls opened its breaker. The floor is an MCP ping on the same session: the protocol round
trip that any answer costs, so the ratio is what the breaker check and the error answer add.
The server's own ``tool_duration_seconds`` histogram gives the time spent inside the server.
"""

from __future__ import annotations

import asyncio
import uuid

from prometheus_client.parser import text_string_to_metric_families

from tests.bench.context import BenchContext
from tests.bench.measure import Call, alternate, budget_note, latency_figure, warm
from tests.bench.stats import Figure
from tests.mcp.server import McpServer
from tests.support.mcp import session, text_of
from tests.support.procs import free_port
from tests.support.wait import eventually

BREAKER_THRESHOLD = 3
FAST_FAIL = "no request was sent"  # in the tool error of a call the open breaker refused
TARGET_MS = 1.0  # the seed target for a fast-fail inside the MCP server, on the mean


def run(ctx: BenchContext) -> list[Figure]:
    closed = free_port()  # nothing listens there: every call is refused at once
    server = McpServer(
        ctx.stack,
        ctx.root,
        orchestrator_url=f"http://127.0.0.1:{closed}",
        breaker_failure_threshold=BREAKER_THRESHOLD,
        breaker_reset_seconds=600,
    )
    ctx.progress(f"  starting a second MCP server with its orchestrator at closed port {closed}")
    server.start()
    try:
        return asyncio.run(_breaker(ctx, server))
    finally:
        server.stop()


def histogram(text: str, name: str, labels: dict[str, str]) -> dict[str, float]:
    """One Prometheus histogram's series: ``le`` bounds (as strings), ``count`` and ``sum``."""
    series: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            if sample.name == f"{name}_bucket":
                series[sample.labels["le"]] = float(sample.value)
            elif sample.name in (f"{name}_count", f"{name}_sum"):
                series[sample.name.rsplit("_", 1)[1]] = float(sample.value)
    return series


def server_mean_ms(before: dict[str, float], after: dict[str, float]) -> tuple[float, int]:
    """The mean of the histogram's new observations (ms) and how many there were."""
    calls = after.get("count", 0.0) - before.get("count", 0.0)
    if calls <= 0:
        return 0.0, 0
    return (after.get("sum", 0.0) - before.get("sum", 0.0)) / calls * 1000, int(calls)


def server_figure(before: dict[str, float], after: dict[str, float]) -> list[Figure]:
    """The mean time inside the MCP server per fast-fail, against the 1 ms target."""
    mean_ms, calls = server_mean_ms(before, after)
    if not calls:
        return []
    return [
        Figure(
            section="5. breaker fast-fail",
            name="get_job_status failing fast inside the MCP server: mean of its "
            "tool_duration_seconds (sum/count over the measured calls)",
            floor_name=f"the seed target, {TARGET_MS:g} ms per call (a fixed bound, not a "
            "measurement)",
            unit="ms",
            measured={"value": mean_ms},
            floor={"value": TARGET_MS},
            samples=calls,
            floor_samples=0,
        )
    ]


def server_side_notes(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """What the server's ``tool_duration_seconds`` says about the measured calls."""
    mean_ms, calls = server_mean_ms(before, after)
    if not calls:
        return ["the server's tool_duration_seconds histogram recorded none of the calls"]
    bounds = sorted((float(le), le) for le in after if le not in ("count", "sum") and le != "+Inf")
    notes = [
        f"inside the MCP server (tool_duration_seconds sum/count over {calls:.0f} calls): "
        f"mean {mean_ms:.3f} ms per fast-failed call; seed target: under {TARGET_MS:g} ms "
        f"({'met' if mean_ms < TARGET_MS else 'NOT met'} on the mean)."
    ]
    if not bounds:
        return notes
    at_most_1ms = [b for b in bounds if b[0] <= 0.001]
    bound, le = at_most_1ms[-1] if at_most_1ms else bounds[0]
    share = (after.get(le, 0.0) - before.get(le, 0.0)) / calls
    notes.append(
        f"{share:.1%} of them took at most {bound * 1000:g} ms by the histogram"
        + (
            ""
            if at_most_1ms
            else f" (its smallest bucket is {bound * 1000:g} ms, so the share under 1 ms "
            "cannot be read from it; the mean above is the in-server figure)"
        )
        + "."
    )
    return notes


async def _breaker(ctx: BenchContext, server: McpServer) -> list[Figure]:
    count = ctx.scaled(300, 30)
    job_id = uuid.uuid4().hex
    labels = {"tool": "get_job_status"}
    async with session(server.url, server.token) as s:
        for _unused in range(BREAKER_THRESHOLD):
            result = await s.call_tool("get_job_status", {"job_id": job_id})
            if not result.is_error:
                raise RuntimeError("get_job_status succeeded against a closed port")
        await eventually(lambda: server.breaker_state() == 2, 10, "the breaker to open")
        ctx.progress(f"  breaker open after {BREAKER_THRESHOLD} refused calls")

        async def fast_fail(_unused: int) -> None:
            result = await s.call_tool("get_job_status", {"job_id": job_id})
            if not result.is_error or FAST_FAIL not in text_of(result):
                raise RuntimeError(f"expected a fast-fail, got: {text_of(result)[:300]}")

        async def ping(_unused: int) -> None:
            await s.send_ping()

        paths: dict[str, Call] = {"fast_fail": fast_fail, "ping": ping}
        await warm(paths, 10)
        before = histogram(server.metrics(), "tool_duration_seconds", labels)
        samples = await alternate(
            paths, count, 60 if not ctx.quick else 10, ctx.progress, "breaker fast-fail"
        )
        after = histogram(server.metrics(), "tool_duration_seconds", labels)
        if server.breaker_state() != 2:
            raise RuntimeError("the breaker left the open state during the measurement")
    notes = [
        "the MCP server's orchestrator_url is a closed port on 127.0.0.1; "
        f"breaker_failure_threshold {BREAKER_THRESHOLD}, breaker_reset_seconds 600, so it "
        "stays open for the whole measurement.",
        *server_side_notes(before, after),
        *budget_note(samples["fast_fail"], count),
    ]
    return [
        latency_figure(
            "5. breaker fast-fail",
            "get_job_status failing fast on the open breaker, MCP round trip",
            "MCP ping (send_ping) on the same session",
            samples["fast_fail"],
            samples["ping"],
            notes,
        ),
        *server_figure(before, after),
    ]
