"""Service endpoints: version, health and readiness, metrics, telemetry, cluster."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from .metrics import Stats, prometheus_text
from .protocol import Calls, ok


def register(app: FastAPI, calls: Calls, version: str, stats: Stats) -> None:
    engine, read = calls.engine, calls.read

    @app.get("/")
    async def root() -> dict[str, Any]:
        return {"title": "qdrant - vector search engine", "version": version, "commit": None}

    @app.get("/healthz")
    @app.get("/livez")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("healthz check passed")

    @app.get("/readyz")
    async def readyz() -> PlainTextResponse:
        if engine.closed:
            return PlainTextResponse("shutting down", status_code=503)
        return PlainTextResponse("all shards are ready")

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        counts = await read(
            lambda c: {
                d.name: c.count(d.name, exact=True).count for d in c.get_collections().collections
            }
        )
        return PlainTextResponse(
            prometheus_text(version, counts, stats), media_type="text/plain; version=0.0.4"
        )

    @app.get("/telemetry")
    async def telemetry(request: Request) -> JSONResponse:
        names = await read(lambda c: [d.name for d in c.get_collections().collections])
        return ok(
            request,
            {
                "id": "qdrant-standin",
                "app": {"name": "qdrant", "version": version, "standin": True},
                "collections": {"number_of_collections": len(names)},
            },
        )

    @app.get("/cluster")
    async def cluster(request: Request) -> JSONResponse:
        return ok(request, {"status": "disabled"})

    @app.get("/issues")
    async def issues(request: Request) -> JSONResponse:
        return ok(request, {"issues": []})
