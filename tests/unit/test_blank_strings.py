"""One meaning of "blank" for the API's texts and queries: nothing but whitespace and control
characters, the same in the OpenAPI document's patterns (read by clients and fuzzers as ECMA
regexes) and in the server's checks (Python)."""

from __future__ import annotations

import random
import re
import sys
import unicodedata

import pytest
from lightrag.query_validation import meets_min_rag_query_weight, rag_query_weight
from pydantic import ValidationError

from shield_rag.api.fields import VISIBLE, is_blank
from shield_rag.api.jobs import TextIngest
from shield_rag.api.query import WIDE, LightRAGQuery, long_enough
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
    [
        ("abc", True),
        ("\x01abc\x02", True),
        ("a \x01b", True),
        ("\x01ab\x02", False),
        ("ab", False),
        ("\u679c\u56ed", True),  # two CJK characters weigh 4
        (" a\uac00\x00", True),  # a Hangul syllable weighs 2
        ("\uff21b", True),  # a fullwidth letter weighs 2
        ("\u5b57", False),  # one weighs 2 of 3
        ("\u5b57\u3000", False),  # an ideographic space is blank
        ("\u3000\u5b57\u3000", False),
    ],
)
def test_a_lightrag_query_needs_three_characters_between_its_blank_ends(
    query: str, accepted: bool
) -> None:
    pattern = LightRAGQuery.model_json_schema()["properties"]["query"]["pattern"]
    assert (re.search(pattern, query) is not None) is accepted
    if accepted:
        assert LightRAGQuery.model_validate({"query": query}).query
    else:
        with pytest.raises(ValidationError, match=r"3 characters .* counting 2"):
            LightRAGQuery.model_validate({"query": query})


def test_the_weight_of_a_query_is_lightrags_own() -> None:
    """The characters weighing 2 are LightRAG's blocks in the Basic Multilingual Plane (less
    the ideographic space, which is blank), and the check agrees with LightRAG's own on the
    query between its blank ends: the orchestrator never refuses what LightRAG would take,
    nor sends what it refuses."""
    wide = re.compile(WIDE)
    for cp in range(0x10000):
        c = chr(cp)
        lightrag = rag_query_weight(c) == 2
        assert (wide.fullmatch(c) is not None) is (lightrag and c != "\u3000"), f"U+{cp:04X}"
    rng = random.Random(7)
    alphabet = ["a", "\u5b57", "\uac00", "\uff21", " ", "\x00", "\u3000", "\ufeff", "\u2028"]
    for _unused in range(20_000):
        query = "".join(rng.choice(alphabet) for _unused in range(rng.randint(1, 5)))
        span = re.search(f"{VISIBLE}(.*{VISIBLE})?", query, re.S)
        expected = span is not None and meets_min_rag_query_weight(span.group())
        assert long_enough(query) is expected, repr(query)


def test_a_query_is_measured_as_sent_and_then_trimmed() -> None:
    """The schema's maxLength counts the string as sent: so does the server."""
    assert SearchRequest.model_validate({"query": "  a b \n"}).query == "a b"
    with pytest.raises(ValidationError, match="at most 8192"):
        SearchRequest.model_validate({"query": "\r" + "a" * 8192})
    with pytest.raises(ValidationError, match="at most 8192"):
        LightRAGQuery.model_validate({"query": "a" * 8192 + " "})
    assert LightRAGQuery.model_validate({"query": " " + "a" * 8191}).query == "a" * 8191
