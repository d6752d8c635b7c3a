"""shield.rag.edge's preflight checks, run by ansible-playbook on localhost in check mode: a
sound setup passes; a wrong TLS mode, missing certificate files, clashing ports, no
orchestrator, or a backend on another host's loopback address stop the play with a message
that names the variable.

The platform check (systemd on Debian 12 or 13) is shield.rag.common's, tested with that role;
it is marked done here, as a play does after its first Shield role.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.modules import Modules

PLAY = """\
- name: The edge's preflight checks
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Run the preflight checks
      ansible.builtin.include_role:
        name: shield.rag.edge
        tasks_from: preflight
"""

PLATFORMS = [
    {"distribution": "Debian", "version": "12", "release": "bookworm"},
    {"distribution": "Debian", "version": "13", "release": "trixie"},
]


@pytest.fixture
def base(tmp_path: Path) -> dict:
    cert = tmp_path / "edge.crt"
    key = tmp_path / "edge.key"
    cert.write_text("certificate\n")
    key.write_text("key\n")
    return {
        "__common_platforms_checked": json.dumps(PLATFORMS),
        "edge_tls_certificate_path": str(cert),
        "edge_tls_key_path": str(key),
        "edge_orchestrator_servers": [
            {"name": "orch-1", "address": "10.0.0.11", "port": 8600},
            {"name": "orch-2", "address": "10.0.0.12", "port": 8600},
        ],
        "edge_mcp_servers": [{"name": "mcp-1", "address": "10.0.0.21", "port": 8601}],
    }


@pytest.fixture
def modules(tmp_path: Path) -> Modules:
    return Modules(tmp_path / "work")


def test_a_sound_setup_passes(modules: Modules, base: dict) -> None:
    rc, output = modules.playbook(PLAY, base, check=True)
    assert rc == 0, output
    # Nothing on the machine changes (the package read is a read).
    assert "changed=0" in output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"edge_tls_mode": "acme"}, "edge_tls_mode must be one of files, lab_ca"),
        ({"edge_metrics_port": 443}, "three different ports"),
        ({"edge_stream_timeout": "one hour"}, "HAProxy times"),
        ({"edge_mcp_path": "/"}, "edge_mcp_path"),
        ({"edge_tls_key_path": ""}, "set edge_tls_certificate_path and edge_tls_key_path"),
        ({"edge_tls_key_path": "/nonexistent/edge.key"}, "/nonexistent/edge.key"),
        ({"edge_orchestrator_servers": []}, "at least one orchestrator"),
        (
            {"edge_orchestrator_servers": [{"name": "orch-9", "address": "127.0.0.1", "port": 1}]},
            "orch-9",
        ),
        (
            {"edge_tls_mode": "lab_ca", "edge_server_names": [], "ansible_host": "rag"},
            "must name the edge at least once",
        ),
    ],
)
def test_a_wrong_setup_stops_the_play(
    modules: Modules, base: dict, change: dict, message: str
) -> None:
    rc, output = modules.playbook(PLAY, {**base, **change}, check=True)
    assert rc != 0, output
    assert message in " ".join(output.split()), output


def test_a_backend_on_the_edges_own_loopback_passes(modules: Modules, base: dict) -> None:
    local = {
        "edge_orchestrator_servers": [{"name": "localhost", "address": "127.0.0.1", "port": 1}]
    }
    rc, output = modules.playbook(PLAY, {**base, **local}, check=True)
    assert rc == 0, output


@pytest.mark.parametrize(
    "variable", ["orchestrator_fastapi_tls_certificate_path", "fastmcp_server_tls_certificate_path"]
)
def test_a_backend_serving_native_tls_stops_the_play(
    modules: Modules, base: dict, variable: str
) -> None:
    local = [{"name": "localhost", "address": "127.0.0.1", "port": 1}]
    change = {"edge_orchestrator_servers": local, "edge_mcp_servers": local, variable: "/x.crt"}
    rc, output = modules.playbook(PLAY, {**base, **change}, check=True)
    assert rc != 0, output
    assert "localhost serve HTTPS themselves" in " ".join(output.split()), output
