"""The orchestrator's error model: one JSON body for every error answer.

Every 4xx and 5xx the orchestrator sends has this shape::

    {"status": 503, "code": "dependency_unavailable", "detail": "Qdrant at ... is unreachable",
     "dependency": "qdrant", "retry_after": 5}

- ``code`` is machine readable and stable (:class:`ErrorCode`); ``detail`` is for a person
  and says what to change or when to retry;
- ``dependency`` names the dependency at fault when one is (never for a caller's mistake);
- ``retry_after`` (seconds, also sent as the ``Retry-After`` header) says when a retry may
  succeed; it is set on 429 and 503 answers;
- ``errors`` lists the fields of a rejected request body, one entry per field.

The MCP server reads the same model to decide which of its circuit breakers a failure counts
against (:func:`counts_against`): only failures of a dependency count, and only against
that dependency; nothing a caller sends can open a breaker.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shield_rag.errors import Dependency


class ErrorCode(StrEnum):
    """What went wrong, for programs; the HTTP status for each is in :data:`STATUS_OF`."""

    INVALID_JSON = "invalid_json"
    MALFORMED_REQUEST = "malformed_request"
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    REQUEST_TIMEOUT = "request_timeout"
    CONFLICT = "conflict"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    REJECTED_BY_DEPENDENCY = "rejected_by_dependency"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_QUEUED_JOBS = "too_many_queued_jobs"
    BUDGET_EXCEEDED = "budget_exceeded"
    INTERNAL_ERROR = "internal_error"
    MISCONFIGURED = "misconfigured"
    FEATURE_DISABLED = "feature_disabled"
    DEPENDENCY_UNAVAILABLE = "dependency_unavailable"
    CIRCUIT_OPEN = "circuit_open"
    OVERLOADED = "overloaded"
    STORAGE_NEARLY_FULL = "storage_nearly_full"
    DEPENDENCY_TIMEOUT = "dependency_timeout"


STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.MALFORMED_REQUEST: 400,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.CONFLICT: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.REJECTED_BY_DEPENDENCY: 422,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_QUEUED_JOBS: 429,
    ErrorCode.BUDGET_EXCEEDED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.MISCONFIGURED: 500,
    ErrorCode.FEATURE_DISABLED: 501,
    ErrorCode.DEPENDENCY_UNAVAILABLE: 503,
    ErrorCode.CIRCUIT_OPEN: 503,
    ErrorCode.OVERLOADED: 503,
    ErrorCode.STORAGE_NEARLY_FULL: 503,
    ErrorCode.DEPENDENCY_TIMEOUT: 504,
}

# Failures of a dependency: counted by that dependency's breaker (in the MCP server).
DEPENDENCY_FAILURES = frozenset(
    {ErrorCode.DEPENDENCY_UNAVAILABLE, ErrorCode.DEPENDENCY_TIMEOUT, ErrorCode.CIRCUIT_OPEN}
)


class FieldProblem(BaseModel):
    """One field of a rejected request and what is wrong with it."""

    field: str = Field(description="Dotted path of the field in the request body")
    message: str = Field(description="What to change")


class ErrorBody(BaseModel):
    """The body of every error answer of the orchestrator."""

    model_config = ConfigDict(extra="forbid")
    status: int = Field(description="The HTTP status, repeated")
    code: ErrorCode = Field(description="Machine-readable cause; see docs/api.md")
    detail: str = Field(description="What went wrong and what to change, for a person")
    dependency: Dependency | None = Field(
        None, description="The dependency at fault (redis, qdrant, ollama, lightrag), if any"
    )
    retry_after: float | None = Field(
        None, description="Seconds after which a retry may succeed (also the Retry-After header)"
    )
    errors: list[FieldProblem] | None = Field(
        None, description="For invalid requests: one entry per field"
    )


def counts_against(body: ErrorBody) -> Dependency | None:
    """The dependency whose breaker this error counts against, or None."""
    if body.code in DEPENDENCY_FAILURES:
        return body.dependency
    return None


class ApiError(Exception):
    """An error answer: raise it in a route, the orchestrator renders :class:`ErrorBody`."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str,
        *,
        dependency: Dependency | None = None,
        retry_after: float | None = None,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.status = STATUS_OF[code]
        self.detail = detail
        self.dependency = dependency
        self.retry_after = retry_after
        self.errors = errors
        self.headers = dict(headers or {})

    def body(self) -> ErrorBody:
        return ErrorBody(
            status=self.status,
            code=self.code,
            detail=self.detail,
            dependency=self.dependency,
            retry_after=self.retry_after,
            errors=self.errors,
        )

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers.setdefault("Retry-After", str(max(1, round(self.retry_after))))
        return headers


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries: ``statuses`` answered with :class:`ErrorBody`."""
    described: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        codes = sorted(c.value for c, s in STATUS_OF.items() if s == status)
        described[status] = {
            "model": ErrorBody,
            "description": "Error; code is one of: " + ", ".join(codes),
        }
    return described
