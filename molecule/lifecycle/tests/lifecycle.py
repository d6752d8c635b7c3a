"""What the lifecycle checks drive, from the controller: the collection's playbooks against the
scenario's inventory (as an operator runs them), the two orchestrators through the ports the
hosts publish on 127.0.0.1, and a bounded load of ingests and searches on both."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.support.documents import REPORT_SENTENCES
from tests.support.molecule import HonourRetryAfter, run_secrets

_PORTS = {"shield-life-1": ("LIFE1", "18652"), "shield-life-2": ("LIFE2", "18662")}
APIS = {
    host: f"http://127.0.0.1:{os.environ.get(f'SHIELD_MOLECULE_{name}_API_PORT', port)}"
    for host, (name, port) in _PORTS.items()
}
QUERIES = [
    "cooling pumps rotation",
    "flooded tunnel cables",
    "ferry schedule harbour office",
]


def client(host: str = "shield-life-1", timeout: float = 15, polite: bool = True) -> httpx.Client:
    """A client of one orchestrator; ``polite`` waits out 429s (the checks poll many jobs)."""
    key = run_secrets()["SHIELD_MOLECULE_ORCHESTRATOR_API_KEY"]
    return httpx.Client(
        base_url=APIS[host],
        headers={"Authorization": f"Bearer {key}"},
        timeout=timeout,
        transport=HonourRetryAfter() if polite else None,
    )


def document(tag: str, n: int) -> dict[str, Any]:
    body = " ".join(
        f"{REPORT_SENTENCES[(n + i) % len(REPORT_SENTENCES)]} (part {i})" for i in range(12)
    )
    return {
        "type": "text",
        "text": f"Station report {n} ({tag}). {body}",
        "title": f"Station report {n}",
        "source": f"report-{tag}-{n}",
        "metadata": {"tag": tag},
    }


def submit(http: httpx.Client, body: dict[str, Any]) -> str:
    response = http.post("/ingest-async", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def searches(http: httpx.Client) -> dict[str, list[tuple[str, float]]]:
    """Each query's hits as (id, score), in order."""
    out = {}
    for query in QUERIES:
        response = http.post("/search", json={"query": query, "limit": 5})
        assert response.status_code == 200, response.text
        out[query] = [(hit["id"], hit["score"]) for hit in response.json()["results"]]
    return out


def answers(http: httpx.Client) -> dict[str, str]:
    """LightRAG's answer to each query."""
    out = {}
    for query in QUERIES[:2]:
        response = http.post("/lightrag/query", json={"query": query, "mode": "hybrid"})
        assert response.status_code == 200, response.text
        out[query] = str(response.json()["response"])
    return out


@dataclass
class Load:
    """Ingests and searches on both orchestrators, alternately, at most ``rate`` requests per
    second and ``limit`` requests in all, until stopped (or ``max_seconds``). Records every
    accepted job and every answer's time and outcome."""

    rate: float = 8.0
    limit: int = 1200
    max_seconds: float = 600.0
    jobs: list[tuple[str, str]] = field(default_factory=list)
    outcomes: list[tuple[float, str, str, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, name="lifecycle-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        clients = {host: client(host, timeout=5, polite=False) for host in APIS}
        start = time.monotonic()
        try:
            for n in range(self.limit):
                if self._stop.is_set() or time.monotonic() - start > self.max_seconds:
                    return
                host = list(APIS)[n % 2]
                kind = "ingest" if n % 4 < 2 else "search"
                ok = False
                try:
                    if kind == "ingest":
                        response = clients[host].post("/ingest-async", json=document(f"load{n}", n))
                        ok = response.status_code == 202
                        if ok:
                            self.jobs.append((host, str(response.json()["job_id"])))
                    else:
                        response = clients[host].post(
                            "/search", json={"query": QUERIES[n % len(QUERIES)], "limit": 3}
                        )
                        ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.outcomes.append((time.monotonic(), host, kind, ok))
                self._stop.wait(1 / self.rate)
        finally:
            for c in clients.values():
                c.close()

    def failures(self, kind: str) -> list[tuple[float, str]]:
        return [(t, host) for t, host, k, ok in self.outcomes if k == kind and not ok]
