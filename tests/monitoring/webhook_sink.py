"""Test-only webhook receiver for Alertmanager: records every notification it receives.

The ``grafana_alerts`` Molecule scenario runs it as a service on the monitoring host (where
Alertmanager reaches it on loopback) and reads what it recorded. Standard library only, so
the host's own ``python3`` runs it.

    python3 webhook_sink.py --port 9099 --out /var/lib/shield-webhook-sink/notifications.jsonl

``POST <any path>`` with a JSON body appends one line to ``--out``:
``{"received": <unix time>, "path": ..., "authorization": <header or null>, "body": <JSON>}``;
anything else, or a body that is not JSON, gets 400 and is not recorded.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY = 1 << 20


def make_handler(out: Path) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self.send_error(400, "expected a JSON body of at most 1 MiB")
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "body is not JSON")
                return
            record = {
                "received": time.time(),
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "body": body,
            }
            with lock, out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return  # one line per notification is in --out; keep the journal quiet

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.out))
    server.serve_forever()


if __name__ == "__main__":
    main()
