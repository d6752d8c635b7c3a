"""How the HTTP transport frames its answers, through the official MCP SDK client.

The Shield MCP server runs in this process under uvicorn on 127.0.0.1, twice, in front of a
scripted orchestrator double: once with the production middleware (``http_middleware()``,
which answers a lone result as ``application/json``) and once without ``SingleResultAsJson``
(the SDK's own framing: every request answered with an SSE stream). The same calls must give
the same results and the same errors on both, notifications must keep arriving, and the
production server must answer the calls that send nothing but their result with JSON. These
tests also pin the SDK behaviour the middleware relies on: if the SDK changes how it frames
a result on the stream, the JSON expectations below fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastmcp import Context
from mcp import MCPError
from mcp.client.session import ClientSession
from mcp_types import LoggingMessageNotificationParams
from starlette.middleware import Middleware

from shield_rag.mcp.http import ExplainTooLarge
from shield_rag.mcp.main import http_middleware
from shield_rag.mcp.server import create_server
from shield_rag.mcp.single import SingleResultAsJson
from shield_rag.settings import Settings
from tests.mcp.memory import BASE, UvicornServed
from tests.support.mcp import session
from tests.support.procs import free_port
from tests.support.tokens import secret

JSON = "application/json"
SSE = "text/event-stream"
JOB_ID = "b" * 32
HIT = {"id": "p1", "score": 0.9, "text": "The ferry carries 340 bicycles.", "source": "s"}


def orchestrator(request: httpx.Request) -> httpx.Response:
    """The orchestrator double: a search hit, an unknown job, and a failing Qdrant for the
    query "qdrant down"."""
    if request.url.path == "/search":
        if b"qdrant down" in request.content:
            body = {
                "status": 503,
                "code": "dependency_unavailable",
                "detail": "qdrant is unavailable",
                "dependency": "qdrant",
                "retry_after": 7,
            }
            return httpx.Response(503, json=body, headers={"Retry-After": "7"})
        return httpx.Response(200, json={"results": [HIT], "limit": 2, "offset": 0})
    return httpx.Response(
        404, json={"status": 404, "code": "not_found", "detail": f"no job {JOB_ID}"}
    )


class Served(UvicornServed):
    """One Shield MCP server under uvicorn in this process."""

    def __init__(self, middleware: list[Middleware]) -> None:
        self.token = secret(24)
        settings = Settings(**BASE, mcp={"auth_token": self.token})  # type: ignore[arg-type]
        shield = create_server(settings, transport=httpx.MockTransport(orchestrator))

        @shield.server.tool
        async def narrate(steps: int, ctx: Context) -> str:
            """Logs a line to the client, then reports progress (a test-only tool)."""
            await ctx.info(f"narrating {steps} steps")
            for step in range(1, steps + 1):
                await ctx.report_progress(step, steps, f"step {step}")
            return f"{steps} steps"

        super().__init__(shield, middleware, free_port())


@pytest_asyncio.fixture(loop_scope="function")
async def servers() -> AsyncIterator[dict[str, Served]]:
    """``production``: the middleware shield-mcp runs with; ``sse``: the SDK's framing."""
    started = {
        "production": await Served(http_middleware()).start(),
        "sse": await Served([Middleware(ExplainTooLarge)]).start(),
    }
    try:
        yield started
    finally:
        for served in started.values():
            await served.stop()


def test_production_middleware_has_single_result_as_json() -> None:
    assert [m.cls for m in http_middleware()] == [ExplainTooLarge, SingleResultAsJson]


Call = Callable[[ClientSession], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "ping": lambda s: s.send_ping(),
    "tools/list": lambda s: s.list_tools(),
    "qdrant_find": lambda s: s.call_tool("qdrant_find", {"query": "ferry", "limit": 2}),
    "qdrant_find, bad argument": lambda s: s.call_tool("qdrant_find", {"query": "", "limit": 0}),
    "qdrant_find, qdrant failing": lambda s: s.call_tool("qdrant_find", {"query": "qdrant down"}),
    "get_job_status, unknown job": lambda s: s.call_tool("get_job_status", {"job_id": JOB_ID}),
    "unknown tool": lambda s: s.call_tool("no_such_tool", {}),
}


async def outcome(served: Served, call: Call) -> tuple[Any, list[tuple[str, str]]]:
    """The call's result (or error) as data, and the framing of every request it sent."""
    framing: list[tuple[str, str]] = []
    async with session(served.url, served.token, framing=framing) as s:
        framing.clear()  # initialize
        try:
            result: Any = (await call(s)).model_dump(mode="json")
        except MCPError as exc:  # an error answer is part of the outcome
            result = (type(exc).__name__, str(exc))
    return result, framing


@pytest.mark.parametrize("name", list(CALLS))
async def test_results_and_errors_are_the_same_and_answered_as_json(
    servers: dict[str, Served], name: str
) -> None:
    expected, sse_framing = await outcome(servers["sse"], CALLS[name])
    got, framing = await outcome(servers["production"], CALLS[name])
    assert got == expected
    method = "ping" if name == "ping" else "tools/list" if name == "tools/list" else "tools/call"
    # The SDK client also lists the tools before its first call (to check results).
    assert (method, SSE) in sse_framing and {m for _unused, m in sse_framing} == {SSE}
    assert (method, JSON) in framing and {m for _unused, m in framing} == {JSON}


async def test_a_tool_error_still_names_its_dependency_and_retry(
    servers: dict[str, Served],
) -> None:
    result, _unused = await outcome(servers["production"], CALLS["qdrant_find, qdrant failing"])
    assert result["is_error"] is True
    text = result["content"][0]["text"]
    assert "qdrant" in text and "retry_after=" in text, text


@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
@pytest.mark.parametrize("steps", [0, 3])
async def test_progress_and_log_notifications_arrive_on_a_stream(
    servers: dict[str, Served], steps: int
) -> None:
    """A call whose tool logs and reports progress is streamed as before, on both servers:
    every notification arrives, in order, before the result."""
    seen: dict[str, list[Any]] = {}
    for name, served in servers.items():
        events: list[Any] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            events.append(("progress", progress, total, message))  # noqa: B023

        async def on_log(params: LoggingMessageNotificationParams) -> None:
            events.append(("log", params.level, params.data))  # noqa: B023

        framing: list[tuple[str, str]] = []
        async with session(served.url, served.token, framing=framing, logging_callback=on_log) as s:
            result = await s.call_tool("narrate", {"steps": steps}, progress_callback=on_progress)
        events.append(("result", result.content[0].text))  # type: ignore[union-attr]
        assert dict(framing)["tools/call"] == SSE, name
        seen[name] = events
    expected = [
        ("log", "info", {"msg": f"narrating {steps} steps", "extra": None}),
        *(("progress", float(i), float(steps), f"step {i}") for i in range(1, steps + 1)),
        ("result", f"{steps} steps"),
    ]
    assert seen == {"production": expected, "sse": expected}


async def test_a_progress_token_alone_does_not_need_a_stream(servers: dict[str, Served]) -> None:
    """qdrant_find sends no notification: with a progressToken it is still one JSON answer,
    and its result is the same."""
    reports: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append(progress)

    framing: list[tuple[str, str]] = []
    served = servers["production"]
    async with session(served.url, served.token, framing=framing) as s:
        framing.clear()
        with_token = await s.call_tool(
            "qdrant_find", {"query": "ferry"}, progress_callback=on_progress
        )
        without = await s.call_tool("qdrant_find", {"query": "ferry"})
    assert [f for f in framing if f[0] == "tools/call"] == [("tools/call", JSON)] * 2
    assert with_token.model_dump() == without.model_dump() and not reports
