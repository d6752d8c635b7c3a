"""What the tools return (each becomes the tool's output schema).

The tools answer with the orchestrator's own response models (:mod:`shield_rag.api`),
derived here for an agent to read: a docstring of their own (the schema's description),
descriptions that name the tools rather than HTTP, and a field a tool adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ConfigDict, Field

from shield_rag.api.jobs import JobAccepted, JobRecord
from shield_rag.api.query import LightRAGAnswer
from shield_rag.api.search import SearchResponse
from shield_rag.api.store import StoreResponse


def described(**descriptions: str) -> ConfigDict:
    """A model config that gives the named fields these descriptions in the JSON schema
    (the fields themselves, their types and constraints, stay the shared model's)."""

    def extra(schema: dict[str, Any]) -> None:
        for name, text in descriptions.items():
            schema["properties"][name]["description"] = text

    hook: Callable[[dict[str, Any]], None] = extra
    return ConfigDict(json_schema_extra=hook)


class AcceptedJob(JobAccepted):
    """An ingest job was accepted (HTTP 202); it runs in the background."""

    model_config = described(
        job_id="Pass it to wait_for_job or get_job_status",
        status="queued at first; running, succeeded, failed, dead, cancelled",
        kind="url (crawl), text or document (upload)",
        track_url="Orchestrator URL of the job's status (GET)",
        events_url="Orchestrator URL of the job's progress events (SSE)",
        created="False when an idempotency_key replayed an earlier job",
    )
    next_step: str = Field(description="What to do next")


class JobReport(JobRecord):
    """A job's state; ``result`` holds counts (pages, chunks) once it succeeded."""


class JobWait(JobRecord):
    """A job's state when wait_for_job returned."""

    done: bool = Field(description="True when the job reached a final status")
    waited_seconds: float
    hint: str = Field(description="What to do next")


class SearchResult(SearchResponse):
    """Chunks most similar to the query, best first."""


class StoreResult(StoreResponse):
    """Entries stored now (searchable at once); storing the same source again replaces it."""


class LightRAGResult(LightRAGAnswer):
    """LightRAG's answer, grounded in the ingested documents."""
