"""Ingest request validation: the JSON body of POST /ingest-async."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shield_rag.api.jobs import (
    IngestRequest,
    TextIngest,
    UrlIngest,
)

INGEST: TypeAdapter[UrlIngest | TextIngest] = TypeAdapter(IngestRequest)


def _errors(body: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as err:
        INGEST.validate_python(body)
    return err.value.errors()


# -- IngestRequest (the JSON body of POST /ingest-async) ----------------------------------
def test_url_request() -> None:
    req = INGEST.validate_python(
        {
            "type": "url",
            "url": "https://example.org/",
            "allowed_domains": ["example.org", "docs.example.org"],
            "max_pages": 20,
            "max_depth": 0,
            "metadata": {"team": "docs", "v": 2, "w": 0.5, "ok": True, "none": None},
        }
    )
    assert isinstance(req, UrlIngest)
    assert req.url == "https://example.org/"
    assert req.allowed_domains == ["example.org", "docs.example.org"]
    assert (req.max_pages, req.max_depth) == (20, 0)
    assert req.metadata == {"team": "docs", "v": 2, "w": 0.5, "ok": True, "none": None}


def test_url_request_defaults() -> None:
    req = INGEST.validate_json('{"type": "url", "url": "https://example.org/"}')
    assert isinstance(req, UrlIngest)
    assert req.allowed_domains is None and req.max_pages is None and req.max_depth is None
    assert req.metadata == {}


def test_text_request() -> None:
    req = INGEST.validate_json(
        '{"type": "text", "text": "Hello.", "title": "T", "source": "s",'
        ' "metadata": {"a.b-c_d": 1}}'
    )
    assert isinstance(req, TextIngest)
    assert (req.text, req.title, req.source) == ("Hello.", "T", "s")
    assert req.metadata == {"a.b-c_d": 1}


def test_text_keeps_its_whitespace() -> None:
    req = INGEST.validate_python({"type": "text", "text": "  padded\n"})
    assert isinstance(req, TextIngest) and req.text == "  padded\n"


def test_missing_type() -> None:
    (err,) = _errors({"text": "no type"})
    assert err["type"] == "union_tag_not_found"


@pytest.mark.parametrize("tag", ["pdf", "document", "URL", ""])
def test_unknown_type(tag: str) -> None:
    (err,) = _errors({"type": tag, "text": "x"})
    assert err["type"] == "union_tag_invalid"


@pytest.mark.parametrize(
    "text", ["", " ", "   \n\t  ", "\x00\x07\x1b\x7f\x85", "\ufeff \u3000\x1c"]
)
def test_blank_text_is_refused(text: str) -> None:
    (err,) = _errors({"type": "text", "text": text})
    assert err["loc"] == ("text", "text")
    assert err["type"] in {"string_too_short", "value_error"}
    if err["type"] == "value_error":
        assert "blank" in err["msg"]


def test_missing_text_and_url() -> None:
    (err,) = _errors({"type": "text"})
    assert (err["loc"], err["type"]) == (("text", "text"), "missing")
    (err,) = _errors({"type": "url"})
    assert (err["loc"], err["type"]) == (("url", "url"), "missing")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "text", "text": "x", "colour": "red"}, "colour"),
        ({"type": "text", "text": "x", "url": "https://example.org/"}, "url"),
        ({"type": "url", "url": "https://example.org/", "text": "x"}, "text"),
        ({"type": "url", "url": "https://example.org/", "depth": 1}, "depth"),
    ],
)
def test_extra_fields_are_refused(body: dict[str, Any], field: str) -> None:
    (err,) = _errors(body)
    assert err["type"] == "extra_forbidden"
    assert err["loc"] == (body["type"], field)


@pytest.mark.parametrize(
    "key", ["a", "_", "team", "Team_2", "a.b", "a-b", "x" * 64, "_private.v1-2"]
)
def test_metadata_keys_allowed(key: str) -> None:
    for kind, extra in (("text", {"text": "x"}), ("url", {"url": "https://example.org/"})):
        req = INGEST.validate_python({"type": kind, **extra, "metadata": {key: "v"}})
        assert req.metadata == {key: "v"}


@pytest.mark.parametrize(
    "key", ["", "bad key!", "1abc", "-a", ".a", "a b", "a/b", "é", "a:b", "x" * 65]
)
def test_metadata_keys_refused(key: str) -> None:
    for kind, extra in (("text", {"text": "x"}), ("url", {"url": "https://example.org/"})):
        errors = _errors({"type": kind, **extra, "metadata": {key: "v"}})
        assert errors[0]["type"] == "string_pattern_mismatch"
        assert errors[0]["loc"][:2] == (kind, "metadata")


@pytest.mark.parametrize("value", [{"nested": 1}, [1, 2], ["a"]])
def test_metadata_values_are_scalars(value: Any) -> None:
    errors = _errors({"type": "text", "text": "x", "metadata": {"k": value}})
    assert all(e["loc"][:3] == ("text", "metadata", "k") for e in errors)


def test_metadata_limits() -> None:
    ok = {f"k{i}": i for i in range(64)}
    assert INGEST.validate_python({"type": "text", "text": "x", "metadata": ok}).metadata == ok
    (err,) = _errors({"type": "text", "text": "x", "metadata": {**ok, "k64": 64}})
    assert "at most 64 metadata keys" in err["msg"]
    long_value = {"k": "v" * 4097}
    (err,) = _errors({"type": "url", "url": "https://example.org/", "metadata": long_value})
    assert "longer than 4096" in err["msg"]
    fits = {"k": "v" * 4096}
    assert INGEST.validate_python({"type": "text", "text": "x", "metadata": fits}).metadata == fits


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"max_pages": 0}, "max_pages"),
        ({"max_depth": -1}, "max_depth"),
        ({"allowed_domains": ["d"] * 51}, "allowed_domains"),
        ({"allowed_domains": [""]}, "allowed_domains"),
        ({"url": ""}, "url"),
        ({"url": "https://example.org/" + "a" * 2048}, "url"),
    ],
)
def test_url_field_bounds(extra: dict[str, Any], field: str) -> None:
    errors = _errors({"type": "url", "url": "https://example.org/", **extra})
    assert errors[0]["loc"][:2] == ("url", field)


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"title": "t" * 513}, "title"), ({"source": "s" * 2049}, "source")],
)
def test_text_field_bounds(extra: dict[str, Any], field: str) -> None:
    (err,) = _errors({"type": "text", "text": "x", **extra})
    assert err["loc"] == ("text", field)


def test_request_round_trips_through_the_stored_json() -> None:
    # The orchestrator stores model_dump(mode="json"); the worker reads it back.
    req = INGEST.validate_python(
        {"type": "text", "text": "Body.", "source": "s", "metadata": {"k": 1.5}}
    )
    stored = json.dumps(req.model_dump(mode="json"))
    assert INGEST.validate_json(stored) == req
