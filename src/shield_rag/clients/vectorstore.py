"""Chunks in Qdrant (``qdrant-client``), with deterministic point ids.

Failures name Qdrant: unreachable, too slow or 5xx is :class:`VectorStoreError` (a
:class:`~shield_rag.errors.DependencyUnavailable`, counted by the ``qdrant`` breaker when one
guards the client); its 4xx for our input (e.g. a filter on a field of another type) is
:class:`~shield_rag.errors.DependencyRejected`; a collection whose vector size differs from
``qdrant.vector_size`` is :class:`~shield_rag.errors.DependencyMisconfigured`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from shield_rag.breaker import DependencyGuard
from shield_rag.clients.qdrant_requests import document_batch, points_batch, points_of
from shield_rag.errors import DependencyMisconfigured, DependencyRejected, DependencyUnavailable
from shield_rag.jsonhttp import JsonHttp
from shield_rag.settings import QdrantSettings
from shield_rag.tls import client_context

KEYWORD_INDEXES = ("doc_id", "source", "content_type", "job_id", "kind")
# Connections to Qdrant are kept open between requests. qdrant-client turns keep-alive off
# for a server at localhost/127.0.0.1 (a new TCP connection per request, a connect and an
# accept on every search); the pool here keeps it on for every address. Idle connections are
# dropped after 4 s, before Qdrant's own keep-alive (5 s) closes them under a request.
QDRANT_HTTP_LIMITS = httpx.Limits(
    max_connections=None, max_keepalive_connections=20, keepalive_expiry=4.0
)
INTEGER_INDEXES = ("chunk_index",)


class VectorStoreError(DependencyUnavailable):
    """Qdrant failed or could not be reached."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__("qdrant", message, timeout=timeout)


def _timed_out(exc: BaseException) -> bool:
    source = getattr(exc, "source", None) or exc.__cause__ or exc.__context__
    return isinstance(exc, httpx.TimeoutException | TimeoutError) or isinstance(
        source, httpx.TimeoutException | TimeoutError
    )


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


class VectorStore:
    def __init__(
        self,
        settings: QdrantSettings,
        guard: DependencyGuard | None = None,
        *,
        ca_bundle: Path | None = None,
    ) -> None:
        self.settings = settings
        self.guard = guard or DependencyGuard("qdrant")
        self.collection = settings.collection
        api_key = settings.api_key.get_secret_value() if settings.api_key else None
        # Whom https is checked against: certifi's CAs and <service>.ca_bundle's.
        tls = client_context(ca_bundle)
        self.client = AsyncQdrantClient(
            url=str(settings.url),
            api_key=api_key,
            timeout=int(settings.timeout),
            prefer_grpc=False,
            check_compatibility=False,
            limits=QDRANT_HTTP_LIMITS,
            verify=tls,  # handed to its httpx client
        )
        # Searches and a document's write go over aiohttp (see shield_rag/jsonhttp.py),
        # everything else over qdrant-client.
        self.http = JsonHttp(
            str(settings.url),
            settings.timeout,
            {"api-key": api_key} if api_key else None,
            ssl_context=tls,
        )
        points = f"/collections/{quote(self.collection, safe='')}/points"
        self._query_path = f"{points}/query"
        self._batch_path = f"{points}/batch?wait=true"
        self._ready = False

    async def _call(self, what: str, send: Callable[[], Awaitable[Any]]) -> Any:
        """Run one Qdrant request (``send`` makes it) through the breaker."""
        return await self.guard.call(lambda: self._send(what, send))

    async def _send(self, what: str, send: Callable[[], Awaitable[Any]]) -> Any:
        try:
            return await send()
        except UnexpectedResponse as exc:
            if exc.status_code is not None and 400 <= exc.status_code < 500:
                raise DependencyRejected(
                    "qdrant",
                    f"Qdrant rejected {what} ({exc.status_code}): "
                    f"{exc.content[:300].decode(errors='replace')}",
                    status=exc.status_code,
                ) from exc
            raise VectorStoreError(f"Qdrant {what} failed ({exc.status_code})") from exc
        except (
            ResponseHandlingException,
            httpx.HTTPError,
            aiohttp.ClientError,
            TimeoutError,
            OSError,
        ) as exc:
            if _timed_out(exc):
                raise VectorStoreError(
                    f"Qdrant at {self.settings.url} gave no answer to {what} within "
                    f"{int(self.settings.timeout)}s (qdrant.timeout)",
                    timeout=True,
                ) from exc
            raise VectorStoreError(
                f"Qdrant at {self.settings.url} is unreachable during {what}: "
                f"{exc or type(exc).__name__}"
            ) from exc

    async def ensure_collection(self) -> None:
        """Create the collection and its payload indexes if missing; check the dimension."""
        if self._ready:
            return
        exists = await self._call(
            "collection check", lambda: self.client.collection_exists(self.collection)
        )
        if not exists:
            await self._call("collection creation", self._create_collection)
        info = await self._call(
            "collection info", lambda: self.client.get_collection(self.collection)
        )
        vectors = info.config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        if size is not None and size != self.settings.vector_size:
            raise DependencyMisconfigured(
                "qdrant",
                f"Qdrant collection {self.collection!r} has vectors of size {size} but "
                f"qdrant.vector_size is {self.settings.vector_size}; use another collection "
                "or re-create it",
            )
        schema = info.payload_schema or {}
        for field in KEYWORD_INDEXES:
            if field not in schema:
                await self._call(
                    "payload index",
                    partial(
                        self.client.create_payload_index,
                        self.collection,
                        field,
                        models.PayloadSchemaType.KEYWORD,
                        wait=True,
                    ),
                )
        for field in INTEGER_INDEXES:
            if field not in schema:
                await self._call(
                    "payload index",
                    partial(
                        self.client.create_payload_index,
                        self.collection,
                        field,
                        models.PayloadSchemaType.INTEGER,
                        wait=True,
                    ),
                )
        self._ready = True

    async def _create_collection(self) -> None:
        try:
            await self.client.create_collection(
                self.collection,
                vectors_config=models.VectorParams(
                    size=self.settings.vector_size,
                    distance=models.Distance(self.settings.distance),
                ),
            )
        except UnexpectedResponse as exc:
            if exc.status_code != 409:  # 409: created by another process meanwhile
                raise

    async def store_entries(
        self,
        ids: list[str],
        vectors: list[list[float]],
        payloads: list[dict[str, Any]],
        formers: list[tuple[str, str]],
    ) -> None:
        """Store one-chunk entries and delete the points :func:`points_of` selects for each
        of ``formers`` (a doc id and a source): one request, answered once applied."""
        await self.ensure_collection()
        deletes = [points_of(doc_id, source) for doc_id, source in formers]
        await self._call(
            "upsert", partial(self._batch, points_batch(ids, vectors, payloads, deletes))
        )

    async def store_document(
        self,
        doc_id: str,
        ids: list[str],
        vectors: list[list[float]],
        payloads: list[dict[str, Any]],
        former: tuple[str, str] | None = None,
    ) -> None:
        """Store a document's chunks (``ids[i]`` is chunk ``i``) and delete its chunks with
        an index past the last one (left from a longer version of it) and, given ``former``,
        the points :func:`points_of` selects: one request, the operations applied in that
        order, answered once all are applied."""
        await self.ensure_collection()
        await self._call(
            "upsert",
            partial(self._batch, document_batch(doc_id, ids, vectors, payloads, former)),
        )

    async def search(
        self,
        vector: list[float],
        *,
        limit: int,
        offset: int = 0,
        query_filter: models.Filter | None = None,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        await self.ensure_collection()
        # The body qdrant-client's query_points sends for these arguments.
        body: dict[str, Any] = {
            "query": vector,
            "limit": limit,
            "offset": offset,
            "with_payload": True,
        }
        if query_filter is not None:
            body["filter"] = query_filter.model_dump(
                mode="json", by_alias=True, exclude_unset=True, exclude_none=True
            )
        if score_threshold is not None:
            body["score_threshold"] = score_threshold
        points = await self._call("search", partial(self._query, body))
        return [Hit(str(p["id"]), float(p["score"]), dict(p.get("payload") or {})) for p in points]

    async def _query(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """``POST /collections/<name>/points/query``; a non-2xx answer raises
        ``UnexpectedResponse`` and an unreadable one ``ResponseHandlingException``, as
        qdrant-client does."""
        answer = await self.http.request("POST", self._query_path, body)
        if not 200 <= answer.status < 300:
            raise UnexpectedResponse(
                answer.status, answer.reason, answer.content, httpx.Headers(dict(answer.headers))
            )
        try:
            points = answer.json()["result"]["points"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ResponseHandlingException(exc) from exc
        if not isinstance(points, list):
            raise ResponseHandlingException(ValueError(f"points is {type(points).__name__}"))
        return points

    async def _batch(self, body: dict[str, Any]) -> None:
        """``POST /collections/<name>/points/batch?wait=true``, answered once applied; a
        non-2xx answer raises ``UnexpectedResponse`` and an unreadable one
        ``ResponseHandlingException``, as qdrant-client does."""
        answer = await self.http.request("POST", self._batch_path, body)
        if not 200 <= answer.status < 300:
            raise UnexpectedResponse(
                answer.status, answer.reason, answer.content, httpx.Headers(dict(answer.headers))
            )
        try:
            answer.json()["result"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ResponseHandlingException(exc) from exc

    async def count(self, query_filter: models.Filter | None = None) -> int:
        await self.ensure_collection()
        res = await self._call(
            "count",
            lambda: self.client.count(self.collection, count_filter=query_filter, exact=True),
        )
        return int(res.count)

    async def ready(self) -> None:
        await self.client.get_collections()

    async def close(self) -> None:
        await self.http.close()
        await self.client.close()
