"""HTTP client of the LightRAG service (the subset of lightrag-server's API we use).

Failures name LightRAG: unreachable, too slow or 5xx is :class:`LightRAGError` (a
:class:`~shield_rag.errors.DependencyUnavailable`, counted by the ``lightrag`` breaker when
one guards the client); its 4xx (e.g. 422 "query too short") is the caller's mistake,
:class:`~shield_rag.errors.DependencyRejected`, and never counts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shield_rag.api.query import QueryMode
from shield_rag.breaker import DependencyGuard
from shield_rag.errors import DependencyRejected, DependencyUnavailable
from shield_rag.settings import LightRAGSettings
from shield_rag.tls import client_context


class LightRAGError(DependencyUnavailable):
    """LightRAG failed or could not be reached."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__("lightrag", message, timeout=timeout)


@dataclass(frozen=True)
class LightRAGResult:
    """An answer of LightRAG: the text, what its model calls used and how the answering
    model was chosen (``tier``, ``model``, ``reason``, ``fallbacks``; None when no model
    answered or the server does not say).

    ``usage`` holds the service's entries as they came (``model``, ``role``,
    ``prompt_tokens``, ``completion_tokens``, ``compute_seconds``, ``calls``): the layers
    contract keeps ``clients`` independent of ``llm``, so a caller above both turns them
    into :class:`shield_rag.llm.usage.Usage` with ``Usage.from_dict``.
    """

    response: str
    usage: list[dict[str, Any]] = field(default_factory=list)
    routing: dict[str, Any] | None = None


def usage_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``usage`` entries of a LightRAG answer (absent from a plain lightrag-server's)."""
    items = data.get("usage")
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict)]


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:300]
    return str(body)[:300]


class LightRAGClient:
    def __init__(
        self,
        settings: LightRAGSettings,
        guard: DependencyGuard | None = None,
        *,
        ca_bundle: Path | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard or DependencyGuard("lightrag")
        headers = {}
        if settings.api_key is not None:
            headers["X-API-Key"] = settings.api_key.get_secret_value()
        self.http = httpx.AsyncClient(
            base_url=str(settings.url).rstrip("/"),
            headers=headers,
            timeout=settings.timeout,
            verify=client_context(ca_bundle),  # certifi's CAs and <service>.ca_bundle's
        )

    def _transport_error(self, path: str, exc: httpx.HTTPError) -> LightRAGError:
        if isinstance(exc, httpx.TimeoutException):
            return LightRAGError(
                f"LightRAG at {self.settings.url} gave no answer to {path} within "
                f"{self.settings.timeout:g}s (lightrag.timeout)",
                timeout=True,
            )
        return LightRAGError(
            f"LightRAG at {self.settings.url} is unreachable: {exc or type(exc).__name__}"
        )

    @staticmethod
    def _check(path: str, resp: httpx.Response) -> None:
        """Raise for an error answer (read): 5xx is LightRAG's failure, 4xx the caller's."""
        if resp.status_code >= 500:
            raise LightRAGError(f"LightRAG {path} failed ({resp.status_code}): {_detail(resp)}")
        if resp.status_code >= 400:
            raise DependencyRejected(
                "lightrag",
                f"LightRAG rejected {path} ({resp.status_code}): {_detail(resp)}",
                status=resp.status_code,
            )

    async def _send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = await self.http.post(path, json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(path, exc) from exc
        self._check(path, resp)
        try:
            data = resp.json()
        except ValueError as exc:
            raise LightRAGError(f"LightRAG {path} answered no JSON: {resp.text[:200]!r}") from exc
        return data if isinstance(data, dict) else {"response": data}

    async def _open_stream(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """A streamed answer whose status says it started (its lines not read yet)."""
        request = self.http.build_request("POST", path, json=body)
        try:
            resp = await self.http.send(request, stream=True)
            if resp.status_code >= 400:
                try:
                    await resp.aread()
                finally:
                    await resp.aclose()
        except httpx.HTTPError as exc:
            raise self._transport_error(path, exc) from exc
        self._check(path, resp)
        return resp

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.guard.call(lambda: self._send(path, body))

    async def insert(self, text: str, doc_id: str, file_source: str) -> dict[str, Any]:
        return await self._post(
            "/documents/text", {"text": text, "id": doc_id, "file_source": file_source}
        )

    @staticmethod
    def _query_body(
        query: str, mode: QueryMode, top_k: int | None, model: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "mode": mode}
        if top_k is not None:
            body["top_k"] = top_k
        if model is not None:
            body["model"] = model
        return body

    async def query(
        self,
        query: str,
        mode: QueryMode,
        top_k: int | None = None,
        model: str | None = None,
    ) -> LightRAGResult:
        """Ask LightRAG; ``model``: None the service's default, a name that model only,
        ``"auto"`` the service's router (an unknown name is a DependencyRejected 422)."""
        data = await self._post("/query", self._query_body(query, mode, top_k, model))
        routing = data.get("routing")
        return LightRAGResult(
            response=str(data.get("response", "")),
            usage=usage_of(data),
            routing=routing if isinstance(routing, dict) else None,
        )

    async def query_stream(
        self,
        query: str,
        mode: QueryMode,
        top_k: int | None = None,
        model: str | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """:meth:`query` streamed: the service's NDJSON lines as dicts (``{"delta"}`` ...,
        then ``{"done", "usage", "routing"}`` or ``{"error", "status"}``). Opening the stream
        goes through the breaker, and a refusal before it starts raises as :meth:`query`
        does; a failure after that ends the generator with :class:`LightRAGError`. Closing
        the generator closes the HTTP stream, which stops the model's generation upstream."""
        path = "/query/stream"
        body = self._query_body(query, mode, top_k, model)
        resp = await self.guard.call(lambda: self._open_stream(path, body))
        try:
            async for raw in resp.aiter_lines():
                if raw.strip():
                    data = json.loads(raw)
                    yield data if isinstance(data, dict) else {"delta": str(data)}
        except httpx.HTTPError as exc:
            raise self._transport_error(path, exc) from exc
        finally:
            await resp.aclose()

    async def ready(self) -> None:
        resp = await self.http.get("/health")
        resp.raise_for_status()

    async def close(self) -> None:
        await self.http.aclose()
