"""The two phases of an ingest job as clients see them (``phases`` of ``GET /jobs/{id}``),
derived from the job's Redis hash, and the phase fields its progress events carry."""

from __future__ import annotations

import json

import pytest

from shield_rag.api.jobs import JobPhases, JobRecord, job_phases
from shield_rag.jobs.records import event_json


def _hash(status: str, **fields: str) -> dict[str, str]:
    return {
        "id": "b" * 32,
        "kind": "text",
        "status": status,
        "max_attempts": "5",
        "created_at": "1700000000.0",
        **fields,
    }


@pytest.mark.parametrize(
    ("status", "fields", "vectors", "graph"),
    [
        # Accepted, not started.
        ("queued", {}, "queued", "pending"),
        # Vector phase running, or waiting for its retry.
        ("running", {"vectors_status": "running"}, "running", "pending"),
        ("queued", {"vectors_status": "running"}, "queued", "pending"),
        # Searchable; the graph stage queued, running, waiting for a retry.
        (
            "running",
            {"vectors_status": "succeeded", "graph_status": "queued"},
            "succeeded",
            "queued",
        ),
        (
            "running",
            {"vectors_status": "succeeded", "graph_status": "running"},
            "succeeded",
            "running",
        ),
        # Done: both phases, or vectors only (graph: false or LightRAG disabled).
        (
            "succeeded",
            {"vectors_status": "succeeded", "graph_status": "succeeded"},
            "succeeded",
            "succeeded",
        ),
        (
            "succeeded",
            {"vectors_status": "succeeded", "graph_status": "skipped"},
            "succeeded",
            "skipped",
        ),
        # The graph stage dead-lettered or failed: the vectors stay searchable.
        ("dead", {"vectors_status": "succeeded", "graph_status": "dead"}, "succeeded", "dead"),
        (
            "failed",
            {"vectors_status": "succeeded", "graph_status": "failed"},
            "succeeded",
            "failed",
        ),
        # Cancelled while the graph stage was queued.
        (
            "cancelled",
            {"vectors_status": "succeeded", "graph_status": "queued"},
            "succeeded",
            "cancelled",
        ),
        # The vector phase failed or died: the graph stage never ran.
        ("dead", {"vectors_status": "running"}, "dead", "skipped"),
        ("failed", {"vectors_status": "running"}, "failed", "skipped"),
        ("cancelled", {}, "cancelled", "skipped"),
    ],
)
def test_phases_follow_the_job(
    status: str, fields: dict[str, str], vectors: str, graph: str
) -> None:
    assert job_phases(_hash(status, **fields)) == JobPhases(vectors=vectors, graph=graph)  # type: ignore[arg-type]


def test_records_from_before_two_phases_get_phases_from_their_result() -> None:
    indexed = _hash("succeeded", result=json.dumps({"graph": "indexed"}, separators=(",", ":")))
    vectors_only = _hash("succeeded", result='{"graph":"skipped"}')
    assert JobRecord.from_hash(indexed).phases == JobPhases(vectors="succeeded", graph="succeeded")
    assert JobRecord.from_hash(vectors_only).phases == JobPhases(
        vectors="succeeded", graph="skipped"
    )


def test_record_carries_phases() -> None:
    record = JobRecord.from_hash(
        _hash("running", vectors_status="succeeded", graph_status="queued")
    )
    assert record.status.value == "running"
    assert record.model_dump()["phases"] == {"vectors": "succeeded", "graph": "queued"}


def test_events_carry_the_phases_a_change_sets() -> None:
    body = json.loads(
        event_json(
            "c" * 32,
            "job.vectors_succeeded",
            None,
            0.8,
            "graph-queued",
            "searchable",
            extra={"vectors_status": "succeeded", "graph_status": "queued", "result": "{}"},
        )
    )
    assert body["phases"] == {"vectors": "succeeded", "graph": "queued"}
    plain = json.loads(event_json("c" * 32, "job.progress", None, 0.5, "embed", "x"))
    assert "phases" not in plain
