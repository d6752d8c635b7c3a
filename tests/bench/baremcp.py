"""Section 1's reference for what the MCP layer itself charges: a bare FastMCP server.

One tool, ``echo``, that returns its text; no auth, no middleware, no orchestrator behind it;
the streamable HTTP transport on uvloop, as ``shield-mcp`` serves it, answering each request
with one JSON body (FastMCP's ``json_response``, its cheapest framing: an SSE answer makes the
SDK's client drop the connection after each call, which ``shield-mcp`` avoids with
:mod:`shield_rag.mcp.single`). A ``tools/call`` of
``echo`` through the MCP SDK's client is what FastMCP and the SDK cost per call before a tool
does anything, so with ``POST /search`` it makes the least any search through an MCP server
built on them could cost (a note of section 1 reports that against the floor).

``python -m tests.bench.baremcp PORT`` serves it on 127.0.0.1; :class:`BareMcp` starts and
stops that process.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from types import TracebackType

import anyio
import httpx
from fastmcp import FastMCP

from tests.support.procs import PYTHON, ManagedProcess, free_port

START_TIMEOUT = 30.0


def server() -> FastMCP:
    bare = FastMCP("shield-bench-bare")

    @bare.tool
    def echo(text: str) -> str:
        """Returns ``text``."""
        return text

    return bare


class BareMcp:
    """``with BareMcp(logs) as bare: bare.url``: the bare server as a process of its own."""

    def __init__(self, logs: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        argv = [PYTHON, "-m", "tests.bench.baremcp", str(self.port)]
        self.process = ManagedProcess(f"bare-mcp-{self.port}", argv, logs)

    def __enter__(self) -> BareMcp:
        # any HTTP answer: the transport is listening (a GET without a session is 4xx)
        self.process.start().wait_answering(
            lambda: httpx.get(self.url, timeout=2), START_TIMEOUT, "the bare FastMCP server"
        )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.process.stop()


def main(argv: list[str]) -> int:
    serve = functools.partial(
        server().run_http_async,
        transport="http",
        host="127.0.0.1",
        port=int(argv[0]),
        show_banner=False,
        json_response=True,
        uvicorn_config={"log_config": None, "access_log": False},
    )
    anyio.run(serve, backend_options={"use_uvloop": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
