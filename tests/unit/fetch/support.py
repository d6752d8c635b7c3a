"""The fetch tests' local site on 127.0.0.1, what went over the wire, and fetcher settings
that allow loopback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from shield_rag.ingest.fetch import FetchedPage, SafeFetcher
from shield_rag.settings import CrawlSettings
from tests.support.documents import docx_with, pdf_with

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


@dataclass
class Wire:
    """Every request httpx was asked to send, and every name that was resolved."""

    requests: list[httpx.Request] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    names: dict[str, list[str]] = field(default_factory=dict)


def local_settings(**overrides: Any) -> CrawlSettings:
    values: dict[str, Any] = {
        "allowed_networks": LOCAL,
        "max_response_bytes": MAX_BYTES,
        # The crawls wait this long for /slow (linked from the home page) before going on;
        # a page the site answers must not time out while the test process, at a low priority
        # beside the Molecule scenarios, waits for a CPU. The timeout test sets its own.
        "request_timeout": 2.0,
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
