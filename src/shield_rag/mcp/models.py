"""What the tools return (each becomes the tool's output schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from shield_rag.jobs.models import JobRecord

MetadataValue = str | int | float | bool | None


class JobAccepted(BaseModel):
    """An ingest job was accepted (HTTP 202); it runs in the background."""

    job_id: str = Field(description="Pass it to wait_for_job or get_job_status")
    status: str = Field(description="queued at first; running, succeeded, failed, dead, cancelled")
    kind: str = Field(description="url (crawl), text or document (upload)")
    track_url: str = Field(description="Orchestrator URL of the job's status (GET)")
    events_url: str = Field(description="Orchestrator URL of the job's progress events (SSE)")
    created: bool = Field(description="False when an idempotency_key replayed an earlier job")
    next_step: str = Field(description="What to do next")


class JobStatus(JobRecord):
    """A job's state; ``result`` holds counts (pages, chunks) once it succeeded."""


class JobWait(JobRecord):
    """A job's state when wait_for_job returned."""

    done: bool = Field(description="True when the job reached a final status")
    waited_seconds: float
    hint: str = Field(description="What to do next")


class SearchHit(BaseModel):
    id: str
    score: float
    text: str
    source: str | None = None
    title: str | None = None
    doc_id: str | None = None
    chunk_index: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class SearchResult(BaseModel):
    """Chunks most similar to the query, best first."""

    results: list[SearchHit]
    limit: int
    offset: int


class StoreResult(BaseModel):
    """Entries stored now (searchable at once); storing the same source again replaces it."""

    ids: list[str]
    count: int


class LightRAGAnswer(BaseModel):
    """LightRAG's answer, grounded in the ingested documents."""

    response: str
    mode: str
