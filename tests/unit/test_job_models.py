"""Job records, ingest request validation, retry backoff and SSE event ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shield_rag.api.jobs import (
    TERMINAL,
    IngestRequest,
    JobRecord,
    JobStatus,
    TextIngest,
    UrlIngest,
)
from shield_rag.jobs.queue import backoff_delay
from shield_rag.jobs.store import valid_event_id

INGEST: TypeAdapter[UrlIngest | TextIngest] = TypeAdapter(IngestRequest)


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
        # Stored but not part of the record clients see:
        "request": '{"type":"text","text":"x"}',
        "idempotency_key": "",
        "last_progress_at": "",
    }


def _errors(body: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as err:
        INGEST.validate_python(body)
    return err.value.errors()


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
        ),
    ],
    ids=["succeeded", "retry-wait", "cancel-requested", "dead"],
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


# -- IngestRequest (the JSON body of POST /ingest-async) ----------------------------------
def test_url_request() -> None:
    req = INGEST.validate_python(
        {
            "type": "url",
            "url": "https://example.org/",
            "allowed_domains": ["example.org", "docs.example.org"],
            "max_pages": 20,
            "max_depth": 0,
            "metadata": {"team": "docs", "v": 2, "w": 0.5, "ok": True, "none": None},
        }
    )
    assert isinstance(req, UrlIngest)
    assert req.url == "https://example.org/"
    assert req.allowed_domains == ["example.org", "docs.example.org"]
    assert (req.max_pages, req.max_depth) == (20, 0)
    assert req.metadata == {"team": "docs", "v": 2, "w": 0.5, "ok": True, "none": None}


def test_url_request_defaults() -> None:
    req = INGEST.validate_json('{"type": "url", "url": "https://example.org/"}')
    assert isinstance(req, UrlIngest)
    assert req.allowed_domains is None and req.max_pages is None and req.max_depth is None
    assert req.metadata == {}


def test_text_request() -> None:
    req = INGEST.validate_json(
        '{"type": "text", "text": "Hello.", "title": "T", "source": "s",'
        ' "metadata": {"a.b-c_d": 1}}'
    )
    assert isinstance(req, TextIngest)
    assert (req.text, req.title, req.source) == ("Hello.", "T", "s")
    assert req.metadata == {"a.b-c_d": 1}


def test_text_keeps_its_whitespace() -> None:
    req = INGEST.validate_python({"type": "text", "text": "  padded\n"})
    assert isinstance(req, TextIngest) and req.text == "  padded\n"


def test_missing_type() -> None:
    (err,) = _errors({"text": "no type"})
    assert err["type"] == "union_tag_not_found"


@pytest.mark.parametrize("tag", ["pdf", "document", "URL", ""])
def test_unknown_type(tag: str) -> None:
    (err,) = _errors({"type": tag, "text": "x"})
    assert err["type"] == "union_tag_invalid"


@pytest.mark.parametrize("text", ["", " ", "   \n\t  "])
def test_blank_text_is_refused(text: str) -> None:
    (err,) = _errors({"type": "text", "text": text})
    assert err["loc"] == ("text", "text")
    assert err["type"] in {"string_too_short", "value_error"}
    if err["type"] == "value_error":
        assert "blank" in err["msg"]


def test_missing_text_and_url() -> None:
    (err,) = _errors({"type": "text"})
    assert (err["loc"], err["type"]) == (("text", "text"), "missing")
    (err,) = _errors({"type": "url"})
    assert (err["loc"], err["type"]) == (("url", "url"), "missing")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "text", "text": "x", "colour": "red"}, "colour"),
        ({"type": "text", "text": "x", "url": "https://example.org/"}, "url"),
        ({"type": "url", "url": "https://example.org/", "text": "x"}, "text"),
        ({"type": "url", "url": "https://example.org/", "depth": 1}, "depth"),
    ],
)
def test_extra_fields_are_refused(body: dict[str, Any], field: str) -> None:
    (err,) = _errors(body)
    assert err["type"] == "extra_forbidden"
    assert err["loc"] == (body["type"], field)


@pytest.mark.parametrize(
    "key", ["a", "_", "team", "Team_2", "a.b", "a-b", "x" * 64, "_private.v1-2"]
)
def test_metadata_keys_allowed(key: str) -> None:
    for kind, extra in (("text", {"text": "x"}), ("url", {"url": "https://example.org/"})):
        req = INGEST.validate_python({"type": kind, **extra, "metadata": {key: "v"}})
        assert req.metadata == {key: "v"}


@pytest.mark.parametrize(
    "key", ["", "bad key!", "1abc", "-a", ".a", "a b", "a/b", "é", "a:b", "x" * 65]
)
def test_metadata_keys_refused(key: str) -> None:
    for kind, extra in (("text", {"text": "x"}), ("url", {"url": "https://example.org/"})):
        errors = _errors({"type": kind, **extra, "metadata": {key: "v"}})
        assert errors[0]["type"] == "string_pattern_mismatch"
        assert errors[0]["loc"][:2] == (kind, "metadata")


@pytest.mark.parametrize("value", [{"nested": 1}, [1, 2], ["a"]])
def test_metadata_values_are_scalars(value: Any) -> None:
    errors = _errors({"type": "text", "text": "x", "metadata": {"k": value}})
    assert all(e["loc"][:3] == ("text", "metadata", "k") for e in errors)


def test_metadata_limits() -> None:
    ok = {f"k{i}": i for i in range(64)}
    assert INGEST.validate_python({"type": "text", "text": "x", "metadata": ok}).metadata == ok
    (err,) = _errors({"type": "text", "text": "x", "metadata": {**ok, "k64": 64}})
    assert "at most 64 metadata keys" in err["msg"]
    long_value = {"k": "v" * 4097}
    (err,) = _errors({"type": "url", "url": "https://example.org/", "metadata": long_value})
    assert "longer than 4096" in err["msg"]
    fits = {"k": "v" * 4096}
    assert INGEST.validate_python({"type": "text", "text": "x", "metadata": fits}).metadata == fits


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"max_pages": 0}, "max_pages"),
        ({"max_depth": -1}, "max_depth"),
        ({"allowed_domains": ["d"] * 51}, "allowed_domains"),
        ({"allowed_domains": [""]}, "allowed_domains"),
        ({"url": ""}, "url"),
        ({"url": "https://example.org/" + "a" * 2048}, "url"),
    ],
)
def test_url_field_bounds(extra: dict[str, Any], field: str) -> None:
    errors = _errors({"type": "url", "url": "https://example.org/", **extra})
    assert errors[0]["loc"][:2] == ("url", field)


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"title": "t" * 513}, "title"), ({"source": "s" * 2049}, "source")],
)
def test_text_field_bounds(extra: dict[str, Any], field: str) -> None:
    (err,) = _errors({"type": "text", "text": "x", **extra})
    assert err["loc"] == ("text", field)


def test_request_round_trips_through_the_stored_json() -> None:
    # The orchestrator stores model_dump(mode="json"); the worker reads it back.
    req = INGEST.validate_python(
        {"type": "text", "text": "Body.", "source": "s", "metadata": {"k": 1.5}}
    )
    stored = json.dumps(req.model_dump(mode="json"))
    assert INGEST.validate_json(stored) == req


# -- backoff_delay ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempt", "expected"), [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (8, 256.0), (9, 300.0)]
)
def test_backoff_doubles_from_base_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, 2.0, 300.0) == expected


@pytest.mark.parametrize("attempt", [0, -1, -100])
def test_backoff_before_the_first_attempt_is_the_base(attempt: int) -> None:
    assert backoff_delay(attempt, 2.0, 300.0) == 2.0


def test_backoff_is_a_float_and_capped() -> None:
    assert isinstance(backoff_delay(1, 2, 300), float)
    assert backoff_delay(1, 0.2, 2.0) == pytest.approx(0.2)
    assert backoff_delay(4, 0.2, 2.0) == pytest.approx(1.6)
    assert backoff_delay(5, 0.2, 2.0) == 2.0
    assert backoff_delay(1, 10.0, 5.0) == 5.0  # the cap wins even over the base
    assert backoff_delay(100, 2.0, 300.0) == 300.0  # worker.max_attempts is at most 100


def test_backoff_never_decreases() -> None:
    delays = [backoff_delay(n, 1.5, 100.0) for n in range(1, 30)]
    assert delays == sorted(delays)


# -- valid_event_id -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["0-0", "1700000000000-0", "1700000000000-15", "1-2", "9" * 20 + "-" + "9" * 20],
)
def test_valid_event_ids(value: str) -> None:
    assert valid_event_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "1",
        "1700000000000",  # Redis accepts a bare ms time; the API wants what it sent
        "1-",
        "-1",
        "-",
        "1-2-3",
        "1--2",
        "$",
        ">",
        "+",
        "*",
        "0-0 ",
        " 0-0",
        "1.5-0",
        "+1-0",
        "0x1-0",
        "\u0661\u0662-\u0660",  # Arabic-Indic digits pass str.isdigit
        "²-0",  # so does a superscript two
        "9" * 20 + "-" + "9" * 21,  # 42 characters
    ],
)
def test_invalid_event_ids(value: str) -> None:
    assert not valid_event_id(value)
