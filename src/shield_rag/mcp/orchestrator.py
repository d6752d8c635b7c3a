"""The MCP server's HTTP client for the orchestrator API; every request passes its breakers.

One circuit breaker per target: ``orchestrator`` itself and each dependency the orchestrator
names in its error answers (``redis``, ``qdrant``, ``ollama``, ``lightrag``). Each call
declares the dependencies its route needs (:data:`~shield_rag.mcp.calls.ROUTE_NEEDS`); it
fails fast, without a request, when the breaker of the orchestrator or of one of those
dependencies is open.

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
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import aiohttp
import anyio
import httpx
from httpx_sse import EventSource, SSEError
from pydantic import BaseModel, SecretStr, ValidationError

from shield_rag.api.errors import ErrorCode
from shield_rag.api.features import FeatureList, FeatureState
from shield_rag.breaker import BREAKER_REJECTIONS, BreakerOpenError, CircuitBreaker, Outcome
from shield_rag.errors import Dependency
from shield_rag.mcp.breakers import DEFAULT_RETRY_AFTER, TARGET, TARGETS, Breakers
from shield_rag.mcp.calls import CALLER, NEEDS_JOBS, NEEDS_LIGHTRAG, NEEDS_VECTORS, client_header
from shield_rag.mcp.fasthttp import FastHttp, Reply
from shield_rag.mcp.refusals import (
    ADMISSION_CODES,
    DELIBERATE_CODES,
    OrchestratorError,
    OrchestratorUnavailable,
    Refusal,
    outcomes_of,
    read_refusal,
    refusal_error,
)
from shield_rag.settings import McpSettings
from shield_rag.tls import client_context

__all__ = [
    "ADMISSION_CODES",
    "DEFAULT_RETRY_AFTER",
    "DELIBERATE_CODES",
    "TARGET",
    "TARGETS",
    "Breakers",
    "OrchestratorClient",
    "OrchestratorError",
    "OrchestratorUnavailable",
    "Refusal",
    "read_refusal",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


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
        self._fast: FastHttp | None = None

    @property
    def breaker(self) -> CircuitBreaker:
        """The orchestrator's own breaker."""
        return self.breakers[TARGET]

    def start(self) -> None:
        headers = {"User-Agent": "shield-mcp"}
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        # An https orchestrator is checked against certifi's CAs and mcp.ca_bundle's.
        tls = client_context(self.settings.ca_bundle)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(self.settings.request_timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            transport=self._transport,
            verify=tls,
        )
        # JSON requests (every tool call but uploads) go over aiohttp (see mcp/fasthttp.py);
        # a transport given by a caller (tests) takes every request.
        if self._transport is None:
            self._fast = FastHttp(self.base_url, self.settings.request_timeout, headers, tls)

    async def aclose(self) -> None:
        if self._fast is not None:
            await self._fast.aclose()
            self._fast = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def request(
        self, method: str, path: str, needs: tuple[Dependency, ...], **kwargs: Any
    ) -> httpx.Response:
        """Send one request through the breakers of the orchestrator and of ``needs``;
        2xx/3xx are returned, the rest raised as OrchestratorError/OrchestratorUnavailable."""
        response = await self._send(method, path, needs, **kwargs)
        return response if isinstance(response, httpx.Response) else response.response()

    async def _send(
        self, method: str, path: str, needs: tuple[Dependency, ...], **kwargs: Any
    ) -> httpx.Response | Reply:
        """:meth:`request`, a successful JSON request's answer as read (:class:`Reply`)."""
        http = self._client()
        admitted = self._admit(needs)
        headers = self._caller_headers(kwargs.pop("headers", {}))
        fast = self._fast
        response: httpx.Response | Reply
        try:
            if fast is not None and kwargs.keys() <= {"json"}:
                response = await fast.send(method, path, headers=headers, **kwargs)
            else:
                response = await http.request(method, path, headers=headers, **kwargs)
        except asyncio.CancelledError:
            self.breakers.settle(admitted, {})  # neutral: the client gave up
            raise
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._transport_failure(admitted, exc) from None
        except BaseException:
            self.breakers.settle(admitted, {})
            raise
        if response.status_code < 400:
            self.breakers.settle(admitted, dict.fromkeys(admitted, Outcome.SUCCESS))
            return response
        raise self._refused(
            admitted,
            read_refusal(response if isinstance(response, httpx.Response) else response.response()),
        )

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("OrchestratorClient.start() was not called")
        return self._http

    def _admit(self, needs: tuple[Dependency, ...]) -> dict[str, bool]:
        """Admission by the breakers of the orchestrator and of ``needs`` (settle it once);
        the orchestrator's first, so that a call refused while both are open names it: no
        tool works then, whatever it needs."""
        try:
            return self.breakers.admit([TARGET, *needs])
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

    @staticmethod
    def _caller_headers(headers: dict[str, str]) -> dict[str, str]:
        """``headers`` with the caller the request is made for (see
        :class:`~shield_rag.mcp.calls.McpCaller`)."""
        caller = CALLER.get()
        if caller is None:
            headers["X-Shield-Client"] = client_header(None)
        else:
            headers["X-Shield-Client"] = caller.client
            if caller.scopes is not None:
                headers["X-Shield-Scopes"] = caller.scopes
        return headers

    def _transport_failure(
        self, admitted: dict[str, bool], exc: BaseException
    ) -> OrchestratorUnavailable:
        """Settle a request that got no answer as the orchestrator's failure."""
        self.breakers.settle(admitted, {TARGET: Outcome.FAILURE})
        if isinstance(exc, httpx.TimeoutException | TimeoutError):
            reason = (
                f"the orchestrator at {self.base_url} gave no answer within "
                f"{self.settings.request_timeout:g}s ({type(exc).__name__})"
            )
        else:
            reason = (
                f"cannot reach the orchestrator at {self.base_url}: {type(exc).__name__}: {exc}"
            )
        return OrchestratorUnavailable(reason, self.breakers.retry_after(TARGET, None), sent=True)

    def _refused(
        self, admitted: dict[str, bool], refusal: Refusal
    ) -> OrchestratorError | OrchestratorUnavailable:
        """Settle an error answer and say what it is raised as."""
        self.breakers.settle(admitted, outcomes_of(refusal))
        return refusal_error(refusal, self.breakers, self.base_url)

    async def events(
        self, path: str, needs: tuple[Dependency, ...], body: dict[str, Any]
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """POST ``body`` to a route answering server-sent events whose data are JSON objects;
        yield each event as (name, data) until a ``done`` event; an ``error`` event (an error
        body sent after the stream started) is raised as that error answer would be.

        The breakers admit the call as for :meth:`request` and count its outcome once the
        stream ends. Closing the generator (or cancelling its reader) closes the HTTP stream,
        which tells the orchestrator the caller has gone."""
        http = self._client()
        admitted = self._admit(needs)
        headers = self._caller_headers({"Accept": "text/event-stream"})
        settled = False  # each way out settles the admission once; a caller leaving: neutral
        response: httpx.Response | None = None
        try:
            try:
                response = await http.send(
                    http.build_request("POST", path, json=body, headers=headers), stream=True
                )
                if response.status_code >= 400:
                    await response.aread()
                    settled = True
                    raise self._refused(admitted, read_refusal(response))
                async for sse in EventSource(response).aiter_sse():
                    data = _event_data(response.status_code, sse.event, sse.data)
                    if sse.event == "error":
                        status = data.get("status")
                        status = status if isinstance(status, int) else 503
                        settled = True
                        raise self._refused(
                            admitted, read_refusal(httpx.Response(status, json=data))
                        )
                    if sse.event == "done":
                        settled = True
                        self.breakers.settle(admitted, dict.fromkeys(admitted, Outcome.SUCCESS))
                    yield sse.event, data
                    if settled:
                        return
                ended: BaseException = EOFError("the event stream ended without its result")
            except (httpx.TransportError, TimeoutError, OSError, SSEError) as exc:
                ended = exc
            settled = True
            raise self._transport_failure(admitted, ended) from None
        finally:
            if not settled:
                self.breakers.settle(admitted, {})
            if response is not None:
                with anyio.CancelScope(shield=True):
                    await response.aclose()

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

    async def parsed(
        self, model: type[M], method: str, path: str, needs: tuple[Dependency, ...], **kwargs: Any
    ) -> M:
        """Like :meth:`json`, with the answer read straight into ``model`` (one pass of
        pydantic-core's parser and validator). An answer that is not a JSON object raises
        OrchestratorError as there; one that does not fit ``model`` raises its ValidationError."""
        response = await self._send(method, path, needs, **kwargs)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            if any(not error["loc"] for error in exc.errors(include_url=False)):
                raise OrchestratorError(
                    response.status_code, f"unexpected answer {response.text[:200]!r}"
                ) from None
            raise

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

    async def search(self, body: dict[str, Any], answer: type[M]) -> M:
        return await self.parsed(answer, "POST", "/search", NEEDS_VECTORS, json=body)

    async def store_vectors(self, body: dict[str, Any], answer: type[M]) -> M:
        return await self.parsed(answer, "POST", "/vectors", NEEDS_VECTORS, json=body)

    async def features(self) -> list[FeatureState]:
        """The feature flags as the orchestrator applies them (``GET /features``): read in the
        background every features.refresh_seconds, so not through the breakers (a failing
        read only keeps the last values; it must not open a breaker tools depend on)."""
        resp = await self._client().get("/features", headers={"X-Shield-Client": "mcp:shield-mcp"})
        resp.raise_for_status()
        return FeatureList.model_validate_json(resp.content).features

    async def lightrag_query(self, body: dict[str, Any], answer: type[M]) -> M:
        return await self.parsed(answer, "POST", "/lightrag/query", NEEDS_LIGHTRAG, json=body)

    def lightrag_query_stream(
        self, body: dict[str, Any]
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``POST /lightrag/query/stream``: ``delta`` events ({text}), then ``done`` (the
        answer of :meth:`lightrag_query`)."""
        return self.events("/lightrag/query/stream", NEEDS_LIGHTRAG, body)


def _event_data(status: int, event: str, raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OrchestratorError(status, f"unexpected {event} event {raw[:200]!r}")
    return data
