"""Tools that answer with an orchestrator model (qdrant_find, qdrant_store, lightrag_query)
build their result themselves (``structured``): the output schema FastMCP derives (its
optional fields written as type lists, which pass the same instances), the text block and
structured content FastMCP makes of a tool returning the model, and the orchestrator's
answer read into the model in one pass (``OrchestratorClient.parsed``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastmcp import Client, FastMCP
from fastmcp.tools.function_tool import FunctionTool
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError

from shield_rag.mcp.calls import NEEDS_VECTORS
from shield_rag.mcp.models import LightRAGResult, SearchResult, StoreResult
from shield_rag.mcp.orchestrator import OrchestratorError
from shield_rag.mcp.server import create_server
from shield_rag.mcp.tools.common import output_schema, structured, type_lists
from shield_rag.settings import Settings
from tests.mcp.memory import BASE

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
    assert schema == type_lists(_fastmcp_tool(model).output_schema)


def test_optional_fields_are_type_lists() -> None:
    hit = output_schema(SearchResult)["$defs"]["SearchHit"]["properties"]  # type: ignore[index]
    assert hit["title"] == {"type": ["string", "null"], "default": None}
    assert hit["chunk_index"] == {"type": ["integer", "null"], "default": None}
    assert hit["score"] == {"type": "number"}


# Hits that fit SearchHit and hits that do not, each field's type tried.
SAMPLES = [
    {**HIT, "title": "t", "chunk_index": None},
    {**HIT, "source": None, "doc_id": None},
    *({**HIT, field: bad} for field in ("title", "source", "doc_id") for bad in (3, [], {})),
    *({**HIT, "chunk_index": bad} for bad in (1.5, "1", True)),
    {**HIT, "score": None},
    {k: v for k, v in HIT.items() if k != "text"},
]


@pytest.mark.parametrize("hit", SAMPLES)
def test_type_lists_accept_and_refuse_what_fastmcp_s_schema_does(hit: dict[str, Any]) -> None:
    answer = {"results": [hit], "limit": 5, "offset": 0}
    theirs = _fastmcp_tool(SearchResult).output_schema
    verdicts = {
        name: Draft202012Validator(schema).is_valid(answer)
        for name, schema in (("theirs", theirs), ("ours", output_schema(SearchResult)))
    }
    assert verdicts["ours"] == verdicts["theirs"], verdicts


def test_type_lists_leave_other_unions_and_data_alone() -> None:
    schema = {
        "anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}],
        "default": {"anyOf": [{"type": "string"}]},
        "properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
    }
    assert type_lists(schema) == {
        **schema,
        "properties": {"a": {"type": ["integer", "null"]}},
    }


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
    dereferences them on the way out), optional fields as type lists."""
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
        assert ours[name] == type_lists(theirs["t"]), name


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
