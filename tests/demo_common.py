"""What both demos do once a stack runs: ingest the sample documents, ask, print.

``tests.demo`` (``make demo-local``: the services as local processes) and ``tests.demo_stack``
(``make demo``: the stack deployed into a systemd container by the collection's roles) call
these with an ``httpx.Client`` whose base URL is the orchestrator API (and which sends its key).
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.documents import make_pdf
from tests.support.wait import wait_until

DATA = Path(__file__).with_name("demo_data")
QUESTIONS = [
    ("search", "What is the draught of the grain berth?"),
    ("search", "When does the orchard harvest start?"),
    ("lightrag", "How many wheels does the observatory dome rotate on?"),
    ("lightrag", "How heavy is the Halvorsen lighthouse lens?"),
]
# Asked through the MCP server's qdrant_find tool where the demo runs one.
MCP_QUESTION = "Who approves every night arrival at the Port of Elsmere?"
FINAL = {"succeeded", "failed", "dead", "cancelled"}
STANDINS = (
    "Qdrant and Ollama are STAND-INS (tests/standins), because neither server can be installed "
    "here: the Qdrant server is the Qdrant stand-in (Qdrant's REST API over qdrant-client's local "
    "engine) and Ollama is the Ollama stand-in (a deterministic lexical embedder and an "
    "extractive answerer). Everything else is the real product"
)


def documents() -> list[tuple[str, bytes]]:
    """The files in tests/demo_data and a PDF made on the fly, as (name, bytes)."""
    docs = [(path.name, path.read_bytes()) for path in sorted(DATA.iterdir())]
    docs.append(("lighthouse.pdf", make_pdf()))
    return docs


def wait_job(http: httpx.Client, job_id: str, timeout: float) -> dict[str, Any]:
    """Poll ``GET /jobs/{job_id}`` until the job is final; TimeoutError after ``timeout`` s."""

    def final() -> dict[str, Any] | None:
        r = http.get(f"/jobs/{job_id}")
        r.raise_for_status()
        job: dict[str, Any] = r.json()
        return job if job["status"] in FINAL else None

    return wait_until(final, timeout, f"job {job_id} to finish", interval=0.2)


def ingest(http: httpx.Client, timeout: float) -> None:
    """Upload every sample document (POST /ingest-async), then wait for each job."""
    jobs = []
    for name, data in documents():
        r = http.post("/ingest-async", files={"file": (name, data)})
        r.raise_for_status()
        jobs.append((name, r.json()["job_id"]))
    deadline = time.monotonic() + timeout
    for name, job_id in jobs:
        job = wait_job(http, job_id, max(deadline - time.monotonic(), 0.0))
        if job["status"] != "succeeded":
            raise RuntimeError(f"ingesting {name} ended {job['status']}: {job['error']}")
        print(f"  ingested {name:<16} {job['status']:<10} chunks={job['result']['chunks']}")


def print_standins(real: str) -> None:
    """Say plainly which parts are stand-ins; ``real`` names the real parts and how they run."""
    print("\n" + textwrap.fill(f"{STANDINS}: {real}", 96))


def format_hit(hit: dict[str, Any]) -> str:
    return f"{hit['text']}  [{hit['source']}, score {hit['score']:.2f}]"


def print_answer(kind: str, question: str, answer: str) -> None:
    print(f"\nQ ({kind}): {question}")
    print(textwrap.indent(textwrap.fill(answer, 96), "A: "))


def ask(http: httpx.Client) -> None:
    """Ask QUESTIONS: vector search (POST /search) and LightRAG (POST /lightrag/query)."""
    for kind, question in QUESTIONS:
        if kind == "search":
            r = http.post("/search", json={"query": question, "limit": 1})
            r.raise_for_status()
            hits = r.json()["results"]
            answer = format_hit(hits[0]) if hits else "(no result)"
        else:
            r = http.post("/lightrag/query", json={"query": question, "mode": "hybrid"})
            r.raise_for_status()
            answer = r.json()["response"]
        print_answer(kind, question, answer)
