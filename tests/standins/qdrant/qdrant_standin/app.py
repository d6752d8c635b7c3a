"""The stand-in's FastAPI app: timing, metrics and API keys around every request, Qdrant's
error answers, and the routes."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import (
    routes_collections,
    routes_points,
    routes_search,
    routes_service,
    routes_snapshots,
)
from .auth import authorise
from .config import Settings
from .engine import Engine
from .errors import QdrantError, translate_error
from .metrics import Stats
from .protocol import Calls, elapsed, error_response
from .version import STANDIN_NAME, standin_version

log = logging.getLogger("qdrant_standin")


def create_app(engine: Engine, settings: Settings) -> FastAPI:
    version = standin_version()
    app = FastAPI(title=STANDIN_NAME, docs_url=None, redoc_url=None, openapi_url=None)
    stats = Stats()
    app.state.engine, app.state.settings, app.state.stats = engine, settings, stats

    # -- middleware: timing, metrics, API keys
    @app.middleware("http")
    async def auth_and_metrics(request: Request, call_next: Any) -> Response:
        request.state.t0 = time.perf_counter()
        response = await authorise(request, settings) or await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", None) or "unknown"
        stats.record(request.method, endpoint, response.status_code, elapsed(request))
        return response

    @app.exception_handler(QdrantError)
    async def on_qdrant_error(request: Request, exc: QdrantError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(ValidationError)
    async def on_validation_error(request: Request, exc: ValidationError) -> JSONResponse:
        return error_response(request, translate_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, QdrantError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        err = translate_error(exc)
        if err.status_code >= 500:
            log.exception("Error processing request")
        return error_response(request, err)

    calls = Calls(engine)
    routes_service.register(app, calls, version, stats)
    routes_collections.register(app, calls)
    routes_points.register(app, calls)
    routes_search.register(app, calls)
    routes_snapshots.register(app, calls, settings)
    return app
