"""Typed dependencies of the routes: the shared services and the API-key check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from redis.asyncio import Redis

from shield_rag.clients.embeddings import Embedder
from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.clients.vectorstore import VectorStore
from shield_rag.jobs.store import JobStore
from shield_rag.settings import Settings


@dataclass
class Services:
    settings: Settings
    redis: Redis
    store: JobStore
    embedder: Embedder
    vectors: VectorStore
    lightrag: LightRAGClient | None


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_api_key(request: Request) -> None:
    """Bearer token check, active when ``orchestrator.api_key`` is set."""
    services: Services = request.app.state.services
    key = services.settings.orchestrator.api_key
    if key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.encode(), key.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong API key: send 'Authorization: Bearer <orchestrator.api_key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
