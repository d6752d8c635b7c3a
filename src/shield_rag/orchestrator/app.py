"""The orchestrator FastAPI application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol, Self, TypeVar

from fastapi import FastAPI

from shield_rag import __version__
from shield_rag.breaker import BreakerLimits, DependencyGuard
from shield_rag.clients.embeddings import Embedder
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.clients.vectorstore import VectorStore
from shield_rag.features import FeatureFlags
from shield_rag.jobs.keys import GRAPH_STAGE, Keys
from shield_rag.jobs.store import JobStore
from shield_rag.llm.budgets import BudgetLedger
from shield_rag.orchestrator import errors, openapi
from shield_rag.orchestrator.auth import Authenticator
from shield_rag.orchestrator.deps import Services
from shield_rag.orchestrator.llm_calls import ModelCalls
from shield_rag.orchestrator.metrics import (
    ACTIVE_JOBS,
    GRAPH_ACTIVE_JOBS,
    GRAPH_QUEUE_SIZE,
    QUEUE_SIZE,
    MetricsMiddleware,
)
from shield_rag.orchestrator.routes import (
    events,
    features,
    health,
    ingest,
    jobs,
    lightrag,
    search,
)
from shield_rag.orchestrator.timeouts import BodyTimeoutMiddleware
from shield_rag.redis_conn import make_redis
from shield_rag.settings import Settings

log = logging.getLogger(__name__)


class _TimedSection(Protocol):
    """A settings section with a request timeout (ollama, qdrant, lightrag)."""

    @property
    def timeout(self) -> float: ...

    def model_copy(self, *, update: Mapping[str, Any] | None = ..., deep: bool = ...) -> Self: ...


_T = TypeVar("_T", bound=_TimedSection)
QUEUE_GAUGE_INTERVAL = 5.0


async def _refresh_queue_gauges(store: JobStore) -> None:
    graph = Keys(store.keys.prefix, GRAPH_STAGE)
    while True:
        try:
            stats = await store.queue_stats()
            QUEUE_SIZE.set(stats["waiting"])
            ACTIVE_JOBS.set(stats["pending"])
            stats = await store.queue_stats(graph)
            GRAPH_QUEUE_SIZE.set(stats["waiting"])
            GRAPH_ACTIVE_JOBS.set(stats["pending"])
        except Exception as exc:  # noqa: BLE001 - metrics must not kill the API
            log.debug("queue gauges not refreshed: %s", exc)
        await asyncio.sleep(QUEUE_GAUGE_INTERVAL)


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = make_redis(settings.redis)
        # One breaker per dependency the orchestrator calls (metrics: circuit_breaker_state).
        limits: BreakerLimits = {
            "failure_threshold": settings.orchestrator.breaker_failure_threshold,
            "reset_seconds": settings.orchestrator.breaker_reset_seconds,
        }
        # A client waits for every call made here: none may outlast the MCP server's patience.
        deadline = settings.orchestrator.dependency_timeout_seconds

        def bounded(section: _T) -> _T:
            timeout = min(section.timeout, deadline)
            return section.model_copy(update={"timeout": timeout})

        ca_bundle = settings.orchestrator.ca_bundle  # private CAs besides certifi's
        features = FeatureFlags(settings.features, redis, key_prefix=settings.redis.key_prefix)
        services = Services(
            settings=settings,
            redis=redis,
            store=JobStore(redis, settings.redis.key_prefix, settings.worker.job_ttl_seconds),
            embedder=Embedder(
                bounded(settings.ollama),
                settings.qdrant.vector_size,
                DependencyGuard.counted("ollama", **limits),
                ca_bundle=ca_bundle,
            ),
            vectors=VectorStore(
                bounded(settings.qdrant),
                DependencyGuard.counted("qdrant", **limits),
                ca_bundle=ca_bundle,
            ),
            lightrag=(
                LightRAGClient(
                    bounded(settings.lightrag),
                    DependencyGuard.counted("lightrag", **limits),
                    ca_bundle=ca_bundle,
                )
                if settings.lightrag.enabled
                else None
            ),
            features=features,
            models=ModelCalls(
                settings,
                BudgetLedger(redis, settings.accounting, key_prefix=settings.redis.key_prefix),
                features,
            ),
        )
        app.state.services = services
        gauges = asyncio.create_task(_refresh_queue_gauges(services.store))
        stop_flags = asyncio.Event()
        flags = asyncio.create_task(services.features.run(stop_flags))
        budget_gauges = asyncio.create_task(services.models.run_gauges(stop_flags))
        try:
            yield
        finally:
            stop_flags.set()
            gauges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gauges
            await flags
            await budget_gauges
            await services.embedder.close()
            await services.vectors.close()
            if services.lightrag is not None:
                await services.lightrag.close()
            await redis.aclose()

    app = FastAPI(
        title="Shield RAG orchestrator",
        version=__version__,
        description="Accepts ingest work the HTTP 202 way, tracks jobs, streams progress "
        "over SSE, and answers vector and LightRAG queries.",
        lifespan=lifespan,
        # A path with a trailing slash is 404 naming it, not a redirect to a URL built from
        # the request's Host header (which a client, or a proxy's cache, would follow).
        redirect_slashes=False,
    )
    app.state.authenticator = Authenticator(settings.orchestrator)
    errors.install(app)
    # Added last, MetricsMiddleware runs first and counts the 408s of the body timeout.
    app.add_middleware(
        BodyTimeoutMiddleware, body_timeout=settings.orchestrator.body_timeout_seconds
    )
    app.add_middleware(MetricsMiddleware)
    for module in (health, ingest, jobs, events, search, lightrag, features):
        app.include_router(module.router)
    openapi.install(app, settings)
    return app
