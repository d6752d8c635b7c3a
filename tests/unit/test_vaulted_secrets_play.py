"""Secrets vaulted with ``ansible-vault encrypt_string`` (as docs/deploy.md shows) are written
into configuration files as their plain text, run for real by ansible-playbook on localhost.

ansible-core 2.19 keeps the vault tag of a value passed on as ``"{{ var }}"``, and
``to_nice_yaml`` writes such a value as ``!vault |`` and its ciphertext: Qdrant could not read
its config.yaml. The templates that render data as YAML pass it through JSON first. The play
renders them with the roles' own defaults and variables and changes nothing on the machine.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.support.localplay import ANSIBLE_PLAYBOOK, LOCAL, run_play
from tests.support.modules import ROOT

SECRET = "Vq7plain9Lp2Zr4Vt6Yw8Bn1Mc3Kd5Hf"

PLAY = """\
- name: Render configuration files with a vaulted secret
  hosts: all
  gather_facts: false
  vars_files:
    - secret.yml
    - {root}/roles/qdrant/defaults/main.yml
    - {root}/roles/qdrant/vars/main.yml
    - overrides.yml
  tasks:
    - name: Render them
      ansible.builtin.set_fact:
        qdrant_config: "{{{{ lookup('ansible.builtin.template', '{root}/roles/{qdrant}') }}}}"
        settings: "{{{{ lookup('ansible.builtin.template', '{root}/roles/{settings}') }}}}"

    - name: Show them
      ansible.builtin.debug:
        msg: "{{{{ {{'qdrant': qdrant_config, 'settings': settings}} | to_json }}}}"
"""
# After the role's files (vars_files read later win).
OVERRIDES = """\
qdrant_api_key: "{{ vaulted }}"
qdrant_read_only_api_key: "{{ vaulted }}"
_common_config_service: orchestrator
_common_parent_role: orchestrator_fastapi
_common_config_env_file: /etc/shield-rag/orchestrator.env
_common_config_settings:
  orchestrator: {port: 8600, note: "{{ vaulted }}"}
"""


def test_a_vaulted_secret_is_written_as_its_plain_text(tmp_path: Path) -> None:
    password = tmp_path / "vault-password"
    password.write_text("a vault password for this test\n", encoding="utf-8")
    encrypted = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK.with_name("ansible-vault")),
            "encrypt_string",
            "--vault-password-file",
            str(password),
            "--name",
            "vaulted",
            SECRET,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "!vault" in encrypted and SECRET not in encrypted
    (tmp_path / "secret.yml").write_text(encrypted, encoding="utf-8")
    (tmp_path / "overrides.yml").write_text(OVERRIDES, encoding="utf-8")
    played = run_play(
        tmp_path,
        PLAY.format(
            root=ROOT,
            qdrant="qdrant/templates/config.yaml.j2",
            settings="common/templates/settings.yml.j2",
        ),
        {"all": {"hosts": {"render": LOCAL}}},
        args=("--vault-password-file", str(password)),
    )
    assert played.returncode == 0, played.output
    shown = re.search(r'"msg": "(\{.*\})"', played.output)
    assert shown, played.output
    rendered = yaml.safe_load(shown.group(1).encode().decode("unicode_escape"))
    qdrant = yaml.safe_load(rendered["qdrant"])
    assert qdrant["service"]["api_key"] == SECRET
    assert qdrant["service"]["read_only_api_key"] == SECRET
    assert yaml.safe_load(rendered["settings"])["orchestrator"] == {"port": 8600, "note": SECRET}
    assert "$ANSIBLE_VAULT" not in played.output
