"""The MCP server's HTTP client for the orchestrator API; every request passes its breakers.

One circuit breaker per target: ``orchestrator`` itself and each dependency the orchestrator
names in its error answers (``redis``, ``qdrant``, ``ollama``, ``lightrag``). Each call
declares the dependencies its route needs (:data:`ROUTE_NEEDS`); it fails fast, without a
request, when the breaker of the orchestrator or of one of those dependencies is open.

What a finished call counts, and against which breaker:

- an error body (:class:`~shield_rag.api.errors.ErrorBody`) whose
  :func:`~shield_rag.api.errors.counts_against` names a dependency (codes
  ``dependency_unavailable``, ``dependency_timeout``, ``circuit_open``): a failure of that
  dependency only; the orchestrator answered, which is a success for its own breaker;
- a transport error, a timeout, or a 5xx naming no dependency: a failure of the orchestrator;
- admission control (``rate_limited``, ``too_many_queued_jobs``, ``overloaded``,
  ``storage_nearly_full``) and answers the orchestrator gives on purpose (``misconfigured``,
  ``feature_disabled``): nothing; the agent gets the answer with its ``retry_after``;
- any other 4xx: nothing against a dependency (nothing a caller sends can open a breaker);
  the orchestrator answered, a success for its breaker;
- 2xx/3xx: a success of every target the call needed.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from shield_rag.api.errors import ErrorBody, ErrorCode, counts_against
from shield_rag.breaker import (
    BREAKER_REJECTIONS,
    BreakerOpenError,
    BreakerState,
    CircuitBreaker,
    Outcome,
    counted_breaker,
)
from shield_rag.errors import DEPENDENCIES, Dependency
from shield_rag.settings import McpSettings

log = logging.getLogger(__name__)
TARGET = "orchestrator"
TARGETS: tuple[str, ...] = (TARGET, *DEPENDENCIES)
DEFAULT_RETRY_AFTER = 5.0

# What each orchestrator route needs besides the orchestrator itself.
NEEDS_JOBS: tuple[Dependency, ...] = ("redis",)  # /ingest-async, /jobs/{id}: the job store
NEEDS_VECTORS: tuple[Dependency, ...] = ("ollama", "qdrant")  # /search, /vectors: embed, store
NEEDS_LIGHTRAG: tuple[Dependency, ...] = ("lightrag",)  # /lightrag/query
ROUTE_NEEDS: dict[str, tuple[Dependency, ...]] = {
    "POST /ingest-async": NEEDS_JOBS,
    "GET /jobs/{id}": NEEDS_JOBS,
    "DELETE /jobs/{id}": NEEDS_JOBS,
    "POST /search": NEEDS_VECTORS,
    "POST /vectors": NEEDS_VECTORS,
    "POST /lightrag/query": NEEDS_LIGHTRAG,
}

# Refusals of admission control: the orchestrator protects itself and says when to retry.
ADMISSION_CODES = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.TOO_MANY_QUEUED_JOBS,
        ErrorCode.OVERLOADED,
        ErrorCode.STORAGE_NEARLY_FULL,
    }
)
# 5xx the orchestrator sends on purpose: retrying does not help, and it is not failing.
DELIBERATE_CODES = frozenset({ErrorCode.MISCONFIGURED, ErrorCode.FEATURE_DISABLED})

# Who called: sent as X-Shield-Client for the orchestrator's per-client limits.
CALLER: contextvars.ContextVar[str | None] = contextvars.ContextVar("shield_caller", default=None)
_CLIENT_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/-]+")


def client_header(raw: str | None) -> str:
    """``mcp:<raw>`` reduced to ``^[A-Za-z0-9._:@/-]{1,64}$`` (``mcp:anonymous`` if empty)."""
    cleaned = _CLIENT_UNSAFE.sub("_", (raw or "").strip()).strip("_")
    return f"mcp:{cleaned or 'anonymous'}"[:64]


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


class Breakers:
    """The MCP server's breakers, one per target, with the same threshold and reset time."""

    def __init__(self, settings: McpSettings) -> None:
        self.by_target: dict[str, CircuitBreaker] = {
            target: counted_breaker(
                target,
                failure_threshold=settings.breaker_failure_threshold,
                reset_seconds=settings.breaker_reset_seconds,
            )
            for target in TARGETS
        }

    def __getitem__(self, target: str) -> CircuitBreaker:
        return self.by_target[target]

    def admit(self, targets: list[str]) -> dict[str, bool]:
        """Admit a call needing ``targets`` (probe flags by target), or raise
        :class:`BreakerOpenError` for the first open one, admitting none."""
        admitted: dict[str, bool] = {}
        try:
            for target in targets:
                admitted[target] = self.by_target[target].admit()
        except BreakerOpenError:
            self.settle(admitted, {})
            raise
        return admitted

    def settle(self, admitted: dict[str, bool], outcomes: dict[str, Outcome]) -> None:
        """Record each admitted target's outcome (neutral unless given); a failure of a
        target that was not admitted (named by the answer) is recorded too."""
        for target, probe in admitted.items():
            self.by_target[target].settle(probe, outcomes.get(target, Outcome.NEUTRAL))
        for target, outcome in outcomes.items():
            if target not in admitted and outcome is Outcome.FAILURE:
                self.by_target[target].settle(False, Outcome.FAILURE)

    def retry_after(self, target: str, hint: float | None) -> float:
        """After a failure: the breaker's wait if it is open now, else the answer's
        Retry-After, else a short pause."""
        breaker = self.by_target[target]
        if breaker.state is BreakerState.OPEN:
            return breaker.retry_after()
        return hint or DEFAULT_RETRY_AFTER

    def view(self) -> dict[str, dict[str, Any]]:
        return {
            target: {
                "state": b.state.label,
                "retry_after": b.retry_after(),
                "consecutive_failures": b.failure_count,
            }
            for target, b in self.by_target.items()
        }


class OrchestratorClient:
    """Typed calls to the orchestrator API. Open with :meth:`start`, close with :meth:`aclose`."""

    def __init__(
        self,
        settings: McpSettings,
        api_key: SecretStr | None,
        breakers: Breakers,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.breakers = breakers
        self.base_url = str(settings.orchestrator_url).rstrip("/")
        self._api_key = api_key
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    @property
    def breaker(self) -> CircuitBreaker:
        """The orchestrator's own breaker."""
        return self.breakers[TARGET]

    def start(self) -> None:
        headers = {"User-Agent": "shield-mcp"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.settings.request_timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=self._transport,
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def request(
        self, method: str, path: str, needs: tuple[Dependency, ...], **kwargs: Any
    ) -> httpx.Response:
        """Send one request through the breakers of the orchestrator and of ``needs``;
        2xx/3xx are returned, the rest raised as OrchestratorError/OrchestratorUnavailable."""
        http = self._http
        if http is None:
            raise RuntimeError("OrchestratorClient.start() was not called")
        try:
            admitted = self.breakers.admit([*needs, TARGET])
        except BreakerOpenError as exc:
            BREAKER_REJECTIONS.labels(exc.target).inc()
            where = "the orchestrator" if exc.target == TARGET else f"dependency {exc.target}"
            raise OrchestratorUnavailable(
                f"{where} is unavailable ({exc.reason}); no request was sent",
                exc.retry_after,
                sent=False,
                target=exc.target,
                code=ErrorCode.CIRCUIT_OPEN.value,
            ) from None
        headers = {**kwargs.pop("headers", {}), "X-Shield-Client": client_header(CALLER.get())}
        outcomes: dict[str, Outcome] = {}
        try:
            response = await http.request(method, path, headers=headers, **kwargs)
        except asyncio.CancelledError:
            self.breakers.settle(admitted, {})  # neutral: the client gave up
            raise
        except httpx.TransportError as exc:
            self.breakers.settle(admitted, {TARGET: Outcome.FAILURE})
            if isinstance(exc, httpx.TimeoutException):
                reason = (
                    f"the orchestrator at {self.base_url} gave no answer within "
                    f"{self.settings.request_timeout:g}s ({type(exc).__name__})"
                )
            else:
                reason = (
                    f"cannot reach the orchestrator at {self.base_url}: {type(exc).__name__}: {exc}"
                )
            raise OrchestratorUnavailable(
                reason, self.breakers.retry_after(TARGET, None), sent=True
            ) from None
        except BaseException:
            self.breakers.settle(admitted, {})
            raise
        if response.status_code < 400:
            self.breakers.settle(admitted, dict.fromkeys(admitted, Outcome.SUCCESS))
            return response
        refusal = read_refusal(response)
        failing = refusal.counts_against
        if failing is not None:  # a dependency failed: only its breaker counts it
            outcomes = {failing: Outcome.FAILURE, TARGET: Outcome.SUCCESS}
        elif response.status_code >= 500 and not _on_purpose(refusal):
            outcomes = {TARGET: Outcome.FAILURE}
        else:  # a refusal: the orchestrator works; no dependency is blamed
            outcomes = {TARGET: Outcome.SUCCESS}
        self.breakers.settle(admitted, outcomes)
        if failing is not None:
            raise OrchestratorUnavailable(
                f"the orchestrator reports {failing} failing "
                f"({refusal.status} {refusal.code}): {refusal.detail}",
                self.breakers.retry_after(failing, refusal.retry_after),
                sent=True,
                target=failing,
                code=refusal.code,
            )
        if response.status_code >= 500 and not _on_purpose(refusal):
            raise OrchestratorUnavailable(
                f"the orchestrator at {self.base_url} answered {refusal.status}: {refusal.detail}",
                self.breakers.retry_after(TARGET, refusal.retry_after),
                sent=True,
                code=refusal.code,
            )
        if refusal.code in ADMISSION_CODES:
            raise OrchestratorUnavailable(
                f"the orchestrator refused new work for now ({refusal.status} "
                f"{refusal.code}): {refusal.detail}",
                refusal.retry_after or DEFAULT_RETRY_AFTER,
                sent=True,
                code=refusal.code,
            )
        raise OrchestratorError(
            refusal.status,
            refusal.detail,
            code=refusal.code,
            dependency=refusal.dependency,
            retry_after=refusal.retry_after,
        )

    async def json(
        self, method: str, path: str, needs: tuple[Dependency, ...], **kwargs: Any
    ) -> dict[str, Any]:
        response = await self.request(method, path, needs, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise OrchestratorError(
                response.status_code, f"unexpected answer {response.text[:200]!r}"
            )
        return body

    # -- the API ------------------------------------------------------------------------
    async def ingest_json(
        self, body: dict[str, Any], idempotency_key: str | None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return await self.json("POST", "/ingest-async", NEEDS_JOBS, json=body, headers=headers)

    async def ingest_upload(
        self,
        filename: str,
        blob: bytes,
        *,
        title: str | None,
        metadata: dict[str, Any],
        idempotency_key: str | None,
        graph: bool = True,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        data: dict[str, str] = {"metadata": json.dumps(metadata)}
        if title:
            data["title"] = title
        if not graph:
            data["graph"] = "false"
        return await self.json(
            "POST",
            "/ingest-async",
            NEEDS_JOBS,
            files={"file": (filename, blob)},
            data=data,
            headers=headers,
        )

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/jobs/{job_id}", NEEDS_JOBS)

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        return await self.json("DELETE", f"/jobs/{job_id}", NEEDS_JOBS)

    async def search(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/search", NEEDS_VECTORS, json=body)

    async def store_vectors(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/vectors", NEEDS_VECTORS, json=body)

    async def lightrag_query(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/lightrag/query", NEEDS_LIGHTRAG, json=body)


def _on_purpose(refusal: Refusal) -> bool:
    """A 5xx the orchestrator sent deliberately: admission control, or an answer retrying
    does not change (a misconfiguration, a feature switched off)."""
    return refusal.code in ADMISSION_CODES or refusal.code in DELIBERATE_CODES
