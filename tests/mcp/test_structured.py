"""Tools that answer with an orchestrator model (qdrant_find, qdrant_store, lightrag_query)
build their result themselves (``structured``): the same output schema, text block and
structured content FastMCP makes of a tool returning the model, and the orchestrator's
answer read into the model in one pass (``OrchestratorClient.parsed``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastmcp import Client, FastMCP
from fastmcp.tools.function_tool import FunctionTool
from pydantic import BaseModel, ValidationError

from shield_rag.mcp.models import LightRAGResult, SearchResult, StoreResult
from shield_rag.mcp.orchestrator import NEEDS_VECTORS, OrchestratorError
from shield_rag.mcp.server import create_server
from shield_rag.mcp.tools.common import output_schema, structured
from shield_rag.settings import Settings

BASE = {
    "redis": {"url": "redis://127.0.0.1:1/0"},
    "qdrant": {"url": "http://127.0.0.1:1"},
    "ollama": {"url": "http://127.0.0.1:1"},
}
HIT = {
    "id": "p-1",
    "score": 0.8312345678901234,
    "text": 'Élan — 海港, a "quoted" line\nand a tab\t.',
    "source": "https://example.org/a?b=1",
    "title": None,
    "doc_id": "d1",
    "chunk_index": 0,
    "metadata": {"tags": ["x", 1, 2.5, True, None], "nested": {"k": "v"}},
}
ANSWERS: list[BaseModel] = [
    SearchResult.model_validate({"results": [HIT, {**HIT, "id": "p-2"}], "limit": 5, "offset": 0}),
    SearchResult.model_validate({"results": [], "limit": 10, "offset": 20}),
    StoreResult.model_validate({"ids": ["a", "b"], "count": 2}),
    LightRAGResult.model_validate({"response": "Yes — per §3.", "mode": "hybrid"}),
]


def _fastmcp_tool(model: type[BaseModel]) -> FunctionTool:
    """A tool annotated to return ``model``: what FastMCP makes of it on its own."""

    def tool() -> None: ...

    tool.__annotations__ = {"return": model}
    return FunctionTool.from_function(tool, name="t")


@pytest.mark.parametrize("model", [SearchResult, StoreResult, LightRAGResult])
def test_output_schema_is_the_one_fastmcp_derives(model: type[BaseModel]) -> None:
    schema = output_schema(model)
    assert schema is not None and schema["type"] == "object"
    assert schema == _fastmcp_tool(model).output_schema


@pytest.mark.parametrize("answer", ANSWERS, ids=lambda a: type(a).__name__)
def test_result_is_the_one_fastmcp_makes(answer: BaseModel) -> None:
    ours = structured(answer)
    theirs = _fastmcp_tool(type(answer)).convert_result(answer)
    assert ours.content == theirs.content
    assert ours.structured_content == theirs.structured_content
    assert ours.to_mcp_result() == theirs.to_mcp_result()


async def _published(server: FastMCP) -> dict[str, Any]:
    async with Client(server) as client:
        return {t.name: t.output_schema for t in await client.list_tools()}


async def test_published_tools_keep_their_output_schemas() -> None:
    """tools/list shows the schemas a server with model-annotated tools shows (FastMCP
    dereferences them on the way out)."""
    settings = Settings(**BASE, mcp={})  # type: ignore[arg-type]
    shield = create_server(settings, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    ours = await _published(shield.server)
    for name, model in [
        ("qdrant_find", SearchResult),
        ("qdrant_store", StoreResult),
        ("lightrag_query", LightRAGResult),
    ]:
        plain = FastMCP("plain")
        plain.add_tool(_fastmcp_tool(model))
        theirs = await _published(plain)
        assert ours[name] is not None
        assert ours[name] == theirs["t"], name


async def _parsed(body: bytes) -> Any:
    settings = Settings(**BASE, mcp={})  # type: ignore[arg-type]
    answer = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    client = create_server(settings, transport=httpx.MockTransport(lambda r: answer)).orchestrator
    client.start()
    try:
        return await client.parsed(SearchResult, "POST", "/search", NEEDS_VECTORS, json={})
    finally:
        await client.aclose()


async def test_parsed_reads_the_answer_into_the_model() -> None:
    answer = await _parsed(b'{"results": [], "limit": 3, "offset": 0}')
    assert answer == SearchResult(results=[], limit=3, offset=0)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"text"', b""])
async def test_an_answer_that_is_no_json_object_is_an_orchestrator_error(body: bytes) -> None:
    with pytest.raises(OrchestratorError, match="unexpected answer"):
        await _parsed(body)


async def test_an_object_that_does_not_fit_the_model_fails_validation() -> None:
    with pytest.raises(ValidationError, match="limit"):
        await _parsed(b'{"results": [], "offset": 0}')
