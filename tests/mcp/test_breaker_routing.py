"""Which breaker a failure counts against, in memory (fastmcp ``Client(server)``).

The orchestrator is a scripted double that answers with the orchestrator's error model
(:class:`shield_rag.api.errors.ErrorBody`). A dependency the answer names is charged to that
dependency's breaker only; transport errors and 5xx naming nothing to the orchestrator's;
admission control, deliberate 5xx and 4xx to none. A tool whose needed breaker is open fails
without a request, naming the dependency, with retry_after.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastmcp import Client
from prometheus_client import REGISTRY

from shield_rag.api.errors import ErrorCode
from shield_rag.mcp.calls import ROUTE_NEEDS, client_header
from shield_rag.mcp.orchestrator import TARGETS
from shield_rag.mcp.server import ShieldMcp
from shield_rag.mcp.tools import READ_TOOLS, TOOL_NEEDS, WRITE_TOOLS
from tests.mcp.memory import memory_server
from tests.support.wait import eventually

JOB_ID = "b" * 32
THRESHOLD = 3
CALLS: dict[str, dict[str, Any]] = {
    "qdrant_find": {"query": "where is it"},
    "qdrant_store": {"text": "a note"},
    "lightrag_query": {"query": "what is it"},
    "ingest_doc": {"text": "a document", "graph": False},
    "crawl_web": {"url": "https://example.org/"},
    "get_job_status": {"job_id": JOB_ID},
}
ROUTE_OF = {
    "/search": "qdrant_find",
    "/vectors": "qdrant_store",
    "/lightrag/query": "lightrag_query",
    "/ingest-async": "ingest",
    "/jobs/": "jobs",
}
OK: dict[str, httpx.Response] = {
    "qdrant_find": httpx.Response(200, json={"results": [], "limit": 10, "offset": 0}),
    "qdrant_store": httpx.Response(200, json={"ids": ["x"], "count": 1}),
    "lightrag_query": httpx.Response(200, json={"response": "an answer", "mode": "hybrid"}),
    "ingest": httpx.Response(
        202,
        json={
            "job_id": JOB_ID,
            "status": "queued",
            "kind": "text",
            "track_url": f"http://o/jobs/{JOB_ID}",
            "events_url": f"http://o/jobs/{JOB_ID}/events",
            "created": True,
        },
    ),
    "jobs": httpx.Response(
        200,
        json={
            "job_id": JOB_ID,
            "kind": "text",
            "status": "queued",
            "progress": 0.0,
            "created_at": 1.0,
            "updated_at": 1.0,
            "attempts": 0,
            "max_attempts": 3,
        },
    ),
}


def error(
    status: int, code: str, dependency: str | None = None, retry: float | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"status": status, "code": code, "detail": f"scripted {code}"}
    if dependency:
        body["dependency"] = dependency
    headers = {}
    if retry is not None:
        body["retry_after"] = retry
        headers["Retry-After"] = str(int(retry))
    return httpx.Response(status, json=body, headers=headers)


class Orchestrator:
    """Answers each route with a scripted response (``answers[route]``), else success."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: dict[str, httpx.Response | Exception] = {}

    def route(self, request: httpx.Request) -> str:
        for prefix, name in ROUTE_OF.items():
            if request.url.path.startswith(prefix):
                return name
        raise AssertionError(f"unexpected path {request.url.path}")

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/features":  # the server's background read of the flags
            return httpx.Response(200, json={"features": []})
        self.requests.append(request)
        name = self.route(request)
        answer = self.answers.get(name, OK[name])
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    def sent(self, name: str) -> int:
        return sum(self.route(r) == name for r in self.requests)


@pytest.fixture
def orchestrator() -> Orchestrator:
    return Orchestrator()


@pytest.fixture
def make(orchestrator: Orchestrator) -> Callable[..., ShieldMcp]:
    def build(**mcp: Any) -> ShieldMcp:
        cfg = {"breaker_failure_threshold": THRESHOLD, "breaker_reset_seconds": 30, **mcp}
        # fastmcp's Client sends a progressToken with every call, which would stream
        # lightrag_query; these tests route the plain call (test_lightrag_stream.py the other)
        features = {"streaming": False}
        return memory_server(orchestrator, mcp=cfg, features=features)

    return build


async def call(c: Client, tool: str) -> tuple[bool, str]:
    result = await c.call_tool(tool, CALLS[tool], raise_on_error=False)
    return result.is_error, "\n".join(getattr(x, "text", "") for x in result.content)


def states(shield: ShieldMcp) -> dict[str, str]:
    return {t: b.state.label for t, b in shield.breakers.by_target.items()}


def test_every_tool_declares_what_it_needs_from_the_routes_it_calls() -> None:
    assert set(TOOL_NEEDS) == READ_TOOLS | WRITE_TOOLS
    assert TOOL_NEEDS["qdrant_find"] == ROUTE_NEEDS["POST /search"] == ("ollama", "qdrant")
    assert TOOL_NEEDS["qdrant_store"] == ROUTE_NEEDS["POST /vectors"]
    assert TOOL_NEEDS["lightrag_query"] == ROUTE_NEEDS["POST /lightrag/query"] == ("lightrag",)
    for tool in ("crawl_web", "ingest_doc", "get_job_status", "wait_for_job"):
        assert TOOL_NEEDS[tool] == ("redis",)
    assert TARGETS == ("orchestrator", "redis", "qdrant", "ollama", "lightrag")


@pytest.mark.parametrize(
    ("answer", "failing"),
    [
        (error(503, "dependency_unavailable", "lightrag", 5), "lightrag"),
        (error(504, "dependency_timeout", "lightrag", 5), "lightrag"),
        (error(503, "circuit_open", "lightrag", 20), "lightrag"),
    ],
)
async def test_a_failing_dependency_opens_only_its_breaker_and_only_its_tools_fail_fast(
    make: Callable[..., ShieldMcp],
    orchestrator: Orchestrator,
    answer: httpx.Response,
    failing: str,
) -> None:
    shield = make()
    orchestrator.answers["lightrag_query"] = answer
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD):
            is_error, text = await call(c, "lightrag_query")
            assert is_error and "Dependency lightrag unavailable" in text, text
            assert "dependency=lightrag" in text and "retry_after=" in text
        assert states(shield) == {**dict.fromkeys(TARGETS, "closed"), failing: "open"}

        sent = orchestrator.sent("lightrag_query")
        is_error, text = await call(c, "lightrag_query")
        assert is_error and "no request was sent" in text and "dependency=lightrag" in text
        assert "code=circuit_open" in text
        wait = int(re.search(r"retry_after=(\d+) seconds", text).group(1))  # type: ignore[union-attr]
        assert 25 <= wait <= 30
        assert orchestrator.sent("lightrag_query") == sent

        for tool in ("qdrant_find", "qdrant_store", "ingest_doc", "crawl_web", "get_job_status"):
            is_error, text = await call(c, tool)
            assert not is_error, f"{tool}: {text}"
    assert states(shield)["orchestrator"] == "closed"


async def test_qdrant_failing_stops_the_vector_tools_but_not_lightrag_or_jobs(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    shield = make()
    orchestrator.answers["qdrant_find"] = error(504, "dependency_timeout", "qdrant")
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD):
            is_error, text = await call(c, "qdrant_find")
            assert is_error and "code=dependency_timeout" in text, text
        assert shield.breakers["qdrant"].state.label == "open"
        before = len(orchestrator.requests)
        is_error, text = await call(c, "qdrant_store")  # needs qdrant too: not sent
        assert is_error and "Dependency qdrant unavailable" in text and "no request" in text
        assert len(orchestrator.requests) == before
        for tool in ("lightrag_query", "ingest_doc", "get_job_status"):
            assert not (await call(c, tool))[0]


async def test_a_dependency_named_by_another_route_is_charged_to_that_dependency(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    """/search naming redis (e.g. a rate limiter whose store fails) opens redis's breaker,
    which the job tools need, not the vector tools' breakers."""
    shield = make()
    orchestrator.answers["qdrant_find"] = error(503, "dependency_unavailable", "redis")
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD):
            assert (await call(c, "qdrant_find"))[0]
        assert states(shield) == {**dict.fromkeys(TARGETS, "closed"), "redis": "open"}
        is_error, text = await call(c, "get_job_status")
        assert is_error and "Dependency redis unavailable" in text and "no request" in text


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("no answer"),
        error(500, "internal_error"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(503, json={"detail": "an answer without the error model"}),
        error(503, "dependency_unavailable"),  # no dependency named
        httpx.Response(503, json={"code": "no_such_code", "dependency": "lightrag"}),
    ],
    ids=["connect", "timeout", "500", "502-text", "503-legacy", "503-unnamed", "503-unknown"],
)
async def test_transport_errors_and_unnamed_5xx_count_against_the_orchestrator(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator, answer: Any
) -> None:
    shield = make()
    orchestrator.answers["qdrant_find"] = answer
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD):
            is_error, text = await call(c, "qdrant_find")
            assert is_error and "Orchestrator unavailable" in text, text
        assert states(shield) == {**dict.fromkeys(TARGETS, "closed"), "orchestrator": "open"}
        is_error, text = await call(c, "get_job_status")  # every tool needs the orchestrator
        assert is_error and "no request was sent" in text


@pytest.mark.parametrize(
    ("answer", "code", "wait"),
    [
        (error(429, "rate_limited", retry=7), "rate_limited", 7),
        (error(429, "too_many_queued_jobs", retry=12), "too_many_queued_jobs", 12),
        (error(503, "overloaded", retry=3), "overloaded", 3),
        (error(503, "storage_nearly_full", retry=30), "storage_nearly_full", 30),
    ],
)
async def test_admission_control_reaches_the_agent_with_retry_after_and_counts_nowhere(
    make: Callable[..., ShieldMcp],
    orchestrator: Orchestrator,
    answer: httpx.Response,
    code: str,
    wait: int,
) -> None:
    shield = make()
    orchestrator.answers["ingest"] = answer
    limited = {"tool": "ingest_doc", "status": "limited"}
    before = REGISTRY.get_sample_value("tool_calls_total", limited) or 0.0
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD * 3):
            is_error, text = await call(c, "ingest_doc")
            assert is_error and f"code={code}" in text and f"retry_after={wait} seconds" in text
            assert "unavailable" not in text.lower()
    assert set(states(shield).values()) == {"closed"}
    assert orchestrator.sent("ingest") == THRESHOLD * 3
    assert REGISTRY.get_sample_value("tool_calls_total", limited) == before + THRESHOLD * 3


@pytest.mark.parametrize(
    "answer",
    [
        error(422, "invalid_request"),
        error(422, "rejected_by_dependency", "lightrag"),
        error(404, "not_found"),
        error(413, "payload_too_large"),
        error(400, "invalid_json"),
        error(501, "feature_disabled"),
        error(500, "misconfigured", "ollama"),
    ],
    ids=lambda r: r.json()["code"],
)
async def test_refusals_never_count_against_any_breaker(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator, answer: httpx.Response
) -> None:
    shield = make()
    for route in OK:
        orchestrator.answers[route] = answer
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD * 2):
            for tool in CALLS:
                is_error, text = await call(c, tool)
                assert is_error and f"code={answer.json()['code']}" in text, text
    assert set(states(shield).values()) == {"closed"}
    assert all(b.failure_count == 0 for b in shield.breakers.by_target.values())


async def test_an_answer_with_fields_this_version_does_not_know_still_names_the_dependency(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    shield = make()
    answer = error(503, "dependency_unavailable", "qdrant", 4)
    orchestrator.answers["qdrant_find"] = httpx.Response(
        503, json={**answer.json(), "trace_id": "abc", "hint": {"x": 1}}
    )
    async with Client(shield.server) as c:
        for i in range(THRESHOLD):
            is_error, text = await call(c, "qdrant_find")
            assert is_error and "dependency=qdrant" in text
            # the answer's retry_after until the breaker opens, then the breaker's wait
            assert ("retry_after=4 seconds" in text) is (i < THRESHOLD - 1), text
    assert states(shield) == {**dict.fromkeys(TARGETS, "closed"), "qdrant": "open"}


async def test_half_open_dependency_lets_one_probe_through_and_success_closes_it(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    shield = make(breaker_reset_seconds=1.0)  # "open" is read well within it
    orchestrator.answers["lightrag_query"] = error(503, "dependency_unavailable", "lightrag")
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD):
            await call(c, "lightrag_query")
        breaker = shield.breakers["lightrag"]
        assert breaker.state.label == "open"
        await eventually(lambda: breaker.state.label == "half_open", 10, "half-open")
        del orchestrator.answers["lightrag_query"]
        assert not (await call(c, "lightrag_query"))[0]
        assert breaker.state.label == "closed"


async def test_caller_is_sent_as_x_shield_client(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    async with Client(make().server) as c:
        await call(c, "qdrant_find")
    header = orchestrator.requests[-1].headers["x-shield-client"]
    assert re.fullmatch(r"mcp:[A-Za-z0-9._:@/-]{1,60}", header), header


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("claude-code", "mcp:claude-code"),
        ("Claude Desktop 1.2", "mcp:Claude_Desktop_1.2"),
        (None, "mcp:anonymous"),
        ("", "mcp:anonymous"),
        ("\u00e9\u00e9\u00e9", "mcp:anonymous"),
        ("x" * 100, "mcp:" + "x" * 60),
        ("a\r\nX-Evil: 1", "mcp:a_X-Evil:_1"),
    ],
)
def test_client_header_is_sanitised(raw: str | None, expected: str) -> None:
    assert client_header(raw) == expected
    assert re.fullmatch(r"[A-Za-z0-9._:@/-]{1,64}", client_header(raw))


async def test_healthz_shows_every_breaker(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    shield = make()
    orchestrator.answers["lightrag_query"] = error(503, "dependency_unavailable", "lightrag")
    async with Client(shield.server) as c:
        for _unused in range(THRESHOLD):
            await call(c, "lightrag_query")
    app = shield.server.http_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mcp"
    ) as http:
        body = (await http.get("/healthz")).json()
    assert body["orchestrator_breaker"] == "closed"
    assert {t: v["state"] for t, v in body["breakers"].items()} == {
        **dict.fromkeys(TARGETS, "closed"),
        "lightrag": "open",
    }
    assert body["breakers"]["lightrag"]["retry_after"] > 0
    assert body["tool_needs"]["lightrag_query"] == ["lightrag"]
    assert ErrorCode.CIRCUIT_OPEN.value == "circuit_open"
