"""A call an open circuit breaker refused (``DependencyUnavailable(sent=False)``: nothing
reached the dependency) is not one of the job's attempts, in either phase: the job waits for
the breaker, however many refusals that takes, and then succeeds; failures whose request was
sent still count and dead-letter the job.

A worker runs in this process against the session stack's Redis (its own key prefix), with
stubs in place of the vector pipeline (its embedder's breaker) and of the LightRAG client,
so a refusal is scripted instead of waiting for a real breaker to open.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shield_rag.api.jobs import JobStatus
from shield_rag.errors import Dependency, DependencyUnavailable
from shield_rag.settings import Settings, load_settings
from shield_rag.worker.runner import Worker
from tests.integration.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.integration

MAX_ATTEMPTS = 2  # both phases' attempt budgets
REFUSALS = MAX_ATTEMPTS + 2  # more refusals than attempts
RETRY_AFTER = 0.6  # the stub breaker's reset time, above the worker's 0.5 s floor
TERMINAL = {s.value for s in JobStatus if s.terminal}


@dataclass
class Script:
    """A dependency that fails ``failures`` times (refused by its breaker unless ``sent``),
    then answers; each call records the attempt number the job had and when it came."""

    dependency: Dependency
    failures: int
    sent: bool = False
    calls: list[tuple[int, float]] = field(default_factory=list)

    def call(self, attempt: int) -> None:
        self.calls.append((attempt, time.monotonic()))
        if len(self.calls) <= self.failures:
            if self.sent:
                raise DependencyUnavailable(
                    self.dependency, f"{self.dependency} is unreachable: connection refused"
                )
            raise DependencyUnavailable(
                self.dependency,
                f"{self.dependency} is not called: circuit open after 5 consecutive failures; "
                "no request was sent",
                retry_after=RETRY_AFTER,
                sent=False,
            )

    def gaps(self) -> list[float]:
        times = [t for _unused, t in self.calls]
        return [b - a for a, b in itertools.pairwise(times)]


class StubPipeline:
    """The vector phase: its embedder call goes through ``script``; then one document is
    stashed for the graph stage."""

    def __init__(self, worker: Worker, script: Script) -> None:
        self.worker = worker
        self.script = script

    async def run(self, job: dict[str, str], progress: Any) -> dict[str, Any]:
        self.script.call(int(job["attempts"]))
        await self.worker.graph_docs.stash(job["id"], "d1", "The lamp is lit.", "stub")
        return {"documents": 1, "chunks": 1, "doc_ids": ["d1"], "graph": "queued"}


class StubLightRAG:
    """LightRAG's client: each insert goes through ``script``."""

    def __init__(self, worker: Worker, script: Script) -> None:
        self.worker = worker
        self.script = script
        self.job_id = ""  # the job whose graph stage runs

    async def insert(self, text: str, doc_id: str, source: str) -> None:
        raw = await self.worker.store.get_raw(self.job_id)
        self.script.call(int(raw["graph_attempts"]))

    async def close(self) -> None:
        return None


def _settings(stack: Stack) -> Settings:
    base = load_settings(stack.config_path)
    return base.model_copy(
        update={
            "redis": base.redis.model_copy(update={"key_prefix": f"defer-{uuid.uuid4().hex[:8]}"}),
            "worker": base.worker.model_copy(
                update={
                    "max_attempts": MAX_ATTEMPTS,
                    "graph_max_attempts": MAX_ATTEMPTS,
                    "backoff_base_seconds": 0.05,
                    "backoff_max_seconds": 0.1,
                    "block_ms": 100,
                    "graph_yield_seconds": 0.0,
                }
            ),
        }
    )


def _retried() -> tuple[float, float]:
    """This process' ``retried`` counts of the vector phase and of the graph stage."""
    return tuple(  # type: ignore[return-value]
        REGISTRY.get_sample_value(name, {"outcome": "retried"}) or 0.0
        for name in ("worker_jobs_total", "worker_graph_jobs_total")
    )


def _run_job(
    stack: Stack, vectors: Script, graph: Script
) -> tuple[dict[str, str], list[dict[str, Any]], float, float]:
    """Run one text job through an in-process worker with the two stubs; return its final
    record, its events and the growth of the vector and graph ``retried`` counters."""
    settings = _settings(stack)

    async def run() -> tuple[dict[str, str], list[dict[str, Any]], float, float]:
        worker = Worker(settings, name="deferral")
        assert worker.lightrag is not None and worker.graph_slots >= 1
        await worker.lightrag.close()
        lightrag = StubLightRAG(worker, graph)
        worker.pipeline = StubPipeline(worker, vectors)  # type: ignore[assignment]
        worker.lightrag = lightrag  # type: ignore[assignment]
        retried, graph_retried = _retried()
        created = await worker.store.create(
            kind="text",
            request={"type": "text", "text": "The lamp is lit.", "source": "stub"},
            source="stub",
            max_attempts=MAX_ATTEMPTS,
        )
        job_id = created.job_id
        lightrag.job_id = job_id
        task = asyncio.create_task(worker.run())
        try:

            async def ended() -> dict[str, str] | None:
                raw = await worker.store.get_raw(job_id)
                return raw if raw.get("status") in TERMINAL else None

            raw = await eventually(ended, 60, f"job {job_id} to end", interval=0.1)
            entries = await worker.redis.xrange(worker.store.keys.job_events(job_id))
            events = [json.loads(payload[b"data"]) for _id, payload in entries]
        finally:
            worker.request_stop()
            await asyncio.wait_for(task, 30)  # run() closes the worker
        after, graph_after = _retried()
        return raw, events, after - retried, graph_after - graph_retried

    return asyncio.run(run())


def _deferrals(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        e for e in events if e["event"] == name and "attempt not counted" in str(e.get("message"))
    ]


def test_refusals_of_an_open_breaker_are_not_attempts_in_either_phase(stack: Stack) -> None:
    vectors = Script("ollama", failures=REFUSALS)
    graph = Script("lightrag", failures=REFUSALS)
    raw, events, retried, graph_retried = _run_job(stack, vectors, graph)
    assert raw["status"] == "succeeded", raw
    assert raw["vectors_status"] == "succeeded" and raw["graph_status"] == "succeeded", raw
    # Every refused call and the one that went through were the job's first attempt.
    assert [a for a, _unused in vectors.calls] == [1] * (REFUSALS + 1)
    assert [a for a, _unused in graph.calls] == [1] * (REFUSALS + 1)
    assert raw["attempts"] == "1" and raw["graph_attempts"] == "1", raw
    # Re-queued no sooner than the breaker's retry_after.
    for script in (vectors, graph):
        assert all(gap >= RETRY_AFTER for gap in script.gaps()), script.gaps()
    # The same transitions and events as a retry, saying why, due after retry_after.
    for name, phase, dependency in (
        ("job.retrying", "retry-wait", "ollama"),
        ("job.graph_retrying", "graph-retry-wait", "lightrag"),
    ):
        waits = _deferrals(events, name)
        assert len(waits) == REFUSALS, events
        for e in waits:
            assert e["stage"] == phase, e
            lead = "" if dependency == "ollama" else "graph stage: "
            assert e["message"].startswith(
                f"{lead}{dependency} circuit open: waiting {RETRY_AFTER:.1f}s, attempt not counted"
            ), e
            assert "no request was sent" in e["error"], e
            assert e["next_attempt_at"] - e["ts"] >= RETRY_AFTER - 0.05, e
    retrying = [e for e in events if e["event"] == "job.retrying"]
    assert all(e["status"] == "queued" and e["attempts"] == 0 for e in retrying), retrying
    assert retried == REFUSALS and graph_retried == REFUSALS


@pytest.mark.parametrize("phase", ["vectors", "graph"])
def test_failures_whose_request_was_sent_still_dead_letter(stack: Stack, phase: str) -> None:
    """The control: a dependency that was called and failed (what opens its breaker) costs
    an attempt each time, and the job is dead after the phase's attempt budget."""
    failing = Script("ollama" if phase == "vectors" else "lightrag", failures=100, sent=True)
    fine = Script("ollama", failures=0)
    vectors, graph = (failing, fine) if phase == "vectors" else (fine, failing)
    raw, events, _unused, _unused = _run_job(stack, vectors, graph)
    assert raw["status"] == "dead", raw
    assert [a for a, _unused in failing.calls] == list(range(1, MAX_ATTEMPTS + 1))
    if phase == "vectors":
        assert raw["error"].startswith(f"gave up after {MAX_ATTEMPTS} attempts"), raw
        assert raw["attempts"] == str(MAX_ATTEMPTS)
    else:
        assert raw["error"].startswith(f"graph stage gave up after {MAX_ATTEMPTS} attempts"), raw
        assert raw["vectors_status"] == "succeeded" and raw["graph_status"] == "dead", raw
    assert "connection refused" in raw["error"]
    assert not [e for e in events if "attempt not counted" in str(e.get("message"))]
