"""The orchestrator's error answers are all ErrorBody, and its OpenAPI document says so.

In-process (no lifespan, no Redis): the routes under test fail before they need a service.
"""

from __future__ import annotations

import asyncio
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from shield_rag.api.errors import ErrorBody
from shield_rag.api.fields import NOT_BLANK
from shield_rag.errors import DependencyRejected, DependencyUnavailable
from shield_rag.features import FeatureFlags
from shield_rag.orchestrator.app import create_app
from shield_rag.orchestrator.timeouts import BodyTimeoutMiddleware
from shield_rag.settings import Settings

API_KEY = "contract-test-key-0123456789"


def make_settings(**orchestrator: Any) -> Settings:
    return Settings(
        redis={"url": "redis://127.0.0.1:1/0"},
        qdrant={"url": "http://127.0.0.1:2"},
        ollama={"url": "http://127.0.0.1:3"},
        orchestrator={"max_search_limit": 37, "max_vectors_per_request": 11, **orchestrator},
        crawl={"max_pages_limit": 23, "max_depth_limit": 4},
        # In process without Redis: admission control has its own tests (test_admission).
        admission={"enabled": False},
    )


def client_for(settings: Settings) -> TestClient:
    app = create_app(settings)
    features = FeatureFlags(settings.features, None)
    app.state.services = SimpleNamespace(settings=settings, store=None, features=features)

    @app.get("/test/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @app.get("/test/redis", include_in_schema=False)
    async def redis_down() -> None:
        raise RedisConnectionError("Connection refused")

    @app.get("/test/ollama", include_in_schema=False)
    async def ollama_down() -> None:
        raise DependencyUnavailable("ollama", "Ollama at http://x is unreachable")

    @app.get("/test/qdrant-refuses", include_in_schema=False)
    async def qdrant_refuses() -> None:
        raise DependencyRejected("qdrant", "Qdrant refused the filter", status=400)

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> TestClient:
    return client_for(make_settings())


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return client_for(make_settings(api_key=API_KEY)).get("/openapi.json").json()


def error_body(response: Any, status: int, code: str) -> ErrorBody:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = ErrorBody.model_validate(response.json())
    assert body.status == status
    assert body.code == code
    return body


def test_unknown_route_is_an_error_body(client: TestClient) -> None:
    body = error_body(client.get("/no/such/route"), 404, "not_found")
    assert "/no/such/route" in body.detail


@pytest.mark.parametrize(("method", "path"), [("GET", "/healthz/"), ("POST", "/search/")])
def test_a_trailing_slash_is_404_not_a_redirect_built_from_the_host_header(
    client: TestClient, method: str, path: str
) -> None:
    r = client.request(method, path, headers={"host": "attacker.example"}, follow_redirects=False)
    body = error_body(r, 404, "not_found")
    assert path in body.detail and "location" not in r.headers


@pytest.mark.parametrize("method", ["PUT", "PATCH", "POST", "HEAD"])
def test_405_on_jobs_lists_every_method_of_the_path(client: TestClient, method: str) -> None:
    """Every method the path answers, and only those: HEAD is not one (a 405 says so)."""
    r = client.request(method, "/jobs/" + "0" * 32)
    assert r.status_code == 405
    allow = [m.strip() for m in r.headers["allow"].split(",")]
    assert {"GET", "DELETE", "OPTIONS"} == set(allow)
    if method != "HEAD":
        assert "DELETE" in error_body(r, 405, "method_not_allowed").detail


def test_options_answers_allow_for_the_path(client: TestClient) -> None:
    r = client.options("/jobs/" + "0" * 32)
    assert r.status_code == 204
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "DELETE", "OPTIONS"}
    r = client.options("/search")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"POST", "OPTIONS"}


def test_unexpected_error_is_500_without_internals(client: TestClient) -> None:
    r = client.get("/test/boom")
    body = error_body(r, 500, "internal_error")
    assert "hunter2" not in r.text and "RuntimeError" not in r.text
    assert "Traceback" not in r.text
    assert body.dependency is None


def test_redis_failure_names_redis_with_retry_after(client: TestClient) -> None:
    r = client.get("/test/redis")
    body = error_body(r, 503, "dependency_unavailable")
    assert body.dependency == "redis"
    assert body.retry_after and int(r.headers["retry-after"]) >= 1


def test_dependency_errors_carry_their_cause(client: TestClient) -> None:
    body = error_body(client.get("/test/ollama"), 503, "dependency_unavailable")
    assert body.dependency == "ollama"
    body = error_body(client.get("/test/qdrant-refuses"), 422, "rejected_by_dependency")
    assert body.dependency == "qdrant"


def test_validation_errors_list_fields(client: TestClient) -> None:
    body = error_body(
        client.post("/search", json={"query": "x", "sort": 1}), 422, "invalid_request"
    )
    assert body.errors and body.errors[0].field == "sort"
    assert "unknown field" in body.detail
    body = error_body(
        client.post("/search", content=b"{oops", headers={"content-type": "application/json"}),
        400,
        "invalid_json",
    )
    assert "JSON" in body.detail


def test_limits_from_settings_are_enforced_with_an_error_body(client: TestClient) -> None:
    body = error_body(
        client.post("/search", json={"query": "x", "limit": 38}), 422, "invalid_request"
    )
    assert body.errors and body.errors[0].field == "limit"
    items = [{"text": f"t{i}"} for i in range(12)]
    body = error_body(client.post("/vectors", json={"items": items}), 422, "invalid_request")
    assert "11" in body.detail


def test_missing_api_key_is_401_error_body() -> None:
    client = client_for(make_settings(api_key=API_KEY))
    r = client.get("/jobs/" + "0" * 32)
    error_body(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def test_every_error_status_of_every_route_is_an_error_body(doc: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in json.dumps(doc)
    for method, path, op in _operations(doc):
        assert "500" in op["responses"], (method, path)
        for status, response in op["responses"].items():
            if int(status) < 400 or (path == "/readyz" and status == "503"):
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_success_answers_have_models(doc: dict[str, Any]) -> None:
    for method, path, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) >= 300:
                continue
            content = response["content"]
            if path.endswith(("/events", "/stream")):
                assert list(content) == ["text/event-stream"]
            else:
                assert "$ref" in content["application/json"]["schema"], (method, path, status)


def test_schema_is_as_strict_as_the_server(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    limit = schemas["SearchRequest"]["properties"]["limit"]
    assert limit["maximum"] == 37
    items = schemas["StoreRequest"]["properties"]["items"]
    assert items["maxItems"] == 11 and items["minItems"] == 1
    assert "pattern" in schemas["LightRAGQuery"]["properties"]["query"]
    assert schemas["StoreRequest"]["oneOf"] == [{"required": ["text"]}, {"required": ["items"]}]
    variants = doc["paths"]["/ingest-async"]["post"]["requestBody"]["content"]["application/json"]
    by_title = {v["title"]: v["properties"] for v in variants["schema"]["oneOf"]}
    assert by_title["UrlIngest"]["max_pages"]["anyOf"][0]["maximum"] == 23
    assert by_title["UrlIngest"]["max_depth"]["anyOf"][0]["maximum"] == 4
    assert by_title["UrlIngest"]["url"]["pattern"].startswith("^")
    # Blank texts and queries: the pattern the server checks (tests/unit/test_blank_strings.py).
    store = schemas["StoreRequest"]["properties"]
    for field in (
        by_title["TextIngest"]["text"],
        schemas["SearchRequest"]["properties"]["query"],
        store["text"],
        schemas["VectorItem"]["properties"]["text"],
    ):
        assert field["pattern"] == NOT_BLANK["pattern"], field
    job_id = doc["paths"]["/jobs/{job_id}"]["get"]["parameters"][0]
    assert job_id["schema"]["pattern"] == "^[0-9a-f]{32}$"


@pytest.mark.parametrize("url", ["HTTP://", "https:///index.html", "http://?q=1", " http://#top"])
def test_a_crawl_url_without_a_host_is_refused_by_the_schema_and_the_server(
    doc: dict[str, Any], client: TestClient, url: str
) -> None:
    variants = doc["paths"]["/ingest-async"]["post"]["requestBody"]["content"]["application/json"]
    (crawl,) = [v for v in variants["schema"]["oneOf"] if v["title"] == "UrlIngest"]
    assert not re.match(crawl["properties"]["url"]["pattern"], url)
    assert re.match(crawl["properties"]["url"]["pattern"], url.replace("://", "://example.org"))
    answer = client.post("/ingest-async", json={"type": "url", "url": url})
    problem = error_body(answer, 422, "invalid_request")
    assert "url" in problem.detail


def test_authentication_is_declared_only_when_a_key_is_set(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    search = doc["paths"]["/search"]["post"]
    assert search["security"] == [{"bearer": []}] and "401" in search["responses"]
    assert "security" not in doc["paths"]["/healthz"]["get"]
    open_doc = client_for(make_settings()).get("/openapi.json").json()
    assert "401" not in open_doc["paths"]["/search"]["post"]["responses"]
    assert "securitySchemes" not in open_doc["components"]


def test_body_timeout_answers_408_and_closes() -> None:
    """A body that stops arriving: the app sees a disconnect, the client a 408."""
    sent: list[dict[str, Any]] = []
    app_saw: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            app_saw.append(message["type"])
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"app answer"})

    async def run() -> None:
        stall = asyncio.Event()
        first = [{"type": "http.request", "body": b"{", "more_body": True}]

        async def receive() -> dict[str, Any]:
            if first:
                return first.pop()
            await stall.wait()  # the rest of the promised body never comes
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        middleware = BodyTimeoutMiddleware(app, body_timeout=0.05)
        await middleware({"type": "http", "method": "POST", "path": "/search"}, receive, send)

    asyncio.run(run())
    assert app_saw == ["http.request", "http.disconnect"]
    assert sent[0]["status"] == 408
    headers = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
    assert headers["connection"] == "close"
    body = ErrorBody.model_validate_json(sent[1]["body"])
    assert body.code == "request_timeout"
    assert len(sent) == 2


def test_complete_body_is_passed_through_without_timeout() -> None:
    """After the last body part, receive is the server's own (event streams wait on it)."""
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "http.request"
        calls.append((await receive())["type"])  # waits past the timeout: no 408
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def run() -> list[dict[str, Any]]:
        sent: list[dict[str, Any]] = []
        messages = [
            {"type": "http.request", "body": b"", "more_body": False},
            {"type": "http.disconnect"},
        ]

        async def receive() -> dict[str, Any]:
            message = messages.pop(0)
            if message["type"] == "http.disconnect":
                await asyncio.sleep(0.2)  # longer than the body timeout below
            return message

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await BodyTimeoutMiddleware(app, body_timeout=0.05)({"type": "http"}, receive, send)
        return sent

    sent = asyncio.run(run())
    assert calls == ["http.disconnect"]
    assert sent[0]["status"] == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/search", {"query": "x", "score_threshold": False}, "score_threshold"),
        ("/search", {"query": "x", "limit": "5"}, "limit"),
        ("/search", {"query": "x", "filters": {"metadata.n": [2**64]}}, "filters.metadata.n"),
        ("/vectors", {"text": None, "items": [{"text": "a"}]}, "text"),
        ("/lightrag/query", {"query": " ab "}, "query"),
        ("/ingest-async", {"type": "url", "url": "https://example.org/", "max_pages": True}, ""),
    ],
)
def test_requests_the_schema_refuses_are_refused(
    client: TestClient, path: str, body: dict[str, Any], field: str
) -> None:
    """Each of these once got through (schemathesis found them): the server is now as strict
    as its schema."""
    problem = error_body(client.post(path, json=body), 422, "invalid_request")
    assert field in problem.detail
