"""The shield.rag.wait_http module (plugins/modules/wait_http.py), run as Ansible runs it.

The module file runs with a JSON arguments file against a small HTTP server of the test's own
on 127.0.0.1 (an ephemeral port): endpoints that are ready, become ready after a few asks,
never become ready, or answer without the text asked for. The module's own polling does the
waiting; the tests only read what it printed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest

from tests.support.modules import Endpoint, Modules, serving

API_KEY = "k3y-Never-Printed-9Rt2"

RunModule = Callable[..., dict]


class Handler(Endpoint):
    asks: dict[str, int] = {}
    seen_keys: list[str] = []

    def do_GET(self) -> None:
        count = Handler.asks[self.path] = Handler.asks.get(self.path, 0) + 1
        Handler.seen_keys.append(self.headers.get("api-key", ""))
        if self.path == "/ok":
            self.answer(200, b"ready")
        elif self.path == "/late":
            self.answer(200 if count >= 3 else 503, b"")
        elif self.path == "/metrics":
            self.answer(200, b"# HELP redis_up\nredis_up 1\n")
        elif self.path == "/down":
            self.answer(200, b"redis_up 0\n")
        else:
            self.answer(500, b"broken")


@pytest.fixture
def base_url() -> Iterator[str]:
    Handler.asks = {}
    Handler.seen_keys = []
    with serving(Handler) as url:
        yield url


@pytest.fixture
def run_module(modules: Modules) -> RunModule:
    """Runs shield.rag.wait_http: run_module(args)."""
    return functools.partial(modules.run, "wait_http")


def test_every_endpoint_ready_in_one_call(run_module: RunModule, base_url: str) -> None:
    result = run_module(
        {
            "checks": [
                {"name": "A", "url": f"{base_url}/ok"},
                {"url": f"{base_url}/metrics", "contains": "redis_up 1"},
            ],
            "timeout": 10,
        },
    )
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert [(r["name"], r["ready"], r["status"]) for r in result["results"]] == [
        ("A", True, 200),
        (f"{base_url}/metrics", True, 200),
    ]
    assert Handler.asks == {"/ok": 1, "/metrics": 1}


def test_an_endpoint_that_becomes_ready_is_asked_until_it_is(
    run_module: RunModule, base_url: str
) -> None:
    result = run_module(
        {
            "checks": [{"url": f"{base_url}/ok"}, {"url": f"{base_url}/late"}],
            "timeout": 30,
            "delay": 0.05,
        },
    )
    assert not result.get("failed"), result
    assert Handler.asks["/late"] == 3
    assert Handler.asks["/ok"] == 1  # a ready endpoint is not asked again


def test_not_ready_in_time_fails_naming_each_endpoint_and_its_last_answer(
    run_module: RunModule, base_url: str
) -> None:
    result = run_module(
        {
            "checks": [
                {"name": "Prometheus", "url": f"{base_url}/ok"},
                {"name": "Broken", "url": f"{base_url}/broken"},
                {"name": "Exporter", "url": f"{base_url}/down", "contains": "redis_up 1"},
            ],
            "timeout": 1,
            "delay": 0.2,
        },
    )
    assert result["failed"] is True
    assert "Broken" in result["msg"] and "HTTP 500, expected 200" in result["msg"]
    assert "Exporter" in result["msg"] and "no 'redis_up 1' in the answer" in result["msg"]
    assert "Prometheus" not in result["msg"]
    assert Handler.asks["/broken"] >= 2
    assert [r["ready"] for r in result["results"]] == [True, False, False]


def test_timeout_zero_asks_once(run_module: RunModule, base_url: str) -> None:
    result = run_module({"checks": [{"url": f"{base_url}/late"}], "timeout": 0})
    assert result["failed"] is True
    assert Handler.asks["/late"] == 1


def test_nothing_listening_is_reported_as_an_error(run_module: RunModule, base_url: str) -> None:
    closed = base_url.rsplit(":", 1)[0] + ":1"
    result = run_module({"checks": [{"url": f"{closed}/x"}], "timeout": 0})
    assert result["failed"] is True
    assert result["results"][0]["status"] == -1
    assert result["results"][0]["error"]


def test_header_values_are_sent_and_never_printed(run_module: RunModule, base_url: str) -> None:
    result = run_module(
        {"checks": [{"url": f"{base_url}/broken", "headers": {"api-key": API_KEY}}], "timeout": 0},
    )
    assert result["failed"] is True
    assert Handler.seen_keys == [API_KEY]
    assert API_KEY not in result["_stdout"]


def test_a_url_that_is_not_http_is_refused(run_module: RunModule) -> None:
    result = run_module({"checks": [{"url": "file:///etc/passwd"}]})
    assert result["failed"] is True
    assert "is not an http or https URL" in result["msg"]
