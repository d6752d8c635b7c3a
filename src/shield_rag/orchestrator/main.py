"""``shield-orchestrator``: serve the orchestrator API with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from prometheus_client import start_http_server

from shield_rag import startup
from shield_rag.orchestrator.app import create_app
from shield_rag.orchestrator.timeouts import header_timeout_protocol

log = logging.getLogger("shield_rag.orchestrator")


@startup.entry_point("shield-orchestrator")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shield-orchestrator", description=__doc__)
    parser.add_argument("--config", help="YAML settings file (default: $SHIELD_CONFIG)")
    args = parser.parse_args(argv)
    settings = startup.load(args.config)
    cfg = settings.orchestrator
    start_http_server(cfg.metrics_port, addr=cfg.metrics_host)
    log.info("metrics on http://%s:%d/metrics", cfg.metrics_host, cfg.metrics_port)
    uvicorn.run(
        create_app(settings),
        host=cfg.host,
        port=cfg.port,
        log_config=None,
        access_log=False,
        # X-Forwarded-For/-Proto are believed from these peers only (the edge proxy): the
        # client address admission counts (request.client) is then the real client's.
        proxy_headers=True,
        forwarded_allow_ips=cfg.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
        # uvicorn has no header timeout of its own (see orchestrator/timeouts.py); the body
        # timeout is the app's BodyTimeoutMiddleware.
        http=header_timeout_protocol(cfg.header_timeout_seconds),
        # native TLS when orchestrator.tls_certfile is set (None: plain HTTP)
        ssl_certfile=cfg.tls_certfile,
        ssl_keyfile=cfg.tls_keyfile,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
