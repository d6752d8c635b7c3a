"""What the topology checks drive and observe, from the controller, through the ports the edge
host publishes on 127.0.0.1: the edge's HTTPS (verified against this run's lab CA) and HTTP
frontends, and Prometheus. The orchestrators, the worker host and the data host are reached
only through the edge, as clients reach them in production."""

from __future__ import annotations

import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.support.documents import REPORT_SENTENCES
from tests.support.molecule import HonourRetryAfter, run_secrets
from tests.support.wait import wait_until


def _port(name: str, default: str) -> str:
    return os.environ.get(f"SHIELD_MOLECULE_TOPO_{name}_PORT", default)


HTTPS = f"https://127.0.0.1:{_port('HTTPS', '18743')}"
HTTP = f"http://127.0.0.1:{_port('HTTP', '18780')}"
PROMETHEUS = f"http://127.0.0.1:{_port('PROMETHEUS', '18790')}"
MCP_URL = f"{HTTPS}/mcp"
ORCHESTRATORS = ("shield-topo-api-1", "shield-topo-api-2")
QUERIES = ("cooling pumps rotation", "flooded tunnel cables", "ferry schedule harbour office")


def lab_ca() -> Path:
    """The lab CA's certificate the edge role made on the controller for this run."""
    directory = os.environ.get("SHIELD_MOLECULE_LAB_CA_DIR", "")
    assert directory, "run through tests/molecule.sh: SHIELD_MOLECULE_LAB_CA_DIR not set"
    return Path(directory) / "ca.crt"


def trust() -> ssl.SSLContext:
    """Trust this run's lab CA only: a certificate it did not sign fails."""
    return ssl.create_default_context(cafile=str(lab_ca()))


def api_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {run_secrets()['SHIELD_MOLECULE_ORCHESTRATOR_API_KEY']}"}


def client(timeout: float = 15, polite: bool = True) -> httpx.Client:
    """A client of the orchestrators through the edge; ``polite`` waits out 429s."""
    return httpx.Client(
        base_url=HTTPS,
        headers=api_headers(),
        timeout=timeout,
        verify=trust(),
        transport=HonourRetryAfter(verify=trust()) if polite else None,
    )


def document(tag: str, n: int, parts: int = 12) -> dict[str, Any]:
    body = " ".join(
        f"{REPORT_SENTENCES[(n + i) % len(REPORT_SENTENCES)]} (part {i})" for i in range(parts)
    )
    return {
        "type": "text",
        "text": f"Relay report {n} ({tag}). {body}",
        "title": f"Relay report {n}",
        "source": f"relay-{tag}-{n}",
        "metadata": {"tag": tag},
    }


def prometheus(query: str) -> list[dict[str, Any]]:
    """An instant query's result vector."""
    response = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def edge_server_state(server: str) -> str:
    """The edge's state of one orchestrator (UP, DOWN ...) as Prometheus last scraped it."""
    series = prometheus(
        f'haproxy_server_status{{job="shield-edge",proxy="orchestrator",server="{server}"}} == 1'
    )
    return str(series[0]["metric"]["state"]) if series else "unknown"


def wait_edge_state(server: str, state: str, timeout: float = 60) -> float:
    """Seconds until the edge reports ``server`` in ``state`` (through Prometheus)."""
    start = time.monotonic()
    wait_until(
        lambda: edge_server_state(server) == state,
        timeout,
        f"the edge to see {server} {state}",
        interval=0.2,
    )
    return time.monotonic() - start


def firing(alert: str, **labels: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{PROMETHEUS}/api/v1/alerts", timeout=10)
    response.raise_for_status()
    return [
        a
        for a in response.json()["data"]["alerts"]
        if a["labels"].get("alertname") == alert
        and a["state"] == "firing"
        and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


@dataclass
class Load:
    """Searches and ingests through the edge from ``clients`` threads, each at most one request
    per ``interval`` seconds, one ingest in ten requests, until stopped, ``limit`` requests in
    all or ``max_seconds``; below the per-client rate limit. A request fails when
    its answer is not 200/202 or it raises; the clients retry nothing but what the edge does
    for them (a connection refused by a stopped server is sent to another)."""

    clients: int = 4
    interval: float = 0.2
    limit: int = 3000
    max_seconds: float = 300.0
    jobs: list[str] = field(default_factory=list)
    outcomes: list[tuple[float, str, bool, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Load:
        for n in range(self.clients):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _next(self) -> int | None:
        with self._lock:
            if self._count >= self.limit:
                return None
            self._count += 1
            return self._count

    def _run(self, worker: int) -> None:
        start = time.monotonic()
        with client(timeout=10, polite=False) as http:
            while not self._stop.is_set() and time.monotonic() - start < self.max_seconds:
                n = self._next()
                if n is None:
                    return
                kind = "ingest" if n % 10 == 0 else "search"
                ok, detail = False, ""
                try:
                    if kind == "ingest":
                        response = http.post("/ingest-async", json=document(f"load{worker}", n))
                        ok = response.status_code == 202
                        if ok:
                            self.jobs.append(str(response.json()["job_id"]))
                    else:
                        query = QUERIES[n % len(QUERIES)]
                        response = http.post("/search", json={"query": query, "limit": 3})
                        ok = response.status_code == 200
                    detail = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    detail = f"{type(exc).__name__}: {exc}"
                self.outcomes.append((time.monotonic(), kind, ok, detail))
                self._stop.wait(self.interval)

    def failures(self) -> list[tuple[float, str, bool, str]]:
        return [o for o in self.outcomes if not o[2]]
