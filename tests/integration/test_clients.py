"""API clients, scopes and delegation on a running orchestrator, and the runtime feature flags
they administer (two replicas on one Redis).

Every client route is called by every client: the table says which scope each route needs,
and a test on the app itself checks that the table covers every route there is.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse

from shield_rag.orchestrator.admission_wiring import is_write_endpoint
from shield_rag.orchestrator.app import create_app
from shield_rag.orchestrator.auth import marked_scope
from shield_rag.settings import Settings
from tests.integration.stack import Stack, metric_value, running_stack
from tests.support.settings import config_with
from tests.support.wait import wait_until

KEYS = {name: secrets.token_hex(24) for name in ("reader", "writer", "ops", "mcp")}
SCOPES = {
    "reader": ["read"],
    "writer": ["read", "write"],
    "ops": ["read", "admin"],
    "mcp": ["read", "write", "delegate"],
}
JOB = "f" * 32  # a job id no one submitted: a read of it is 404, not 403

# (method, path, body, scope) for every client route.
ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("POST", "/search", {"query": "scopes", "limit": 1}, "read"),
    ("POST", "/lightrag/query", {"query": "what is a scope?"}, "read"),
    ("POST", "/lightrag/query/stream", {"query": "what is a scope?"}, "read"),
    ("GET", f"/jobs/{JOB}", None, "read"),
    ("GET", f"/jobs/{JOB}/events", None, "read"),
    ("GET", "/events", None, "read"),
    ("GET", "/features", None, "read"),
    ("POST", "/vectors", {"text": "a stored text about scopes"}, "write"),
    ("POST", "/ingest-async", {"type": "text", "text": "a text about scopes"}, "write"),
    ("DELETE", f"/jobs/{JOB}", None, "write"),
    ("PUT", "/admin/features/streaming", {"enabled": True}, "admin"),
    ("DELETE", "/admin/features/streaming", None, "admin"),
    ("GET", "/admin/feature-history", None, "admin"),
]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _auth(client: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[client]}", **headers}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    clients = {n: {"key_sha256": _digest(k), "scopes": SCOPES[n]} for n, k in KEYS.items()}
    overrides = {
        "orchestrator": {"clients": clients},
        "features": {"refresh_seconds": 0.2},
    }
    with running_stack(
        tmp_path_factory.mktemp("clients"), workers=1, lightrag=False, settings_overrides=overrides
    ) as s:
        yield s


def _call(
    http: httpx.Client, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> httpx.Response:
    if path.endswith(("/events", "/stream")):  # a stream: the status line is all it needs
        with http.stream(method, path, headers=headers) as resp:
            return resp
    return http.request(method, path, json=body, headers=headers)


def test_the_table_covers_every_client_route() -> None:
    app = create_app(Settings.model_validate(config_with()))
    seen = set()
    routes = []
    for route in app.routes:  # included routers are kept whole: their own routes
        original = getattr(route, "original_router", None)
        routes.extend(original.routes if original is not None else [route])
    for route in routes:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if path in ("/healthz", "/readyz") or path.startswith(("/openapi", "/docs", "/redoc")):
            continue
        endpoint = getattr(route, "endpoint", None)
        scope = marked_scope(endpoint) or ("write" if is_write_endpoint(endpoint) else "read")
        for method in methods - {"HEAD"}:
            seen.add((method, path, scope))
    table = {
        (m, p.replace(JOB, "{job_id}").replace("streaming", "{name}"), s)
        for m, p, _unused, s in ROUTES
    }
    assert seen == table


@pytest.mark.parametrize("client", sorted(KEYS))
@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES, ids=lambda v: str(v)[:24])
def test_each_client_may_call_exactly_the_routes_its_scopes_allow(
    stack: Stack, client: str, method: str, path: str, body: dict[str, Any] | None, scope: str
) -> None:
    with stack.http() as http:
        resp = _call(http, method, path, body, _auth(client))
    if scope in SCOPES[client]:
        assert resp.status_code not in (401, 403), resp.text
    else:
        assert resp.status_code == 403, resp.text
        err = resp.json()
        assert err["code"] == "forbidden"
        assert f"client '{client}'" in err["detail"] and f"scope '{scope}'" in err["detail"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer " + "0" * 48}, {"Authorization": f"Basic {KEYS['ops']}"}],
    ids=["no key", "unknown key", "not bearer"],
)
def test_a_request_without_a_known_key_is_401(stack: Stack, headers: dict[str, str]) -> None:
    with stack.http() as http:
        resp = http.post("/search", json={"query": "x", "limit": 1}, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert KEYS["ops"] not in resp.text


def _submit(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    text = f"delegation {uuid.uuid4().hex}"
    return http.post("/ingest-async", json={"type": "text", "text": text}, headers=headers)


def test_a_delegate_acts_for_the_caller_it_names(stack: Stack) -> None:
    with stack.http() as http:
        # a configured client: its own scopes bound the delegate's (reader may not write)
        named = _submit(http, _auth("mcp", **{"X-Shield-Client": "reader"}))
        assert named.status_code == 403 and "client 'reader' (named by mcp)" in named.text
        # a caller only the MCP server knows: the scopes the delegate asserts for it
        read_only = {"X-Shield-Client": "oauth:alice", "X-Shield-Scopes": "read"}
        assert _submit(http, _auth("mcp", **read_only)).status_code == 403
        writer = {"X-Shield-Client": "oauth:alice", "X-Shield-Scopes": "read write"}
        accepted = _submit(http, _auth("mcp", **writer))
        assert accepted.status_code == 202, accepted.text
        job = http.get(f"/jobs/{accepted.json()['job_id']}", headers=_auth("ops")).json()
        assert job["client"] == "oauth:alice"
        # never admin for a caller that is not a configured client, whatever is asserted
        admin = {"X-Shield-Client": "oauth:alice", "X-Shield-Scopes": "read admin"}
        resp = http.put(
            "/admin/features/streaming", json={"enabled": True}, headers=_auth("mcp", **admin)
        )
        assert resp.status_code == 403
        # a bad name is the delegate's mistake
        bad = http.get("/features", headers=_auth("mcp", **{"X-Shield-Client": "a b"}))
        assert bad.status_code == 422 and "X-Shield-Client: 'a b'" in bad.json()["detail"]


def _events_until(
    http: httpx.Client, headers: dict[str, str], job_id: str, timeout: float = 30
) -> list[str]:
    """The job ids of ``GET /events`` from the start of the stream until ``job_id``'s first
    event (AssertionError after ``timeout`` seconds)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with connect_sse(http, "GET", "/events", headers={**headers, "Last-Event-ID": "0-0"}) as src:
        assert src.response.status_code == 200
        for sse in src.iter_sse():
            if sse.data:
                seen.append(json.loads(sse.data)["job_id"])
                if seen[-1] == job_id:
                    return seen
            assert time.monotonic() < deadline, f"no event of {job_id} in {timeout} s: {seen}"
    raise AssertionError(f"/events ended before an event of {job_id}")


def test_a_job_is_its_submitters_and_every_admins(stack: Stack) -> None:
    guest = _auth("mcp", **{"X-Shield-Client": "guest", "X-Shield-Scopes": "read write"})
    intruder = _auth("mcp", **{"X-Shield-Client": "intruder", "X-Shield-Scopes": "read write"})
    with stack.http() as http:
        accepted = _submit(http, _auth("writer"))
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()["job_id"]
        for owner in (_auth("writer"), _auth("ops"), _auth("mcp", **{"X-Shield-Client": "writer"})):
            assert http.get(f"/jobs/{job}", headers=owner).status_code == 200
        for other in (_auth("reader"), _auth("mcp"), intruder):
            hidden = http.get(f"/jobs/{job}", headers=other)
            assert hidden.status_code == 404 and "another client" in hidden.json()["detail"]
            with http.stream("GET", f"/jobs/{job}/events", headers=other) as resp:
                assert resp.status_code == 404
        # another client's cancel is the 404 of a job it cannot see, and changes nothing
        refused = http.delete(f"/jobs/{job}", headers=intruder)
        assert refused.status_code == 404, refused.text
        status = http.get(f"/jobs/{job}", headers=_auth("writer")).json()["status"]
        assert status != "cancelled"
        # GET /events: a client sees its own jobs' events, an admin everyone's
        mine = _submit(http, guest).json()["job_id"]
        assert job not in _events_until(http, guest, mine)
        assert job in _events_until(http, _auth("ops"), mine)


def test_a_client_without_delegate_cannot_name_another(stack: Stack) -> None:
    with stack.http() as http:
        accepted = _submit(http, _auth("writer", **{"X-Shield-Client": "ops"}))
        assert accepted.status_code == 202, accepted.text
        job = http.get(f"/jobs/{accepted.json()['job_id']}", headers=_auth("writer")).json()
    assert job["client"] == "writer"


def _feature(url: str, name: str) -> dict[str, Any]:
    features = httpx.get(f"{url}/features", headers=_auth("reader"), timeout=10).json()["features"]
    found: dict[str, Any] = next(f for f in features if f["name"] == name)
    return found


def test_a_flag_turned_off_is_refused_by_every_replica_and_restored(stack: Stack) -> None:
    other = stack.start_extra_orchestrator()
    store = {"text": "flags are read by every replica"}
    try:
        off = httpx.put(
            f"{stack.base_url}/admin/features/write_tools",
            json={"enabled": False},
            headers=_auth("ops"),
            timeout=10,
        )
        assert off.status_code == 200, off.text
        assert off.json() | {"changed_at": None} == {
            "name": "write_tools",
            "enabled": False,
            "default": True,
            "source": "runtime",
            "changed_by": "ops",
            "changed_at": None,
        }
        for url in (stack.base_url, other):
            wait_until(lambda u=url: not _feature(u, "write_tools")["enabled"], 15, f"{url} flag")
            refused = httpx.post(f"{url}/vectors", json=store, headers=_auth("writer"), timeout=10)
            assert refused.status_code == 501
            assert refused.json()["code"] == "feature_disabled"
            assert "features.write_tools" in refused.json()["detail"]
            # reads keep working
            found = httpx.post(
                f"{url}/search",
                json={"query": "flags", "limit": 1},
                headers=_auth("writer"),
                timeout=10,
            )
            assert found.status_code == 200
        metrics = stack.metrics(stack.orch_metrics_port)
        assert metric_value(metrics, "shield_feature_enabled", {"feature": "write_tools"}) == 0
        back = httpx.delete(f"{other}/admin/features/write_tools", headers=_auth("ops"), timeout=10)
        assert back.json()["source"] == "inventory" and back.json()["enabled"] is True
        for url in (stack.base_url, other):
            wait_until(lambda u=url: _feature(u, "write_tools")["enabled"], 15, f"{url} flag back")
            stored = httpx.post(f"{url}/vectors", json=store, headers=_auth("writer"), timeout=30)
            assert stored.status_code == 200, stored.text
        history = httpx.get(
            f"{stack.base_url}/admin/feature-history", headers=_auth("ops"), timeout=10
        ).json()["changes"]
        assert [(c["name"], c["action"], c["by"]) for c in history[:2]] == [
            ("write_tools", "reset", "ops"),
            ("write_tools", "set", "ops"),
        ]
    finally:
        httpx.delete(
            f"{stack.base_url}/admin/features/write_tools", headers=_auth("ops"), timeout=10
        )


def test_crawling_off_refuses_crawls_but_not_a_single_page(stack: Stack) -> None:
    url = f"{stack.base_url}/healthz"  # any loopback URL: only admission is looked at
    crawl = {"type": "url", "url": url, "max_pages": 5, "max_depth": 2}
    page = {"type": "url", "url": url, "max_pages": 1, "max_depth": 0}
    headers = _auth("writer")
    try:
        httpx.put(
            f"{stack.base_url}/admin/features/crawling",
            json={"enabled": False},
            headers=_auth("ops"),
            timeout=10,
        ).raise_for_status()
        with stack.http() as http:
            refused = http.post("/ingest-async", json=crawl, headers=headers)
            assert refused.status_code == 501 and "features.crawling" in refused.text
            assert http.post("/ingest-async", json=page, headers=headers).status_code == 202
    finally:
        httpx.delete(f"{stack.base_url}/admin/features/crawling", headers=_auth("ops"), timeout=10)
    with stack.http() as http:
        assert http.post("/ingest-async", json=crawl, headers=headers).status_code == 202


def test_an_unknown_feature_is_404_and_a_bad_body_422(stack: Stack) -> None:
    with stack.http() as http:
        unknown = http.put("/admin/features/teleport", json={"enabled": True}, headers=_auth("ops"))
        assert unknown.status_code == 404 and "crawling" in unknown.text
        bad = http.put("/admin/features/crawling", json={"enabled": "yes"}, headers=_auth("ops"))
        assert bad.status_code == 422
