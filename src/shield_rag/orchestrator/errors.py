"""Error responses a person can act on, in one shape: :class:`shield_rag.api.errors.ErrorBody`.

Every error the orchestrator answers goes through :func:`install`'s handlers: the routes'
:class:`ApiError`, request validation, Starlette's own 404/405 (and ``OPTIONS``, answered
here with the path's ``Allow``), the dependencies' errors (named), Redis, and anything
unexpected (a 500 that shows no internals; the traceback goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shield_rag.api.errors import ApiError, ErrorCode, FieldProblem
from shield_rag.clients.qdrant_requests import FilterError
from shield_rag.errors import (
    DependencyMisconfigured,
    DependencyRejected,
    DependencyUnavailable,
    PermanentJobError,
    TransientJobError,
)
from shield_rag.features import FeatureDisabled

log = logging.getLogger(__name__)
DEFAULT_RETRY_AFTER = 5.0
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The code an HTTP status from Starlette or FastAPI itself is answered with.
_CODE_FOR_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.MALFORMED_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    408: ErrorCode.REQUEST_TIMEOUT,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.INVALID_REQUEST,
}


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


def invalid(errors: list[dict[str, Any]] | Any) -> ApiError:
    """422 ``invalid_request`` listing each field problem of pydantic ``errors``."""
    text, items = describe_errors(errors)
    return ApiError(
        ErrorCode.INVALID_REQUEST, text, errors=[FieldProblem.model_validate(i) for i in items]
    )


def invalid_field(field: str, message: str) -> ApiError:
    """422 ``invalid_request`` for one field; ``detail`` is ``"<field>: <message>"``."""
    return ApiError(
        ErrorCode.INVALID_REQUEST,
        f"{field}: {message}",
        errors=[FieldProblem(field=field, message=message)],
    )


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
            code,
            str(exc),
            dependency=exc.dependency,
            retry_after=exc.retry_after or DEFAULT_RETRY_AFTER,
        )
    if isinstance(exc, DependencyRejected):
        return ApiError(ErrorCode.REJECTED_BY_DEPENDENCY, str(exc), dependency=exc.dependency)
    if isinstance(exc, DependencyMisconfigured):
        return ApiError(ErrorCode.MISCONFIGURED, str(exc), dependency=exc.dependency)
    raise TypeError(f"not a dependency error: {exc!r}")


def allowed_methods(request: Request) -> list[str]:
    """Every method this request's path answers: those of the route the router matched on
    the path (Starlette names only that one, e.g. GET of /jobs/{job_id}) and those the
    OpenAPI document lists for the same path template (DELETE too), plus OPTIONS. (Not HEAD:
    FastAPI's routes answer GET only, and a HEAD of an event stream would hold it open.)"""
    route = request.scope.get("route")
    methods = {"OPTIONS", *(getattr(route, "methods", None) or ())}
    template = getattr(route, "path_format", None)
    if template is not None:
        methods |= {m.upper() for m in request.app.openapi().get("paths", {}).get(template, {})}
    return sorted(methods, key=lambda m: (*_METHOD_ORDER, m).index(m))


# FastAPI reads a JSON body with json.loads and answers 400 "There was an error parsing the
# body" for what that raises besides JSONDecodeError: the cause, said as the other bodies' is.
_UNREADABLE_JSON = {
    UnicodeDecodeError: "it is not UTF-8",
    RecursionError: "it is nested too deeply",
}


def _starlette_http(request: Request, exc: StarletteHTTPException) -> Response:
    headers = dict(exc.headers or {})
    unreadable = _UNREADABLE_JSON.get(type(exc.__cause__)) if exc.status_code == 400 else None
    if unreadable is not None:
        return render(ApiError(ErrorCode.INVALID_JSON, f"body is not valid JSON: {unreadable}"))
    if exc.status_code == 405:
        allow = ", ".join(allowed_methods(request))
        headers["Allow"] = allow
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        detail = f"method {request.method} is not allowed on {request.url.path[:200]}: use {allow}"
    elif exc.status_code == 404:
        detail = f"no route {request.url.path[:200]!r}: see /openapi.json for the API"
    else:
        detail = str(exc.detail)
    code = _CODE_FOR_STATUS.get(exc.status_code)
    if code is None:
        code = ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.INVALID_REQUEST
    error = ApiError(code, detail, headers=headers)
    error.status = exc.status_code  # the status Starlette chose, even for an unmapped one
    return render(error)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_unused: Request, exc: ApiError) -> JSONResponse:
        return render(exc)

    @app.exception_handler(DependencyUnavailable)
    @app.exception_handler(DependencyRejected)
    @app.exception_handler(DependencyMisconfigured)
    async def _dependency(_unused: Request, exc: Exception) -> JSONResponse:
        return render(from_dependency(exc))

    @app.exception_handler(FeatureDisabled)
    async def _feature(_unused: Request, exc: FeatureDisabled) -> JSONResponse:
        return render(ApiError(ErrorCode.FEATURE_DISABLED, str(exc)))

    @app.exception_handler(RedisError)
    async def _redis(_unused: Request, exc: RedisError) -> JSONResponse:
        return render(
            ApiError(
                ErrorCode.DEPENDENCY_UNAVAILABLE,
                f"the job store (Redis) is unavailable: {exc}"[:300],
                dependency="redis",
                retry_after=DEFAULT_RETRY_AFTER,
            )
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _starlette_http(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_unused: Request, exc: RequestValidationError) -> JSONResponse:
        errs = list(exc.errors())
        bad_json = [e for e in errs if e.get("type") == "json_invalid"]
        if bad_json:
            reason = bad_json[0].get("ctx", {}).get("error") or bad_json[0].get("msg")
            return render(ApiError(ErrorCode.INVALID_JSON, f"body is not valid JSON: {reason}"))
        return render(invalid(errs))

    @app.exception_handler(ValidationError)
    async def _pyd_validation(_unused: Request, exc: ValidationError) -> JSONResponse:
        return render(invalid(exc.errors()))

    @app.exception_handler(FilterError)
    async def _filter(_unused: Request, exc: FilterError) -> JSONResponse:
        return render(
            ApiError(
                ErrorCode.INVALID_REQUEST,
                str(exc),
                errors=[FieldProblem(field="filters", message=str(exc))],
            )
        )

    @app.exception_handler(TransientJobError)
    async def _transient(_unused: Request, exc: TransientJobError) -> JSONResponse:
        return render(
            ApiError(
                ErrorCode.DEPENDENCY_UNAVAILABLE,
                f"a dependency is unavailable: {exc}",
                retry_after=DEFAULT_RETRY_AFTER,
            )
        )

    @app.exception_handler(PermanentJobError)
    async def _permanent(_unused: Request, exc: PermanentJobError) -> JSONResponse:
        return render(ApiError(ErrorCode.INVALID_REQUEST, str(exc)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The server logs the traceback (the exception is raised on after this answer).
        log.error(
            "unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path[:200]
        )
        return render(
            ApiError(
                ErrorCode.INTERNAL_ERROR,
                "internal error; it was logged by the orchestrator: retry later, and report "
                "it if it persists",
            )
        )
