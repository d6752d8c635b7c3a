"""Every tool end to end, through the official MCP SDK client, against the real stack.

The data plane (Redis, the Qdrant and Ollama stand-ins, LightRAG, the orchestrator with an
API key, one worker) runs as processes on 127.0.0.1, and ``shield-mcp`` runs as a process
in front of it: over streamable HTTP (with its bearer token) and over stdio.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import MCPError
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from tests.mcp.server import ENV, KeyedStack, McpServer
from tests.standins.ollama.introspect import generations
from tests.support.documents import make_pdf
from tests.support.mcp import ACCEPT, initialize_request, session, text_of
from tests.support.procs import PYTHON
from tests.support.site import SiteServer
from tests.support.wait import eventually

pytestmark = pytest.mark.integration
FACT = "The Corvath observatory keeps a bronze telescope weighing 2741 kilograms."
QUESTION = "What does the Corvath observatory telescope weigh?"
JSON, SSE = "application/json", "text/event-stream"
SLOW = "qwen2.5:1.5b"  # the stand-in spends half a second on each piece of its answers


@pytest.fixture(scope="module")
def stack_options() -> dict[str, Any]:
    return {"workers": 1, "lightrag": True, "ollama_args": ["--llm-latency", f"{SLOW}=0.5"]}


@pytest.fixture(scope="module")
def docs(root: Path) -> Path:
    path = root / "docs"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def server(stack: KeyedStack, root: Path, docs: Path) -> Iterator[McpServer]:
    # orchestrator_api_key is left unset: the server takes orchestrator.api_key from the file.
    mcp = McpServer(stack, root, file_roots=[str(docs)], wait_poll_seconds=0.2).start()
    yield mcp
    mcp.stop()


def ok(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def _wait(s: ClientSession, job_id: str) -> dict[str, Any]:
    job = ok(await s.call_tool("wait_for_job", {"job_id": job_id, "timeout_seconds": 120}))
    assert job["done"] and job["status"] == "succeeded", job
    return job


async def test_ingest_doc_then_wait_with_progress_then_find_and_query(server: McpServer) -> None:
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    framing: list[tuple[str, str]] = []
    async with session(server.url, server.token, framing=framing) as s:
        accepted = ok(
            await s.call_tool(
                "ingest_doc",
                {
                    "text": f"Corvath notes.\n\n{FACT} It was cast in 1887.",
                    "title": "Corvath notes",
                    "source": "mcp-e2e/corvath",
                    "metadata": {"topic": "astronomy"},
                },
            )
        )
        assert accepted["status"] == "queued" and accepted["kind"] == "text"
        assert accepted["track_url"].endswith(f"/jobs/{accepted['job_id']}")
        job = ok(
            await s.call_tool(
                "wait_for_job",
                {"job_id": accepted["job_id"], "timeout_seconds": 120},
                progress_callback=on_progress,
            )
        )
        assert job["done"] and job["status"] == "succeeded", job
        assert reports, "no progress notification arrived"
        values = [p[0] for p in reports]
        assert values == sorted(set(values)), f"progress must increase: {values}"
        assert reports[-1][:2] == (100.0, 100.0) and "succeeded" in (reports[-1][2] or "")

        status = ok(await s.call_tool("get_job_status", {"job_id": accepted["job_id"]}))
        assert status["status"] == "succeeded" and status["result"]["chunks"] >= 1

        found = ok(
            await s.call_tool(
                "qdrant_find",
                {"query": QUESTION, "limit": 3, "filters": {"metadata.topic": "astronomy"}},
            )
        )
        top = found["results"][0]
        assert "2741" in top["text"] and top["title"] == "Corvath notes"
        assert top["metadata"] == {"topic": "astronomy"}

        answer = ok(await s.call_tool("lightrag_query", {"query": QUESTION, "mode": "hybrid"}))
        assert "2741" in answer["response"], answer

        # asked with a progressToken, the answer's text arrives piece by piece first
        pieces: list[tuple[float, str | None]] = []

        async def on_piece(progress: float, total: float | None, message: str | None) -> None:
            pieces.append((progress, message))

        streamed = ok(
            await s.call_tool(
                "lightrag_query",
                {"query": f"{QUESTION} In kilograms?", "mode": "hybrid"},
                progress_callback=on_piece,
            )
        )
        text = "".join(m or "" for _unused, m in pieces)
        assert len(pieces) >= 2 and text == streamed["response"]
        positions = [p for p, _unused in pieces]
        assert positions == sorted(set(positions))  # strictly growing
        assert any(u["role"] == "query" for u in streamed["usage"]), streamed
    # The calls that send nothing but their result are answered application/json; the ones
    # that report progress are streamed (docs/mcp.md, "Answer framing").
    calls = [media for method, media in framing if method == "tools/call"]
    assert calls == [JSON, SSE, JSON, JSON, JSON, SSE], framing


async def test_cancelling_a_streamed_lightrag_query_stops_the_model(
    stack: KeyedStack, server: McpServer
) -> None:
    seen = {g["id"] for g in generations(stack.ollama_url)}
    pieces: list[str | None] = []

    async def on_piece(progress: float, total: float | None, message: str | None) -> None:
        pieces.append(message)

    async with session(server.url, server.token) as s:
        asking = asyncio.create_task(
            s.call_tool(
                "lightrag_query",
                {"query": f"{QUESTION} ({uuid.uuid4().hex[:8]})", "model": SLOW},
                progress_callback=on_piece,
            )
        )
        await eventually(lambda: bool(pieces), 60, "the first piece of the answer")
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking

    # MCP cancellation -> the tool's stream to the orchestrator closes -> the orchestrator's
    # to shield-lightrag -> shield-lightrag's to Ollama: the model stops between two pieces
    def ended() -> dict[str, Any] | None:
        fresh = [
            g
            for g in generations(stack.ollama_url)
            if g["id"] not in seen and g["model"] == SLOW and g["stream"]
        ]
        return fresh[0] if fresh and (fresh[0]["aborted"] or fresh[0]["finished"]) else None

    record = await eventually(ended, 30, "the slow model's generation to end")
    assert record["aborted"] and record["chunks_sent"] < record["chunks_total"], record


async def test_crawl_web_ingests_a_local_site(server: McpServer, site: SiteServer) -> None:
    async with session(server.url, server.token) as s:
        accepted = ok(
            await s.call_tool(
                "crawl_web",
                {"url": f"{site.url}/", "max_pages": 3, "max_depth": 1, "metadata": {"s": "c"}},
            )
        )
        assert accepted["kind"] == "url"
        job = await _wait(s, accepted["job_id"])
        assert job["result"]["pages"] >= 2, job
        found = ok(
            await s.call_tool(
                "qdrant_find",
                {
                    "query": "Zorblax reactor temperature in kelvin",
                    "filters": {"job_id": accepted["job_id"]},
                },
            )
        )
        assert "451 kelvin" in found["results"][0]["text"]
    assert "/private/secret.html" not in site.hits


async def test_ingest_doc_takes_inline_pdf_and_a_file_under_file_roots(
    server: McpServer, docs: Path
) -> None:
    pdf_fact = "The Marrowgate ferry carries 340 bicycles on each crossing."
    md_fact = "The Ulmsted glasshouse grows 58 kinds of lemon."
    (docs / "ulmsted.md").write_text(f"# Ulmsted\n\n{md_fact}\n")
    async with session(server.url, server.token) as s:
        pdf = ok(
            await s.call_tool(
                "ingest_doc",
                {
                    "content_base64": base64.b64encode(make_pdf(pdf_fact)).decode(),
                    "filename": "marrowgate.pdf",
                },
            )
        )
        md = ok(await s.call_tool("ingest_doc", {"file_path": str(docs / "ulmsted.md")}))
        assert pdf["kind"] == md["kind"] == "document"
        for job_id, query, fact in [
            (pdf["job_id"], "Marrowgate ferry bicycles", "340 bicycles"),
            (md["job_id"], "Ulmsted glasshouse lemon kinds", "58 kinds of lemon"),
        ]:
            await _wait(s, job_id)
            found = ok(
                await s.call_tool("qdrant_find", {"query": query, "filters": {"job_id": job_id}})
            )
            assert fact in found["results"][0]["text"], found
        outside = await s.call_tool("ingest_doc", {"file_path": str(docs.parent / "shield.yml")})
        assert outside.is_error and "must be inside one of" in text_of(outside)


async def test_qdrant_store_single_and_batch_are_found_at_once(server: McpServer) -> None:
    batch = uuid.uuid4().hex[:8]
    async with session(server.url, server.token) as s:
        stored = ok(
            await s.call_tool(
                "qdrant_store",
                {
                    "items": [
                        {"text": "Glimmerstone is a violet quartz.", "metadata": {"b": batch}},
                        {"text": "The Pellucid mine closed in 1931.", "metadata": {"b": batch}},
                    ]
                },
            )
        )
        assert stored["count"] == 2 and len(set(stored["ids"])) == 2
        single = ok(
            await s.call_tool(
                "qdrant_store",
                {"text": "The Tessellate bridge has 11 arches.", "source": f"note-{batch}"},
            )
        )
        assert single["count"] == 1
        found = ok(
            await s.call_tool(
                "qdrant_find",
                {"query": "violet quartz", "limit": 5, "filters": {"metadata.b": batch}},
            )
        )
        assert [r["metadata"]["b"] for r in found["results"]] == [batch, batch]
        assert "Glimmerstone" in found["results"][0]["text"]
        again = ok(
            await s.call_tool(
                "qdrant_find",
                {"query": "Tessellate bridge arches", "filters": {"source": f"note-{batch}"}},
            )
        )
        assert again["results"][0]["id"] == single["ids"][0]


async def test_orchestrator_4xx_answers_reach_the_agent_and_do_not_trip_the_breaker(
    server: McpServer,
) -> None:
    before = server.metric("tool_calls_total", {"tool": "crawl_web", "status": "error"})
    async with session(server.url, server.token) as s:
        for _unused in range(6):
            refused = await s.call_tool("crawl_web", {"url": "http://10.1.2.3/"})
            assert refused.is_error
            assert "rejected the request (422): url:" in text_of(refused), text_of(refused)
        missing = await s.call_tool("get_job_status", {"job_id": "0" * 32})
        assert "rejected the request (404)" in text_of(missing)
    assert server.breaker_state() == 0
    assert server.metric("tool_calls_total", {"tool": "crawl_web", "status": "error"}) == before + 6


def test_http_without_the_token_gets_401(server: McpServer) -> None:
    body = initialize_request("t")
    headers = {"Accept": ACCEPT}
    for auth in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
        r = httpx.post(server.url, json=body, headers={**headers, **auth}, timeout=5)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith("Bearer")
    good = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(server.url, json=body, headers={**headers, **good}, timeout=5)
    assert r.status_code == 200, r.text


async def test_sdk_client_without_the_token_is_refused_with_401(server: McpServer) -> None:
    statuses: list[int] = []
    with pytest.raises(ExceptionGroup) as info:
        async with session(server.url, None, statuses) as s:
            await s.call_tool("qdrant_find", {"query": "x"})
    assert info.group_contains(MCPError)
    assert statuses == [401]


async def test_stdio_transport(server: McpServer, root: Path) -> None:
    params = StdioServerParameters(
        command=PYTHON,
        args=["-m", "shield_rag.mcp.main", "--config", str(server.stdio_config())],
        env=ENV,
    )
    marker = uuid.uuid4().hex[:8]
    with (root / "logs" / "mcp-stdio.log").open("a") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                names = {t.name for t in (await s.list_tools()).tools}
                assert {"crawl_web", "wait_for_job", "lightrag_query"} <= names
                ok(await s.call_tool("qdrant_store", {"text": f"Stdio marker {marker} works."}))
                found = ok(await s.call_tool("qdrant_find", {"query": f"Stdio marker {marker}"}))
                assert marker in found["results"][0]["text"]


async def test_100_concurrent_clients_complete_without_errors(server: McpServer) -> None:
    labels = {"tool": "qdrant_find", "status": "success"}
    before = server.metric("tool_calls_total", labels)

    async def one(i: int) -> CallToolResult:
        async with session(server.url, server.token) as s:
            return await s.call_tool("qdrant_find", {"query": f"Zorblax reactor {i}", "limit": 1})

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(100)))
    elapsed = time.perf_counter() - started
    errors = [text_of(r) for r in results if r.is_error]
    assert errors == []
    assert server.metric("tool_calls_total", labels) == before + 100
    print(f"\n100 concurrent MCP clients (session + 1 call each): {elapsed:.1f}s")
