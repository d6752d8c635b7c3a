"""``shield-smoke``: the upgrade gates' smoke call, against real servers in this process.

``search`` runs against the orchestrator's own app (``create_app``: its routes, API-key check
and error answers) under uvicorn on 127.0.0.1, with in-memory stand-ins for the embedder and
the vector store (no lifespan, no Redis): an empty store, a store with a hit, a Qdrant that is
down (the orchestrator's 503 body), an embedder that does not answer (the check's timeout).
``tools`` runs against the Shield MCP server (``create_server``) under uvicorn, read-write and
read-only, with a bearer token. The command runs in a worker thread while this event loop
serves; one test runs it as a process, as the playbook does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio

from shield_rag.errors import DependencyUnavailable
from shield_rag.mcp.main import http_middleware
from shield_rag.mcp.server import create_server
from shield_rag.orchestrator.app import create_app
from shield_rag.settings import Settings
from shield_rag.smoke import API_KEY_ENV, DEFAULT_TOOLS, TOKEN_ENV, main
from tests.mcp.memory import BASE, UvicornServed
from tests.support.asgi import ServedApp
from tests.support.httpserver import JsonServer, Server, serving
from tests.support.procs import PYTHON, free_port
from tests.support.tokens import secret
from tests.unit.test_layers import loaded_after, under

ROOT = Path(__file__).resolve().parents[2]
READ_WRITE_TOOLS = {*DEFAULT_TOOLS, "wait_for_job"}


class Embedder:
    """The embedder stand-in: records the texts; while ``hold`` is set it never answers."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.hold = False
        self.release = asyncio.Event()

    async def embed_one(self, text: str) -> list[float]:
        self.texts.append(text)
        if self.hold:
            await self.release.wait()
        return [0.1, 0.2, 0.3, 0.4]


class Vectors:
    """The vector store stand-in: ``hits`` as stored points, or ``fail`` raised."""

    def __init__(self) -> None:
        self.hits: list[SimpleNamespace] = []
        self.fail: Exception | None = None
        self.limits: list[int] = []

    async def search(
        self, vector: list[float], *, limit: int, **_unused: Any
    ) -> list[SimpleNamespace]:
        self.limits.append(limit)
        if self.fail is not None:
            raise self.fail
        return self.hits[:limit]


class Orchestrator(ServedApp):
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.embedder = Embedder()
        self.vectors = Vectors()
        settings = Settings(
            **BASE,  # type: ignore[arg-type]
            orchestrator={"api_key": api_key},
            admission={"enabled": False},  # in process without Redis (test_admission has it)
        )
        app = create_app(settings)
        app.state.services = SimpleNamespace(
            settings=settings, store=None, embedder=self.embedder, vectors=self.vectors
        )
        super().__init__(app, lifespan="off")
        self.url = self.base


class Mcp(UvicornServed):
    def __init__(self, token: str, *, read_only: bool = False) -> None:
        self.token = token
        settings = Settings(
            **BASE,  # type: ignore[arg-type]
            mcp={"auth_token": token, "read_only": read_only},
        )
        # tools/list never calls the orchestrator; a call would get a 500 here.
        orchestrator = httpx.MockTransport(lambda _unused: httpx.Response(500))
        shield = create_server(settings, transport=orchestrator)
        super().__init__(shield, http_middleware(), free_port())


@pytest_asyncio.fixture(loop_scope="function")
async def orchestrator() -> AsyncIterator[Orchestrator]:
    served = await Orchestrator(secret(24)).start()
    try:
        yield served
    finally:
        served.embedder.release.set()
        await served.stop()


@pytest_asyncio.fixture(loop_scope="function")
async def mcp_server() -> AsyncIterator[Mcp]:
    served = await Mcp(secret(24)).start()
    try:
        yield served
    finally:
        await served.stop()


@pytest_asyncio.fixture(loop_scope="function")
async def read_only_mcp() -> AsyncIterator[Mcp]:
    served = await Mcp(secret(24), read_only=True).start()
    try:
        yield served
    finally:
        await served.stop()


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither variable of the developer's shell may reach a test."""
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)


@pytest.fixture(autouse=True)
def quiet_servers(caplog: pytest.LogCaptureFixture) -> None:
    """The in-process MCP server logs its INFO lines to stderr, where the tests read the
    command's one line (the process test checks that the command itself logs nothing)."""
    caplog.set_level(logging.WARNING, logger="fastmcp")


async def smoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``shield-smoke argv`` in a worker thread (its own event loop); exit status, stdout and
    stderr."""
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


def closed_port_url(path: str = "") -> str:
    return f"http://127.0.0.1:{free_port()}{path}"


# -- search ----------------------------------------------------------------------------------


async def test_search_passes_on_an_empty_store_and_sends_one_small_search(
    orchestrator: Orchestrator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(API_KEY_ENV, orchestrator.api_key)
    code, out, err = await smoke(
        capsys, "search", "--url", orchestrator.url + "/", "--query", "  ferry timetable "
    )
    assert (code, err) == (0, "")
    line = json.loads(one_line(out))
    assert line["check"] == "search"
    assert line["url"] == orchestrator.url + "/search"
    assert (line["status"], line["hits"]) == (200, 0)
    assert isinstance(line["ms"], float) and line["ms"] >= 0
    assert orchestrator.embedder.texts == ["ferry timetable"]
    assert orchestrator.vectors.limits == [1]
    assert orchestrator.api_key not in out + err


async def test_search_counts_the_hits_it_gets(
    orchestrator: Orchestrator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orchestrator.vectors.hits = [
        SimpleNamespace(id="p1", score=0.9, payload={"text": "The ferry leaves at 9."})
    ]
    monkeypatch.setenv(API_KEY_ENV, orchestrator.api_key)
    code, out, _unused = await smoke(capsys, "search", "--url", orchestrator.url)
    assert code == 0
    assert json.loads(one_line(out))["hits"] == 1
    assert orchestrator.embedder.texts == ["shield smoke test"]


@pytest.mark.parametrize("key", [None, "wrong-key-0123456789"])
async def test_search_without_the_right_key_fails_on_the_401(
    orchestrator: Orchestrator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
) -> None:
    if key is not None:
        monkeypatch.setenv(API_KEY_ENV, key)
    code, out, err = await smoke(capsys, "search", "--url", orchestrator.url)
    assert (code, out) == (1, "")
    message = one_line(err)
    assert message.startswith(f"shield-smoke: search {orchestrator.url}/search: failed: ")
    assert "HTTP 401 unauthorized: missing or unknown API key" in message
    assert f"{'check' if key else 'set'} {API_KEY_ENV}" in message
    assert orchestrator.embedder.texts == []
    assert orchestrator.api_key not in err
    if key is not None:
        assert key not in err


async def test_search_names_the_dependency_of_a_503(
    orchestrator: Orchestrator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orchestrator.vectors.fail = DependencyUnavailable(
        "qdrant", "Qdrant at http://127.0.0.1:6333 is unreachable"
    )
    monkeypatch.setenv(API_KEY_ENV, orchestrator.api_key)
    code, out, err = await smoke(capsys, "search", "--url", orchestrator.url)
    assert (code, out) == (1, "")
    message = one_line(err)
    assert orchestrator.url in message
    assert (
        "HTTP 503 dependency_unavailable (qdrant): Qdrant at http://127.0.0.1:6333 is unreachable"
        in message
    )
    assert orchestrator.api_key not in err


async def test_search_refused_connection(capsys: pytest.CaptureFixture[str]) -> None:
    url = closed_port_url()
    code, out, err = await smoke(capsys, "search", "--url", url, "--timeout", "5")
    assert (code, out) == (1, "")
    assert one_line(err) == f"shield-smoke: search {url}/search: failed: connection refused"


async def test_search_that_does_not_answer_times_out_when_told(
    orchestrator: Orchestrator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    orchestrator.embedder.hold = True
    monkeypatch.setenv(API_KEY_ENV, orchestrator.api_key)
    start = time.monotonic()
    # 2 s: long enough for the request to arrive on a loaded machine before the client gives up.
    code, out, err = await smoke(capsys, "search", "--url", orchestrator.url, "--timeout", "2")
    elapsed = time.monotonic() - start
    assert (code, out) == (1, "")
    assert one_line(err).endswith("failed: timed out after 2 s")
    assert orchestrator.embedder.texts == ["shield smoke test"]  # it was asked, and held
    assert 2 <= elapsed < 10, elapsed


async def test_search_refuses_a_200_that_is_not_a_search_answer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secret(24)
    monkeypatch.setenv(API_KEY_ENV, key)
    async with serving(JsonServer) as start:
        server, url = await start(lambda *_unused: (200, {"hits": [], "echo": key}))
        code, out, err = await smoke(capsys, "search", "--url", url)
    assert (code, out) == (1, "")
    message = one_line(err)
    assert "HTTP 200 but not a search answer" in message and "results" in message
    method, path, headers, body = server.requests[0]
    assert (method, path) == ("POST", "/search")
    assert headers["authorization"] == f"Bearer {key}"
    assert body == {"query": "shield smoke test", "limit": 1, "offset": 0}
    assert len(server.requests) == 1


async def test_search_error_body_that_is_not_the_orchestrators_is_quoted_redacted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = secret(24)
    monkeypatch.setenv(API_KEY_ENV, key)
    async with serving(Server) as start:
        _unused, url = await start(
            lambda *_unused: (502, {}, f"bad gateway\n(sent {key})".encode())
        )
        code, _unused, err = await smoke(capsys, "search", "--url", url)
    assert code == 1
    assert one_line(err).endswith("failed: HTTP 502: bad gateway (sent ***)")
    assert key not in err


# -- tools -----------------------------------------------------------------------------------


async def test_tools_passes_when_every_default_tool_is_listed(
    mcp_server: Mcp, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, mcp_server.token)
    code, out, err = await smoke(capsys, "tools", "--url", mcp_server.url)
    assert (code, err) == (0, "")
    line = json.loads(one_line(out))
    assert (line["check"], line["url"]) == ("tools", mcp_server.url)
    assert set(line["tools"]) == READ_WRITE_TOOLS
    assert line["tools"] == sorted(line["tools"])
    assert isinstance(line["ms"], float)
    assert mcp_server.token not in out


async def test_tools_names_the_missing_tools(
    read_only_mcp: Mcp, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, read_only_mcp.token)
    code, out, err = await smoke(capsys, "tools", "--url", read_only_mcp.url)
    assert (code, out) == (1, "")
    message = one_line(err)
    assert message.startswith(f"shield-smoke: tools {read_only_mcp.url}: failed: ")
    assert "missing tools: crawl_web, ingest_doc, qdrant_store (listed: " in message
    assert read_only_mcp.token not in err


async def test_tools_expect_is_what_is_checked(
    read_only_mcp: Mcp, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, read_only_mcp.token)
    expect = "qdrant_find, lightrag_query,get_job_status"
    code, out, _unused = await smoke(
        capsys, "tools", "--url", read_only_mcp.url, "--expect", expect
    )
    assert code == 0
    assert "qdrant_store" not in json.loads(one_line(out))["tools"]
    code, _unused, err = await smoke(
        capsys, "tools", "--url", read_only_mcp.url, "--expect", "qdrant_find,no_such_tool"
    )
    assert code == 1
    assert "missing tools: no_such_tool (" in one_line(err)


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789"])
async def test_tools_without_the_right_token_fails_on_the_401(
    mcp_server: Mcp,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    token: str | None,
) -> None:
    if token is not None:
        monkeypatch.setenv(TOKEN_ENV, token)
    code, out, err = await smoke(capsys, "tools", "--url", mcp_server.url)
    assert (code, out) == (1, "")
    message = one_line(err)
    assert f"tools {mcp_server.url}: failed: HTTP 401" in message
    assert message.endswith(f"({'check' if token else 'set'} {TOKEN_ENV})")
    if token is not None:
        assert "HTTP 401: invalid_token: Authentication failed (" in message
    assert mcp_server.token not in err
    if token is not None:
        assert token not in err


async def test_tools_on_a_url_that_is_not_the_endpoint_says_so(
    mcp_server: Mcp, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, mcp_server.token)
    url = mcp_server.url.removesuffix("/mcp") + "/nope"
    code, _unused, err = await smoke(capsys, "tools", "--url", url)
    assert code == 1
    assert f"tools {url}: failed: HTTP 404: Not Found (is the URL the MCP endpoint" in one_line(err)


async def test_tools_refused_connection(capsys: pytest.CaptureFixture[str]) -> None:
    url = closed_port_url("/mcp")
    code, out, err = await smoke(capsys, "tools", "--url", url, "--timeout", "5")
    assert (code, out) == (1, "")
    assert one_line(err) == f"shield-smoke: tools {url}: failed: connection refused"


async def test_tools_on_a_server_that_never_answers_times_out_when_told(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with serving(Server) as start:
        server, url = await start(lambda *_unused: None)  # reads the request, never answers
        begun = time.monotonic()
        # 2 s: long enough for the request to arrive on a loaded machine before the client
        # gives up (the server records it once it has read it).
        code, out, err = await smoke(capsys, "tools", "--url", url + "/mcp", "--timeout", "2")
        elapsed = time.monotonic() - begun
    assert (code, out) == (1, "")
    assert one_line(err).endswith("failed: timed out after 2 s")
    assert server.requests and server.requests[0][:2] == ("POST", "/mcp")
    assert 2 <= elapsed < 10, elapsed


# -- the command -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["search"],
        ["search", "--url", "127.0.0.1:8600"],
        ["search", "--url", "http://[127.0.0.1"],
        ["search", "--url", "http://:8600"],
        ["tools", "--url", "ftp://127.0.0.1:8601/mcp"],
        ["search", "--url", "http://127.0.0.1:8600", "--timeout", "0"],
        ["search", "--url", "http://127.0.0.1:8600", "--timeout", "soon"],
        ["search", "--url", "http://127.0.0.1:8600", "--query", "   "],
        ["search", "--url", "http://127.0.0.1:8600", "--query", "\x07\x1b"],
        ["search", "--url", "http://127.0.0.1:8600", "--api-key", "k"],
        ["tools", "--url", "http://127.0.0.1:8601/mcp", "--expect", " , "],
        ["ping", "--url", "http://127.0.0.1:8600"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: shield-smoke" in capsys.readouterr().err


@pytest.mark.parametrize("variable", [API_KEY_ENV, TOKEN_ENV])
def test_a_secret_that_cannot_be_sent_is_refused_without_showing_it(
    variable: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = secret(8)
    monkeypatch.setenv(variable, f"pass word\n{token}")
    check = "search" if variable == API_KEY_ENV else "tools"
    assert main([check, "--url", closed_port_url("/mcp")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == f"shield-smoke: {variable} must be printable ASCII without spaces"
    assert "pass" not in err and token not in err


async def test_the_installed_command_runs_the_checks(
    orchestrator: Orchestrator, mcp_server: Mcp
) -> None:
    """As the playbook runs it: a process, the secret in its environment only, one line out."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["shield-smoke"] == "shield_rag.smoke:main"
    env = {**os.environ, API_KEY_ENV: orchestrator.api_key, TOKEN_ENV: "wrong-token-0123456789"}
    runs = []
    for argv in (["search", "--url", orchestrator.url], ["tools", "--url", mcp_server.url]):
        proc = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "shield_rag.smoke",
            *argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        runs.append((proc.returncode, out.decode(), err.decode()))
    (search_code, search_out, search_err), (tools_code, tools_out, tools_err) = runs
    assert (search_code, search_err) == (0, ""), search_err
    assert json.loads(one_line(search_out))["status"] == 200
    assert (tools_code, tools_out) == (1, "")
    assert "HTTP 401: invalid_token" in one_line(tools_err)  # nothing logged besides
    for _unused, out, err in runs:
        assert orchestrator.api_key not in out + err
        assert "wrong-token-0123456789" not in out + err


def test_the_command_loads_no_service_of_the_stack() -> None:
    loaded = loaded_after("shield_rag.smoke")
    assert "shield_rag.api.search" in loaded
    for package in ("clients", "jobs", "ingest", "worker", "orchestrator", "mcp", "redis_conn"):
        assert not under(loaded, f"shield_rag.{package}"), package
