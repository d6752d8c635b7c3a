"""A small local web site (127.0.0.1) for crawl tests, served from a thread."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FACTS = {
    "/": (
        "Shield test site",
        "Welcome to the Shield test site. It documents the Zorblax "
        "reactor and the Quillfeather archive.",
        ["/reactor.html", "/archive.html", "/private/secret.html"],
    ),
    "/reactor.html": (
        "Zorblax reactor",
        "The Zorblax reactor operates at exactly 451 kelvin "
        "and is cooled by liquid argon pumped from the Vintermark basin.",
        ["/archive.html"],
    ),
    "/archive.html": (
        "Quillfeather archive",
        "The Quillfeather archive stores 9000 scrolls "
        "written by the monks of Ostravel in the year 1204.",
        ["/"],
    ),
    "/private/secret.html": (
        "Secret",
        "This page is disallowed by robots.txt and must not be fetched.",
        [],
    ),
}
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def page(title: str, body: str, links: list[str]) -> bytes:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1><p>{body}</p></article><ul>{anchors}</ul></body></html>"
    ).encode()


class _Handler(BaseHTTPRequestHandler):
    server: SiteServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.hits.append(path)
        if path == "/robots.txt":
            self._send(200, ROBOTS, "text/plain")
        elif path in FACTS:
            self._send(200, page(*FACTS[path]))
        elif path == "/redirect-private":
            self._send(302, b"", headers={"Location": "http://10.255.255.1/"})
        elif path == "/always-503":
            self._send(503, b"try later", "text/plain")
        elif path == "/slow/":
            links = [f"/slow/{i}" for i in range(1, 41)]
            self._send(200, page("Slow index", "Index of the slow pages.", links))
        elif path.startswith("/slow/"):
            # /slow/<i>: pages answered after a server-side delay, so a crawl of them stays
            # running long enough to be interrupted.
            i = int(path.rsplit("/", 1)[1])
            time.sleep(self.server.slow_delay)
            links = []
            body = (
                f"Slow page number {i}. The lantern code for page {i} is "
                f"LANTERN-{i * 7919 % 10007}. "
            ) * 3
            self._send(200, page(f"Slow page {i}", body, links))
        else:
            self._send(404, b"not found", "text/plain")


class SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, slow_delay: float = 0.4) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[str] = []
        self.slow_delay = slow_delay
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> SiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
