"""shield.rag.common's ``tls`` entry point, which every Python service role's preflight runs
before any change: a named TLS file missing on the controller, or a listener's certificate
without its key, stops the play with the variable named; nothing set, or all files there,
passes. Run by ansible-playbook on localhost in check mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.modules import Modules
from tests.support.tls import Pki, make_pki

PLAY = """\
- name: The TLS checks of a service role
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the TLS files
      ansible.builtin.include_role:
        name: shield.rag.common
        tasks_from: tls
      vars:
        _common_parent_role: orchestrator_fastapi
        _common_tls_files:
          - {name: "orchestrator_fastapi_ca_bundle_path (shield_ca_bundle_path)", path: "{{ ca }}"}
          - {name: orchestrator_fastapi_tls_certificate_path, path: "{{ cert }}"}
          - {name: orchestrator_fastapi_tls_key_path, path: "{{ key }}"}
        _common_tls_pair:
          - {name: orchestrator_fastapi_tls_certificate_path, path: "{{ cert }}"}
          - {name: orchestrator_fastapi_tls_key_path, path: "{{ key }}"}
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def modules(tmp_path: Path) -> Modules:
    return Modules(tmp_path / "work")


def test_nothing_set_and_every_file_there_pass(modules: Modules, pki: Pki) -> None:
    rc, output = modules.playbook(PLAY, {"ca": "", "cert": "", "key": ""}, check=True)
    assert rc == 0, output
    every = {"ca": str(pki.ca), "cert": str(pki.cert), "key": str(pki.key)}
    rc, output = modules.playbook(PLAY, every, check=True)
    assert rc == 0, output
    assert "BEGIN" not in output  # no file's content is shown


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"ca": "/nowhere/ca.pem", "cert": "", "key": ""},
            "orchestrator_fastapi_ca_bundle_path (shield_ca_bundle_path): /nowhere/ca.pem is not "
            "a file on the controller",
        ),
        (
            {"ca": "", "cert": "CERT", "key": ""},
            "orchestrator_fastapi_tls_certificate_path and orchestrator_fastapi_tls_key_path must "
            "be set together",
        ),
        (
            {"ca": "", "cert": "", "key": "KEY"},
            "orchestrator_fastapi_tls_certificate_path and orchestrator_fastapi_tls_key_path must "
            "be set together",
        ),
        (
            {"ca": "", "cert": "CERT", "key": "/nowhere/server.key"},
            "orchestrator_fastapi_tls_key_path: /nowhere/server.key is not a file",
        ),
    ],
    ids=["missing-bundle", "certificate-alone", "key-alone", "missing-key"],
)
def test_a_wrong_setup_stops_the_play(
    modules: Modules, pki: Pki, given: dict[str, str], message: str
) -> None:
    real = {"CERT": str(pki.cert), "KEY": str(pki.key)}
    values = {name: real.get(value, value) for name, value in given.items()}
    rc, output = modules.playbook(PLAY, values, check=True)
    assert rc != 0, output
    assert message in " ".join(output.split()), output
