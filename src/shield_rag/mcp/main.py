"""``shield-mcp``: serve the Shield MCP tools over streamable HTTP (default) or stdio."""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import anyio
import fastmcp
from prometheus_client import start_http_server
from starlette.middleware import Middleware

from shield_rag import startup
from shield_rag.logs import setup_logging
from shield_rag.mcp.http import ExplainTooLarge
from shield_rag.mcp.server import create_server
from shield_rag.mcp.single import SingleResultAsJson
from shield_rag.settings import McpServiceSettings, McpSettings

log = logging.getLogger("shield_rag.mcp")


@startup.entry_point("shield-mcp")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shield-mcp", description=__doc__)
    parser.add_argument("--config", help="YAML settings file (default: $SHIELD_CONFIG)")
    parser.add_argument(
        "--transport",
        choices=("http", "stdio"),
        help="http: streamable HTTP on mcp.host:mcp.port (for deployments); stdio: for a "
        "desktop client that starts the server (default: mcp.transport, http)",
    )
    args = parser.parse_args(argv)
    # Logging is set up once the settings may serve: a refusal is one line on stderr.
    settings = startup.load(args.config, McpServiceSettings, logs=False)
    cfg = settings.mcp
    transport = args.transport or cfg.transport
    problem = cfg.auth_problem(transport)
    if problem:
        raise startup.Refused(f"refusing to start: mcp.{problem}")
    setup_logging(settings.logging)
    quiet_telemetry()
    if cfg.metrics_port:
        try:
            start_http_server(cfg.metrics_port, addr=cfg.metrics_host)
        except OSError as exc:
            problem = (
                f"cannot serve metrics on {cfg.metrics_host}:{cfg.metrics_port} "
                f"({exc.strerror}); change mcp.metrics_port, or set it to 0 to turn metrics off"
            )
            if transport == "http":
                raise startup.Refused(problem) from None
            # A desktop client starting several stdio servers must still get its tools.
            log.warning("%s; serving stdio without metrics", problem)
        else:
            log.info("metrics on http://%s:%d/metrics", cfg.metrics_host, cfg.metrics_port)
    shield = create_server(settings)
    log.info(
        "tools: %s; orchestrator %s%s",
        ", ".join(sorted(shield.tools)),
        shield.orchestrator.base_url,
        " (read-only)" if cfg.read_only else "",
    )
    settle_heap()
    if transport == "stdio":
        shield.server.run(transport="stdio", show_banner=False)
        return 0
    if cfg.auth_mode == "oauth":
        log.info(
            "OAuth resource server %s: tokens of %s, keys from %s",
            cfg.oauth.resource_url,
            cfg.oauth.issuer,
            cfg.oauth.jwks_url,
        )
    elif cfg.auth_token is None and not cfg.tokens:
        log.warning("mcp.auth_token is not set: HTTP clients are not authenticated (loopback only)")
    log.info("MCP endpoint %s://%s:%d%s", cfg.scheme, cfg.host, cfg.port, cfg.path)
    serve = functools.partial(
        shield.server.run_http_async,
        transport="http",
        host=cfg.host,
        port=cfg.port,
        path=cfg.path,
        show_banner=False,
        middleware=http_middleware(),
        uvicorn_config=uvicorn_config(cfg),
    )
    # FastMCP's run() starts a plain asyncio loop, and uvicorn serves on the loop it is given;
    # uvloop (installed with uvicorn[standard], the loop the orchestrator runs on) makes every
    # socket read and write of the transport and of the orchestrator client cheaper.
    anyio.run(serve, backend_options={"use_uvloop": uses_uvloop()})
    return 0


def uvicorn_config(cfg: McpSettings) -> dict[str, Any]:
    """uvicorn's options for the HTTP transport: quiet, a short graceful stop, and native TLS
    when mcp.tls_certfile and mcp.tls_keyfile are set."""
    return {
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 5,
        "ssl_certfile": cfg.tls_certfile,
        "ssl_keyfile": cfg.tls_keyfile,
    }


def http_middleware() -> list[Middleware]:
    """The ASGI middleware of the HTTP transport: a 413 that names the limit, and a lone
    result answered as ``application/json`` instead of a one-event SSE stream."""
    return [Middleware(ExplainTooLarge), Middleware(SingleResultAsJson)]


TELEMETRY_ENV = "FASTMCP_TELEMETRY_MODE"


def quiet_telemetry(environ: Mapping[str, str] | None = None) -> None:
    """FastMCP's own OpenTelemetry spans off, unless :data:`TELEMETRY_ENV` chooses a mode.

    Shield installs no OpenTelemetry SDK, so FastMCP's spans (two per tool call, with their
    attributes and context attach/detach) are no-ops that still cost about 2% of the MCP
    server's CPU per call. An operator who installs an SDK sets ``FASTMCP_TELEMETRY_MODE``
    (``native`` or ``propagation_only``), which FastMCP reads itself and this leaves alone."""
    if TELEMETRY_ENV not in (os.environ if environ is None else environ):
        fastmcp.settings.telemetry_mode = "off"


def settle_heap() -> None:
    """Put what start-up built out of the cyclic garbage collector's way.

    Start-up leaves about 150,000 tracked objects that live as long as the process (modules,
    FastMCP's and the MCP SDK's classes, pydantic schemas, the tools). Every full collection
    walked them all: about 150 ms on the stack's machine, a stall of whichever calls were in
    flight, every few hundred tool calls. Collected once, then frozen (``gc.freeze``, made
    for this), they are skipped, and a full collection walks only what calls made since."""
    gc.collect()
    gc.freeze()


def uses_uvloop() -> bool:
    """Whether the HTTP transport runs on uvloop: when it is installed."""
    return importlib.util.find_spec("uvloop") is not None


if __name__ == "__main__":
    sys.exit(main())
