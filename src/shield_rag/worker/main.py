"""``shield-worker``: run one ingestion worker process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from prometheus_client import start_http_server

from shield_rag import startup
from shield_rag.worker.runner import Worker

log = logging.getLogger("shield_rag.worker")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shield-worker", description=__doc__)
    parser.add_argument("--config", help="YAML settings file (default: $SHIELD_CONFIG)")
    parser.add_argument("--name", help="consumer name (default: <hostname>-<pid>)")
    parser.add_argument("--metrics-port", type=int, help="override worker.metrics_port")
    return parser.parse_args(argv)


async def _run(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop)
    await worker.run()


@startup.entry_point("shield-worker")
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = startup.load(args.config)
    port = args.metrics_port if args.metrics_port is not None else settings.worker.metrics_port
    if port:
        start_http_server(port, addr=settings.worker.metrics_host)
        log.info("metrics on http://%s:%d/metrics", settings.worker.metrics_host, port)
    asyncio.run(_run(Worker(settings, name=args.name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
