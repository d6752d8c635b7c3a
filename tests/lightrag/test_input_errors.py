"""LightRAG's input errors are the caller's mistake: shield-lightrag answers 422, in process."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from lightrag.query_validation import EmptyQueryError, RAGQueryTooShortError
from pydantic import ValidationError

from shield_rag.lightrag_service.app import QueryRequest, run


async def _raise(exc: Exception) -> str:
    raise exc


@pytest.mark.parametrize(
    "exc",
    [RAGQueryTooShortError("RAG query is too short."), EmptyQueryError("Query must not be empty.")],
)
async def test_lightrag_query_validation_errors_become_422(exc: Exception) -> None:
    with pytest.raises(HTTPException) as err:
        await run("query", _raise(exc))
    assert err.value.status_code == 422
    assert str(exc) in str(err.value.detail)


async def test_other_engine_errors_stay_500() -> None:
    with pytest.raises(HTTPException) as err:
        await run("query", _raise(RuntimeError("graph broken")))
    assert err.value.status_code == 500


@pytest.mark.parametrize("query", ["ab", "  x  ", "\u5b57", "a\u5b57"[:1]])
def test_short_queries_are_refused_before_lightrag_is_called(query: str) -> None:
    with pytest.raises(ValidationError, match="RAG query is too short"):
        QueryRequest(query=query, mode="hybrid")


def test_bypass_mode_is_exempt_from_the_minimum_like_in_lightrag() -> None:
    assert QueryRequest(query="hi", mode="bypass").query == "hi"
    assert QueryRequest(query="abc").query == "abc"
    assert QueryRequest(query="\u5b57\u5b57").query == "\u5b57\u5b57"
