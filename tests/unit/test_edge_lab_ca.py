"""shield.rag.edge's lab CA (edge_tls_mode: lab_ca), run for real by ansible-playbook on
localhost with community.crypto: a CA and the edge's certificate with the SANs asked for; a
second run changes nothing; other names, or a certificate within the renewal window, issue it
again from the same CA; check mode writes nothing.

Everything is written below the test's own directory (edge_lab_ca_dir).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.modules import Modules

PLAY = """\
- name: The edge's lab CA
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Make the lab CA and the edge's certificate
      ansible.builtin.include_role:
        name: shield.rag.edge
        tasks_from: lab_ca
"""


def _recap_changed(output: str) -> int:
    match = re.search(r"^localhost\s+: ok=\d+\s+changed=(\d+)", output, re.M)
    assert match, output
    return int(match.group(1))


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _sans(cert: x509.Certificate) -> set[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {f"DNS:{n}" for n in names.get_values_for_type(x509.DNSName)} | {
        f"IP:{a}" for a in names.get_values_for_type(x509.IPAddress)
    }


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    assert cert.issuer == ca.subject
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        cert.signature,
        cert.tbs_certificate_bytes,
        ec.ECDSA(cert.signature_hash_algorithm),  # type: ignore[arg-type]
    )
    return True


@pytest.fixture
def lab(tmp_path: Path) -> tuple[Modules, dict, Path]:
    ca_dir = tmp_path / "lab-ca"
    host_vars = {
        "ansible_host": "127.0.0.1",
        "edge_lab_ca_dir": str(ca_dir),
        "edge_server_names": ["edge.lab.test"],
    }
    return Modules(tmp_path / "work"), host_vars, ca_dir


def test_lab_ca_issues_a_certificate_for_the_names_and_keeps_it(
    lab: tuple[Modules, dict, Path],
) -> None:
    modules, host_vars, ca_dir = lab
    rc, output = modules.playbook(PLAY, host_vars)
    assert rc == 0, output
    assert _recap_changed(output) > 0

    ca = _cert(ca_dir / "ca.crt")
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ca.subject.rfc4514_string() == "CN=Shield RAG lab CA"
    server = _cert(ca_dir / "servers" / "localhost.crt")
    assert _sans(server) == {"DNS:edge.lab.test", "IP:127.0.0.1"}
    assert _signed_by(server, ca)
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    now = datetime.datetime.now(datetime.UTC)
    assert server.not_valid_after_utc - now > datetime.timedelta(days=364)
    for key in (ca_dir / "ca.key", ca_dir / "servers" / "localhost.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    ca_bytes = (ca_dir / "ca.crt").read_bytes()
    server_bytes = (ca_dir / "servers" / "localhost.crt").read_bytes()

    # Converged: nothing to do.
    rc, output = modules.playbook(PLAY, host_vars)
    assert rc == 0, output
    assert _recap_changed(output) == 0
    assert (ca_dir / "servers" / "localhost.crt").read_bytes() == server_bytes

    # Another name: a new certificate from the same CA.
    names = {**host_vars, "edge_server_names": ["edge.lab.test", "rag.lab.test"]}
    rc, output = modules.playbook(PLAY, names)
    assert rc == 0, output
    assert _recap_changed(output) > 0
    assert (ca_dir / "ca.crt").read_bytes() == ca_bytes
    reissued = _cert(ca_dir / "servers" / "localhost.crt")
    assert _sans(reissued) == {"DNS:edge.lab.test", "DNS:rag.lab.test", "IP:127.0.0.1"}
    assert reissued.serial_number != server.serial_number
    assert _signed_by(reissued, ca)
    rc, output = modules.playbook(PLAY, names)
    assert rc == 0, output
    assert _recap_changed(output) == 0

    # A certificate that ends within the renewal window is issued again.
    renew = {**names, "edge_lab_cert_renew_days": 366}
    rc, output = modules.playbook(PLAY, renew)
    assert rc == 0, output
    assert _cert(ca_dir / "servers" / "localhost.crt").serial_number != reissued.serial_number
    assert (ca_dir / "ca.crt").read_bytes() == ca_bytes


def test_lab_ca_check_mode_writes_nothing(lab: tuple[Modules, dict, Path]) -> None:
    modules, host_vars, ca_dir = lab
    ca_dir.mkdir()
    rc, output = modules.playbook(PLAY, host_vars, check=True)
    assert rc == 0, output
    assert _recap_changed(output) > 0
    assert sorted(p.name for p in ca_dir.rglob("*")) == []


def test_lab_ca_sans_take_ipv6_addresses(lab: tuple[Modules, dict, Path]) -> None:
    modules, host_vars, ca_dir = lab
    rc, output = modules.playbook(PLAY, {**host_vars, "ansible_host": "fd00::5"})
    assert rc == 0, output
    sans = _sans(_cert(ca_dir / "servers" / "localhost.crt"))
    assert sans == {"DNS:edge.lab.test", f"IP:{ipaddress.ip_address('fd00::5')}"}
