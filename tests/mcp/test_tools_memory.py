"""The tools in memory (fastmcp ``Client(server)``), with a scripted orchestrator double.

These tests cover what does not need the real orchestrator: argument errors that say what to
change (and send nothing), the read-only flag, file-path rules, how orchestrator answers map
to tool errors, the breaker as the tools see it, and the start-up safety checks. The real
orchestrator is exercised in test_e2e.py and test_resilience.py.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from fastmcp import Client
from prometheus_client import REGISTRY

from shield_rag.mcp.main import main
from shield_rag.mcp.server import ShieldMcp, create_server
from shield_rag.settings import ConfigError, Settings, load_settings
from tests.mcp.memory import BASE, memory_server
from tests.support.tokens import unique

JOB_ID = "a" * 32


class Orchestrator:
    """Answers like the orchestrator API; ``status`` forces an HTTP status for every call."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status: int | None = None
        self.headers: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/features":  # the server's background read of the flags
            return httpx.Response(200, json={"features": []})
        self.requests.append(request)
        if self.status is not None:
            return httpx.Response(self.status, json={"detail": "forced"}, headers=self.headers)
        path = request.url.path
        if path == "/ingest-async":
            upload = "multipart" in request.headers["content-type"]
            return httpx.Response(
                202,
                json={
                    "job_id": JOB_ID,
                    "status": "queued",
                    "kind": "document" if upload else "text",
                    "track_url": f"http://o/jobs/{JOB_ID}",
                    "events_url": f"http://o/jobs/{JOB_ID}/events",
                    "created": True,
                },
            )
        if path == "/search":
            return httpx.Response(200, json={"results": [], "limit": 10, "offset": 0})
        if path.startswith("/jobs/"):
            return httpx.Response(404, json={"detail": f"no job {path[6:]}"})
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def orchestrator() -> Orchestrator:
    return Orchestrator()


@pytest.fixture
def make(orchestrator: Orchestrator) -> Callable[..., ShieldMcp]:
    def build(**mcp: Any) -> ShieldMcp:
        return memory_server(orchestrator, mcp=mcp)

    return build


@pytest_asyncio.fixture(loop_scope="function")
async def client(make: Callable[..., ShieldMcp]) -> AsyncIterator[Client]:
    async with Client(make().server) as c:
        yield c


async def _error(client: Client, tool: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"{tool}({args}) did not fail: {result}"
    return result.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tool", "args", "expected"),
    [
        ("qdrant_find", {"query": ""}, "query: must have at least 1 character"),
        ("qdrant_find", {"query": "x", "limit": 500}, "limit: must be at most 100 (got 500)"),
        ("qdrant_find", {"query": "x", "offset": -1}, "offset: must be at least 0"),
        (
            "qdrant_find",
            {"query": "x", "top": 3},
            "top: unknown parameter; the parameters are filters, limit, offset, query",
        ),
        ("qdrant_find", {}, "query: required, add it"),
        (
            "qdrant_find",
            {"query": "x", "filters": {"$gt": 1}},
            "'$gt' is not a field of the stored chunks: filter on doc_id, source",
        ),
        ("crawl_web", {"url": "ftp://example.org/"}, "url: must start with http:// or https://"),
        ("crawl_web", {"url": "https://example.org/", "max_pages": 0}, "max_pages: must be at"),
        ("ingest_doc", {}, "give exactly one of text, url, file_path or content_base64 (got none"),
        (
            "ingest_doc",
            {"text": "x", "url": "https://example.org/"},
            "give exactly one of text, url, file_path or content_base64 (got text, url)",
        ),
        ("ingest_doc", {"content_base64": "***not base64***"}, "content_base64: not valid base64"),
        ("ingest_doc", {"file_path": "/etc/passwd"}, "file_path: this server reads no local files"),
        ("ingest_doc", {"text": "x", "filename": "a.pdf"}, "filename: only used with content_b"),
        ("qdrant_store", {}, "give either text (one entry) or items (a batch), not both"),
        (
            "qdrant_store",
            {"items": [{"text": "a"}], "source": "s"},
            "source and metadata go inside each item",
        ),
        ("qdrant_store", {"items": []}, "items: at least 1 item"),
        ("get_job_status", {"job_id": "42"}, "job_id: must match ^[0-9a-f]{32}$ (got '42')"),
        ("wait_for_job", {"job_id": JOB_ID, "timeout_seconds": 0}, "timeout_seconds: must be"),
        ("lightrag_query", {"query": "q", "mode": "fast"}, "mode: must be one of 'naive', 'local"),
        ("lightrag_query", {"query": "q", "top_k": 1000}, "top_k: must be at most 200"),
        ("lightrag_query", {"query": " ab\x00"}, "query: at least 3 characters are needed"),
        ("lightrag_query", {"query": "\u5b57"}, "a Chinese, Japanese or Korean character"),
        ("lightrag_query", {"query": "\x00 \u3000"}, "query is blank"),
        # Strict as the input schema: no number in a string, no boolean for a count.
        ("qdrant_find", {"query": "x", "score_threshold": "NaN"}, "score_threshold: Input should"),
        ("qdrant_find", {"query": "x", "limit": "5"}, "limit: Input should be a valid integer"),
        ("qdrant_find", {"query": "x", "limit": True}, "limit: Input should be a valid integer"),
        ("lightrag_query", {"query": "abc", "top_k": 2.5}, "top_k: Input should be a valid int"),
        ("ingest_doc", {"text": "x", "graph": "yes"}, "graph: Input should be a valid boolean"),
        ("wait_for_job", {"job_id": JOB_ID, "timeout_seconds": "Infinity"}, "timeout_second"),
    ],
)
async def test_bad_arguments_say_what_to_change_and_send_nothing(
    client: Client, orchestrator: Orchestrator, tool: str, args: dict[str, Any], expected: str
) -> None:
    message = await _error(client, tool, args)
    assert message.startswith(f"Invalid arguments for {tool}: "), message
    assert expected in message, message
    assert message.endswith("Fix them and call again.")
    assert orchestrator.requests == []


async def test_an_integral_number_is_an_integer_as_in_json_schema(
    client: Client, orchestrator: Orchestrator
) -> None:
    await client.call_tool("qdrant_find", {"query": "x", "limit": 5.0, "offset": 10.0})
    (search,) = orchestrator.requests
    sent = json.loads(search.content)
    assert (sent["limit"], sent["offset"]) == (5, 10)
    assert all(isinstance(sent[key], int) for key in ("limit", "offset")), sent


async def test_invalid_calls_are_counted_by_tool_and_status(client: Client) -> None:
    labels = {"tool": "qdrant_find", "status": "invalid"}
    before = REGISTRY.get_sample_value("tool_calls_total", labels) or 0.0
    await _error(client, "qdrant_find", {"query": ""})
    assert REGISTRY.get_sample_value("tool_calls_total", labels) == before + 1


async def test_every_tool_has_a_description_and_described_parameters(client: Client) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) == {
        "crawl_web",
        "ingest_doc",
        "get_job_status",
        "wait_for_job",
        "qdrant_find",
        "qdrant_store",
        "lightrag_query",
    }
    for tool in tools.values():
        assert tool.description and len(tool.description) > 80, tool.name
        for name, schema in tool.input_schema["properties"].items():
            assert "description" in schema or "$ref" in schema, f"{tool.name}.{name}"


async def test_read_only_hides_the_write_tools(make: Callable[..., ShieldMcp]) -> None:
    async with Client(make(read_only=True).server) as c:
        names = {t.name for t in await c.list_tools()}
        assert names == {"get_job_status", "wait_for_job", "qdrant_find", "lightrag_query"}
        result = await c.call_tool("ingest_doc", {"text": "x"}, raise_on_error=False)
        assert result.is_error


async def test_file_path_is_read_only_inside_file_roots(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator, tmp_path: Path
) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "note.md").write_text("# Note\nThe Ferrowind gate opens at dawn.\n")
    (tmp_path / "outside.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    async with Client(make(file_roots=[str(root)]).server) as c:
        for path, problem in [
            (tmp_path / "outside.txt", "must be inside one of"),
            (root / "link.txt", "must be inside one of"),  # a symlink out of the root
            (root / "../docs/../outside.txt", "must be inside one of"),
            (root / "missing.md", "does not exist"),
            (root, "is not a regular file"),
        ]:
            message = await _error(c, "ingest_doc", {"file_path": str(path)})
            assert "file_path: " in message and problem in message, message
        assert orchestrator.requests == []
        result = await c.call_tool("ingest_doc", {"file_path": str(root / "note.md")})
    assert result.structured_content["job_id"] == JOB_ID
    (upload,) = orchestrator.requests
    assert b'filename="note.md"' in upload.content
    assert b"The Ferrowind gate opens at dawn." in upload.content


async def test_inline_content_is_uploaded_as_a_file(
    client: Client, orchestrator: Orchestrator
) -> None:
    blob = b"%PDF-1.4 fake"
    result = await client.call_tool(
        "ingest_doc",
        {
            "content_base64": base64.b64encode(blob).decode(),
            "filename": "report.pdf",
            "title": "Report",
            "metadata": {"team": "blue"},
            "idempotency_key": "k-1",
        },
    )
    content = result.structured_content
    assert content is not None and content["kind"] == "document"
    assert "wait_for_job" in content["next_step"]
    (upload,) = orchestrator.requests
    assert upload.headers["idempotency-key"] == "k-1"
    assert blob in upload.content and b'"team": "blue"' in upload.content


async def test_orchestrator_4xx_is_passed_on_and_does_not_trip_the_breaker(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    shield = make()
    async with Client(shield.server) as c:
        for _unused in range(10):
            message = await _error(c, "get_job_status", {"job_id": JOB_ID})
            assert f"rejected the request (404): no job {JOB_ID}" in message
    assert shield.breaker.state.label == "closed"
    assert len(orchestrator.requests) == 10


async def test_5xx_trips_the_breaker_then_calls_fail_without_a_request(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    shield = make(breaker_failure_threshold=3, breaker_reset_seconds=30)
    orchestrator.status = 503
    orchestrator.headers = {"Retry-After": "7"}
    async with Client(shield.server) as c:
        first = await _error(c, "qdrant_find", {"query": "x"})
        assert "answered 503: forced" in first and "retry_after=7 seconds" in first
        for _unused in range(2):
            await _error(c, "qdrant_find", {"query": "x"})
        assert shield.breaker.state.label == "open"
        sent = len(orchestrator.requests)
        for tool, args in [
            ("qdrant_find", {"query": "x"}),
            ("get_job_status", {"job_id": JOB_ID}),
            ("ingest_doc", {"text": "x"}),
        ]:
            message = await _error(c, tool, args)
            assert "Orchestrator unavailable" in message and "no request was sent" in message
            assert 25 <= int(message.split("retry_after=")[1].split()[0]) <= 30
    assert len(orchestrator.requests) == sent == 3


async def test_orchestrator_key_is_sent_as_bearer(orchestrator: Orchestrator) -> None:
    key = unique(nbytes=16)
    settings = Settings(**BASE, orchestrator={"api_key": key})  # type: ignore[arg-type]
    shield = create_server(settings, transport=httpx.MockTransport(orchestrator))
    async with Client(shield.server) as c:
        await c.call_tool("qdrant_find", {"query": "x"})
    assert orchestrator.requests[0].headers["authorization"] == f"Bearer {key}"


def test_http_on_a_public_address_needs_a_token(tmp_path: Path) -> None:
    path = tmp_path / "shield.yml"
    path.write_text(yaml.safe_dump({**BASE, "mcp": {"host": "0.0.0.0"}}))
    with pytest.raises(ConfigError, match=r"mcp: .*auth_token is required .*'0\.0\.0\.0'"):
        load_settings(path)
    path.write_text(yaml.safe_dump({**BASE, "mcp": {"host": "0.0.0.0", "transport": "stdio"}}))
    assert load_settings(path).mcp.auth_problem("stdio") is None


def test_main_refuses_to_serve_http_publicly_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shield.yml"
    path.write_text(yaml.safe_dump({**BASE, "mcp": {"host": "0.0.0.0", "transport": "stdio"}}))
    assert main(["--config", str(path), "--transport", "http"]) == 2
    err = capsys.readouterr().err
    assert "refusing to start: mcp.auth_token is required" in err


@pytest.mark.parametrize("token", ["short", "changeme", "x" * 15])
def test_weak_tokens_are_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "shield.yml"
    path.write_text(yaml.safe_dump({**BASE, "mcp": {"auth_token": token}}))
    with pytest.raises(
        ConfigError, match=r"mcp\.auth_token is weak: it needs at least 16 characters"
    ):
        load_settings(path)


def test_main_serves_http_on_uvloop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP transport runs on uvloop (installed with uvicorn[standard]), not on the plain
    asyncio loop FastMCP's run() would start, once the heap start-up built is frozen."""
    served: dict[str, Any] = {}
    steps: list[str] = []

    def run(func: Callable[[], Any], *, backend_options: dict[str, Any]) -> None:
        steps.append("serve")
        served.update(func.keywords, backend_options=backend_options)  # type: ignore[attr-defined]

    monkeypatch.setattr("shield_rag.mcp.main.anyio.run", run)
    # The heap start-up built is frozen before serving (not this test process's own).
    monkeypatch.setattr("shield_rag.mcp.main.gc.freeze", lambda: steps.append("freeze"))
    path = tmp_path / "shield.yml"
    mcp = {"auth_token": unique("tok-", 24), "metrics_port": 0, "port": 18765}
    path.write_text(yaml.safe_dump({**BASE, "mcp": mcp}))
    assert main(["--config", str(path), "--transport", "http"]) == 0
    assert served["backend_options"] == {"use_uvloop": True}
    assert (served["transport"], served["port"]) == ("http", 18765)
    assert steps == ["freeze", "serve"]
