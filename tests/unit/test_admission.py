"""Admission control without Redis: who the client is, Retry-After estimates, the memory
guard's decision, and what happens when Redis fails. The Redis side (bucket, caps, counts)
is tested for real in tests/integration/test_admission.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.requests import Request

from shield_rag.api.errors import ApiError, ErrorCode
from shield_rag.features import FeatureFlags
from shield_rag.jobs.keys import Keys
from shield_rag.jobs.store import CreateOutcome, QueueFull, RateLimited, StorageNearlyFull
from shield_rag.orchestrator.admission import (
    MAX_RETRY_AFTER,
    UNKNOWN_DRAIN_RETRY_AFTER,
    Admission,
    client_id,
)
from shield_rag.orchestrator.app import create_app
from shield_rag.orchestrator.routes import events, health, ingest, jobs, lightrag, search
from shield_rag.settings import AdmissionSettings, Settings


def _request(headers: dict[str, str], peer: str = "10.1.2.3") -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (peer, 5555),
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("claude-desktop", "claude-desktop"),
        ("user@example.org/agent.1:7", "user@example.org/agent.1:7"),
        ("a" * 64, "a" * 64),
        ("a" * 65, "ip:10.1.2.3"),
        ("", "ip:10.1.2.3"),
        ("two words", "ip:10.1.2.3"),
        ("semi;colon", "ip:10.1.2.3"),
        ("ünïcode", "ip:10.1.2.3"),
        (None, "ip:10.1.2.3"),
    ],
)
def test_client_is_the_valid_header_else_the_peer_address(
    header: str | None, expected: str
) -> None:
    headers = {"X-Shield-Client": header} if header is not None else {}
    assert client_id(_request(headers)) == expected


class _Pipe:
    def __init__(self, results: list[Any]) -> None:
        self.results = results

    async def __aenter__(self) -> _Pipe:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    def __getattr__(self, _name: str) -> Any:
        return lambda *a, **k: None

    async def execute(self) -> list[Any]:
        return self.results


class _Redis:
    def __init__(self, used: int, maxmemory: int, fail: bool = False) -> None:
        self.info = {"used_memory": used, "maxmemory": maxmemory}
        self.fail = fail

    def pipeline(self, transaction: bool = False) -> _Pipe:
        if self.fail:
            raise RedisConnectionError("Redis is down")
        return _Pipe([self.info, 3, 10])


class _Store:
    """What Admission uses of JobStore, with fixed answers."""

    def __init__(self, redis: _Redis, counts: tuple[int, int, bool, int] = (0, 0, False, -1)):
        self.redis = redis
        self.keys = Keys("t")
        self.counts = counts
        self.wait = 0.0

    async def admission_counts(self, *_: Any) -> tuple[int, int, bool, int]:
        if self.redis.fail:
            raise RedisConnectionError("Redis is down")
        return self.counts

    async def take_token(self, *_: Any) -> float:
        if self.redis.fail:
            raise RedisConnectionError("Redis is down")
        return self.wait

    async def take_token_and_counts(
        self, *_: Any
    ) -> tuple[float, tuple[int, int, bool, int] | None]:
        # As the script does: nothing is counted when the bucket refuses.
        wait = await self.take_token()
        return (wait, None) if wait > 0 else (wait, await self.admission_counts())

    async def jobs_ahead_of_oldest(self, _client: str) -> int:
        return 9


def _admission(store: _Store, **settings: Any) -> Admission:
    return Admission(store, AdmissionSettings(**settings))  # type: ignore[arg-type]


def _refusal(coro: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        asyncio.run(coro)
    return info.value


def test_memory_guard_refuses_above_the_watermark_and_passes_replays() -> None:
    store = _Store(_Redis(used=85, maxmemory=100))
    err = _refusal(_admission(store).check_write("c", None))
    assert err.code is ErrorCode.STORAGE_NEARLY_FULL and err.status == 503
    assert err.retry_after is not None and err.retry_after >= 1
    # A replay of a stored Idempotency-Key adds nothing, and is not refused.
    store.counts = (0, 0, True, -1)
    asyncio.run(_admission(store).check_write("c", "key"))
    # Under the watermark, or without maxmemory, nothing is refused.
    asyncio.run(_admission(_Store(_Redis(used=79, maxmemory=100))).check_write("c", None))
    asyncio.run(_admission(_Store(_Redis(used=10**9, maxmemory=0))).check_write("c", None))


def test_an_upload_counts_against_the_watermark_before_redis_reports_it() -> None:
    admission = _admission(_Store(_Redis(used=70, maxmemory=100)), redis_memory_check_seconds=60)
    asyncio.run(admission.check_write("c", None, size=15))
    err = _refusal(admission.check_write("c", None))
    assert err.code is ErrorCode.STORAGE_NEARLY_FULL


def test_queue_caps_answer_429_for_a_client_and_503_for_everyone() -> None:
    store = _Store(_Redis(1, 100), counts=(5, 5, False, 2))
    err = _refusal(_admission(store, client_max_queued_jobs=5).check_write("c", None))
    assert (err.status, err.code) == (429, ErrorCode.TOO_MANY_QUEUED_JOBS)
    store.counts = (1, 50, False, -1)
    err = _refusal(
        _admission(store, client_max_queued_jobs=5, max_queued_jobs=50).check_write("c", None)
    )
    assert (err.status, err.code) == (503, ErrorCode.OVERLOADED)


def test_rate_limit_answers_429_with_the_wait_rounded_up() -> None:
    store = _Store(_Redis(1, 100))
    store.wait = 0.03
    err = _refusal(_admission(store).check_rate("c"))
    assert (err.status, err.code, err.retry_after) == (429, ErrorCode.RATE_LIMITED, 1.0)
    assert err.response_headers()["Retry-After"] == "1"
    store.wait = 2.2
    assert _refusal(_admission(store).check_rate("c")).retry_after == 3.0


def test_a_write_takes_its_token_and_its_counts_together() -> None:
    store = _Store(_Redis(1, 100), counts=(5, 5, False, 2))
    admission = _admission(store, client_max_queued_jobs=5)
    counts = asyncio.run(admission.check_rate_of_write("c", None))
    assert counts == (5, 5, False, 2)
    store.counts = (0, 0, False, -1)  # what Redis says later is not read again
    err = _refusal(admission.check_write("c", None, counts=counts))
    assert (err.status, err.code) == (429, ErrorCode.TOO_MANY_QUEUED_JOBS)
    store.wait = 0.5
    err = _refusal(admission.check_rate_of_write("c", None))
    assert (err.status, err.code) == (429, ErrorCode.RATE_LIMITED)


def test_disabled_admission_refuses_nothing_and_asks_redis_nothing() -> None:
    store = _Store(_Redis(99, 100, fail=True))
    admission = _admission(store, enabled=False)
    asyncio.run(admission.check_rate("c"))
    assert asyncio.run(admission.check_rate_of_write("c", None)) is None
    asyncio.run(admission.check_write("c", None))
    assert admission.create_limits("c") == {"client": "c", "client_cap": 0, "global_cap": 0}


def test_a_redis_failure_during_admission_propagates_as_a_redis_error() -> None:
    store = _Store(_Redis(1, 100, fail=True))
    with pytest.raises(RedisConnectionError):
        asyncio.run(_admission(store).check_rate("c"))
    with pytest.raises(RedisConnectionError):
        asyncio.run(_admission(store).check_write("c", None))


def test_retry_after_follows_the_measured_drain_rate() -> None:
    admission = _admission(_Store(_Redis(1, 100)))
    assert admission.eta(10) == UNKNOWN_DRAIN_RETRY_AFTER  # nothing measured yet
    admission._samples.extend([(0.0, 100), (10.0, 120)])  # 2 jobs/s
    assert admission.eta(10) == 5.0
    assert admission.eta(1) == 1.0
    assert admission.eta(10_000) == MAX_RETRY_AFTER
    admission._samples.clear()
    admission._samples.extend([(0.0, 100), (30.0, 100)])  # nothing finishes
    assert admission.eta(1) == MAX_RETRY_AFTER


# -- the routes' one dependency (client_guard) -----------------------------------------------
KEY = "guard-test-key-0123456789"


def _guarded_app(store: _Store, api_key: str | None = None, **admission: Any) -> TestClient:
    settings = Settings(
        redis={"url": "redis://127.0.0.1:1/0"},
        qdrant={"url": "http://127.0.0.1:2"},
        ollama={"url": "http://127.0.0.1:3"},
        orchestrator={"api_key": api_key},
        admission=admission,
    )
    app = create_app(settings)
    features = FeatureFlags(settings.features, None)
    app.state.services = SimpleNamespace(settings=settings, store=store, features=features)
    app.state.admission = Admission(store, settings.admission)  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


class _CountingStore(_Store):
    def __init__(self, redis: _Redis, counts: tuple[int, int, bool, int]) -> None:
        super().__init__(redis, counts)
        self.asked: list[str] = []
        self.created: list[dict[str, Any]] = []
        self.refuse: Exception | None = None  # what the creation script answers instead

    async def create(self, **kwargs: Any) -> CreateOutcome:
        self.asked.append("create")
        self.created.append(kwargs)
        if self.refuse is not None:
            raise self.refuse
        return CreateOutcome("0" * 32, created=True, body_hash=kwargs["body_hash"])

    async def take_token(self, *_: Any) -> float:
        self.asked.append("token")
        return await super().take_token()

    async def take_token_and_counts(
        self, *_: Any
    ) -> tuple[float, tuple[int, int, bool, int] | None]:
        self.asked.append("token+counts")
        return (self.wait, None) if self.wait > 0 else (self.wait, self.counts)


def test_exactly_the_writes_are_judged_by_the_caps() -> None:
    marked = {
        (method, route.path)
        for module in (events, health, ingest, jobs, lightrag, search)
        for route in module.router.routes
        if isinstance(route, APIRoute) and getattr(route.endpoint, "__shield_admission_write__", 0)
        for method in route.methods
    }
    assert marked == {("POST", "/ingest-async"), ("POST", "/vectors")}
    # A client at its cap is refused a write (an upload: judged before its body is read),
    # after one script for token and counts; a read takes only its token (and then fails
    # here: this app has no job store to read).
    store = _CountingStore(_Redis(1, 100), counts=(5, 5, False, 2))
    client = _guarded_app(store, client_max_queued_jobs=5)
    r = client.post("/ingest-async", files={"file": ("a.txt", b"text", "text/plain")})
    assert (r.status_code, r.json()["code"]) == (429, "too_many_queued_jobs")
    assert store.asked == ["token+counts"]
    store.asked.clear()
    assert client.get("/jobs/" + "0" * 32).status_code == 500
    assert store.asked == ["token"]


def test_the_api_key_then_the_rate_limit_then_the_header_are_checked() -> None:
    store = _CountingStore(_Redis(1, 100), counts=(0, 0, False, -1))
    store.wait = 0.5
    client = _guarded_app(store, api_key=KEY)
    bad_key = {"Idempotency-Key": "two words"}
    r = client.post("/ingest-async", json={"type": "text", "text": "x"}, headers=bad_key)
    assert (r.status_code, store.asked) == (401, [])  # no token taken without the key
    auth = {"Authorization": "Bearer " + KEY}
    r = client.post("/ingest-async", json={"x": 1}, headers={**auth, **bad_key})
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    store.wait = 0.0
    r = client.post("/ingest-async", json={"x": 1}, headers={**auth, **bad_key})
    assert r.status_code == 422 and "Idempotency-Key" in r.text, r.text
    assert r.json()["errors"] == [
        {
            "field": "header.Idempotency-Key",
            "message": "String should match pattern '^[\\x21-\\x7e]+$'",
        }
    ]
    long_key = {**auth, "Idempotency-Key": "k" * 256}
    r = client.post("/ingest-async", json={"type": "text", "text": "x"}, headers=long_key)
    assert r.json()["detail"] == "header.Idempotency-Key: String should have at most 255 characters"
    # The endpoint checks the header itself; the OpenAPI document still declares it.
    params = client.app.openapi()["paths"]["/ingest-async"]["post"]["parameters"]  # type: ignore[attr-defined]
    assert [(p["name"], p["in"], p["required"]) for p in params] == [
        ("Idempotency-Key", "header", False)
    ]
    schema = params[0]["schema"]  # text or absent, never null (orchestrator/openapi.py)
    assert "anyOf" not in schema
    assert {key: schema[key] for key in ("type", "maxLength", "pattern")} == {
        "type": "string",
        "maxLength": 255,
        "pattern": "^[\\x21-\\x7e]+$",
    }


TEXT = {"type": "text", "text": "x"}


def test_a_json_accept_is_admitted_by_its_creation_script_alone() -> None:
    store = _CountingStore(_Redis(1, 100), counts=(0, 0, False, -1))
    client = _guarded_app(store, client_requests_per_second=7.0, client_burst=9)
    r = client.post("/ingest-async", json=TEXT, headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 202, r.text
    assert store.asked == ["create"]  # one round trip: no token taken before
    limits = {k: store.created[0][k] for k in ("rate", "burst", "refuse_new", "client_cap")}
    assert limits == {"rate": 7.0, "burst": 9, "refuse_new": False, "client_cap": 200}
    # The script's refusals are the answers admission gives anywhere else.
    for refused, status, code, retry in [
        (RateLimited(2.2), 429, "rate_limited", "3"),
        (QueueFull("client", 200, 4), 429, "too_many_queued_jobs", None),
        (QueueFull("global", 5000), 503, "overloaded", None),
        (StorageNearlyFull(), 503, "storage_nearly_full", None),
    ]:
        store.refuse = refused
        r = client.post("/ingest-async", json=TEXT)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert retry is None or r.headers["Retry-After"] == retry
        assert int(r.headers["Retry-After"]) >= 1


def test_the_memory_guard_verdict_goes_to_the_creation_script() -> None:
    store = _CountingStore(_Redis(95, 100), counts=(0, 0, False, -1))
    client = _guarded_app(store)
    assert client.post("/ingest-async", json=TEXT).status_code == 202  # the fake creates it
    assert store.created[0]["refuse_new"] is True  # the script answers replays, refuses others


def test_a_json_request_refused_before_its_script_still_takes_its_token() -> None:
    store = _CountingStore(_Redis(1, 100), counts=(0, 0, False, -1))
    client = _guarded_app(store)
    r = client.post(
        "/ingest-async", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["code"], store.asked) == (400, "invalid_json", ["token"])
    store.asked.clear()
    store.wait = 1.5  # the bucket is empty: 429 first, as when the token is taken up front
    r = client.post("/ingest-async", json={"type": "text"})
    assert (r.status_code, r.json()["code"], store.asked) == (429, "rate_limited", ["token"])
    assert r.headers["Retry-After"] == "2"


def test_a_crawl_is_admitted_before_its_host_is_resolved() -> None:
    store = _CountingStore(_Redis(1, 100), counts=(5, 5, False, 2))
    client = _guarded_app(store, client_max_queued_jobs=5)
    # A host that cannot resolve: a 429 rather than a 422 proves nothing was resolved.
    r = client.post("/ingest-async", json={"type": "url", "url": "http://nowhere.invalid/"})
    assert (r.status_code, r.json()["code"]) == (429, "too_many_queued_jobs"), r.text
    assert store.asked == ["token+counts"]


def test_every_client_route_refuses_a_request_without_the_api_key() -> None:
    """The ingest router has no router-level guard (its endpoint awaits client_guard itself):
    a route added to it, or to any client router, without the guard fails here."""
    store = _CountingStore(_Redis(1, 100), counts=(0, 0, False, -1))
    client = _guarded_app(store, api_key=KEY)
    routes = [
        (method, route.path.replace("{job_id}", "0" * 32))
        for module in (events, ingest, jobs, lightrag, search)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]
    assert ("POST", "/ingest-async") in routes
    answers = {(m, p): client.request(m, p, json={}).status_code for m, p in routes}
    assert answers == dict.fromkeys(answers, 401)
    assert store.asked == []
