"""``lightrag_query`` with a progressToken, in memory against a scripted orchestrator: the
answer's pieces as progress notifications, the same result as without streaming, the fallbacks
to the plain call, and an error sent after the stream started. (fastmcp's ``Client`` sends a
progressToken with every call; a call without one is in test_e2e.py, through the MCP SDK
client.)

The real path (orchestrator, shield-lightrag, the Ollama stand-in) and cancellation through
MCP are in test_e2e.py too."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from shield_rag.mcp.models import LightRAGResult
from shield_rag.mcp.server import ShieldMcp
from tests.mcp.memory import memory_server

PIECES = ["The ferry ", "leaves at ", "22:15."]
ANSWER = {
    "response": "".join(PIECES),
    "mode": "hybrid",
    "client": "mcp:test",
    "routing": {"tier": None, "model": "qwen2.5:0.5b", "reason": "default", "fallbacks": []},
    "usage": [
        {
            "model": "qwen2.5:0.5b",
            "role": "query",
            "prompt_tokens": 40,
            "completion_tokens": 6,
            "compute_seconds": 0.1,
            "calls": 1,
        }
    ],
}

RESULT = LightRAGResult.model_validate(ANSWER).model_dump(mode="json")


def sse(*events: tuple[str, dict[str, Any]]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


class Orchestrator:
    """``/lightrag/query`` and its stream; ``stream`` replaces the stream's answer."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.stream: httpx.Response | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/features":
            return httpx.Response(200, json={"features": []})
        self.paths.append(path)
        if path == "/lightrag/query":
            return httpx.Response(200, json=ANSWER)
        if path == "/lightrag/query/stream":
            if self.stream is not None:
                return self.stream
            deltas = [("delta", {"text": piece}) for piece in PIECES]
            return httpx.Response(
                200,
                content=sse(*deltas, ("done", ANSWER)),
                headers={"content-type": "text/event-stream"},
            )
        return httpx.Response(404, json={"detail": "Not Found"})


@pytest.fixture
def orchestrator() -> Orchestrator:
    return Orchestrator()


@pytest.fixture
def make(orchestrator: Orchestrator) -> Callable[..., ShieldMcp]:
    def build(**features: Any) -> ShieldMcp:
        return memory_server(orchestrator, features=features)

    return build


Progress = list[tuple[float, float | None, str | None]]


async def ask(shield: ShieldMcp, progress: Progress | None) -> Any:
    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        assert progress is not None
        progress.append((value, total, message))

    async with Client(shield.server) as client:
        return await client.call_tool(
            "lightrag_query",
            {"query": "When does the ferry leave?"},
            progress_handler=on_progress if progress is not None else None,
        )


async def test_with_a_progress_token_the_pieces_arrive_as_progress_then_the_result(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    progress: Progress = []
    result = await ask(make(), progress)
    assert orchestrator.paths == ["/lightrag/query/stream"]
    assert [message for _unused, _unused, message in progress] == PIECES
    assert [value for value, _unused, _unused in progress] == [10, 20, 26]  # characters so far
    assert all(total is None for _unused, total, _unused in progress)
    assert result.structured_content == RESULT


async def test_streaming_off_in_the_inventory_asks_with_one_plain_call(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    progress: Progress = []
    result = await ask(make(streaming=False), progress)
    assert orchestrator.paths == ["/lightrag/query"] and not progress
    assert result.structured_content == RESULT


async def test_streaming_turned_off_at_the_orchestrator_falls_back_to_the_plain_call(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    orchestrator.stream = httpx.Response(
        501,
        json={
            "status": 501,
            "code": "feature_disabled",
            "detail": "streaming is turned off (features.streaming)",
        },
    )
    progress: Progress = []
    result = await ask(make(), progress)
    assert orchestrator.paths == ["/lightrag/query/stream", "/lightrag/query"]
    assert result.structured_content == RESULT and not progress


async def test_a_failure_after_the_first_piece_is_a_tool_error_naming_lightrag(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    error = {
        "status": 503,
        "code": "dependency_unavailable",
        "detail": "LightRAG failed while answering: model failed mid-answer",
        "dependency": "lightrag",
    }
    orchestrator.stream = httpx.Response(
        200,
        content=sse(("delta", {"text": "The"}), ("error", error)),
        headers={"content-type": "text/event-stream"},
    )
    shield = make()
    progress: Progress = []
    with pytest.raises(ToolError) as err:
        await ask(shield, progress)
    assert "lightrag" in str(err.value) and "model failed mid-answer" in str(err.value)
    assert [message for _unused, _unused, message in progress] == ["The"]
    assert shield.breakers["lightrag"].failure_count == 1
    assert orchestrator.paths == ["/lightrag/query/stream"]  # no second call


async def test_a_stream_cut_before_its_result_is_the_orchestrator_failing(
    make: Callable[..., ShieldMcp], orchestrator: Orchestrator
) -> None:
    orchestrator.stream = httpx.Response(
        200, content=sse(("delta", {"text": "The"})), headers={"content-type": "text/event-stream"}
    )
    shield = make()
    with pytest.raises(ToolError) as err:
        await ask(shield, [])
    assert "ended without its result" in str(err.value)
    assert shield.breaker.failure_count == 1
