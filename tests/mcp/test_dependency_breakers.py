"""Breakers per dependency against the real stack, through the official MCP SDK client.

The data plane runs as processes (Redis, the Qdrant and Ollama stand-ins, the real
shield-lightrag, the orchestrator, one worker) and shield-mcp in front. LightRAG is reached
through a fault-injecting HTTP proxy (tests.mcp.proxies.FaultyHttpProxy), so a test can make
it refuse connections, answer 500, or hang past the orchestrator's LightRAG timeout.

1. No sequence of client inputs opens any breaker, in the MCP server or the orchestrator:
   every kind of bad input, repeated past the thresholds, then valid calls still work.
2. A failing LightRAG (down, 500, slow) leaves qdrant_find, qdrant_store, ingestion with
   graph=false and the job tools working, while lightrag_query fails fast naming lightrag.
3. A request over the MCP transport's size limit gets an answer the SDK client shows with
   its reason.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import MCPError
from mcp.client.session import ClientSession

from shield_rag.mcp.http import MAX_REQUEST_BODY_BYTES
from tests.integration.stack import metric_value
from tests.mcp.proxies import FaultyHttpProxy
from tests.mcp.server import KeyedStack, McpServer
from tests.support.mcp import ACCEPT, session, text_of
from tests.support.wait import eventually

pytestmark = pytest.mark.integration
MCP_THRESHOLD = 3
ORCH_THRESHOLD = 2
RESET = 3.0
LIGHTRAG_TIMEOUT = 1.5
DEPENDENCIES = ("redis", "qdrant", "ollama", "lightrag")


class FaultyLightRAGStack(KeyedStack):
    """The keyed stack whose orchestrator and workers reach LightRAG through a proxy, with a
    short LightRAG timeout and low breaker thresholds."""

    def __init__(self, root: Path, **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.proxy = FaultyHttpProxy(f"http://127.0.0.1:{self.lightrag_port}")

    def settings_dict(self) -> dict[str, Any]:
        data = super().settings_dict()
        data["lightrag"]["url"] = self.proxy.url
        data["lightrag"]["timeout"] = LIGHTRAG_TIMEOUT
        data["orchestrator"]["breaker_failure_threshold"] = ORCH_THRESHOLD
        data["orchestrator"]["breaker_reset_seconds"] = RESET
        return data

    def start(self) -> FaultyLightRAGStack:
        self.proxy.up()
        super().start()
        return self

    def stop(self) -> None:
        self.proxy.down()
        super().stop()


@pytest.fixture(scope="module")
def stack_options() -> dict[str, Any]:
    return {"kind": FaultyLightRAGStack, "workers": 1, "lightrag": True}


@pytest.fixture(scope="module")
def server(stack: FaultyLightRAGStack, root: Path) -> Iterator[McpServer]:
    mcp = McpServer(
        stack,
        root,
        request_timeout=20.0,
        breaker_failure_threshold=MCP_THRESHOLD,
        breaker_reset_seconds=RESET,
        wait_poll_seconds=0.2,
    ).start()
    yield mcp
    mcp.stop()


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    return result.structured_content


def orchestrator_breakers(stack: KeyedStack) -> dict[str, float | None]:
    text = stack.metrics(stack.orch_metrics_port)
    return {
        t: metric_value(text, "circuit_breaker_state", {"target": t})
        for t in ("qdrant", "ollama", "lightrag")
    }


def orchestrator_trips(stack: KeyedStack) -> float:
    text = stack.metrics(stack.orch_metrics_port)
    return sum(
        metric_value(text, "circuit_breaker_transitions_total", {"target": t, "to_state": "open"})
        or 0.0
        for t in ("qdrant", "ollama", "lightrag")
    )


def mcp_breakers(server: McpServer) -> dict[str, str]:
    return {t: v["state"] for t, v in server.healthz()["breakers"].items()}


async def valid_calls_work(s: ClientSession) -> None:
    ok(await s.call_tool("qdrant_find", {"query": "bronze telescope"}))
    ok(await s.call_tool("lightrag_query", {"query": "What is stored here?", "mode": "naive"}))
    # Two CJK characters weigh 4 of LightRAG's 3: asked, not refused.
    ok(await s.call_tool("lightrag_query", {"query": "\u679c\u56ed", "mode": "naive"}))


# -- 1. no input opens a breaker --------------------------------------------------------------
MCP_INPUTS: list[tuple[str, dict[str, Any]]] = [
    ("lightrag_query", {"query": "ab"}),  # shorter than LightRAG's minimum
    ("lightrag_query", {"query": "\u5b57"}),  # one CJK character weighs 2 of 3
    ("lightrag_query", {"query": "x" * 9000}),
    ("lightrag_query", {"query": "a question", "mode": "sideways"}),
    ("lightrag_query", {"query": "a question", "top_k": 100000}),
    ("qdrant_find", {"query": "x", "limit": 100000}),
    ("qdrant_find", {"query": 12345}),
    ("qdrant_find", {"query": "x", "filters": {"chunk_index": {"gte": "two"}}}),
    ("qdrant_find", {"query": "x", "filters": {"doc_id": []}}),
    ("qdrant_find", {"query": "x", "filters": {"chunk_index": {"near": 3}}}),
    ("qdrant_find", {"query": "x", "filters": {"": "empty key"}}),
    ("qdrant_find", {"query": "x", "offset": 10**9}),
    ("qdrant_store", {"text": "x" * 100_001}),
    ("qdrant_store", {"items": [{"text": "a", "surprise": True}]}),
    ("get_job_status", {"job_id": "0" * 32}),
    ("get_job_status", {"job_id": "../../etc/passwd"}),
    ("wait_for_job", {"job_id": "f" * 32, "timeout_seconds": 1}),
    ("crawl_web", {"url": "http://10.1.2.3/"}),
    ("crawl_web", {"url": "file:///etc/passwd"}),
    ("ingest_doc", {"url": "http://127.0.0.1:1/nothing-listens-here"}),
    ("ingest_doc", {"content_base64": "bm90IGEgZG9jdW1lbnQ=", "filename": "x.exe"}),
    ("ingest_doc", {"text": "   "}),
    ("ingest_doc", {"text": "\x00\x1b\x7f"}),
    ("qdrant_find", {"query": "\x00\x1b\x7f"}),
    ("qdrant_store", {"text": "\x07\ufeff"}),
    ("lightrag_query", {"query": "\x01ab\x02"}),
]
ORCHESTRATOR_INPUTS: list[tuple[str, str, Any]] = [
    ("POST", "/lightrag/query", {"query": "ab"}),
    ("POST", "/lightrag/query", {"query": "  \u5b57 "}),
    ("POST", "/lightrag/query", {"query": "\x00\x1b\x7f "}),
    ("POST", "/lightrag/query", {"query": "abc", "mode": "bypass"}),
    ("POST", "/lightrag/query", {"query": ["not", "a", "string"]}),
    ("POST", "/search", {"query": "x", "limit": 10**6}),
    ("POST", "/search", {"query": "x", "filters": {"doc_id": []}}),
    ("POST", "/search", {"query": "x", "filters": {"chunk_index": {"gte": "two"}}}),
    ("POST", "/search", {"query": "x", "filters": {"source": {"gte": 1}}}),
    ("POST", "/search", {"query": "x", "filters": {"k" * 200: 1}}),
    ("POST", "/search", {"query": 7}),
    ("POST", "/vectors", {"text": ""}),
    ("POST", "/vectors", {"items": [{"text": "x" * 100_001}]}),
    ("POST", "/ingest-async", {"type": "text", "text": "x", "graph": "perhaps"}),
    ("POST", "/ingest-async", "{not json"),
    ("GET", "/jobs/" + "0" * 32, None),
    ("GET", "/jobs/not-a-job", None),
    ("DELETE", "/jobs/" + "0" * 32, None),
]


async def test_no_sequence_of_client_inputs_opens_any_breaker(
    stack: FaultyLightRAGStack, server: McpServer
) -> None:
    trips = orchestrator_trips(stack)
    lightrag_queries = stack.proxy.count("/query")
    async with session(server.url, server.token) as s:
        for tool, args in MCP_INPUTS:
            for _unused in range(MCP_THRESHOLD + 2):
                result = await s.call_tool(tool, args)
                text = text_of(result)
                # a refusal (or, for a bad filter a store accepts, an empty answer)
                assert "unavailable" not in text.lower(), f"{tool}({args}): {text}"
        with stack.http() as http:
            for method, path, body in ORCHESTRATOR_INPUTS:
                for _unused in range(ORCH_THRESHOLD + 2):
                    if isinstance(body, str):
                        kwargs: dict[str, Any] = {
                            "content": body,
                            "headers": {"content-type": "application/json"},
                        }
                    else:
                        kwargs = {"json": body} if body is not None else {}
                    r = http.request(method, path, **kwargs)
                    assert r.status_code < 500, f"{method} {path} {body!r}: {r.text}"
                    if path == "/lightrag/query":
                        assert r.status_code == 422, r.text
        # Every bad LightRAG query was refused before LightRAG was called.
        assert stack.proxy.count("/query") == lightrag_queries
        assert set(mcp_breakers(server).values()) == {"closed"}
        assert all(v["consecutive_failures"] == 0 for v in server.healthz()["breakers"].values())
        assert set(orchestrator_breakers(stack).values()) <= {0.0}
        assert orchestrator_trips(stack) == trips
        await valid_calls_work(s)


# -- 2. a failing LightRAG stops only lightrag_query -----------------------------------------
async def _others_work(s: ClientSession, tag: str) -> None:
    note = f"Note {tag}: the quarry at Helmsby closed in 1911."
    stored = ok(await s.call_tool("qdrant_store", {"text": note, "source": f"note-{tag}"}))
    found = ok(await s.call_tool("qdrant_find", {"query": "quarry at Helmsby", "limit": 20}))
    assert stored["ids"][0] in [hit["id"] for hit in found["results"]]
    accepted = ok(
        await s.call_tool(
            "ingest_doc",
            {"text": f"Document {tag}: the Helmsby quarry sold granite.", "graph": False},
        )
    )
    job = ok(await s.call_tool("get_job_status", {"job_id": accepted["job_id"]}))
    assert job["job_id"] == accepted["job_id"]
    done = ok(
        await s.call_tool("wait_for_job", {"job_id": accepted["job_id"], "timeout_seconds": 60})
    )
    assert done["status"] == "succeeded", done
    assert done["result"]["graph"] == "skipped"


async def _recovered(s: ClientSession, server: McpServer) -> None:
    """Poll (bounded) until lightrag_query answers again: the breakers' probes close them."""

    async def answers() -> bool:
        result = await s.call_tool("lightrag_query", {"query": "What is stored here?"})
        if result.is_error:
            raise AssertionError(f"lightrag_query did not recover: {text_of(result)}")
        return True

    await eventually(answers, RESET * 4 + 60, "lightrag_query to answer again", interval=0.5)
    assert mcp_breakers(server)["lightrag"] == "closed"


@pytest.mark.parametrize("fault", ["down", "error", "slow"])
async def test_failing_lightrag_leaves_everything_else_working(
    stack: FaultyLightRAGStack, server: McpServer, fault: str
) -> None:
    proxy = stack.proxy
    async with session(server.url, server.token) as s:
        await _recovered(s, server)
        if fault == "down":
            proxy.down()
        else:
            proxy.set_mode(fault)
        try:
            sent = proxy.count("/query")
            for i in range(MCP_THRESHOLD):
                result = await s.call_tool("lightrag_query", {"query": "What is stored here?"})
                text = text_of(result)
                assert result.is_error and "dependency=lightrag" in text, text
                assert "retry_after=" in text
                if i < ORCH_THRESHOLD and fault == "slow":
                    assert "code=dependency_timeout" in text, text
            # The orchestrator's breaker stopped calling LightRAG after its threshold.
            assert proxy.count("/query") - sent <= ORCH_THRESHOLD
            assert orchestrator_breakers(stack)["lightrag"] == 2.0
            # The MCP server's lightrag breaker is open: fail fast, nothing sent.
            assert mcp_breakers(server) == {
                "orchestrator": "closed",
                "redis": "closed",
                "qdrant": "closed",
                "ollama": "closed",
                "lightrag": "open",
            }
            result = await s.call_tool("lightrag_query", {"query": "What is stored here?"})
            text = text_of(result)
            assert result.is_error and "Dependency lightrag unavailable" in text, text
            assert "no request was sent" in text and "code=circuit_open" in text

            await _others_work(s, fault)
            assert orchestrator_breakers(stack)["qdrant"] == 0.0
            assert orchestrator_breakers(stack)["ollama"] == 0.0
            assert mcp_breakers(server)["orchestrator"] == "closed"
        finally:
            proxy.set_mode("pass")
            proxy.release()
            if fault == "down":
                proxy.up()
        await _recovered(s, server)


# -- 3. oversized MCP requests say why ---------------------------------------------------------
async def test_oversized_request_is_refused_with_its_reason(server: McpServer) -> None:
    blob = base64.b64encode(b"x" * (MAX_REQUEST_BODY_BYTES + 1024)).decode()
    async with session(server.url, server.token) as s:
        with pytest.raises(MCPError) as err:
            await s.call_tool("ingest_doc", {"content_base64": blob, "filename": "big.txt"})
        message = str(err.value)
        assert "Request body too large" in message, message
        assert str(MAX_REQUEST_BODY_BYTES) in message
        # the session is still usable afterwards
        ok(await s.call_tool("qdrant_find", {"query": "anything"}))


def test_oversized_request_answer_is_a_json_rpc_error(server: McpServer) -> None:
    r = httpx.post(
        server.url,
        content=b"{" + b" " * (MAX_REQUEST_BODY_BYTES + 10) + b"}",
        headers={
            "Authorization": f"Bearer {server.token}",
            "content-type": "application/json",
            "accept": ACCEPT,
        },
        timeout=30,
    )
    assert r.status_code == 413
    body = r.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["data"]["max_request_body_bytes"] == MAX_REQUEST_BODY_BYTES
