"""Qdrant's API-key rules: the full key, the read-only key, and the open endpoints."""

from __future__ import annotations

import hmac
import re

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response

from .config import Settings
from .errors import QdrantError
from .protocol import error_response

READ_ONLY_POST = re.compile(
    r"^/collections/[^/]+/(points|facet|points/(count|scroll|query|query/batch|query/groups"
    r"|search|search/batch|search/groups|search/matrix/pairs|search/matrix/offsets"
    r"|recommend|recommend/batch|recommend/groups|discover|discover/batch))$"
)
OPEN_EXACT = {"/", "/healthz"}
OPEN_PREFIX = ("/readyz", "/livez")


async def authorise(request: Request, settings: Settings) -> Response | None:
    """Qdrant's API-key rules; returns the refusal, or None to let the request through."""
    if not (settings.api_key or settings.read_only_api_key):
        return None
    path = request.url.path
    if path in OPEN_EXACT or path.startswith(OPEN_PREFIX):
        return None
    key = request.headers.get("api-key")
    if key is None:
        bearer = request.headers.get("authorization", "")
        key = bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else None
    if key is None:
        return PlainTextResponse(
            "Must provide an API key or an Authorization bearer token", status_code=401
        )
    if settings.api_key and hmac.compare_digest(key.encode(), settings.api_key.encode()):
        return None
    if settings.read_only_api_key and hmac.compare_digest(
        key.encode(), settings.read_only_api_key.encode()
    ):
        if request.method in ("GET", "HEAD") or (
            request.method == "POST" and READ_ONLY_POST.match(path)
        ):
            return None
        return error_response(
            request, QdrantError(403, "Forbidden: Write access is required, the key is read-only")
        )
    return PlainTextResponse("Invalid API key or JWT", status_code=401)
