"""Link extraction, URL normalisation and the allowed-domain rule.

Nothing here sends traffic anywhere but 127.0.0.1 (``conftest.py``)."""

from __future__ import annotations

import pytest

from shield_rag.errors import PermanentJobError
from shield_rag.ingest.links import DomainRule, extract_links, normalise_url


def test_extract_links_resolves_dedups_and_filters() -> None:
    html = b"""<html><head><base href="https://example.com/docs/"></head><body>
    <a href="guide">g</a> <a href="guide#intro">g2</a> <a href="/Top?x=1#y">t</a>
    <a href="HTTPS://EXAMPLE.COM:443/docs/guide">g3</a> <a href="mailto:x@y">m</a>
    <a href="javascript:alert(1)">j</a> <a href="#only">f</a> <a>none</a>
    <map><area href="../area"></map> <a href="ftp://example.com/f">ftp</a>
    </body></html>"""
    assert extract_links(html, "https://ignored.example/") == [
        "https://example.com/docs/guide",
        "https://example.com/Top?x=1",
        "https://example.com/area",
    ]


@pytest.mark.parametrize("html", [b"", b"\x00\x01", b"<<<>>>"])
def test_extract_links_survives_garbage(html: bytes) -> None:
    assert extract_links(html, "https://example.com/") == []


def test_normalise_url() -> None:
    assert normalise_url("HTTP://Example.com:80") == "http://example.com/"
    assert normalise_url("https://example.com:8443/a?b#c") == "https://example.com:8443/a?b"
    assert normalise_url("mailto:x@example.com") is None
    assert normalise_url("http://example.com:bad/") is None


def test_domain_rule() -> None:
    explicit = DomainRule(["example.com", ".docs.test", "https://Other.Test/x"], "example.com")
    assert explicit.allows("https://example.com/a")
    assert explicit.allows("https://deep.sub.example.com/a")
    assert not explicit.allows("https://badexample.com/")
    assert explicit.allows("http://docs.test/")
    assert explicit.allows("http://api.docs.test/")
    assert explicit.allows("http://other.test:8080/")
    default = DomainRule(None, "www.example.com")
    assert default.allows("https://www.example.com/x")
    assert not default.allows("https://example.com/")
    assert not default.allows("https://api.www.example.com/")
    with pytest.raises(PermanentJobError, match="allowed_domains is empty"):
        DomainRule([], "example.com")
