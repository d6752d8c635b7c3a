"""Qdrant's REST envelope: request bodies and flags parsed, ``{"result", "status", "time"}``
answers, and the engine calls the routes make."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from qdrant_client import QdrantClient
from qdrant_client.http import models

from .checks import check_point_ids
from .engine import Engine, dump
from .errors import QdrantError, translate_error


def elapsed(request: Request) -> float:
    return time.perf_counter() - getattr(request.state, "t0", time.perf_counter())


def ok(request: Request, result: Any) -> JSONResponse:
    return JSONResponse({"result": dump(result), "status": "ok", "time": elapsed(request)})


def error_response(request: Request, err: QdrantError) -> JSONResponse:
    return JSONResponse(
        {"status": {"error": err.message}, "time": elapsed(request)},
        status_code=err.status_code,
    )


async def parse(request: Request, model: Any) -> Any:
    body = await request.body()
    try:
        data = json.loads(body or b"null")
    except json.JSONDecodeError as exc:
        raise QdrantError(400, f"Json deserialize error: {exc}") from exc
    parsed = TypeAdapter(model).validate_python(data)
    check_point_ids(parsed)
    return parsed


def flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise QdrantError(400, f"Query deserialize error: invalid value for `{name}`: {value}")
    return value.lower() == "true"


def points_selector(points: list[Any] | None, flt: models.Filter | None) -> Any:
    if points is not None:
        return models.PointIdsList(points=points)
    if flt is not None:
        return models.FilterSelector(filter=flt)
    raise QdrantError(400, "Bad request: either `points` or `filter` is required")


class Calls:
    """The engine as the routes call it: any error becomes Qdrant's answer for it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def read(self, fn: Callable[[QdrantClient], Any]) -> Any:
        try:
            return await self.engine.read(fn)
        except Exception as exc:
            raise translate_error(exc) from exc

    async def write(self, fn: Callable[[QdrantClient], Any]) -> Any:
        try:
            return await self.engine.write(fn)
        except Exception as exc:
            raise translate_error(exc) from exc

    async def update(self, request: Request, name: str, fn: Callable[[QdrantClient], Any]) -> Any:
        try:
            return await self.engine.update(name, fn, flag(request, "wait", False))
        except Exception as exc:
            raise translate_error(exc) from exc
