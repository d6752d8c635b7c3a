"""What ``POST /ingest-async`` reads and writes besides its body, kept cheap per request:
the Idempotency-Key header (checked as FastAPI checks a declared header parameter, without
its per-request solving), the OpenAPI declaration of both, the base of ``track_url`` and the
``jobs_accepted_total`` child of a kind."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
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
