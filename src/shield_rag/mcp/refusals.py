"""The orchestrator's error answers: how they are read, whom they blame, what they raise."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from shield_rag.api.errors import ErrorBody, ErrorCode, counts_against
from shield_rag.breaker import Outcome
from shield_rag.errors import DEPENDENCIES, Dependency
from shield_rag.mcp.breakers import DEFAULT_RETRY_AFTER, TARGET, Breakers

# Refusals of admission control (and of a spent budget): the orchestrator protects itself and
# says when to retry.
ADMISSION_CODES = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.TOO_MANY_QUEUED_JOBS,
        ErrorCode.BUDGET_EXCEEDED,
        ErrorCode.OVERLOADED,
        ErrorCode.STORAGE_NEARLY_FULL,
    }
)
# 5xx the orchestrator sends on purpose: retrying does not help, and it is not failing.
DELIBERATE_CODES = frozenset({ErrorCode.MISCONFIGURED, ErrorCode.FEATURE_DISABLED})


@dataclass(frozen=True)
class Refusal:
    """What an error answer said, read leniently (older answers have only ``detail``)."""

    status: int
    detail: str
    code: str | None = None
    dependency: Dependency | None = None
    retry_after: float | None = None
    counts_against: Dependency | None = None


def read_refusal(response: httpx.Response) -> Refusal:
    """Read an error answer. Fields are read one by one, so an answer with more fields than
    this version knows still names its code and dependency."""
    header = response.headers.get("retry-after", "").strip()
    hint = float(header) if header.isdigit() else None
    try:
        data = response.json()
    except ValueError:
        text = response.text[:500] or response.reason_phrase
        return Refusal(response.status_code, text, retry_after=hint)
    if not isinstance(data, dict):
        return Refusal(response.status_code, str(data)[:500], retry_after=hint)
    detail = data.get("detail", data)
    text = detail if isinstance(detail, str) else str(detail)[:500]
    code = data.get("code") if data.get("code") in _CODES else None
    dependency = data.get("dependency") if data.get("dependency") in DEPENDENCIES else None
    retry = data.get("retry_after")
    retry_after = float(retry) if isinstance(retry, int | float) and retry >= 0 else hint
    failing = None
    if code is not None:
        body = ErrorBody(
            status=response.status_code, code=ErrorCode(code), detail=text, dependency=dependency
        )
        failing = counts_against(body)
    return Refusal(
        status=response.status_code,
        detail=text,
        code=code,
        dependency=dependency,
        retry_after=retry_after,
        counts_against=failing,
    )


_CODES = frozenset(c.value for c in ErrorCode)


class OrchestratorError(Exception):
    """The orchestrator refused the request (4xx, or a deliberate 5xx such as
    ``feature_disabled``): ``detail`` says what to change. ``retry_after`` is set when a
    retry may succeed later (e.g. 429 from the per-client rate limit)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        dependency: Dependency | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"orchestrator answered {status}: {detail}")
        self.status = status
        self.detail = detail
        self.code = code
        self.dependency = dependency
        self.retry_after = retry_after


class OrchestratorUnavailable(Exception):
    """The call cannot be served now; try again after ``retry_after`` seconds.

    ``target`` is what is failing: ``orchestrator`` or the dependency it names; ``sent`` is
    False when a circuit breaker rejected the call without a request; ``code`` is the
    orchestrator's error code when it answered (e.g. ``dependency_timeout``, ``overloaded``).
    """

    def __init__(
        self,
        reason: str,
        retry_after: float,
        *,
        sent: bool,
        target: str = TARGET,
        code: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.sent = sent
        self.target = target
        self.code = code


def outcomes_of(refusal: Refusal) -> dict[str, Outcome]:
    """What an error answer counts, by breaker (see :mod:`shield_rag.mcp.orchestrator`)."""
    failing = refusal.counts_against
    if failing is not None:  # a dependency failed: only its breaker counts it
        return {failing: Outcome.FAILURE, TARGET: Outcome.SUCCESS}
    if refusal.status >= 500 and not on_purpose(refusal):
        return {TARGET: Outcome.FAILURE}
    # A refusal: the orchestrator works; no dependency is blamed.
    return {TARGET: Outcome.SUCCESS}


def refusal_error(
    refusal: Refusal, breakers: Breakers, base_url: str
) -> OrchestratorError | OrchestratorUnavailable:
    """The exception an error answer is raised as, once its outcomes are settled (the
    wait after a failure is the breaker's if that opened it)."""
    failing = refusal.counts_against
    if failing is not None:
        return OrchestratorUnavailable(
            f"the orchestrator reports {failing} failing "
            f"({refusal.status} {refusal.code}): {refusal.detail}",
            breakers.retry_after(failing, refusal.retry_after),
            sent=True,
            target=failing,
            code=refusal.code,
        )
    if refusal.status >= 500 and not on_purpose(refusal):
        return OrchestratorUnavailable(
            f"the orchestrator at {base_url} answered {refusal.status}: {refusal.detail}",
            breakers.retry_after(TARGET, refusal.retry_after),
            sent=True,
            code=refusal.code,
        )
    if refusal.code in ADMISSION_CODES:
        return OrchestratorUnavailable(
            f"the orchestrator refused the request for now ({refusal.status}): {refusal.detail}",
            refusal.retry_after or DEFAULT_RETRY_AFTER,
            sent=True,
            code=refusal.code,
        )
    return OrchestratorError(
        refusal.status,
        refusal.detail,
        code=refusal.code,
        dependency=refusal.dependency,
        retry_after=refusal.retry_after,
    )


def on_purpose(refusal: Refusal) -> bool:
    """A 5xx the orchestrator sent deliberately: admission control, or an answer retrying
    does not change (a misconfiguration, a feature switched off)."""
    return refusal.code in ADMISSION_CODES or refusal.code in DELIBERATE_CODES
