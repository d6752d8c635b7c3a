"""What the lifecycle checks drive, from the controller: the collection's playbooks against the
scenario's inventory (as an operator runs them), the two orchestrators through the ports the
hosts publish on 127.0.0.1, and a bounded load of ingests and searches on both."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.support.documents import REPORT_SENTENCES
from tests.support.molecule import HonourRetryAfter, run_secrets

ROOT = Path(__file__).resolve().parents[3]
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
class Run:
    """An ansible-playbook run: exit status, output, seconds, and when each line came."""

    rc: int
    output: str
    seconds: float
    lines: list[tuple[float, str]] = field(default_factory=list)

    def span(self, start: str, end: str | None = None) -> list[tuple[float, float]]:
        """(start, end) times of each stretch of output from a line containing ``start`` to
        the next such line (or ``end``, or the end of the run)."""
        marks = [t for t, line in self.lines if start in line]
        ends = [t for t, line in self.lines if end and end in line]
        last = self.lines[-1][0] if self.lines else 0.0
        spans = []
        for i, t in enumerate(marks):
            after = [e for e in ends if e > t]
            nxt = marks[i + 1] if i + 1 < len(marks) else last
            spans.append((t, min([nxt, *after])))
        return spans


def playbook(name: str, *args: str, timeout: float = 900) -> Run:
    """Run the collection's playbook ``name`` against the scenario's inventory, with the
    ansible.cfg Molecule wrote (SSH pipelining, this run's key)."""
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(ephemeral / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    command = [
        "ansible-playbook",
        "-i",
        str(ephemeral / "inventory"),
        f"shield.rag.{name}",
        *args,
    ]
    start = time.monotonic()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(  # noqa: S603 - the collection's own playbook, fixed arguments
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            for line in proc.stdout:
                lines.append((time.monotonic(), line.rstrip("\n")))
        finally:
            killer.cancel()
        rc = proc.wait()
    return Run(rc, "\n".join(line for _unused, line in lines), time.monotonic() - start, lines)


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
