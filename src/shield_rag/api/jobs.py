"""Ingest jobs as clients see them: the ingest requests, a job's status and record, and the
answer to ``POST /ingest-async``."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shield_rag.api.fields import (
    BLANK_MESSAGE,
    MetadataKey,
    MetadataValue,
    Source,
    Title,
    check_metadata,
    is_blank,
)

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
JobKind = Literal["url", "text", "document"]
# A host name as the crawl compares them: ASCII labels (IDNA names as xn--), an optional
# leading dot (".example.org" means the same as "example.org") and root dot.
DOMAIN_PATTERN = r"^\.?[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?$"
AllowedDomain = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=DOMAIN_PATTERN)
]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED})


class UrlIngest(BaseModel):
    """Crawl a web site starting at ``url``."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["url"]
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL to start from")
    allowed_domains: list[AllowedDomain] | None = Field(
        None,
        min_length=1,
        max_length=50,
        description="Host names the crawl may visit, each with its sub-domains (international "
        "names in their xn-- form); default: only the url's host",
    )
    max_pages: int | None = Field(None, ge=1, description="Pages to fetch at most")
    max_depth: int | None = Field(None, ge=0, description="Link depth from the start page")
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict)
    graph: bool = Field(
        True,
        description="Also add the content to the LightRAG knowledge graph; false indexes it "
        "in the vector store only (and works while LightRAG is down)",
    )

    _meta = field_validator("metadata")(classmethod(lambda cls, v: check_metadata(v)))


class TextIngest(BaseModel):
    """Ingest raw text."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str = Field(min_length=1, description="The text to ingest")
    title: Title | None = None
    source: Source | None = Field(
        None, description="A stable name for the text (re-ingesting replaces it)"
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict)
    graph: bool = Field(
        True,
        description="Also add the content to the LightRAG knowledge graph; false indexes it "
        "in the vector store only (and works while LightRAG is down)",
    )

    _meta = field_validator("metadata")(classmethod(lambda cls, v: check_metadata(v)))

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if is_blank(v):
            raise ValueError(f"text {BLANK_MESSAGE}; send the document's text")
        return v


IngestRequest = Annotated[UrlIngest | TextIngest, Field(discriminator="type")]

VectorPhase = Literal["queued", "running", "succeeded", "failed", "dead", "cancelled"]
GraphPhase = Literal[
    "pending", "queued", "running", "succeeded", "skipped", "failed", "dead", "cancelled"
]


class JobPhases(BaseModel):
    """Where each phase of an ingest job is (see docs/jobs.md).

    ``vectors``: fetch → extract → chunk → embed → upsert; once ``succeeded`` the job's chunks
    are searchable. ``graph``: the LightRAG insert, its own queued stage: ``pending`` until the
    vectors are stored, ``skipped`` when the job asked ``graph: false``, LightRAG is disabled
    or the job ended before the stage ran.
    """

    vectors: VectorPhase
    graph: GraphPhase


def job_phases(data: dict[str, str]) -> JobPhases:
    """The phases of a job from its Redis hash (records from before the two-phase pipeline
    have no phase fields; theirs are derived from the status and result)."""
    status = JobStatus(data["status"])
    vectors = data.get("vectors_status") or ""
    if vectors != "succeeded":
        if status.terminal:
            vectors = status.value
        else:
            vectors = "queued" if status is JobStatus.QUEUED else "running"
    graph = data.get("graph_status") or ""
    if status.terminal:
        if graph in ("queued", "running"):
            graph = "failed" if status is JobStatus.SUCCEEDED else status.value
        elif not graph:
            indexed = '"graph":"indexed"' in (data.get("result") or "")
            graph = "succeeded" if status is JobStatus.SUCCEEDED and indexed else "skipped"
    elif not graph:
        graph = "pending"
    return JobPhases(vectors=vectors, graph=graph)  # type: ignore[arg-type]


class JobRecord(BaseModel):
    """A job as clients see it (``GET /jobs/{id}``)."""

    job_id: str
    kind: JobKind
    status: JobStatus
    progress: float = 0.0
    stage: str | None = None
    message: str | None = None
    error: str | None = None
    attempts: int = 0
    max_attempts: int
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    next_attempt_at: float | None = None
    cancel_requested: bool = False
    source: str | None = None
    worker: str | None = Field(None, description="The worker running (or that last ran) it")
    client: str | None = Field(
        None,
        description="The client that submitted it: its API client, the caller a delegate (the "
        "MCP server) named, or on an open API X-Shield-Client or ip:<address>",
    )
    result: dict[str, Any] | None = None
    phases: JobPhases | None = Field(
        None,
        description="Per-phase state: vectors (searchable once succeeded) and graph (the "
        "LightRAG stage); the job is succeeded only when both are done",
    )

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> JobRecord:
        def opt_float(key: str) -> float | None:
            raw = data.get(key)
            return float(raw) if raw not in (None, "") else None

        result_raw = data.get("result")
        return cls(
            job_id=data["id"],
            kind=data["kind"],  # type: ignore[arg-type]
            status=JobStatus(data["status"]),
            progress=float(data.get("progress") or 0.0),
            stage=data.get("stage") or None,
            message=data.get("message") or None,
            error=data.get("error") or None,
            attempts=int(data.get("attempts") or 0),
            max_attempts=int(data.get("max_attempts") or 1),
            created_at=float(data["created_at"]),
            updated_at=float(data.get("updated_at") or data["created_at"]),
            started_at=opt_float("started_at"),
            finished_at=opt_float("finished_at"),
            next_attempt_at=opt_float("next_attempt_at"),
            cancel_requested=data.get("cancel_requested") == "1",
            source=data.get("source") or None,
            worker=data.get("worker") or None,
            client=data.get("client") or None,
            result=json.loads(result_raw) if result_raw else None,
            phases=job_phases(data),
        )


class JobAccepted(BaseModel):
    """The answer to ``POST /ingest-async`` (202)."""

    job_id: str = Field(pattern=JOB_ID_PATTERN, description="32 lowercase hex characters")
    status: JobStatus = Field(description="The job's status when the answer was made")
    kind: JobKind
    track_url: str = Field(description="Absolute URL of GET /jobs/{job_id}")
    events_url: str = Field(description="track_url + /events (SSE)")
    created: bool = Field(description="false when an Idempotency-Key replay returned a job")
