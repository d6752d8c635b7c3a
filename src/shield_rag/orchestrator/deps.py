"""Typed dependencies of the routes: the shared services and the API-key check, and the
error statuses each kind of route can answer (for the OpenAPI document)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from redis.asyncio import Redis

from shield_rag.api.errors import error_responses
from shield_rag.clients.embeddings import Embedder
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.clients.vectorstore import VectorStore
from shield_rag.features import FeatureFlags
from shield_rag.jobs.store import JobStore
from shield_rag.orchestrator import admission_wiring, auth
from shield_rag.orchestrator.admission import client_id
from shield_rag.orchestrator.llm_calls import ModelCalls
from shield_rag.settings import Settings


@dataclass
class Services:
    settings: Settings
    redis: Redis
    store: JobStore
    embedder: Embedder
    vectors: VectorStore
    lightrag: LightRAGClient | None
    features: FeatureFlags
    models: ModelCalls


# The dependencies are coroutine functions although they never wait: FastAPI runs a plain
# function dependency in its thread pool, a thread hop per dependency and request.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def required_scope(request: Request) -> str:
    """The scope the matched route needs: its :func:`~shield_rag.orchestrator.auth.requires`
    mark, else write for a route admission counts as a write, else read."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    marked = auth.marked_scope(endpoint)
    if marked is not None:
        return marked
    return "write" if admission_wiring.is_write_endpoint(endpoint) else "read"


def authenticate(request: Request) -> auth.Caller:
    """Who makes ``request`` (401 without a known key), kept in its scope for the route."""
    authenticator: auth.Authenticator = request.app.state.authenticator
    caller = authenticator.caller(request, client_id)
    request.scope[auth.CALLER_KEY] = caller
    return caller


async def client_guard(request: Request) -> None:
    """The one dependency of every client route: who calls (401) and whether they may (403),
    then admission — the rate limit (429), and on a write route the queue caps and the
    memory guard (429/503); a write while features.write_tools is off is refused
    (feature_disabled). One dependency rather than a chain: FastAPI solves each
    dependency of each request anew, and that solving cost more than the checks themselves."""
    caller = authenticate(request)
    scope = required_scope(request)
    if caller.authenticated:
        auth.authorize(caller, scope, f"{request.method} {request.url.path}")
    if scope == "write":
        request.app.state.services.features.require("write_tools")
    await admission_wiring.admit(request)


# Error statuses, by what a route does (documented with api.errors.error_responses):
# every route behind the API key (401) and its scopes (403), admission control (429) and an
# unexpected error (500);
ROUTE_ERRORS = (401, 403, 429, 500)
# a route with a JSON body: not JSON (400), body not sent in time (408), invalid (422);
BODY_ERRORS = (400, 408, 422)
# a write route while features.write_tools is off (feature_disabled);
WRITE_OFF = 501
# a route that reads or writes the job store: Redis unavailable (503);
REDIS_ERRORS = (503,)
# a route calling Qdrant, Ollama or LightRAG: their input refusal (422), a deployment that
# does not fit them (500), unavailable or breaker open (503), too slow (504).
DEPENDENCY_ERRORS = (422, 500, 503, 504)


def client_router(tag: str, *, guard: bool = True, **kwargs: Any) -> APIRouter:
    """The router of a resource clients call: every route needs the API key (when one is
    set) and takes a token from the client's rate-limit bucket (429 when it is empty); a
    route whose endpoint is marked with :func:`admission_wiring.writes` is also refused by the
    queue caps and the memory guard. With ``guard=False`` each endpoint must await
    :func:`client_guard` itself, first (``POST /ingest-async`` does: one dependency fewer to
    solve per accept)."""
    return APIRouter(
        tags=[tag],
        dependencies=[Depends(client_guard)] if guard else [],
        # 422: a delegating client's X-Shield-Client that names no client (auth.py).
        responses=error_responses(422, 429),
        **kwargs,
    )
