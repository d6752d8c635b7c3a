"""The MCP server's HTTP client for the orchestrator API; every request passes the breaker.

What counts against the breaker: timeouts, connection and protocol errors, and 5xx answers
(the orchestrator or one of its dependencies is failing). 4xx answers do not: the
orchestrator is healthy and says what is wrong with the request, and that message is passed
on to the agent.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from pydantic import SecretStr

from shield_rag.mcp import metrics
from shield_rag.mcp.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from shield_rag.settings import McpSettings

log = logging.getLogger(__name__)
TARGET = "orchestrator"
DEFAULT_RETRY_AFTER = 5.0


class OrchestratorError(Exception):
    """The orchestrator answered 4xx: the request must change (``detail`` says how)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"orchestrator answered {status}: {detail}")
        self.status = status
        self.detail = detail


class OrchestratorUnavailable(Exception):
    """The orchestrator could not be used; try again after ``retry_after`` seconds.

    ``sent`` is False when the circuit breaker rejected the call without a request.
    """

    def __init__(self, reason: str, retry_after: float, *, sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.sent = sent


class _ServerError(Exception):
    """A 5xx answer (counted by the breaker, then turned into OrchestratorUnavailable)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"answered {response.status_code}: {_detail(response)}")
        self.status = response.status_code
        retry = response.headers.get("retry-after", "")
        self.retry_after = float(retry) if retry.isdigit() else None


def is_failure(exc: BaseException) -> bool:
    """The breaker's failure predicate: timeouts, transport errors and 5xx answers."""
    return isinstance(exc, httpx.TransportError | _ServerError)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else str(detail)[:500]
    return str(body)[:500]


def _transition(target: str, before: BreakerState, after: BreakerState) -> None:
    metrics.breaker_transition(target, before, after)
    level = logging.INFO if after is BreakerState.CLOSED else logging.WARNING
    log.log(level, "circuit breaker %s: %s -> %s", target, before.label, after.label)


def make_breaker(settings: McpSettings) -> CircuitBreaker:
    metrics.breaker_created(TARGET)
    return CircuitBreaker(
        TARGET,
        failure_threshold=settings.breaker_failure_threshold,
        reset_seconds=settings.breaker_reset_seconds,
        is_failure=is_failure,
        on_transition=_transition,
    )


class OrchestratorClient:
    """Typed calls to the orchestrator API. Open with :meth:`start`, close with :meth:`aclose`."""

    def __init__(
        self,
        settings: McpSettings,
        api_key: SecretStr | None,
        breaker: CircuitBreaker,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.breaker = breaker
        self.base_url = str(settings.orchestrator_url).rstrip("/")
        self._api_key = api_key
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

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

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request through the breaker; 2xx/3xx are returned, the rest raised."""
        http = self._http
        if http is None:
            raise RuntimeError("OrchestratorClient.start() was not called")

        async def send() -> httpx.Response:
            response = await http.request(method, path, **kwargs)
            if response.status_code >= 500:
                raise _ServerError(response)
            return response

        try:
            response = await self.breaker.call(send)
        except BreakerOpenError as exc:
            metrics.BREAKER_REJECTIONS.labels(TARGET).inc()
            raise OrchestratorUnavailable(
                f"the orchestrator at {self.base_url} is unavailable ({exc.reason}); "
                "no request was sent",
                exc.retry_after,
                sent=False,
            ) from None
        except httpx.TimeoutException as exc:
            raise OrchestratorUnavailable(
                f"the orchestrator at {self.base_url} gave no answer within "
                f"{self.settings.request_timeout:g}s ({type(exc).__name__})",
                self._retry_after(None),
                sent=True,
            ) from None
        except httpx.TransportError as exc:
            raise OrchestratorUnavailable(
                f"cannot reach the orchestrator at {self.base_url}: {type(exc).__name__}: {exc}",
                self._retry_after(None),
                sent=True,
            ) from None
        except _ServerError as exc:
            raise OrchestratorUnavailable(
                f"the orchestrator at {self.base_url} {exc}",
                self._retry_after(exc.retry_after),
                sent=True,
            ) from None
        if response.status_code >= 400:
            raise OrchestratorError(response.status_code, _detail(response))
        return response

    def _retry_after(self, hint: float | None) -> float:
        """After a failure: the breaker's wait if it is open now, else the orchestrator's
        Retry-After, else a short pause."""
        if self.breaker.state is BreakerState.OPEN:
            return self.breaker.retry_after()
        return hint or DEFAULT_RETRY_AFTER

    async def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self.request(method, path, **kwargs)
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
        return await self.json("POST", "/ingest-async", json=body, headers=headers)

    async def ingest_upload(
        self,
        filename: str,
        blob: bytes,
        *,
        title: str | None,
        metadata: dict[str, Any],
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        data: dict[str, str] = {"metadata": json.dumps(metadata)}
        if title:
            data["title"] = title
        return await self.json(
            "POST",
            "/ingest-async",
            files={"file": (filename, blob)},
            data=data,
            headers=headers,
        )

    async def job(self, job_id: str) -> dict[str, Any]:
        return await self.json("GET", f"/jobs/{job_id}")

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        return await self.json("DELETE", f"/jobs/{job_id}")

    async def search(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/search", json=body)

    async def store_vectors(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/vectors", json=body)

    async def lightrag_query(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.json("POST", "/lightrag/query", json=body)
