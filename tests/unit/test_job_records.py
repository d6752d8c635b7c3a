"""Job records: the Redis hash JobStore writes and reads, statuses."""

from __future__ import annotations

import json

import pytest

from shield_rag.api.jobs import (
    TERMINAL,
    JobPhases,
    JobRecord,
    JobStatus,
)


def _to_hash(record: JobRecord) -> dict[str, str]:
    """The Redis hash JobStore writes for ``record`` (every value a string, '' for none)."""

    def opt(value: float | None) -> str:
        return "" if value is None else repr(value)

    return {
        "id": record.job_id,
        "kind": record.kind,
        "status": record.status.value,
        "progress": f"{record.progress:.4f}",
        "stage": record.stage or "",
        "message": record.message or "",
        "error": record.error or "",
        "attempts": str(record.attempts),
        "max_attempts": str(record.max_attempts),
        "created_at": repr(record.created_at),
        "updated_at": repr(record.updated_at),
        "started_at": opt(record.started_at),
        "finished_at": opt(record.finished_at),
        "next_attempt_at": opt(record.next_attempt_at),
        "cancel_requested": "1" if record.cancel_requested else "0",
        "source": record.source or "",
        "worker": record.worker or "",
        "result": json.dumps(record.result) if record.result is not None else "",
        "vectors_status": record.phases.vectors if record.phases else "",
        "graph_status": record.phases.graph if record.phases else "",
        # Stored but not part of the record clients see:
        "request": '{"type":"text","text":"x"}',
        "idempotency_key": "",
        "last_progress_at": "",
    }


# -- JobRecord.from_hash ------------------------------------------------------------------
def test_freshly_created_job_hash() -> None:
    # Exactly the fields JobStore.create writes.
    data = {
        "id": "a" * 32,
        "kind": "text",
        "status": "queued",
        "progress": "0",
        "stage": "queued",
        "attempts": "0",
        "max_attempts": "5",
        "created_at": "1700000000.25",
        "updated_at": "1700000000.25",
        "request": '{"type":"text","text":"hello"}',
        "source": "",
        "idempotency_key": "",
        "cancel_requested": "0",
    }
    record = JobRecord.from_hash(data)
    assert record == JobRecord(
        job_id="a" * 32,
        kind="text",
        status=JobStatus.QUEUED,
        progress=0.0,
        stage="queued",
        attempts=0,
        max_attempts=5,
        created_at=1700000000.25,
        updated_at=1700000000.25,
        phases=JobPhases(vectors="queued", graph="pending"),
    )
    assert record.source is None and record.error is None and record.result is None
    assert record.cancel_requested is False


@pytest.mark.parametrize(
    "record",
    [
        JobRecord(
            job_id="b" * 32,
            kind="url",
            status=JobStatus.SUCCEEDED,
            progress=1.0,
            stage="done",
            message="done",
            attempts=2,
            max_attempts=5,
            created_at=1700000000.5,
            updated_at=1700000042.125,
            started_at=1700000010.0,
            finished_at=1700000042.125,
            source="https://example.org/",
            worker="host-123",
            result={"documents": 3, "chunks": 9, "doc_ids": ["x", "y", "z"], "skipped": []},
            phases=JobPhases(vectors="succeeded", graph="succeeded"),
        ),
        JobRecord(
            job_id="c" * 32,
            kind="document",
            status=JobStatus.QUEUED,
            progress=0.145,
            stage="retry-wait",
            message="retrying in 4.0s: boom",
            error="boom",
            attempts=2,
            max_attempts=3,
            created_at=1700000000.0,
            updated_at=1700000001.0,
            started_at=1700000000.5,
            next_attempt_at=1700000005.0,
            source="report.pdf",
            worker="w1",
            phases=JobPhases(vectors="queued", graph="pending"),
        ),
        JobRecord(
            job_id="d" * 32,
            kind="text",
            status=JobStatus.RUNNING,
            progress=0.5,
            stage="embed",
            attempts=1,
            max_attempts=1,
            created_at=1.0,
            updated_at=2.0,
            cancel_requested=True,
            phases=JobPhases(vectors="succeeded", graph="running"),
        ),
        JobRecord(
            job_id="e" * 32,
            kind="url",
            status=JobStatus.DEAD,
            error="gave up after 5 attempts; last error: 503",
            attempts=5,
            max_attempts=5,
            created_at=1.0,
            updated_at=9.0,
            finished_at=9.0,
            phases=JobPhases(vectors="succeeded", graph="dead"),
        ),
    ],
    ids=["succeeded", "retry-wait", "cancel-requested", "graph-dead"],
)
def test_from_hash_round_trip(record: JobRecord) -> None:
    assert JobRecord.from_hash(_to_hash(record)) == record
    # ... and through the JSON clients receive from GET /jobs/{id}.
    assert JobRecord.model_validate_json(record.model_dump_json()) == record


def test_from_hash_accepts_bytes_decoded_values_and_blank_optionals() -> None:
    data = {
        "id": "f" * 32,
        "kind": "document",
        "status": "failed",
        "progress": "",
        "stage": "",
        "message": "",
        "error": "the uploaded file is not a PDF",
        "attempts": "",
        "max_attempts": "",
        "created_at": "10.5",
        "updated_at": "",
        "started_at": "",
        "finished_at": "11",
        "next_attempt_at": "",
        "cancel_requested": "",
        "worker": "",
        "result": "",
    }
    record = JobRecord.from_hash(data)
    assert record.status is JobStatus.FAILED
    assert record.progress == 0.0
    assert record.stage is None and record.message is None and record.worker is None
    assert record.attempts == 0
    assert record.max_attempts == 1
    assert record.updated_at == record.created_at == 10.5  # falls back to created_at
    assert record.started_at is None and record.next_attempt_at is None
    assert record.finished_at == 11.0
    assert record.cancel_requested is False
    assert record.result is None


@pytest.mark.parametrize(("flag", "expected"), [("1", True), ("0", False), ("", False)])
def test_cancel_requested_flag(flag: str, expected: bool) -> None:
    data = {"id": "1" * 32, "kind": "text", "status": "running", "created_at": "1"}
    assert JobRecord.from_hash({**data, "cancel_requested": flag}).cancel_requested is expected


def test_from_hash_rejects_an_unknown_status() -> None:
    with pytest.raises(ValueError, match="paused"):
        JobRecord.from_hash({"id": "1" * 32, "kind": "text", "status": "paused", "created_at": "1"})


def test_from_hash_requires_id_and_created_at() -> None:
    with pytest.raises(KeyError):
        JobRecord.from_hash({"kind": "text", "status": "queued", "created_at": "1"})
    with pytest.raises(KeyError):
        JobRecord.from_hash({"id": "1" * 32, "kind": "text", "status": "queued"})


def test_terminal_statuses() -> None:
    assert {s for s in JobStatus if s.terminal} == set(TERMINAL)
    assert sorted(TERMINAL) == ["cancelled", "dead", "failed", "succeeded"]
    assert not JobStatus.QUEUED.terminal and not JobStatus.RUNNING.terminal


def test_the_encoders_built_once_write_what_json_dumps_wrote() -> None:
    """The accept path's JSON (job hash fields, the stored request, events, the idempotency
    hash input and the 202 body) uses encoders built once: byte for byte json.dumps's."""
    from shield_rag.jobs import records, store
    from shield_rag.orchestrator.routes import ingest

    value = {"b": "é ☃ \u2028", "a": [1, 2.5, None, True], "n": {"z": "x", "y": 1e100}}
    compact = json.dumps(value, separators=(",", ":"))
    assert records._COMPACT.encode(value) == compact
    assert store._CALL_JSON.encode(value) == json.dumps(
        value, ensure_ascii=False, separators=(",", ":")
    )
    assert ingest._HASH_JSON.encode(value) == json.dumps(value, sort_keys=True, default=str)
    assert ingest._RESPONSE_JSON.encode(value) == json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    with pytest.raises(ValueError, match="not JSON compliant"):
        ingest._RESPONSE_JSON.encode({"x": float("nan")})
    fields = records.new_job_fields(
        job_id="j",
        kind="text",
        request=value,
        source=None,
        max_attempts=3,
        idempotency_key=None,
        client="c",
        now=1.5,
    )
    assert fields["request"] == compact
