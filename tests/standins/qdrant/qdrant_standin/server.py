"""``qdrant --config-path ...``: load the settings, open the storage, serve until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

import uvicorn

from .app import create_app
from .config import load_settings
from .engine import Engine
from .version import STANDIN_NAME, standin_version

log = logging.getLogger("qdrant_standin")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qdrant", description=STANDIN_NAME)
    parser.add_argument("--config-path", help="path to a Qdrant config.yaml")
    parser.add_argument("--disable-telemetry", action="store_true")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args, unknown = parser.parse_known_args(argv)
    if args.version:
        print(f"qdrant {standin_version()}")
        return 0
    settings = load_settings(args.config_path)
    level = settings.log_level.split(",", maxsplit=1)[0].strip().upper() or "INFO"
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if unknown:
        log.warning("ignoring arguments the stand-in does not implement: %s", " ".join(unknown))
    settings.snapshots_path.mkdir(parents=True, exist_ok=True)
    uvicorn_level = level.lower() if level.lower() in ("debug", "info", "warning") else "error"
    engine: Engine | None = None
    server: uvicorn.Server | None = None

    def on_stop_signal(signum: int, frame: Any) -> None:
        # Before uvicorn serves, stop at once. Once it has served, uvicorn handles the signal
        # itself (graceful shutdown) and re-raises it here afterwards: nothing left to do.
        if server is None or not server.started:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    try:
        try:
            engine = Engine(settings.storage_path)
        except RuntimeError as exc:  # storage locked by another process
            print(f"{STANDIN_NAME}: cannot open storage: {exc}", file=sys.stderr, flush=True)
            return 1
        print(
            f"{STANDIN_NAME} {standin_version()} starting: engine qdrant-client local mode, "
            f"storage {settings.storage_path.resolve()}, config from "
            f"{', '.join(settings.sources) or 'defaults'}, api key "
            f"{'on' if settings.api_key or settings.read_only_api_key else 'off'}",
            flush=True,
        )
        scheme = "HTTPS" if settings.tls_cert else "HTTP"
        print(f"Qdrant {scheme} listening on {settings.http_port} (no gRPC)", flush=True)
        config = uvicorn.Config(
            create_app(engine, settings),
            host=settings.host,
            port=settings.http_port,
            log_level=uvicorn_level,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            lifespan="off",
            server_header=False,
        )
        server = uvicorn.Server(config)
        server.run()  # SIGTERM/SIGINT: uvicorn stops accepting, finishes requests, returns
        return 0 if server.started else 1
    finally:
        if engine is not None:
            engine.close()
            print(f"{STANDIN_NAME}: storage closed, stopped", flush=True)
