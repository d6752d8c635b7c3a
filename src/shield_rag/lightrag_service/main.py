"""``shield-lightrag --config <yaml>``: run the LightRAG service.

The configuration file is named by ``--config`` or ``SHIELD_CONFIG``. A configuration error
prints its message and exits with status 2. SIGTERM/SIGINT stop serving, wait for a running
insert or delete and finalise the storages (flushing the graph and JSON files).
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from shield_rag import startup


@startup.entry_point("shield-lightrag")
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shield-lightrag", description="Shield LightRAG service (lightrag-hku as a library)"
    )
    parser.add_argument("--config", help="YAML configuration file (default: $SHIELD_CONFIG)")
    args = parser.parse_args(argv)
    # Plain-text logging always (logging.json_format is the other services').
    settings = startup.load(args.config, logs=False)
    with startup.config_errors():
        logging.basicConfig(
            level=settings.logging.level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        # Imported here: lightrag is heavy and must not touch tiktoken before the
        # offline cache is in place (build_rag does that first).
        from .app import create_app
        from .engine import LightRAGEngine, build_rag
        from .llm import OllamaChat, WriteUsage
        from .metrics import serve_metrics

        chat, writes = OllamaChat(settings), WriteUsage()
        rag = build_rag(settings, chat, writes)
    svc = settings.lightrag_service
    try:
        serve_metrics(svc.metrics_host, svc.metrics_port)
    except OSError as exc:
        raise startup.Refused(
            f"cannot serve metrics on {svc.metrics_host}:{svc.metrics_port} "
            f"(lightrag_service.metrics_port): {exc.strerror}"
        ) from None
    app = create_app(LightRAGEngine(settings, rag, chat, writes))
    config = uvicorn.Config(
        app,
        host=svc.host,
        port=svc.port,
        log_level=settings.logging.level.lower(),
        access_log=settings.logging.level == "DEBUG",
        # native TLS when lightrag_service.tls_certfile is set (None: plain HTTP)
        ssl_certfile=svc.tls_certfile,
        ssl_keyfile=svc.tls_keyfile,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
