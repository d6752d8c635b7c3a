"""Request and response plumbing: bodies parsed into the ``ollama`` package's models, errors
answered like Ollama's, replies cut and streamed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError


def now() -> str:
    return datetime.now(UTC).isoformat()


def digest(model: str) -> str:
    return hashlib.sha256(model.encode()).hexdigest()


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def parse_body(model_cls: type[BaseModel], body: Any) -> BaseModel | JSONResponse:
    try:
        return model_cls.model_validate(body)
    except ValidationError as exc:
        return error_response(400, f"invalid request: {exc.errors()[0]['msg']}")


def cut(text: str, options: Any) -> tuple[str, str]:
    num_predict = None
    if isinstance(options, Mapping):
        num_predict = options.get("num_predict")
    elif options is not None:
        num_predict = getattr(options, "num_predict", None)
    pieces = re.findall(r"\s*\S+\s*", text) or [text]
    if num_predict is not None and 0 <= num_predict < len(pieces):
        return "".join(pieces[:num_predict]), "length"
    return text, "stop"


def chunks(text: str) -> Iterator[str]:
    pieces = re.findall(r"\s*\S+", text) or [text]
    for i in range(0, len(pieces), 4):
        yield "".join(pieces[i : i + 4])


async def body_of(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def not_found(model: str) -> JSONResponse:
    """What Ollama's generate, chat and embed handlers answer for a model not installed."""
    return error_response(404, f'model "{model}" not found, try pulling it first')


def keep_alive_of(req: Any) -> float | str | None:
    """The request's keep_alive in seconds (None: forever), or "default" when absent.
    Raises ValueError on a malformed duration."""
    from .envconfig import keep_alive_seconds

    value = getattr(req, "keep_alive", None)
    if value is None or value == "":
        return "default"
    return keep_alive_seconds(value, None)
