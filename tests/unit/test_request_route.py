"""``RequestRoute`` (the route class of ``POST /ingest-async``) calls an endpoint that takes
the Request alone directly, and keeps FastAPI's handler for any route with something to
solve: a parameter, or a dependency of its own, its router's or its app's."""

from __future__ import annotations

from typing import Any

import fastapi.routing
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from shield_rag.orchestrator.routes.ingest_http import RequestRoute

solved: list[str] = []


async def _dependency(request: Request) -> None:
    solved.append(request.url.path)


def _app(
    router_deps: list[Any] | None = None, app_deps: list[Any] | None = None
) -> tuple[FastAPI, list[Request]]:
    seen: list[Request] = []
    router = APIRouter(route_class=RequestRoute, dependencies=router_deps or [])

    @router.post("/plain", status_code=202)
    async def plain(request: Request) -> JSONResponse:
        seen.append(request)
        return JSONResponse({"body": (await request.body()).decode()}, status_code=202)

    @router.get("/param")
    async def param(request: Request, n: int) -> JSONResponse:
        return JSONResponse({"n": n})

    @router.get("/not-a-response")
    async def not_a_response(request: Request) -> Any:
        return {"a": 1}

    app = FastAPI(dependencies=app_deps or [])
    app.include_router(router)
    return app, seen


def _fastapi_calls(monkeypatch: Any) -> list[str]:
    """The paths whose endpoint FastAPI's per-request handler called."""
    calls: list[str] = []
    original = fastapi.routing.run_endpoint_function

    async def spy(*, dependant: Any, **kwargs: Any) -> Any:
        calls.append(dependant.path or "")
        return await original(dependant=dependant, **kwargs)

    monkeypatch.setattr(fastapi.routing, "run_endpoint_function", spy)
    return calls


def test_a_request_only_endpoint_is_called_directly(monkeypatch: Any) -> None:
    by_fastapi = _fastapi_calls(monkeypatch)
    app, seen = _app()
    with TestClient(app) as client:
        response = client.post("/plain", content=b"hello")
        assert (response.status_code, response.json()) == (202, {"body": "hello"})
        assert len(seen) == 1 and seen[0].url.path == "/plain"
        # A parameter is still FastAPI's: validated, 422 when missing.
        assert client.get("/param", params={"n": "3"}).json() == {"n": 3}
        assert client.get("/param").status_code == 422
    assert by_fastapi == ["/param"]  # the 422 is answered before the endpoint
    assert "/plain" not in by_fastapi


def test_a_direct_endpoint_must_answer_a_response() -> None:
    app, _unused = _app()
    with (
        TestClient(app, raise_server_exceptions=True) as client,
        pytest.raises(TypeError, match="must return a Response"),
    ):
        client.get("/not-a-response")


def test_router_and_app_dependencies_keep_fastapis_handler(monkeypatch: Any) -> None:
    for kwargs in ({"router_deps": [Depends(_dependency)]}, {"app_deps": [Depends(_dependency)]}):
        by_fastapi = _fastapi_calls(monkeypatch)
        solved.clear()
        app, seen = _app(**kwargs)
        with TestClient(app) as client:
            assert client.post("/plain", content=b"x").status_code == 202
        assert solved == ["/plain"], kwargs  # the dependency ran
        assert by_fastapi == ["/plain"]
        assert len(seen) == 1
