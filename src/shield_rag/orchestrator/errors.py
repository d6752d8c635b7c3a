"""Error responses a person can act on, in one shape: :class:`shield_rag.api.errors.ErrorBody`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from redis.exceptions import RedisError

from shield_rag.api.errors import ApiError, ErrorCode
from shield_rag.clients.vectorstore import FilterError
from shield_rag.errors import (
    DependencyMisconfigured,
    DependencyRejected,
    DependencyUnavailable,
    PermanentJobError,
    TransientJobError,
)


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


def render(exc: ApiError) -> JSONResponse:
    return JSONResponse(
        status_code=exc.status,
        content=exc.body().model_dump(mode="json", exclude_none=True),
        headers=exc.response_headers(),
    )


def from_dependency(exc: Exception) -> ApiError:
    """The error answer for a dependency's failure, naming the dependency."""
    if isinstance(exc, DependencyUnavailable):
        if not exc.sent:
            code = ErrorCode.CIRCUIT_OPEN
        elif exc.timeout:
            code = ErrorCode.DEPENDENCY_TIMEOUT
        else:
            code = ErrorCode.DEPENDENCY_UNAVAILABLE
        return ApiError(
            code, str(exc), dependency=exc.dependency, retry_after=exc.retry_after or 5.0
        )
    if isinstance(exc, DependencyRejected):
        return ApiError(ErrorCode.REJECTED_BY_DEPENDENCY, str(exc), dependency=exc.dependency)
    if isinstance(exc, DependencyMisconfigured):
        return ApiError(ErrorCode.MISCONFIGURED, str(exc), dependency=exc.dependency)
    raise TypeError(f"not a dependency error: {exc!r}")


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return render(exc)

    @app.exception_handler(DependencyUnavailable)
    @app.exception_handler(DependencyRejected)
    @app.exception_handler(DependencyMisconfigured)
    async def _dependency(_: Request, exc: Exception) -> JSONResponse:
        return render(from_dependency(exc))

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
