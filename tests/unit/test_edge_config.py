"""shield.rag.edge's haproxy.cfg, rendered by Ansible for an inventory of two orchestrators and
one MCP server, then read: the redirect, both orchestrators with their health checks, the MCP
route, the 413 rule, the stream timeouts and headers that pass unchanged. When a `haproxy`
binary is at hand (on PATH, or named by EDGE_TEST_HAPROXY), `haproxy -c` checks the file too.

The rendering is ansible-playbook on the edge host of that inventory (connection local, no
facts, only writes below the test's directory), with the role's defaults and vars as the play's
variables: hostvars and groups are Ansible's own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.modules import Modules

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "edge"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

INVENTORY = {
    "all": {
        "children": {
            "edge": {"hosts": {"edge-1": {"ansible_host": "10.0.0.5"}}},
            "orchestrator": {
                "hosts": {
                    # Bound to its private address (as the example inventory does).
                    "orch-1": {
                        "ansible_host": "10.0.0.11",
                        "orchestrator_fastapi_host": "{{ ansible_host }}",
                    },
                    # Bound to every address, on another port, with a larger upload limit.
                    "orch-2": {
                        "ansible_host": "10.0.0.12",
                        "orchestrator_fastapi_host": "0.0.0.0",
                        "orchestrator_fastapi_port": 8700,
                        "orchestrator_fastapi_settings": {
                            "orchestrator": {"max_upload_bytes": 52428800}
                        },
                    },
                }
            },
            "mcp": {
                "hosts": {
                    "mcp-1": {
                        "ansible_host": "10.0.0.21",
                        "fastmcp_server_host": "10.0.0.21",
                        "fastmcp_server_path": "/agents/mcp",
                    }
                }
            },
        }
    }
}

PLAY = """\
- name: Render the edge's haproxy.cfg
  hosts: edge-1
  connection: local
  gather_facts: false
  vars_files:
    - {defaults}
    - {vars}
  tasks:
    - name: Render haproxy.cfg
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{template}') }}}}"
        dest: "{out}/haproxy.cfg"
        mode: "0600"
    - name: Write the values the template was given
      ansible.builtin.copy:
        content: >-
          {{{{ {{'orchestrators': edge_orchestrator_servers, 'mcp': edge_mcp_servers,
               'mcp_path': edge_mcp_path, 'max_body': edge_max_body_bytes | int,
               'addresses': edge_server_addresses, 'sans': _edge_lab_sans,
               'pem': _edge_secret_files[0].content if edge_tls_certificate_path else ''}}
             | to_json }}}}
        dest: "{out}/values.json"
        mode: "0600"
"""


def render(workdir: Path, extra_vars: dict | None = None) -> tuple[str, dict]:
    """haproxy.cfg as the role renders it for INVENTORY, and the values it was rendered from."""
    out = workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    inventory = workdir / "inventory.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY), encoding="utf-8")
    play = workdir / "play.yml"
    play.write_text(
        PLAY.format(
            defaults=ROLE / "defaults" / "main.yml",
            vars=ROLE / "vars" / "main.yml",
            template=ROLE / "templates" / "haproxy.cfg.j2",
            out=out,
        ),
        encoding="utf-8",
    )
    modules = Modules(workdir)
    environ = modules._ansible_environ(ANSIBLE_RETRY_FILES_ENABLED="0")
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(play)]
    command += [f"--extra-vars=ansible_python_interpreter={sys.executable}"]
    if extra_vars:
        command.append(f"--extra-vars={json.dumps(extra_vars)}")
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=environ, cwd=workdir, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    values = json.loads((out / "values.json").read_text(encoding="utf-8"))
    return (out / "haproxy.cfg").read_text(encoding="utf-8"), values


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    return render(tmp_path_factory.mktemp("edge-config"))


def section(config: str, header: str) -> list[str]:
    """The stripped, non-comment lines of the section that starts with `header`."""
    lines = config.splitlines()
    start = lines.index(header)
    body = []
    for line in lines[start + 1 :]:
        if line and not line.startswith((" ", "\t")):
            break
        if line.strip() and not line.strip().startswith("#"):
            body.append(line.strip())
    return body


def test_backends_come_from_the_inventory(rendered: tuple[str, dict]) -> None:
    _unused, values = rendered
    assert values["orchestrators"] == [
        {"name": "orch-1", "address": "10.0.0.11", "port": 8600},
        {"name": "orch-2", "address": "10.0.0.12", "port": 8700},
    ]
    assert values["mcp"] == [{"name": "mcp-1", "address": "10.0.0.21", "port": 8601}]
    assert values["mcp_path"] == "/agents/mcp"
    # The largest upload an orchestrator accepts, plus its 64 KiB of form fields.
    assert values["max_body"] == 52428800 + 65536
    assert values["addresses"] == ["10.0.0.5"]
    assert values["sans"] == ["DNS:edge-1", "IP:10.0.0.5"]


def test_http_redirects_to_https(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    http = section(config, "frontend http")
    assert http == ["bind 0.0.0.0:80", "http-request redirect scheme https code 301"]


def test_https_ends_tls_12_or_later(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    https = section(config, "frontend https")
    assert https[0] == "bind 0.0.0.0:443 ssl crt /etc/haproxy/tls/shield-edge.pem alpn h2,http/1.1"
    assert "ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets" in section(
        config, "global"
    )
    assert not any("Strict-Transport-Security" in line for line in https)


def test_every_orchestrator_is_checked(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    backend = section(config, "backend orchestrator")
    assert "balance leastconn" in backend
    assert "option httpchk" in backend
    assert "http-check send meth GET uri /healthz" in backend
    assert "http-check expect status 200" in backend
    assert "default-server check inter 2s fall 3 rise 2" in backend
    servers = [line for line in backend if line.startswith("server ")]
    assert servers == ["server orch-1 10.0.0.11:8600", "server orch-2 10.0.0.12:8700"]


def test_the_mcp_path_goes_to_the_mcp_servers(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    https = section(config, "frontend https")
    assert "use_backend mcp if { path /agents/mcp } || { path_beg /agents/mcp/ }" in https
    assert https[-1] == "default_backend orchestrator"
    backend = section(config, "backend mcp")
    assert "http-check send meth GET uri /healthz" in backend
    assert "stick store-response res.hdr(mcp-session-id)" in backend
    assert "stick match req.hdr(mcp-session-id)" in backend
    assert [line for line in backend if line.startswith("server ")] == [
        "server mcp-1 10.0.0.21:8601"
    ]


def test_larger_bodies_than_the_orchestrators_accept_get_413(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    https = section(config, "frontend https")
    rule = next(line for line in https if "status 413" in line)
    assert rule.startswith("http-request return status 413 ")
    assert rule.endswith("if { req.hdr_val(content-length) gt 52494336 }")
    # Refused before anything is routed.
    assert https.index(rule) < next(i for i, line in enumerate(https) if "use_backend" in line)


def test_streams_get_long_timeouts(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    defaults = section(config, "defaults")
    for line in ("timeout client 1h", "timeout server 1h", "timeout tunnel 1h"):
        assert line in defaults
    assert "option forwardfor" in defaults
    # Buffering whole answers (http-buffer-request is for requests; nothing may buffer answers)
    # or closing after each answer would break event streams.
    assert not re.search(r"http-buffer|http-server-close|httpclose", config)


def test_authorization_and_last_event_id_pass_unchanged(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    touched = [
        line
        for line in config.splitlines()
        if re.search(r"(del|set|replace|add)-header", line)
        and re.search(r"authorization|last-event-id", line, re.I)
    ]
    assert touched == []
    https = section(config, "frontend https")
    assert "http-request set-header X-Forwarded-Proto https" in https
    # Only the client's own X-Forwarded-For is dropped (option forwardfor sets it).
    assert [line for line in config.splitlines() if "del-header" in line] == [
        "    http-request del-header X-Forwarded-For"
    ]


def test_the_exporter_has_its_own_loopback_listener(rendered: tuple[str, dict]) -> None:
    config, _unused = rendered
    metrics = section(config, "frontend metrics")
    assert metrics[0] == "bind 127.0.0.1:9614"
    assert "http-request use-service prometheus-exporter if { path /metrics }" in metrics


def test_options_change_the_config(tmp_path: Path) -> None:
    config, _unused = render(
        tmp_path,
        {
            "edge_https_port": 8443,
            "edge_hsts_max_age": 31536000,
            "edge_balance": "roundrobin",
            "edge_mcp_servers": [],
            "edge_orchestrator_servers": [{"name": "v6", "address": "fd00::11", "port": 8600}],
            "edge_stream_timeout": "2h",
        },
    )
    assert section(config, "frontend http")[1] == (
        'http-request redirect location "https://%[req.hdr(host),field(1,:)]:8443'
        '%[capture.req.uri]" code 301'
    )
    https = section(config, "frontend https")
    assert 'http-response set-header Strict-Transport-Security "max-age=31536000"' in https
    assert not any("use_backend" in line for line in https)
    assert "backend mcp" not in config
    backend = section(config, "backend orchestrator")
    assert "balance roundrobin" in backend
    assert "server v6 ipv6@fd00::11:8600" in backend
    assert "timeout tunnel 2h" in section(config, "defaults")


def _haproxy() -> str | None:
    return os.environ.get("EDGE_TEST_HAPROXY") or shutil.which("haproxy")


def _self_signed_pem(path: Path) -> None:
    """A throwaway certificate and key in one PEM file, as HAProxy's `crt` reads it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge-1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_haproxy_accepts_the_config(tmp_path: Path) -> None:
    haproxy = _haproxy()
    if haproxy is None:
        pytest.skip("no haproxy binary here (install Debian's haproxy or set EDGE_TEST_HAPROXY)")
    pem = tmp_path / "edge.pem"
    _self_signed_pem(pem)
    config, _unused = render(tmp_path / "render", {"_edge_tls_pem": str(pem)})
    # The haproxy user exists on an edge host (Debian's package makes it); not necessarily here.
    if subprocess.run(["getent", "passwd", "haproxy"], capture_output=True, check=False).returncode:
        config = re.sub(r"(?m)^    (user|group) haproxy\n", "", config)
    path = tmp_path / "haproxy.cfg"
    path.write_text(config, encoding="utf-8")
    done = subprocess.run(
        [haproxy, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ALERT" not in done.stdout + done.stderr


def test_the_certificate_and_key_are_joined_by_real_line_breaks(tmp_path: Path) -> None:
    """files mode: HAProxy's PEM is the certificate, a line break, the key, a line break
    (a literal backslash-n between them makes HAProxy refuse the file)."""
    cert = tmp_path / "edge.crt"
    key = tmp_path / "edge.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n")
    _unused, values = render(
        tmp_path / "render",
        {"edge_tls_certificate_path": str(cert), "edge_tls_key_path": str(key)},
    )
    assert values["pem"] == (
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"
    )
