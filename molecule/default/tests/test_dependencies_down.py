"""A dependency of the orchestrator and the workers stopped: Qdrant, then the Ollama stand-in.

For each, in turn: the orchestrator's /readyz reports it (503, that check failing, Redis
still fine); an ingest job submitted through the MCP server meanwhile is retried with
exponential backoff (the delays the workers recorded are the configured ones) and the
record names the dependency; a search fails at once with an error that names it instead of
hanging; after a restart of the unit readiness comes back, the same job succeeds on a later
attempt and the search finds the document. The MCP server's breaker is closed at the end.

Then LightRAG stopped: only what needs it fails. lightrag_query fails naming lightrag until
the MCP server's lightrag breaker opens and then fails fast without a request, while
qdrant_find, qdrant_store, ingest_doc with graph=false and get_job_status keep working and
the breakers of the orchestrator, Qdrant and Ollama stay closed; after LightRAG is back the
lightrag breaker's probe closes it and lightrag_query answers again.

Every test takes the `host` fixture so that pytest keeps the file order.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from breakers import (
    RESET,
    THRESHOLD,
    TIMEOUT,
    WORKER,
    breaker,
    breakers,
    call,
    calls,
    readiness,
    watch_job,
)
from tests.support.molecule import figure
from tests.support.wait import wait_until

CHAOS = True  # after the other checks of the scenario (conftest.py)

BASE = float(WORKER["backoff_base_seconds"])
CAP = float(WORKER["backoff_max_seconds"])
# Long enough to see the delay double twice (attempts 1, 2, 3 fail).
RETRIES_SEEN = 3


def expected_delay(attempt: int) -> float:
    """The backoff the scenario configured: base * 2**(attempt-1), capped."""
    return min(CAP, BASE * 2 ** (attempt - 1))


def retry_delays(records: list[dict[str, Any]]) -> dict[int, float]:
    """Attempt number -> seconds the worker scheduled until the next attempt."""
    return {
        r["attempts"]: r["next_attempt_at"] - r["updated_at"]
        for r in records
        if r["stage"] == "retry-wait" and r.get("next_attempt_at")
    }


@pytest.mark.parametrize(
    ("unit", "check", "name"),
    [
        ("qdrant.service", "qdrant", "Qdrant"),
        ("ollama.service", "ollama", "Ollama"),
    ],
    ids=["qdrant", "ollama"],
)
def test_stopped_dependency_is_reported_retried_and_recovered(
    host: Any, unit: str, check: str, name: str
) -> None:
    marker = uuid.uuid4().hex
    text = f"Shield dependency drill {marker}: the {name} outage document."
    assert readiness(host)[0] == 200

    assert host.run(f"systemctl stop {unit}").rc == 0
    stopped = time.monotonic()
    try:
        _unused, checks = wait_until(
            lambda: (r := readiness(host))[0] == 503 and not r[1][check]["ok"] and r,
            15,
            f"/readyz to report {check}",
            interval=0.2,
        )
        reported = time.monotonic() - stopped
        assert checks["redis"]["ok"], checks
        assert checks[check]["error"], checks

        accepted = call("ingest_doc", {"text": text, "source": f"drill-{marker}"})
        assert not accepted.is_error, accepted
        job_id = accepted.value["job_id"]
        records = watch_job(
            job_id,
            timeout=sum(expected_delay(a) for a in range(1, RETRIES_SEEN + 1)) + 30,
            until=lambda r: r["attempts"] > RETRIES_SEEN,
        )
        delays = retry_delays(records)
        for attempt in range(1, RETRIES_SEEN + 1):
            assert delays.get(attempt) == pytest.approx(expected_delay(attempt), abs=0.5), delays
        failed = [r for r in records if r["stage"] == "retry-wait"]
        assert all(name in (r["error"] or "") for r in failed), failed

        search = call("qdrant_find", {"query": text})
        assert search.is_error, search
        # The error names the dependency at fault (the orchestrator's error model).
        assert f"dependency={check}" in search.value, search
        assert name in search.value, search
        assert search.seconds < TIMEOUT + 1.0, search
    finally:
        host.run(f"systemctl start {unit}")

    restarted = time.monotonic()
    wait_until(lambda: readiness(host)[0] == 200, 60, "/readyz ready again", interval=0.5)
    ready = time.monotonic() - restarted
    [*_unused, done] = watch_job(
        job_id,
        timeout=CAP + 60,
        until=lambda r: r["status"] in {"succeeded", "failed", "dead", "cancelled"},
    )
    assert done["status"] == "succeeded", done
    assert done["attempts"] > RETRIES_SEEN, done
    found = call("qdrant_find", {"query": text, "limit": 3})
    assert not found.is_error, found
    assert any(marker in hit["text"] for hit in found.value["results"]), found
    assert breaker() == "closed"
    figure(
        f"{check} stopped",
        readyz_reported_s=reported,
        retry_delays_s=" ".join(f"{delays[a]:.2f}" for a in sorted(delays)),
        search_error_s=search.seconds,
        ready_after_start_s=ready,
        job_done_after_start_s=time.monotonic() - restarted,
        attempts=done["attempts"],
    )


TERMINAL = {"succeeded", "failed", "dead", "cancelled"}
QUESTION = {"query": "What does the dependency drill document say?", "mode": "naive"}


def test_lightrag_down_stops_only_the_tool_that_needs_it(host: Any) -> None:
    marker = uuid.uuid4().hex
    assert host.run("systemctl stop shield-lightrag.service").rc == 0
    stopped = time.monotonic()
    try:
        failing = calls("lightrag_query", QUESTION, THRESHOLD)
        assert all(c.is_error and "dependency=lightrag" in c.value for c in failing), failing
        assert breakers()["lightrag"]["state"] == "open"
        fast = call("lightrag_query", QUESTION)
        assert fast.is_error, fast
        assert "no request was sent" in fast.value, fast
        assert "retry_after=" in fast.value, fast

        text = f"LightRAG outage note {marker}: vector search does not need the graph."
        stored = call("qdrant_store", {"text": text, "source": f"outage-note-{marker}"})
        assert not stored.is_error, stored
        found = call("qdrant_find", {"query": text, "limit": 3})
        assert not found.is_error, found
        assert any(marker in hit["text"] for hit in found.value["results"]), found

        doc = f"LightRAG outage document {marker}, ingested without the knowledge graph."
        accepted = call("ingest_doc", {"text": doc, "source": f"outage-{marker}", "graph": False})
        assert not accepted.is_error, accepted
        [*_unused, done] = watch_job(
            accepted.value["job_id"], timeout=60, until=lambda r: r["status"] in TERMINAL
        )
        assert done["status"] == "succeeded", done
        assert done["result"]["graph"] == "skipped", done
        found = call("qdrant_find", {"query": doc, "limit": 3})
        assert any(marker in hit["text"] for hit in found.value["results"]), found

        states = breakers()
        for target in ("orchestrator", "qdrant", "ollama", "redis"):
            assert states[target]["state"] == "closed", states
        assert breaker() == "closed"
    finally:
        host.run("systemctl start shield-lightrag.service")

    restarted = time.monotonic()
    wait_until(lambda: readiness(host)[0] == 200, 60, "/readyz ready again", interval=0.5)
    answered = wait_until(
        lambda: (c := call("lightrag_query", QUESTION)) and not c.is_error and c,
        RESET + 60,
        "lightrag_query to answer again after the probe",
        interval=1.0,
    )
    assert answered.value["response"], answered
    assert breakers()["lightrag"]["state"] == "closed"
    figure(
        "lightrag stopped",
        lightrag_down_s=restarted - stopped,
        failing_calls=len(failing),
        fail_fast_ms=fast.seconds * 1000,
        answering_again_after_start_s=time.monotonic() - restarted,
    )
