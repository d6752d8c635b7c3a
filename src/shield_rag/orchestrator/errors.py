"""Error responses a person can act on: one JSON shape, ``{"detail": "...", ...}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError

from shield_rag.clients.vectorstore import FilterError
from shield_rag.errors import PermanentJobError, TransientJobError


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p != "body" and not str(p).startswith("function-")]
    return ".".join(parts) or "body"


def describe_errors(errors: list[dict[str, Any]] | Any) -> tuple[str, list[dict[str, str]]]:
    items = []
    for err in errors:
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown field (remove it or check its spelling)"
        elif err.get("type") == "union_tag_invalid":
            msg = "type must be one of 'url' or 'text' (upload files as multipart/form-data)"
        elif err.get("type") == "union_tag_not_found":
            msg = 'add "type": "url" or "type": "text"'
        items.append({"field": _loc(err.get("loc", ())), "message": msg})
    text = "; ".join(f"{i['field']}: {i['message']}" for i in items) or "invalid request"
    return text, items


def install(app: FastAPI) -> None:
    @app.exception_handler(RedisError)
    async def _redis(_: Request, exc: RedisError) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": f"the job store (Redis) is unavailable: {exc}"[:300]},
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = list(exc.errors())
        bad_json = [e for e in errs if e.get("type") == "json_invalid"]
        if bad_json:
            reason = bad_json[0].get("ctx", {}).get("error") or bad_json[0].get("msg")
            return JSONResponse(
                status_code=400, content={"detail": f"body is not valid JSON: {reason}"}
            )
        text, items = describe_errors(errs)
        return JSONResponse(status_code=422, content={"detail": text, "errors": items})

    @app.exception_handler(ValidationError)
    async def _pyd_validation(_: Request, exc: ValidationError) -> JSONResponse:
        text, items = describe_errors(exc.errors())
        return JSONResponse(status_code=422, content={"detail": text, "errors": items})

    @app.exception_handler(FilterError)
    async def _filter(_: Request, exc: FilterError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(TransientJobError)
    async def _transient(_: Request, exc: TransientJobError) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": f"a dependency is unavailable: {exc}"},
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(PermanentJobError)
    async def _permanent(_: Request, exc: PermanentJobError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})
