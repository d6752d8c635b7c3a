"""Local demo: start the Shield data plane on 127.0.0.1, ingest a few documents, ask.

Run with ``make demo``. Redis is Debian's redis-server; **Qdrant and Ollama are stand-ins**
(``tests/standins``: Qdrant's REST API over qdrant-client's local engine, and Ollama's API
with a deterministic lexical embedder and an extractive answerer) because neither server can
be installed here. Set ``SHIELD_TEST_QDRANT_URL`` / ``SHIELD_TEST_OLLAMA_URL`` to use real
ones. LightRAG, the orchestrator and the workers are the real Shield services.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

from tests.integration.documents import make_pdf
from tests.integration.stack import Stack

DATA = Path(__file__).with_name("demo_data")
QUESTIONS = [
    ("search", "What is the draught of the grain berth?"),
    ("search", "When does the orchard harvest start?"),
    ("lightrag", "How many wheels does the observatory dome rotate on?"),
    ("lightrag", "How heavy is the Halvorsen lighthouse lens?"),
]


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
            jobs = []
            for path in sorted(DATA.iterdir()):
                r = http.post("/ingest-async", files={"file": (path.name, path.read_bytes())})
                r.raise_for_status()
                jobs.append((path.name, r.json()["job_id"]))
            r = http.post("/ingest-async", files={"file": ("lighthouse.pdf", make_pdf())})
            r.raise_for_status()
            jobs.append(("lighthouse.pdf", r.json()["job_id"]))
            for name, job_id in jobs:
                job = stack.wait_job(job_id, timeout=120)
                print(f"  ingested {name:<16} {job['status']:<10} chunks={job['result']['chunks']}")
            for kind, question in QUESTIONS:
                print(f"\nQ ({kind}): {question}")
                if kind == "search":
                    hit = http.post("/search", json={"query": question, "limit": 1}).json()
                    top = hit["results"][0]
                    answer = f"{top['text']}  [{top['source']}, score {top['score']:.2f}]"
                else:
                    answer = http.post(
                        "/lightrag/query", json={"query": question, "mode": "hybrid"}
                    ).json()["response"]
                print(textwrap.indent(textwrap.fill(answer, 96), "A: "))
        print("\nServices (all on 127.0.0.1):")
        print(f"  orchestrator API   {stack.base_url}  (OpenAPI docs at /docs)")
        print(f"  orchestrator metrics http://127.0.0.1:{stack.orch_metrics_port}/metrics")
        print(f"  LightRAG service   http://127.0.0.1:{stack.lightrag_port}")
        print(f"  Qdrant (stand-in)  {stack.qdrant_url}")
        print(f"  Ollama (stand-in)  {stack.ollama_url}")
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
