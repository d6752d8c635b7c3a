"""The orchestrator's API contract, against a running stack: its OpenAPI document describes
it exactly (schemathesis with all its checks), and slow clients cannot hold server slots.

The stack here has its own settings: an API key (so authentication is part of the contract),
short header and body timeouts, and no worker, so no job the fuzzer submits is ever run:
nothing it generates is fetched. Crawl URLs are mapped to the local test site anyway
(``schemathesis_hooks.py``), because the orchestrator resolves host names at submission.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from shield_rag.orchestrator.timeouts import MAX_HEAD_BYTES
from shield_rag.settings import OllamaSettings
from tests.integration.stack import Stack
from tests.support.site import SiteServer

pytestmark = pytest.mark.integration

API_KEY = "contract-test-key-0123456789abcdef"
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 2.0
REPO = Path(__file__).resolve().parents[2]
# Bounds of the schemathesis run: examples per operation and a hard stop for the whole run.
EXAMPLES = int(os.environ.get("SHIELD_CONTRACT_EXAMPLES", "25"))
SEED = os.environ.get("SHIELD_CONTRACT_SEED", "14")
RUN_LIMIT = 240.0


class ContractStack(Stack):
    def settings_dict(self) -> dict[str, Any]:
        settings = super().settings_dict()
        settings["orchestrator"].update(
            api_key=API_KEY,
            header_timeout_seconds=HEADER_TIMEOUT,
            body_timeout_seconds=BODY_TIMEOUT,
        )
        return settings

    def http(self, timeout: float = 30.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        return httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)


@pytest.fixture(scope="module")
def contract_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = ContractStack(tmp_path_factory.mktemp("contract"), workers=0)
    try:
        yield stack.start()
    finally:
        stack.stop()


def _connect(stack: Stack) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", stack.orch_port), timeout=5)
    # A bound for the test only: the server is expected to act well before it.
    sock.settimeout(HEADER_TIMEOUT + BODY_TIMEOUT + 30)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_stalled_body_gets_408_and_the_connection_is_closed(contract_stack: Stack) -> None:
    with _connect(contract_stack) as sock:
        sock.sendall(
            b"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {API_KEY}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            + b'{"query": "the rest never comes'
        )
        answer = _read_until_closed(sock)  # returns once the server closed the connection
    head, _unused, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer
    assert b"connection: close" in head.lower()
    error = json.loads(body)
    assert error["code"] == "request_timeout" and error["status"] == 408
    assert "body_timeout_seconds" in error["detail"]
    with contract_stack.http() as c:
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"GET /heal"],
    ids=["nothing", "headers-without-end", "half-a-request-line"],
)
def test_headers_not_sent_in_time_close_the_connection(contract_stack: Stack, sent: bytes) -> None:
    with _connect(contract_stack) as sock:
        sock.sendall(sent)
        answer = _read_until_closed(sock)
    assert answer == b"", "no answer is due to a request whose headers never ended"


def test_headers_sent_in_parts_within_the_timeout_are_answered(contract_stack: Stack) -> None:
    with _connect(contract_stack) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        sock.sendall(b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 1),
        b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(10_000)),
        b"GET /healthz?" + b"q" * (MAX_HEAD_BYTES + 1) + b" HTTP/1.1\r\n",
    ],
    ids=["one-big-header", "many-headers", "long-url"],
)
def test_a_request_head_over_its_bound_is_refused_and_the_server_stays_up(
    contract_stack: Stack, head: bytes
) -> None:
    """uvicorn keeps every header in memory and sets no bound: the orchestrator refuses a
    request whose line and headers pass 64 KiB, before any of it reaches the app."""
    with _connect(contract_stack) as sock:
        with contextlib.suppress(ConnectionError):  # the server may close before all is sent
            sock.sendall(head + b"\r\n\r\n")
        answer = _read_until_closed(sock)
    status, _unused, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400 "), answer[:300]
    error = json.loads(body)
    assert error["code"] == "malformed_request" and str(MAX_HEAD_BYTES) in error["detail"]
    with contract_stack.http() as c:
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",  # bare LF
        b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x00b\r\n\r\n",
    ],
    ids=["bare-lf", "two-content-lengths", "nul-in-header"],
)
def test_a_request_that_is_not_http_gets_an_error_body(
    contract_stack: Stack, request_bytes: bytes
) -> None:
    """uvicorn's parser refuses these before the app; the answer is the API's error body."""
    with _connect(contract_stack) as sock:
        sock.sendall(request_bytes)
        answer = _read_until_closed(sock)
    status, _unused, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"application/json" in status.lower()
    error = json.loads(body)
    assert error["code"] == "malformed_request" and "not valid HTTP/1.1" in error["detail"]


def test_event_streams_answer_as_documented(contract_stack: Stack) -> None:
    """The SSE operations are left out of the fuzzing (a stream does not end); their
    documented answers are checked here."""
    with contract_stack.http() as c:
        doc = c.get("/openapi.json").json()
        for sent in ("yesterday", ""):  # an empty header is sent, and wins over the query
            r = c.get("/events", headers={"Last-Event-ID": sent}, params={"last_event_id": "0-0"})
            assert r.status_code == 400 and r.json()["code"] == "malformed_request"
        r = c.get("/jobs/" + "0" * 32 + "/events")
        assert r.status_code == 404 and r.json()["code"] == "not_found"
        job = c.post("/ingest-async", json={"type": "text", "text": "streamed"}).json()
        with c.stream("GET", f"/jobs/{job['job_id']}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            event = _first_event(stream.iter_lines())
        c.delete(f"/jobs/{job['job_id']}")
    for path in ("/events", "/jobs/{job_id}/events"):
        operation = doc["paths"][path]["get"]
        responses = operation["responses"]
        assert list(responses["200"]["content"]) == ["text/event-stream"]
        assert {"400", "401", "500"} <= set(responses)
        # An optional parameter is text or absent: a null branch would be sent as "null".
        for param in operation["parameters"]:
            assert "null" not in json.dumps(param["schema"]), param
    # The event as the document describes one: its fields, and its data as JSON.
    schema = doc["paths"]["/jobs/{job_id}/events"]["get"]["responses"]["200"]["content"][
        "text/event-stream"
    ]["schema"]
    Draft202012Validator(schema).validate(event)
    data = json.loads(event["data"])
    Draft202012Validator(schema["properties"]["data"]["contentSchema"]).validate(data)
    assert (data["event"], data["job_id"]) == ("job.queued", job["job_id"])


def _first_event(lines: Iterator[str]) -> dict[str, str]:
    """The fields of the first event of a text/event-stream (comments skipped)."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                return event
            continue
        if line.startswith(":"):
            continue
        field, _sep, value = line.partition(":")
        event[field] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended before its first event: {event}")


def test_openapi_document_describes_the_api_exactly(
    contract_stack: Stack, site: SiteServer, tmp_path: Path
) -> None:
    """schemathesis, all checks, bounded: no failure."""
    hook_log = tmp_path / "hooks.log"
    hook_log.touch()
    argv = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{contract_stack.base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {API_KEY}",
        "--exclude-path-regex",
        "/events$",
        "--request-timeout",
        "60",
        "--no-color",
    ]
    argv[1:1] = ["--config-file", str(Path(__file__).with_name("schemathesis.toml"))]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_hooks",
        "SHIELD_CONTRACT_SITE_URL": site.url,
        "SHIELD_CONTRACT_HOOK_LOG": str(hook_log),
        # a model the stand-in serves: what the stack's settings answer with
        "SHIELD_CONTRACT_MODEL": OllamaSettings.model_fields["llm_model"].default,
        "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path]),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    started = time.monotonic()
    run = subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=RUN_LIMIT, check=False
    )
    took = time.monotonic() - started
    print(f"schemathesis: {took:.1f} s, {EXAMPLES} examples per operation, seed {SEED}")
    print(run.stdout)
    assert run.returncode == 0, f"{run.stdout[-20000:]}\n{run.stderr[-4000:]}"
    assert hook_log.read_text().count("/ingest-async") > 0, "no crawl URL went through the hook"
    assert not site.hits, "no job runs in this stack, so the site is never fetched"
    with contract_stack.http() as c:
        assert c.get("/healthz").status_code == 200
