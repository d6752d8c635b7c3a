"""Two-phase ingestion against the real stack: a job's chunks are searchable as soon as its
vector phase ends, while its graph stage (the LightRAG insert) is queued or blocked; the
graph stage retries and dead-letters on its own, and a worker killed with ``kill -9`` in the
graph stage loses nothing and indexes nothing twice.

LightRAG is blocked deterministically by stopping its process (SIGSTOP): requests to it are
accepted by the kernel and answered only after SIGCONT. This module runs its own stack
because it freezes and stops LightRAG and kills workers.
"""

from __future__ import annotations

import contextlib
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.stack import Stack, metric_value, running_stack
from tests.support.procs import ManagedProcess
from tests.support.sse import read_events
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration
CLAIM_IDLE = 3.0
GRAPH_MAX_ATTEMPTS = 2
TERMINAL_EVENTS = {"job.succeeded", "job.failed", "job.dead", "job.cancelled"}


@pytest.fixture(scope="module")
def gstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        Path(tmp_path_factory.mktemp("two-phase")),
        workers=2,
        worker_overrides={
            "claim_idle_seconds": CLAIM_IDLE,
            "graph_concurrency": 1,
            "graph_max_attempts": GRAPH_MAX_ATTEMPTS,
        },
    ) as s:
        yield s


@contextlib.contextmanager
def frozen(proc: ManagedProcess | None) -> Iterator[None]:
    """LightRAG stopped (SIGSTOP) inside the block, continued after it whatever happens."""
    assert proc is not None
    proc.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.signal(signal.SIGCONT)


def _submit_text(stack: Stack, word: str) -> str:
    body = {"type": "text", "text": f"The {word} lighthouse keeps its lamp lit.", "source": word}
    with stack.http() as c:
        r = c.post("/ingest-async", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def _found(stack: Stack, word: str) -> bool:
    with stack.http() as c:
        r = c.post("/search", json={"query": f"{word} lighthouse", "limit": 5})
    r.raise_for_status()
    return any(word in hit["text"] for hit in r.json()["results"])


def _wait_phase(stack: Stack, job_id: str, phase: str, states: set[str]) -> dict:
    seen: dict = {}

    def reached() -> bool:
        seen.update(stack.job(job_id))
        return (seen.get("phases") or {}).get(phase) in states

    wait_until(reached, 60, f"job {job_id} {phase} in {sorted(states)}", interval=0.1)
    return seen


def _inserts(stack: Stack, status: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{stack.lightrag_metrics_port}/metrics", timeout=5).text
    return (
        metric_value(text, "lightrag_operations_total", {"operation": "insert", "status": status})
        or 0.0
    )


def _worker_metric(stack: Stack, name: str, labels: dict[str, str] | None = None) -> float:
    total = 0.0
    for worker, port in stack.worker_metrics.items():
        if stack.workers[worker].alive():
            total += metric_value(stack.metrics(port), name, labels) or 0.0
    return total


def test_chunks_are_searchable_while_the_graph_stage_is_blocked(gstack: Stack) -> None:
    word = f"vesper{uuid.uuid4().hex[:8]}"
    with frozen(gstack.lightrag):
        job_id = _submit_text(gstack, word)
        job = _wait_phase(gstack, job_id, "vectors", {"succeeded"})
        # Searchable, the graph stage waiting on LightRAG, the job not finished.
        assert job["status"] == "running", job
        assert job["phases"]["graph"] in {"queued", "running"}, job
        assert job["result"]["graph"] == "queued" and job["result"]["chunks"] >= 1
        assert _found(gstack, word)
        # The graph stage's queue metrics see the waiting job (refreshed every 0.5 s).
        wait_until(
            lambda: _worker_metric(gstack, "worker_graph_queue_depth") >= 1,
            10,
            "worker_graph_queue_depth to count the job",
        )
        assert _worker_metric(gstack, "worker_graph_queue_lag_seconds") > 0
    job = gstack.wait_job(job_id)
    assert job["status"] == "succeeded", job
    assert job["phases"] == {"vectors": "succeeded", "graph": "succeeded"}
    assert job["result"]["graph"] == "indexed" and job["progress"] == 1.0


def test_sse_events_carry_the_phase_transitions(gstack: Stack) -> None:
    job_id = _submit_text(gstack, f"aster{uuid.uuid4().hex[:8]}")
    events = read_events(
        gstack.base_url, f"/jobs/{job_id}/events", until_event=TERMINAL_EVENTS, timeout=90
    )
    names = [e.event for e in events]
    assert names[-1] == "job.succeeded", names
    handoff = names.index("job.vectors_succeeded")
    assert names.index("job.started") < handoff < names.index("job.graph_started"), names
    data = [json.loads(e.data) for e in events]
    assert data[handoff]["phases"] == {"vectors": "succeeded", "graph": "queued"}
    assert data[names.index("job.graph_started")]["phases"] == {"graph": "running"}
    assert data[-1]["phases"] == {"graph": "succeeded"} and data[-1]["status"] == "succeeded"
    progress = [d["progress"] for d in data if "progress" in d]
    assert progress == sorted(progress), progress


def test_kill_9_in_the_graph_stage_loses_nothing_and_indexes_once(gstack: Stack) -> None:
    word = f"quill{uuid.uuid4().hex[:8]}"
    indexed_before = _inserts(gstack, "success")
    reclaimed_before = _worker_metric(gstack, "worker_graph_reclaimed_total")
    with frozen(gstack.lightrag):
        job_id = _submit_text(gstack, word)
        _wait_phase(gstack, job_id, "graph", {"running"})
        raw = gstack.redis_cli().hgetall(f"shield:job:{job_id}")
        victim = raw[b"graph_worker"].decode()
        assert victim in gstack.workers
        gstack.workers[victim].kill9()
    job = gstack.wait_job(job_id, timeout=CLAIM_IDLE + 90)
    assert job["status"] == "succeeded", job
    assert job["phases"] == {"vectors": "succeeded", "graph": "succeeded"}
    assert _found(gstack, word)
    # Indexed by LightRAG exactly once: the killed attempt's request or the survivor's, the
    # other one answered "already indexed".
    assert _inserts(gstack, "success") - indexed_before == 1
    assert _worker_metric(gstack, "worker_graph_reclaimed_total") - reclaimed_before == 1
    after = gstack.redis_cli().hgetall(f"shield:job:{job_id}")
    assert after[b"graph_worker"].decode() != victim
    assert not gstack.redis_cli().exists(f"shield:job:{job_id}:graph-docs")
    gstack.start_worker(victim)  # the next test counts on two workers again


def test_cancel_while_the_graph_stage_waits_for_a_slot_is_at_once(gstack: Stack) -> None:
    slots = len(gstack.workers)  # one graph slot per worker (graph_concurrency 1)
    with frozen(gstack.lightrag):
        busy = [_submit_text(gstack, f"slate{uuid.uuid4().hex[:8]}") for _unused in range(slots)]
        for job_id in busy:
            _wait_phase(gstack, job_id, "graph", {"running"})
        waiting = _submit_text(gstack, f"flint{uuid.uuid4().hex[:8]}")
        job = _wait_phase(gstack, waiting, "vectors", {"succeeded"})
        assert job["phases"]["graph"] == "queued", job  # every graph slot is blocked
        with gstack.http() as c:
            r = c.delete(f"/jobs/{waiting}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["phases"] == {"vectors": "succeeded", "graph": "cancelled"}
    for job_id in busy:
        assert gstack.wait_job(job_id)["status"] == "succeeded"
    assert gstack.job(waiting)["status"] == "cancelled"


def test_graph_stage_retries_then_dead_letters_and_the_vectors_stay(gstack: Stack) -> None:
    assert gstack.lightrag is not None
    gstack.lightrag.stop()  # refused connections: a LightRAG that is down
    word = f"ember{uuid.uuid4().hex[:8]}"
    dead_before = _worker_metric(gstack, "worker_graph_jobs_total", {"outcome": "dead"})
    job_id = _submit_text(gstack, word)
    job = gstack.wait_job(job_id, timeout=60)
    assert job["status"] == "dead", job
    assert job["phases"] == {"vectors": "succeeded", "graph": "dead"}
    assert f"graph stage gave up after {GRAPH_MAX_ATTEMPTS} attempts" in job["error"]
    assert "LightRAG" in job["error"]
    assert _found(gstack, word)
    events = read_events(gstack.base_url, f"/jobs/{job_id}/events", until_event=TERMINAL_EVENTS)
    names = [e.event for e in events]
    assert names.count("job.graph_started") == GRAPH_MAX_ATTEMPTS, names
    assert names.count("job.graph_retrying") == GRAPH_MAX_ATTEMPTS - 1, names
    assert names[-1] == "job.dead"
    dead = _worker_metric(gstack, "worker_graph_jobs_total", {"outcome": "dead"})
    assert dead - dead_before == 1
