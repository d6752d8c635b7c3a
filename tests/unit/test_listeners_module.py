"""The shield.rag.listeners module (plugins/modules/listeners.py).

Its reading of /proc runs against a /proc tree the test writes (the kernel's table format,
sockets as fd links, cgroups), and the module runs as Ansible runs it against a socket this
test listens on (127.0.0.1, an ephemeral port).
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from plugins.modules.listeners import check, invalid

from tests.support.modules import Modules

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"  # noqa: E501


def _row(address: str, port: int, state: str, inode: int) -> str:
    queues = "00000000:00000000 00:00000000 00000000     0        0"
    return f"   0: {address}:{port:04X} 00000000:0000 {state} {queues} {inode} 1\n"


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """A /proc where shield-orchestrator.service listens on 127.0.0.1:8600 (pid 10), a
    shell-started process on [::]:9090 (pid 20), and 127.0.0.1:8601 is only connected."""
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True)
    (root / "net" / "tcp").write_text(
        HEADER + _row("0100007F", 8600, "0A", 111) + _row("0100007F", 8601, "01", 222)
    )
    (root / "net" / "tcp6").write_text(HEADER + _row("0" * 32, 9090, "0A", 333))
    for pid, inode, cgroup, comm in (
        ("10", 111, "0::/system.slice/shield-orchestrator.service\n", "shield-orchestr"),
        ("20", 333, "0::/user.slice/user-0.slice/session-1.scope\n", "python3"),
    ):
        fds = root / pid / "fd"
        fds.mkdir(parents=True)
        (fds / "3").symlink_to("/dev/null")
        (fds / "7").symlink_to(f"socket:[{inode}]")
        (root / pid / "cgroup").write_text(cgroup)
        (root / pid / "comm").write_text(comm + "\n")
    return root


def _port(port: int, name: str = "p", host: str = "0.0.0.0") -> dict:
    return {"port": port, "name": name, "host": host}


def test_a_port_another_unit_listens_on_is_taken(proc: Path) -> None:
    listeners, taken = check(
        [_port(8600, "fastmcp_server_port")], ["shield-mcp.service"], str(proc)
    )
    assert listeners == [
        {
            "port": 8600,
            "address": "127.0.0.1",
            "unit": "shield-orchestrator.service",
            "process": "shield-orchestr (pid 10)",
        }
    ]
    assert taken == [
        "fastmcp_server_port: port 8600 is taken on 127.0.0.1 by shield-orchestrator.service, "
        "shield-orchestr (pid 10); choose another port or move that service"
    ]


def test_the_service_s_own_unit_may_hold_its_port(proc: Path) -> None:
    listeners, taken = check([_port(8600)], ["shield-orchestrator.service"], str(proc))
    assert [entry["port"] for entry in listeners] == [8600]
    assert taken == []


@pytest.mark.parametrize(
    ("host", "clash"),
    [
        ("127.0.0.1", True),
        ("0.0.0.0", True),
        ("::", True),
        ("10.1.2.3", False),
        ("api.local", True),
    ],
)
def test_only_overlapping_addresses_clash(proc: Path, host: str, clash: bool) -> None:
    assert bool(check([_port(8600, host=host)], [], str(proc))[1]) is clash


def test_an_ipv6_wildcard_listener_takes_the_port_on_every_address(proc: Path) -> None:
    taken = check([_port(9090, "x_port", host="10.1.2.3")], [], str(proc))[1]
    assert taken == [
        "x_port: port 9090 is taken on :: by session-1.scope, python3 (pid 20); "
        "choose another port or move that service"
    ]


def test_a_connected_socket_and_a_free_port_are_not_listeners(proc: Path) -> None:
    assert check([_port(8601), _port(8602)], [], str(proc)) == ([], [])


def test_a_listener_whose_process_is_not_visible_is_still_taken(proc: Path) -> None:
    (proc / "10" / "fd" / "7").unlink()
    taken = check([_port(8600, "a_port")], ["shield-orchestrator.service"], str(proc))[1]
    assert taken == [
        "a_port: port 8600 is taken on 127.0.0.1 by a process this user cannot see; "
        "choose another port or move that service"
    ]


# -- the module, as Ansible runs it ---------------------------------------------------------
@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def run_module(modules: Modules) -> Callable[..., dict]:
    return functools.partial(modules.run, "listeners")


def test_the_module_fails_on_a_taken_port_and_changes_nothing(
    run_module: Callable[..., dict], listening: int
) -> None:
    result = run_module(
        {"ports": [{"port": listening, "name": "orchestrator_fastapi_port"}], "units": []},
        check=True,
    )
    assert result.get("failed") is True, result
    assert result["changed"] is False
    assert result["msg"].startswith(
        f"orchestrator_fastapi_port: port {listening} is taken on 127.0.0.1 by "
    )
    assert f"(pid {os.getpid()})" in result["msg"]
    assert result["msg"].endswith("Nothing was changed.")


def test_the_module_passes_when_the_port_is_free_there(
    run_module: Callable[..., dict], listening: int
) -> None:
    result = run_module(
        {"ports": [{"port": listening, "name": "p", "host": "127.0.0.2"}], "units": []}
    )
    assert result.get("failed") is not True, result
    assert result["taken"] == []
    assert [entry["address"] for entry in result["listeners"]] == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("ports", "said"),
    [
        ([_port(70000, "qdrant_http_port")], ["qdrant_http_port: 70000 is not a TCP port"]),
        ([_port(0, "redis_port")], ["redis_port: 0 is not a TCP port"]),
        (
            [_port(6333, "qdrant_http_port"), _port(6333, "qdrant_grpc_port", "127.0.0.1")],
            ["qdrant_http_port and qdrant_grpc_port are both 6333: give each its own port"],
        ),
        ([_port(6333, "a", "127.0.0.1"), _port(6333, "b", "10.0.0.2")], []),
        ([_port(6333, "a", "qdrant.local"), _port(6333, "b", "10.0.0.2")], ["a and b are both"]),
        ([_port(1, "a"), _port(65535, "b")], []),
    ],
)
def test_ports_a_service_cannot_listen_on_are_refused_before_anything_is_read(
    ports: list[dict], said: list[str]
) -> None:
    problems = invalid(ports)
    assert len(problems) == len(said)
    for problem, expected in zip(problems, said, strict=True):
        assert problem.startswith(expected)
