"""One meaning of "blank" for the API's texts and queries: nothing but whitespace and control
characters, the same in the OpenAPI document's patterns (read by clients and fuzzers as ECMA
regexes) and in the server's checks (Python)."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest
from pydantic import ValidationError

from shield_rag.api.fields import is_blank
from shield_rag.api.jobs import TextIngest
from shield_rag.api.query import LightRAGQuery
from shield_rag.api.search import SearchRequest

# The characters both dialects' \s name (Unicode Zs, line and paragraph separators, and some
# controls; ECMA adds U+FEFF), with every control character (Cc).
BLANK_CATEGORIES = {"Cc", "Zs", "Zl", "Zp"}


def test_blank_is_whitespace_and_control_characters_whatever_the_regex_dialect() -> None:
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        expected = unicodedata.category(c) in BLANK_CATEGORIES or c == "\ufeff"
        assert is_blank(c) is expected, f"U+{cp:04X}"


@pytest.mark.parametrize("text", ["\x00", "\x07\x1b\x7f", " \x85\ufeff\u3000\x1c", "\t\u2028"])
def test_every_field_refuses_a_blank_string(text: str) -> None:
    with pytest.raises(ValidationError, match="blank"):
        SearchRequest.model_validate({"query": text})
    with pytest.raises(ValidationError, match="blank"):
        LightRAGQuery.model_validate({"query": text})
    with pytest.raises(ValidationError, match="blank"):
        TextIngest.model_validate({"type": "text", "text": text})


@pytest.mark.parametrize("text", ["a", "\x00a\x07", "\u200b", "é", "\U0001f600"])
def test_one_visible_character_is_enough(text: str) -> None:
    assert not is_blank(text)
    assert SearchRequest.model_validate({"query": text}).query
    assert TextIngest.model_validate({"type": "text", "text": text}).text == text


@pytest.mark.parametrize(
    ("query", "accepted"),
    [("abc", True), ("\x01abc\x02", True), ("a \x01b", True), ("\x01ab\x02", False), ("ab", False)],
)
def test_a_lightrag_query_needs_three_characters_between_its_blank_ends(
    query: str, accepted: bool
) -> None:
    pattern = LightRAGQuery.model_json_schema()["properties"]["query"]["pattern"]
    assert (re.search(pattern, query) is not None) is accepted
    if accepted:
        assert LightRAGQuery.model_validate({"query": query}).query
    else:
        with pytest.raises(ValidationError, match="3 characters"):
            LightRAGQuery.model_validate({"query": query})


def test_a_query_is_measured_as_sent_and_then_trimmed() -> None:
    """The schema's maxLength counts the string as sent: so does the server."""
    assert SearchRequest.model_validate({"query": "  a b \n"}).query == "a b"
    with pytest.raises(ValidationError, match="at most 8192"):
        SearchRequest.model_validate({"query": "\r" + "a" * 8192})
    with pytest.raises(ValidationError, match="at most 8192"):
        LightRAGQuery.model_validate({"query": "a" * 8192 + " "})
    assert LightRAGQuery.model_validate({"query": " " + "a" * 8191}).query == "a" * 8191
