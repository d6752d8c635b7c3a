"""Local demo: start the Shield data plane on 127.0.0.1, ingest a few documents, ask.

Run with ``make demo-local`` (``make demo`` deploys the stack with the collection's roles into
a systemd container instead: tests/demo_stack.py). Redis is Debian's redis-server; **Qdrant
and Ollama are stand-ins** (``tests/standins``: Qdrant's REST API over qdrant-client's local
engine, and Ollama's API with a deterministic lexical embedder and an extractive answerer)
because neither server can be installed here. Set ``SHIELD_TEST_QDRANT_URL`` /
``SHIELD_TEST_OLLAMA_URL`` to use real ones. LightRAG, the orchestrator and the workers are the
real Shield services.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.demo_common import ask, ingest, print_standins
from tests.integration.stack import Stack


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.demo", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the stack running (Ctrl-C)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="shield-demo-"))
    print(f"Starting the Shield stack under {root} (Qdrant and Ollama are STAND-INS) ...")
    stack = Stack(root, workers=2)
    try:
        stack.start()
        with stack.http(timeout=120) as http:
            try:
                ingest(http, timeout=120)
            except (TimeoutError, RuntimeError):
                print(stack.logs_tail(), file=sys.stderr)
                raise
            ask(http)
        print("\nServices (all on 127.0.0.1, local processes):")
        print(f"  orchestrator API   {stack.base_url}  (OpenAPI docs at /docs)")
        print(f"  orchestrator metrics http://127.0.0.1:{stack.orch_metrics_port}/metrics")
        print(f"  LightRAG service   http://127.0.0.1:{stack.lightrag_port}")
        print(f"  Qdrant (stand-in)  {stack.qdrant_url}")
        print(f"  Ollama (stand-in)  {stack.ollama_url}")
        print_standins(
            "Redis, the LightRAG service, the orchestrator and two workers, as local processes."
        )
        if args.keep:
            print("\nRunning; press Ctrl-C to stop.")
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
