"""Proxies between the MCP server (or the orchestrator) and what it calls: one that counts and
holds requests (CountingProxy), one that injects faults (FaultyHttpProxy)."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import httpx

from tests.support.procs import free_port


class CountingProxy:
    """A TCP proxy on 127.0.0.1 between the MCP server and the orchestrator that counts the
    HTTP requests that reach it (request heads, parsed with their Content-Length), and can
    hold requests until released. It runs an asyncio loop in a thread.

    The MCP server's background read of the feature flags (``GET /features``, every
    ``features.refresh_seconds``, deliberately not through the breakers) passes uncounted and
    unheld: the tests count what the tools' calls send."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests = 0
        self.held = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._release: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="counting-proxy", daemon=True)

    # -- control, from the test thread ----------------------------------------------------
    def start(self) -> CountingProxy:
        self._thread.start()
        assert self._ready.wait(10), "proxy did not start"
        return self

    def stop(self) -> None:
        self.release()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def hold(self) -> None:
        """Keep every following request at the proxy until :meth:`release`."""
        self._loop.call_soon_threadsafe(lambda: self._event().clear())

    def release(self) -> None:
        self._loop.call_soon_threadsafe(lambda: self._event().set())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the proxy, in its own loop ---------------------------------------------------------
    def _event(self) -> asyncio.Event:
        assert self._release is not None
        return self._release

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._release = asyncio.Event()
        self._release.set()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        back: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                if not head.startswith(b"GET /features "):
                    self.requests += 1
                    if not self._event().is_set():
                        self.held += 1
                        await self._event().wait()
                        self.held -= 1
                if upstream is None:
                    try:
                        up_reader, upstream = await asyncio.open_connection(
                            "127.0.0.1", self.upstream_port
                        )
                    except OSError:
                        return  # the orchestrator is down: the client sees a closed connection
                    back = asyncio.create_task(_copy(up_reader, writer))
                assert b"chunked" not in head.lower(), "chunked requests are not counted"
                upstream.write(head)
                match = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
                remaining = int(match.group(1)) if match else 0
                while remaining > 0:
                    chunk = await reader.read(min(remaining, 65536))
                    if not chunk:
                        return
                    upstream.write(chunk)
                    remaining -= len(chunk)
                await upstream.drain()
        finally:
            if back is not None:
                back.cancel()
            for w in (upstream, writer):
                if w is not None:
                    w.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


class FaultyHttpProxy:
    """An HTTP proxy on 127.0.0.1 in front of a real service (here LightRAG) that can break it
    on demand: ``mode`` "pass" forwards, "error" answers 500, "slow" holds each request until
    :meth:`release` (or ``hold_limit`` seconds), and :meth:`down` closes the port so callers
    get connection refused (:meth:`up` opens it again). ``requests`` counts what reached it,
    by path."""

    def __init__(self, upstream: str, port: int | None = None, hold_limit: float = 30.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self.mode = "pass"
        self.hold_limit = hold_limit
        self.requests: dict[str, int] = {}
        self._released = threading.Event()
        self._down = False
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, path: str) -> int:
        return self.requests.get(path, 0)

    def release(self) -> None:
        self._released.set()

    def set_mode(self, mode: str) -> None:
        """ "pass", "error" or "slow" (requests held from now on until :meth:`release`)."""
        if mode == "slow":
            self._released.clear()
        self.mode = mode

    def up(self) -> FaultyHttpProxy:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return None

            def _handle(self) -> None:
                if proxy._down:  # a kept-alive connection of a stopped service: drop it
                    self.close_connection = True
                    self.connection.close()
                    return
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                proxy.requests[path] = proxy.requests.get(path, 0) + 1
                if path != "/health" and proxy.mode == "error":
                    self._answer(500, b'{"detail":"query failed: injected fault"}')
                    return
                if path != "/health" and proxy.mode == "slow":
                    proxy._released.wait(proxy.hold_limit)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                try:
                    r = httpx.request(
                        self.command,
                        proxy.upstream + self.path,
                        content=body,
                        headers=headers,
                        timeout=120,
                    )
                except httpx.HTTPError:
                    self._answer(502, b'{"detail":"upstream unreachable"}')
                    return
                self._answer(r.status_code, r.content, r.headers.get("content-type"))

            def _answer(self, status: int, body: bytes, ctype: str | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("content-type", ctype or "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller gave up (timed out)

            do_GET = do_POST = do_DELETE = _handle

        self._released.clear()
        self._down = False
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        self._down = True
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
