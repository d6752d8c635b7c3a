"""shield.rag.edge's haproxy.cfg, run by a real HAProxy in front of stand-in backends on
127.0.0.1: the redirect, the 413, the MCP route, headers passed through, an event stream
forwarded as it is written, and the Prometheus exporter's per-server state with one
orchestrator down.

Skipped without a `haproxy` binary (on PATH, or named by EDGE_TEST_HAPROXY). The config is the
role's, rendered by Ansible for local ports, less the lines only root can use here (chroot,
user, group, the stats socket in /run/haproxy).
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.procs import ManagedProcess, free_port
from tests.support.wait import wait_until
from tests.unit.test_edge_config import _haproxy, _self_signed_pem, render

RELEASE = threading.Event()  # the stand-in orchestrator's event stream waits for it


class Orchestrator(BaseHTTPRequestHandler):
    """/healthz, /echo (the request's headers as JSON) and /events (one event, then a second
    only once the test has read the first)."""

    def do_GET(self) -> None:
        if self.path == "/events":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            self.wfile.write(b"id: 1\ndata: one\n\n")
            self.wfile.flush()
            RELEASE.wait(timeout=30)
            self.wfile.write(b"id: 2\ndata: two\n\n")
            self.wfile.flush()
            return
        body = json.dumps(dict(self.headers.items())).encode() if self.path == "/echo" else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Mcp(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"mcp:{self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """HAProxy's health checks close their connections with a reset: not worth a trace."""


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, int]:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    haproxy = _haproxy()
    if haproxy is None:
        pytest.skip("no haproxy binary here (install Debian's haproxy or set EDGE_TEST_HAPROXY)")
    workdir = tmp_path_factory.mktemp("edge-live")
    orchestrator, orchestrator_port = _serve(Orchestrator)
    mcp, mcp_port = _serve(Mcp)
    ports = {"http": free_port(), "https": free_port(), "metrics": free_port()}
    pem = workdir / "edge.pem"
    _self_signed_pem(pem)
    config, _unused = render(
        workdir / "render",
        {
            "_edge_tls_pem": str(pem),
            "edge_bind_address": "127.0.0.1",
            "edge_http_port": ports["http"],
            "edge_https_port": ports["https"],
            "edge_metrics_port": ports["metrics"],
            "edge_max_body_bytes": 1000,
            # Without `timeout check` HAProxy gives a check `inter` to answer, so a stand-in
            # starved of CPU for one interval (the tests run at a low priority beside the
            # Molecule scenarios) would be marked down by a single failure and answer 503.
            # Three failures in a row are needed here; orch-2 is still down within a second.
            "edge_check_interval": "250ms",
            "edge_check_fall": 3,
            "edge_check_rise": 1,
            "edge_orchestrator_servers": [
                {"name": "orch-1", "address": "127.0.0.1", "port": orchestrator_port},
                # Nothing listens there: its health checks fail.
                {"name": "orch-2", "address": "127.0.0.1", "port": free_port()},
            ],
            "edge_mcp_servers": [{"name": "mcp-1", "address": "127.0.0.1", "port": mcp_port}],
            "edge_mcp_path": "/mcp",
        },
    )
    config = re.sub(r"(?m)^    (chroot|user|group|stats socket) .*\n", "", config)
    path = workdir / "haproxy.cfg"
    path.write_text(config, encoding="utf-8")
    proc = ManagedProcess("haproxy", [haproxy, "-db", "-f", str(path)], workdir).start()
    metrics_url = f"http://127.0.0.1:{ports['metrics']}/metrics"
    try:
        wait_until(
            lambda: urllib.request.urlopen(metrics_url, timeout=2).status == 200,
            timeout=20,
            what=f"HAProxy's exporter ({proc.log_tail()})",
        )
        yield {"ports": ports, "metrics": metrics_url, "proc": proc}
    finally:
        RELEASE.set()
        proc.stop()
        orchestrator.shutdown()
        mcp.shutdown()


def _https(edge: dict) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return http.client.HTTPSConnection(
        "127.0.0.1", edge["ports"]["https"], context=context, timeout=10
    )


def _get(edge: dict, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = _https(edge)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_http_is_redirected_to_https(edge: dict) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", edge["ports"]["http"], timeout=10)
    conn.request("GET", "/jobs/1?wait=1", headers={"Host": "rag.example.test"})
    answer = conn.getresponse()
    assert answer.status == 301
    assert answer.getheader("Location") == (
        f"https://rag.example.test:{edge['ports']['https']}/jobs/1?wait=1"
    )
    conn.close()


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_below_1_2_is_refused(edge: dict) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    conn = http.client.HTTPSConnection(
        "127.0.0.1", edge["ports"]["https"], context=context, timeout=10
    )
    with pytest.raises((ssl.SSLError, ConnectionError)):
        conn.request("GET", "/healthz")
    conn.close()


def test_the_edge_answers_its_own_health_path(edge: dict) -> None:
    assert _get(edge, "/edge-healthz") == (200, b"ok")


def test_too_large_bodies_get_413_at_the_edge(edge: dict) -> None:
    conn = _https(edge)
    conn.request("POST", "/ingest-async", body=b"x" * 2000)
    answer = conn.getresponse()
    assert answer.status == 413
    assert "1000 bytes" in json.loads(answer.read())["detail"]
    conn.close()


def test_the_mcp_path_goes_to_the_mcp_server(edge: dict) -> None:
    assert _get(edge, "/mcp") == (200, b"mcp:/mcp")
    assert _get(edge, "/mcp/") == (200, b"mcp:/mcp/")
    assert _get(edge, "/mcpx")[1] == b"ok"  # not below /mcp: an orchestrator


def test_headers_pass_through(edge: dict) -> None:
    status, body = _get(
        edge,
        "/echo",
        {
            "Authorization": "Bearer tok-123",
            "Last-Event-ID": "42",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    assert status == 200
    seen = {k.lower(): v for k, v in json.loads(body).items()}
    assert seen["authorization"] == "Bearer tok-123"
    assert seen["last-event-id"] == "42"
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the client's own value is dropped


def test_an_event_stream_is_forwarded_as_it_is_written(edge: dict) -> None:
    conn = _https(edge)
    conn.request("GET", "/events")
    answer = conn.getresponse()
    assert answer.status == 200
    # The first event arrives while the stand-in still holds the second back.
    first = b"".join(answer.readline() for _unused in range(3))
    assert first == b"id: 1\ndata: one\n\n"
    RELEASE.set()
    assert answer.read() == b"id: 2\ndata: two\n\n"
    conn.close()


def _if_contains(text: str, part: str) -> str | None:
    return text if part in text else None


def test_the_exporter_shows_the_server_that_is_down(edge: dict) -> None:
    def metrics() -> str:
        with urllib.request.urlopen(edge["metrics"], timeout=5) as answer:
            return answer.read().decode()

    down = 'haproxy_server_status{proxy="orchestrator",server="orch-2",state="DOWN"} 1'
    text = wait_until(lambda: _if_contains(metrics(), down), 20, "orch-2 DOWN")
    assert 'haproxy_server_status{proxy="orchestrator",server="orch-1",state="UP"} 1' in text
    assert 'haproxy_server_status{proxy="mcp",server="mcp-1",state="UP"} 1' in text
    assert 'haproxy_backend_active_servers{proxy="orchestrator"} 1' in text
    status, _unused = _get(edge, "/healthz")
    assert status == 200  # orch-1 answers
