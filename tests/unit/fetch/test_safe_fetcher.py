"""SafeFetcher against a local test site: addresses, redirects, limits, HTTP errors.

Nothing here sends traffic anywhere but 127.0.0.1 (``conftest.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from shield_rag.errors import PermanentJobError, TransientJobError
from shield_rag.ingest.fetch import SafeFetcher
from shield_rag.ingest.ssrf import SSRFError
from shield_rag.settings import CrawlSettings
from tests.support.procs import free_port
from tests.unit.fetch.support import (
    Site,
    Wire,
    fetch,
    local_settings,
)


async def test_fetch_returns_the_page(site: Site) -> None:
    page = await fetch(f"{site.base}/b#frag")
    assert page.url == f"{site.base}/b"
    assert page.final_url == page.url
    assert page.status == 200
    assert page.content_type == "text/html; charset=utf-8"
    assert b"Page B text." in page.content


async def test_default_settings_refuse_loopback_before_connecting(site: Site, wire: Wire) -> None:
    async with SafeFetcher(CrawlSettings()) as fetcher:
        with pytest.raises(SSRFError, match=r"127\.0\.0\.1 is a loopback address"):
            await fetcher.fetch(f"{site.base}/")
        with pytest.raises(SSRFError, match=r"host localhost resolves to 127\.0\.0\.1, a loopback"):
            await fetcher.fetch(f"http://localhost:{site.port}/")
    assert wire.requests == []
    assert site.requests == []


async def test_connects_to_the_checked_address_with_the_original_host(
    site: Site, wire: Wire
) -> None:
    page = await fetch(f"http://site.test:{site.port}/echo-host")
    assert page.content == f"site.test:{site.port}".encode()
    assert page.final_url == f"http://site.test:{site.port}/echo-host"
    assert wire.requests[0].url.host == "127.0.0.1"
    assert wire.lookups == ["site.test"]  # resolved once, by the guard; httpx did not


async def test_dns_rebinding_cannot_switch_the_address(site: Site, wire: Wire) -> None:
    # First answer passes the check; later answers point into a private network.
    answers = iter([["127.0.0.1"], ["10.255.255.1"], ["10.255.255.1"]])

    class Rebinding(dict[str, list[str]]):
        def get(self, key: str, default: Any = None) -> Any:
            return next(answers) if key == "rebind.test" else super().get(key, default)

    wire.names = Rebinding(wire.names)
    page = await fetch(f"http://rebind.test:{site.port}/echo-host")
    assert page.content == f"rebind.test:{site.port}".encode()
    assert wire.lookups == ["rebind.test"]  # the connection used the checked answer
    with pytest.raises(SSRFError, match=r"rebind\.test resolves to 10\.255\.255\.1, a private"):
        await fetch(f"http://rebind.test:{site.port}/echo-host")
    assert len(wire.requests) == 1


async def test_host_resolving_to_private_address_is_refused(site: Site, wire: Wire) -> None:
    wire.names["intranet.test"] = ["127.0.0.1", "10.0.0.5"]
    with pytest.raises(SSRFError, match=r"resolves to 10\.0\.0\.5, a private address"):
        await fetch(f"http://intranet.test:{site.port}/")
    assert wire.requests == []


async def test_https_sends_sni_and_host_for_the_name(site: Site, wire: Wire) -> None:
    wire.names["secure.test"] = ["127.0.0.1"]
    # The test site speaks plain HTTP, so the TLS handshake fails: a transient error.
    with pytest.raises(TransientJobError, match=r"secure\.test"):
        await fetch(f"https://secure.test:{site.port}/")
    (request,) = wire.requests
    assert request.url.host == "127.0.0.1"
    assert request.headers["Host"] == f"secure.test:{site.port}"
    assert request.extensions["sni_hostname"] == "secure.test"


async def test_redirect_is_followed(site: Site) -> None:
    page = await fetch(f"{site.base}/redirect-b")
    assert page.url == f"{site.base}/redirect-b"
    assert page.final_url == f"{site.base}/b"
    assert b"Page B" in page.content


async def test_redirect_to_private_address_is_refused_before_connecting(
    site: Site, wire: Wire
) -> None:
    with pytest.raises(SSRFError) as err:
        await fetch(f"{site.base}/redirect-internal")
    message = str(err.value)
    assert "redirects to http://10.255.255.1/, which is refused" in message
    assert "10.255.255.1 is a private address" in message
    assert [str(r.url.path) for r in wire.requests] == ["/redirect-internal"]
    assert all(r.url.host == "127.0.0.1" for r in wire.requests)


async def test_redirect_loop_is_cut_off(site: Site) -> None:
    with pytest.raises(PermanentJobError, match=r"redirected more than 3 times"):
        await fetch(f"{site.base}/redirect-loop")
    assert site.paths().count("/redirect-loop") == 4


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
async def test_oversized_response_is_refused(site: Site, path: str) -> None:
    with pytest.raises(PermanentJobError, match=r"larger than 65536 bytes.*max_response_bytes"):
        await fetch(f"{site.base}{path}")


async def test_slow_response_times_out_as_transient(site: Site) -> None:
    with pytest.raises(TransientJobError, match=r"timed out after 0\.5s fetching .*/slow"):
        await fetch(f"{site.base}/slow", local_settings(request_timeout=0.5))


@pytest.mark.parametrize(
    ("path", "error", "needle"),
    [
        ("/missing", PermanentJobError, "HTTP 404 Not Found from http://127.0.0.1:"),
        ("/error", TransientJobError, "HTTP 503 Service Unavailable from http://127.0.0.1:"),
    ],
)
async def test_http_errors(site: Site, path: str, error: type[Exception], needle: str) -> None:
    with pytest.raises(error) as err:
        await fetch(f"{site.base}{path}")
    assert needle in str(err.value)
    assert path in str(err.value)


async def test_connection_refused_is_transient() -> None:
    port = free_port()
    with pytest.raises(TransientJobError, match="could not connect"):
        await fetch(f"http://127.0.0.1:{port}/")
