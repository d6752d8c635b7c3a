"""The whole stack on one systemd host, as shield.rag.site left it.

Host state through testinfra (units, sockets, files, sandboxing), and behaviour from the
controller: an MCP client ingests a document through the port published on 127.0.0.1 and
finds it again. Secrets come from the environment tests/molecule.sh set for this run.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from typing import Any

import httpx
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from tests.support.molecule import run_secrets

WORKERS = ("1", "2")
UNITS = [
    "redis-server.service",
    "qdrant.service",
    "ollama.service",
    "shield-lightrag.service",
    "shield-orchestrator.service",
    *(f"shield-worker@{i}.service" for i in WORKERS),
    "shield-mcp.service",
]
# Debian's haproxy.service with the edge role's drop-in: it starts as root and HAProxy drops
# to its own user itself, so it is scored, not checked for a User= of its own.
EDGE_UNIT = "haproxy.service"
MAX_EXPOSURE = 2.5
# First line of every file the roles render ({{ ansible_managed | comment }}).
MARKER = "#\n# Ansible managed"

# (address, port) each service listens on with the scenario's variables.
LISTENERS = [
    ("127.0.0.1", 6379),  # Redis
    ("127.0.0.1", 6333),  # Qdrant REST
    ("127.0.0.1", 11434),  # Ollama (the ollama role; its archive holds the stand-in)
    # Qdrant's gRPC port (6334) is left out: the Qdrant stand-in speaks REST only.
    ("127.0.0.1", 9621),  # LightRAG service
    ("127.0.0.1", 9613),  # LightRAG metrics
    ("127.0.0.1", 8600),  # orchestrator API
    ("127.0.0.1", 9612),  # orchestrator metrics
    ("127.0.0.1", 9630),  # worker 1 metrics
    ("127.0.0.1", 9631),  # worker 2 metrics
    ("0.0.0.0", 8601),  # MCP server (published to the controller)
    ("127.0.0.1", 9611),  # MCP metrics
    ("0.0.0.0", 80),  # the edge: HTTP, redirected to HTTPS
    ("0.0.0.0", 443),  # the edge: HTTPS
    ("127.0.0.1", 9614),  # the edge's Prometheus exporter
]

SERVICES = {  # settings name -> the service's system user
    "orchestrator": "shield-orchestrator",
    "worker": "shield-worker",
    "lightrag": "shield-lightrag",
    "mcp": "shield-mcp",
}


@pytest.mark.parametrize("unit", [*UNITS, EDGE_UNIT])
def test_unit_is_enabled_and_running(host: Any, unit: str) -> None:
    service = host.service(unit)
    assert service.is_enabled, f"{unit} is not enabled"
    assert service.is_running, f"{unit} is not running"
    assert service.systemd_properties["Restart"] in {"on-failure", "always"}


@pytest.mark.parametrize(("address", "port"), LISTENERS)
def test_service_listens(host: Any, address: str, port: int) -> None:
    assert host.socket(f"tcp://{address}:{port}").is_listening


def test_nothing_else_listens_on_public_addresses(host: Any) -> None:
    """Only the MCP endpoint and the edge's HTTP and HTTPS frontends are bound beyond
    loopback; everything else stays on 127.0.0.1. (The host's own sshd, which Ansible reaches
    it through, is not part of the stack.)"""
    public = [
        s
        for s in host.socket.get_listening_sockets()
        if s.startswith("tcp://")
        and not s.startswith(("tcp://127.0.0.1:", "tcp://::1:"))
        and not s.endswith((":8601", ":22", ":80", ":443"))
    ]
    assert public == []


@pytest.mark.parametrize(("name", "user"), sorted(SERVICES.items()))
def test_settings_readable_by_the_service_only(host: Any, name: str, user: str) -> None:
    settings = host.file(f"/etc/shield-rag/{name}.yml")
    assert (settings.user, settings.group, settings.mode) == ("root", user, 0o640)
    assert settings.content_string.startswith(MARKER)
    env = host.file(f"/etc/shield-rag/{name}.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)


def test_service_users_have_no_login(host: Any) -> None:
    for user in [*SERVICES.values(), "qdrant", "ollama"]:
        account = host.user(user)
        assert account.exists, user
        assert account.shell in {"/usr/sbin/nologin", "/bin/false"}, (user, account.shell)


def test_secrets_are_only_in_root_or_group_readable_files(host: Any) -> None:
    """No secret in the settings YAML, the unit files, or anything world-readable under /etc."""
    for name, value in run_secrets().items():
        found = host.run(f"grep -rlF -- {value!r} /etc /opt/shield-rag /var/lib/qdrant")
        for path in found.stdout.split():
            mode = host.file(path).mode
            assert mode & 0o007 == 0, f"{name} is in {path} (mode {oct(mode)})"
            assert not path.endswith((".service", ".yml")) or path.startswith("/etc/qdrant/"), (
                f"{name} is in {path}"
            )


def test_secrets_are_not_in_the_journal(host: Any) -> None:
    journal = host.check_output("journalctl --no-pager -o cat")
    leaked = [name for name, value in run_secrets().items() if value in journal]
    assert leaked == []


def test_redis_requires_its_password(host: Any) -> None:
    anonymous = host.run("redis-cli -h 127.0.0.1 -p 6379 DBSIZE")
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    password = run_secrets()["SHIELD_MOLECULE_REDIS_PASSWORD"]
    appendonly = host.run(
        "redis-cli --no-auth-warning -h 127.0.0.1 -p 6379 -a %s CONFIG GET appendonly", password
    )
    assert appendonly.stdout.split() == ["appendonly", "yes"]


def test_qdrant_refuses_requests_without_its_api_key(host: Any) -> None:
    refused = host.run("python3 -c %s", _status_of("http://127.0.0.1:6333/collections"))
    assert refused.stdout.strip() == "401"


def _status_of(url: str, headers: dict[str, str] | None = None) -> str:
    return (
        "import urllib.request, urllib.error\n"
        f"req = urllib.request.Request({url!r}, headers={headers or {}!r})\n"
        "try:\n    print(urllib.request.urlopen(req, timeout=5).status)\n"
        "except urllib.error.HTTPError as e:\n    print(e.code)\n"
    )


@pytest.mark.parametrize("offline", [False, True], ids=["loaded", "offline"])
@pytest.mark.parametrize("unit", [*UNITS, EDGE_UNIT])
def test_unit_exposure_is_at_most_the_limit(host: Any, unit: str, offline: bool) -> None:
    """systemd-analyze security scores each unit we render (for Redis: Debian's unit with our
    drop-in) at or below MAX_EXPOSURE, as loaded by systemd and from the files alone."""
    option = "--offline=true " if offline else ""
    out = host.run(f"systemd-analyze security --no-pager {option}{unit}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out.stdout + out.stderr)
    assert match, out.stdout + out.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, out.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_unit_sandbox_basics(host: Any, unit: str) -> None:
    props = host.service(unit).systemd_properties
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] in {"strict", "full"}
    assert props["PrivateTmp"] == "yes"
    assert props["User"] not in {"", "root"}


@pytest.mark.parametrize(
    "path",
    [
        "/etc/systemd/system/qdrant.service",
        "/etc/systemd/system/ollama.service",
        "/etc/ollama/ollama.env",
        "/etc/systemd/system/shield-orchestrator.service",
        "/etc/systemd/system/shield-worker@.service",
        "/etc/systemd/system/shield-mcp.service",
        "/etc/systemd/system/shield-lightrag.service",
        "/etc/qdrant/config.yaml",
        "/etc/redis/redis.conf",
        "/etc/haproxy/haproxy.cfg",
        "/etc/systemd/system/haproxy.service.d/shield-rag.conf",
    ],
)
def test_rendered_files_carry_the_managed_marker(host: Any, path: str) -> None:
    assert host.file(path).content_string.startswith(MARKER)


def test_readiness_endpoints_report_ready(host: Any) -> None:
    for url in (
        "http://127.0.0.1:8600/readyz",
        "http://127.0.0.1:6333/readyz",
        "http://127.0.0.1:11434/api/version",
    ):
        assert host.run("python3 -c %s", _status_of(url)).stdout.strip() == "200", url


# --- behaviour from the controller, through the published MCP port -----------------------

MCP_URL = f"http://127.0.0.1:{os.environ.get('SHIELD_MOLECULE_MCP_PORT', '18601')}/mcp"


def _structured(result: Any) -> dict[str, Any]:
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, text
    assert result.structured_content is not None, text
    return result.structured_content


async def _ingest_and_find(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    marker = uuid.uuid4().hex[:10]
    fact = f"The Varnholt tide gauge {marker} records the harbour level every six minutes."
    async with (
        httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=httpx.Timeout(30, read=200)
        ) as http,
        streamable_http_client(MCP_URL, http_client=http) as streams,
        ClientSession(*streams) as session,
    ):
        await session.initialize()
        accepted = _structured(
            await session.call_tool(
                "ingest_doc",
                {"text": f"Varnholt notes.\n\n{fact}", "title": f"Varnholt {marker}"},
            )
        )
        job = _structured(
            await session.call_tool(
                "wait_for_job", {"job_id": accepted["job_id"], "timeout_seconds": 180}
            )
        )
        assert job["done"], job
        assert job["status"] == "succeeded", job
        found = _structured(
            await session.call_tool(
                "qdrant_find",
                {"query": f"How often does the Varnholt tide gauge {marker} record?", "limit": 3},
            )
        )
        return job, {"marker": marker, **found}


def test_mcp_ingest_then_find_end_to_end() -> None:
    """MCP server → orchestrator → Redis → worker → Ollama stand-in → Qdrant, and back."""
    job, found = asyncio.run(_ingest_and_find(run_secrets()["SHIELD_MOLECULE_MCP_TOKEN"]))
    assert job["result"]["chunks"] >= 1, job
    top = found["results"][0]
    assert found["marker"] in top["text"], found
    assert top["title"] == f"Varnholt {found['marker']}"


def test_mcp_refuses_a_client_without_the_token() -> None:
    response = httpx.post(
        MCP_URL,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
