"""What ``POST /ingest-async`` reads and writes besides its body, kept cheap per request:
the Idempotency-Key header (checked as FastAPI checks a declared header parameter, without
its per-request solving), the OpenAPI declaration of both, the base of ``track_url``, the
``jobs_accepted_total`` child of a kind, and the route class that calls the endpoint without
FastAPI's per-request handler (:class:`RequestRoute`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import fastapi.routing
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import StringConstraints, TypeAdapter, ValidationError
from starlette.datastructures import URL

from shield_rag.api.jobs import TextIngest, UrlIngest
from shield_rag.orchestrator import admission_wiring
from shield_rag.orchestrator.metrics import JOBS_ACCEPTED

_KEY: TypeAdapter[str] = TypeAdapter(
    Annotated[
        str,
        StringConstraints(
            max_length=admission_wiring.IDEMPOTENCY_KEY_MAX,
            pattern=admission_wiring.IDEMPOTENCY_KEY_PATTERN,
        ),
    ]
)
OPENAPI_BODY: dict[str, Any] = {
    # What FastAPI documents for an optional constrained Header parameter.
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {
                "anyOf": [
                    {
                        "type": "string",
                        "maxLength": admission_wiring.IDEMPOTENCY_KEY_MAX,
                        "pattern": admission_wiring.IDEMPOTENCY_KEY_PATTERN,
                    },
                    {"type": "null"},
                ],
                "title": "Idempotency-Key",
            },
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        UrlIngest.model_json_schema(ref_template="#/components/schemas/{model}"),
                        TextIngest.model_json_schema(ref_template="#/components/schemas/{model}"),
                    ]
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "title": {"type": "string"},
                        "metadata": {"type": "string", "description": "JSON object"},
                        "graph": {
                            "type": "string",
                            "enum": ["true", "false"],
                            "description": "false: vectors only, no LightRAG indexing",
                        },
                    },
                }
            },
        },
    },
}


@functools.lru_cache(maxsize=64)
def _base_url(scheme: str, server: tuple[str, int] | None, root: str, host: str | None) -> str:
    """``request.base_url`` without its trailing slash: Starlette builds and parses it anew
    for every request; a handful of values (scheme, Host header, root path) recur."""
    scope: dict[str, Any] = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "root_path": root,
        "path": root if root.endswith("/") else root + "/",
        "query_string": b"",
        "headers": [] if host is None else [(b"host", host.encode("latin-1"))],
    }
    return str(URL(scope=scope)).rstrip("/")


def request_base(request: Request) -> str:
    scope = request.scope
    server = scope.get("server")
    root = scope.get("app_root_path", scope.get("root_path", ""))
    host = request.headers.get("host")
    return _base_url(scope["scheme"], tuple(server) if server else None, root, host)


def accepted(kind: str) -> Any:
    """``jobs_accepted_total{kind}``'s child, looked up once per kind (``labels()`` locks)."""
    child = _ACCEPTED.get(kind)
    if child is None:
        child = _ACCEPTED[kind] = JOBS_ACCEPTED.labels(kind)
    return child


_ACCEPTED: dict[str, Any] = {}


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header, checked as FastAPI checks a declared header parameter
    (the same 422 answer)."""
    raw = request.headers.get("idempotency-key")
    if raw is None:
        return None
    try:
        return _KEY.validate_python(raw)
    except ValidationError as exc:
        loc = ("header", "Idempotency-Key")
        raise RequestValidationError([{**e, "loc": loc} for e in exc.errors()]) from exc


_Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _request_only(dependant: Dependant) -> bool:
    """Whether an endpoint's only parameter is the :class:`Request`: no dependency (its own,
    its router's or its app's), no path, query, header, cookie or body parameter."""
    return bool(
        dependant.call is not None
        and dependant.request_param_name
        and not (
            dependant.dependencies
            or dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
            or dependant.response_param_name
            or dependant.background_tasks_param_name
            or dependant.http_connection_param_name
            or dependant.security_scopes_param_name
        )
    )


class RequestRoute(APIRoute):
    """An :class:`APIRoute` whose endpoint takes the :class:`Request` alone and returns its
    :class:`Response` is called directly: FastAPI's per-request handler has nothing to do for
    it (no dependency to solve, no body to parse, no response model to serialise) but still
    costs about a tenth of an accept (its telemetry hooks, the endpoint's description for
    error messages, an empty dependency solving). Routing, the middleware, the exception
    handlers, the body size limit and the OpenAPI document are FastAPI's as before. A route
    with anything else to solve — a parameter, or a dependency of its own, its router's or
    its app's — keeps FastAPI's handler."""

    def get_route_handler(self) -> _Handler:
        handler = super().get_route_handler()
        # The route as included (its dependencies with the including routers' and app's),
        # which FastAPI builds the handler for; without that context, FastAPI's handler.
        var = getattr(fastapi.routing, "_effective_route_context_var", None)
        if var is None:
            return handler
        context = var.get()
        route = context if getattr(context, "original_route", None) is self else self
        dependant = getattr(route, "dependant", None)
        if not isinstance(dependant, Dependant) or not _request_only(dependant):
            return handler
        endpoint = dependant.call
        name = dependant.request_param_name
        assert endpoint is not None  # checked by _request_only
        assert name is not None

        async def direct(request: Request) -> Response:
            response = await endpoint(**{name: request})
            if not isinstance(response, Response):
                raise TypeError(f"{self.path}: the endpoint must return a Response")
            return response

        return direct
