"""Error types shared by the Shield services.

Job processing distinguishes errors that retrying cannot fix (bad input, a page the SSRF
guard rejects, an unsupported document) from errors that may pass (timeouts, connection
errors, 5xx answers). Workers retry the second kind with backoff and fail the first at once.

Errors of a dependency (Redis, Qdrant, Ollama, LightRAG) carry the dependency's name, end to
end: the orchestrator reports it in its error body, and only that dependency's circuit breaker
counts it. A dependency that refuses what the caller sent (its 4xx) is the caller's mistake,
never a dependency failure.
"""

from __future__ import annotations

from typing import Literal

Dependency = Literal["redis", "qdrant", "ollama", "lightrag"]
DEPENDENCIES: tuple[Dependency, ...] = ("redis", "qdrant", "ollama", "lightrag")


class ShieldError(Exception):
    """Base class of Shield errors."""


class PermanentJobError(ShieldError):
    """The job cannot succeed as submitted; retrying will not help."""


class TransientJobError(ShieldError):
    """A dependency failed in a way that may pass; the job is retried with backoff."""


class JobCancelled(ShieldError):
    """The job was cancelled by a client while it ran."""


class DependencyUnavailable(TransientJobError):
    """``dependency`` failed: unreachable, too slow (``timeout``), or answered 5xx.

    ``retry_after`` (seconds) is set when the failure says when to try again, e.g. an open
    circuit breaker that rejected the call without sending it (``sent`` is then False).
    """

    def __init__(
        self,
        dependency: Dependency,
        message: str,
        *,
        timeout: bool = False,
        retry_after: float | None = None,
        sent: bool = True,
    ) -> None:
        super().__init__(message)
        self.dependency: Dependency = dependency
        self.timeout = timeout
        self.retry_after = retry_after
        self.sent = sent


class DependencyRejected(PermanentJobError):
    """``dependency`` refused the input it was given (its 4xx): the caller must change it."""

    def __init__(self, dependency: Dependency, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.dependency: Dependency = dependency
        self.status = status


class DependencyMisconfigured(PermanentJobError):
    """``dependency`` works but does not fit this deployment's settings (an operator's fix,
    e.g. an embedding model whose dimension differs from ``qdrant.vector_size``)."""

    def __init__(self, dependency: Dependency, message: str) -> None:
        super().__init__(message)
        self.dependency: Dependency = dependency
