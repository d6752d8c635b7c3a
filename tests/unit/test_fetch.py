"""SafeFetcher and crawl against a local test site on 127.0.0.1.

Nothing here sends traffic anywhere but 127.0.0.1: name resolution is replaced by a fake
(``fake_dns``) and every request that reaches httpx's transport is recorded and checked
(``wire``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shield_rag.errors import PermanentJobError, TransientJobError
from shield_rag.ingest.fetch import FetchedPage, SafeFetcher, check_crawl_limits, crawl
from shield_rag.ingest.links import DomainRule, extract_links, normalise_url
from shield_rag.ingest.ssrf import SSRFError
from shield_rag.settings import CrawlSettings
from tests.support.documents import docx_with, pdf_with
from tests.support.procs import free_port

LOCAL = ["127.0.0.0/8"]
MAX_BYTES = 64 * 1024
PDF_BYTES = pdf_with(["Shield PDF document on the test site."], "Site PDF")
DOCX_BYTES = docx_with(["Shield DOCX document on the test site."])
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

HOME = """<!doctype html><html><head><title>Home</title></head><body>
<p>Welcome to the test site.</p>
<a href="/a">A</a> <a href="/a#part">A again</a> <a href="b">B</a>
<a href="/redirect-b">to B</a> <a href="/private/secret">secret</a>
<a href="/redirect-internal">internal</a> <a href="/big">big</a> <a href="/big-stream">big2</a>
<a href="/slow">slow</a> <a href="/doc.pdf">pdf</a> <a href="/doc.docx">docx</a>
<a href="/notes.txt">notes</a> <a href="/logo.png">logo</a> <a href="/image">image</a>
<a href="/missing">missing</a> <a href="/error">error</a>
<a href="http://example.org/outside">outside</a> <a href="mailto:a@example.org">mail</a>
<a href="javascript:void(0)">js</a>
</body></html>"""


def _page(title: str, links: list[str]) -> str:
    anchors = " ".join(f'<a href="{href}">{href}</a>' for href in links)
    return f"<html><head><title>{title}</title></head><body><p>{title} text.</p>{anchors}</body>"


@dataclass
class Site:
    """A threaded HTTP server with fixed routes; records every request it sees."""

    robots_status: int = 200
    requests: list[tuple[str, str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [path for path, _host in self.requests]

    def start(self) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str, length: bool = True) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                site.requests.append((self.path, self.headers.get("Host", "")))
                # The client may give up first (timeouts are part of the tests).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._route()

            def _route(self) -> None:
                html = "text/html; charset=utf-8"
                routes = {
                    "/": HOME,
                    "/a": _page("Page A", ["/c", "/"]),
                    "/b": _page("Page B", []),
                    "/c": _page("Page C", ["/d"]),
                    "/d": _page("Page D", []),
                    "/to-slow": _page("Before slow", ["/slow"]),
                    "/private/secret": _page("Secret", []),
                }
                path = self.path
                if path in routes:
                    self._send(200, routes[path].encode(), html)
                elif path == "/robots.txt":
                    body = b"User-agent: *\nDisallow: /private/\n"
                    self._send(site.robots_status, body, "text/plain")
                elif path == "/redirect-b":
                    self._redirect("/b")
                elif path == "/redirect-internal":
                    self._redirect("http://10.255.255.1/")
                elif path == "/redirect-loop":
                    self._redirect("/redirect-loop")
                elif path == "/big":
                    self._send(200, b"x" * (MAX_BYTES * 3), "text/plain")
                elif path == "/big-stream":  # no Content-Length: the size shows while reading
                    self._send(200, b"y" * (MAX_BYTES * 3), "text/plain", length=False)
                    self.close_connection = True
                elif path == "/slow":
                    site.release.wait(10)  # answers only when the test site shuts down
                    self._send(200, b"late", "text/plain")
                elif path == "/doc.pdf":
                    self._send(200, PDF_BYTES, "application/pdf")
                elif path == "/doc.docx":
                    self._send(200, DOCX_BYTES, "application/octet-stream")
                elif path == "/notes.txt":
                    self._send(200, b"Plain notes on the test site.", "text/plain")
                elif path in ("/logo.png", "/image"):
                    self._send(200, PNG_BYTES, "image/png")
                elif path == "/error":
                    self._send(503, b"busy", "text/plain")
                elif path == "/echo-host":
                    self._send(200, self.headers.get("Host", "").encode(), "text/plain")
                else:
                    self._send(404, b"not found", "text/plain")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site().start()
    yield s
    s.stop()


@dataclass
class Wire:
    """Every request httpx was asked to send, and every name that was resolved."""

    requests: list[httpx.Request] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    names: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(autouse=True)
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    w = Wire(names={"localhost": ["127.0.0.1"], "site.test": ["127.0.0.1"]})
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            pass
        else:  # a numeric address: no DNS query is made
            return real_getaddrinfo(host, port, *args, **kwargs)
        w.lookups.append(name)
        answers = w.names.get(name)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        fam = socket.AF_INET
        return [(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port)) for a in answers]

    real_send = httpx.AsyncHTTPTransport.handle_async_request

    async def spy(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        w.requests.append(request)
        assert request.url.host == "127.0.0.1", f"request to {request.url} escaped the test"
        return await real_send(self, request)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", spy)
    yield w
    assert all(r.url.host == "127.0.0.1" for r in w.requests)


def local_settings(**overrides: Any) -> CrawlSettings:
    values: dict[str, Any] = {
        "allowed_networks": LOCAL,
        "max_response_bytes": MAX_BYTES,
        "request_timeout": 0.5,
        "total_timeout": 60.0,
        "max_redirects": 3,
    }
    values.update(overrides)
    return CrawlSettings(**values)


async def fetch(url: str, settings: CrawlSettings | None = None) -> FetchedPage:
    async with SafeFetcher(settings or local_settings()) as fetcher:
        return await fetcher.fetch(url)


async def collect(pages: AsyncIterator[FetchedPage]) -> list[FetchedPage]:
    return [page async for page in pages]


# --- SafeFetcher -----------------------------------------------------------------------------


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
        await fetch(f"{site.base}/slow")


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


# --- crawl -----------------------------------------------------------------------------------


async def test_crawl_site(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shield_rag.ingest")
    pages = await collect(
        crawl(f"{site.base}/", max_pages=50, max_depth=2, settings=local_settings())
    )
    finals = [p.final_url.removeprefix(site.base) for p in pages]
    assert finals[0] == "/"
    assert sorted(finals) == sorted(["/", "/a", "/b", "/doc.pdf", "/doc.docx", "/notes.txt", "/c"])
    paths = site.paths()
    assert paths.count("/robots.txt") == 1
    assert "/private/secret" not in paths  # disallowed by robots.txt
    assert "/d" not in paths  # depth 3
    assert "/logo.png" not in paths  # never a document: not fetched
    assert paths.count("/a") == 1  # fragment variant de-duplicated
    assert "/image" in paths  # fetched, but an image is not yielded
    by_path = {p.final_url.removeprefix(site.base): p for p in pages}
    assert by_path["/doc.pdf"].content == PDF_BYTES
    assert by_path["/doc.docx"].content == DOCX_BYTES
    log = caplog.text
    assert "robots.txt" in log
    assert "10.255.255.1" in log  # the refused redirect was skipped and logged
    assert "HTTP 404" in log


async def test_crawl_respects_max_pages_and_depth(site: Site) -> None:
    settings = local_settings()
    pages = await collect(crawl(f"{site.base}/", max_pages=2, max_depth=2, settings=settings))
    assert len(pages) == 2
    only_start = await collect(crawl(f"{site.base}/", max_pages=10, max_depth=0, settings=settings))
    assert [p.final_url for p in only_start] == [f"{site.base}/"]


async def test_crawl_can_ignore_robots(site: Site) -> None:
    settings = local_settings(respect_robots_txt=False)
    pages = await collect(crawl(f"{site.base}/", max_pages=50, max_depth=1, settings=settings))
    assert f"{site.base}/private/secret" in [p.final_url for p in pages]
    assert "/robots.txt" not in site.paths()


@pytest.mark.parametrize(
    ("max_pages", "max_depth", "needle"),
    [
        (0, 1, "max_pages must be between 1 and 200 (crawl.max_pages_limit), got 0"),
        (201, 1, "got 201"),
        (5, 6, "max_depth must be between 0 and 5 (crawl.max_depth_limit), got 6"),
        (5, -1, "got -1"),
    ],
)
async def test_crawl_limits_are_validated(max_pages: int, max_depth: int, needle: str) -> None:
    with pytest.raises(PermanentJobError) as err:
        await collect(
            crawl(
                "http://site.test/",
                max_pages=max_pages,
                max_depth=max_depth,
                settings=local_settings(),
            )
        )
    assert needle in str(err.value)


def test_crawl_limit_defaults() -> None:
    assert check_crawl_limits(None, None, CrawlSettings()) == (10, 2)


@pytest.mark.parametrize(
    ("path", "error", "needle"),
    [
        ("/missing", PermanentJobError, "HTTP 404"),
        ("/error", TransientJobError, "HTTP 503"),
        ("/private/secret", PermanentJobError, "robots.txt of http://127.0.0.1:"),
        ("/redirect-internal", SSRFError, "10.255.255.1 is a private address"),
        ("/image", PermanentJobError, "unsupported type (image/png)"),
    ],
)
async def test_crawl_start_page_failures_propagate(
    site: Site, path: str, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as err:
        await collect(
            crawl(f"{site.base}{path}", max_pages=5, max_depth=1, settings=local_settings())
        )
    assert needle in str(err.value)


async def test_crawl_with_default_settings_refuses_loopback(site: Site, wire: Wire) -> None:
    with pytest.raises(SSRFError, match="loopback"):
        await collect(crawl(f"{site.base}/", max_pages=5, max_depth=1, settings=CrawlSettings()))
    assert wire.requests == []


async def test_unreachable_robots_txt_makes_the_start_page_transient() -> None:
    site = Site(robots_status=503).start()
    try:
        with pytest.raises(TransientJobError, match=r"robots\.txt of .* could not be fetched"):
            await collect(
                crawl(f"{site.base}/", max_pages=5, max_depth=1, settings=local_settings())
            )
        assert site.paths() == ["/robots.txt"]
    finally:
        site.stop()


async def test_missing_robots_txt_allows_everything() -> None:
    site = Site(robots_status=404).start()
    try:
        pages = await collect(
            crawl(f"{site.base}/", max_pages=50, max_depth=1, settings=local_settings())
        )
        assert f"{site.base}/private/secret" in [p.final_url for p in pages]
    finally:
        site.stop()


async def test_crawl_stops_when_the_time_budget_is_spent(site: Site) -> None:
    settings = local_settings(request_timeout=30.0, total_timeout=1.0)
    pages = await collect(
        crawl(f"{site.base}/to-slow", max_pages=5, max_depth=1, settings=settings)
    )
    assert [p.final_url for p in pages] == [f"{site.base}/to-slow"]
    assert "/slow" in site.paths()


async def test_crawl_stays_within_allowed_domains(site: Site, wire: Wire) -> None:
    wire.names["docs.site.test"] = ["127.0.0.1"]
    base = f"http://docs.site.test:{site.port}"
    settings = local_settings()
    pages = await collect(
        crawl(
            f"{base}/a",
            allowed_domains=[".site.test"],
            max_pages=10,
            max_depth=1,
            settings=settings,
        )
    )
    assert [p.final_url for p in pages] == [f"{base}/a", f"{base}/c", f"{base}/"]
    assert {host for _path, host in site.requests} == {f"docs.site.test:{site.port}"}
    with pytest.raises(PermanentJobError, match="outside allowed_domains"):
        await collect(
            crawl(
                f"{base}/a",
                allowed_domains=["other.test"],
                max_pages=5,
                max_depth=1,
                settings=settings,
            )
        )


# --- link and domain helpers -----------------------------------------------------------------


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
