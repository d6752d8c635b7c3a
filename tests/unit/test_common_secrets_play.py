"""shield.rag.common's secrets check, run for real by ansible-playbook on localhost.

One play, one host per case (connection local, no facts, nothing but set_fact and assert: the
machine is not changed). Each host calls the check through a throwaway role, as the Shield roles
do; one calls it directly, without the `_common_parent_role` a Shield role sets, and must be
refused by argument validation. The policy comes from the collection's
src/shield_rag/settings/secret_policy.yml, found through role_path.
"""

from __future__ import annotations

import re

import pytest

from tests.support.localplay import LOCAL, run_play

STRONG = "Xq7admin9Lp2Zr4Vt6Yw8Bn1Mc3Kd5Hf"
# host -> (the secret, the optional secret or None, whether the play must fail on it)
CASES: dict[str, tuple[str, str | None, bool]] = {
    "strong": (STRONG, None, False),
    "strong_optional_set": (STRONG, "Rt5test8Jm2Wq9Zx4Lp7Vb3Nc6Hk1Gf0D", False),
    "weak_words": ("Password123456!!", None, True),
    "short": ("short-Key-1", None, True),
    "repetitive": ("aaaaaaaaaaaaaaaaaaaa", None, True),
    "placeholder": ("CHANGEME-redis-password-0123456789abcdefXYZ", None, True),
    "missing": ("", None, True),
    "weak_optional": (STRONG, "myadminkey2024!!", True),
}

ROLE_TASKS = """\
- name: Check the secrets
  ansible.builtin.import_role:
    name: shield.rag.common
    tasks_from: secrets
  vars:
    _common_parent_role: wrapper
    _common_secrets:
      - {name: ex_secret, value: "{{ ex_secret }}"}
      - {name: ex_optional, value: "{{ ex_optional }}", required: false}
"""

PLAY = """\
- name: Exercise the secrets check
  hosts: all
  gather_facts: false
  tasks:
    - name: Through a role
      ansible.builtin.include_role:
        name: wrapper
      when: inventory_hostname != 'direct'

    - name: Directly
      ansible.builtin.include_role:
        name: shield.rag.common
        tasks_from: secrets
      vars:
        _common_secrets: [{name: ex_secret, value: "{{ ex_secret }}"}]
      when: inventory_hostname == 'direct'
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("secrets-play")
    tasks = tmp / "roles" / "wrapper" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(ROLE_TASKS, encoding="utf-8")
    hosts = {
        name: {"ex_secret": secret, "ex_optional": optional or ""}
        for name, (secret, optional, _unused) in CASES.items()
    }
    hosts["direct"] = {"ex_secret": STRONG, "ex_optional": ""}
    inventory = {"all": {"vars": LOCAL, "hosts": hosts}}
    output = run_play(tmp, PLAY, inventory, env={"ANSIBLE_ROLES_PATH": str(tmp / "roles")}).output
    recap = re.findall(r"^(\w+)\s+: ok=.*failed=(\d+)", output, re.M)
    failed = {host: int(count) for host, count in recap}
    assert set(failed) == set(hosts), output
    messages = dict(re.findall(r"^fatal: \[(\w+)\]: FAILED! => (.*)$", output, re.M))
    return {"failed": failed, "messages": messages, "output": output}


@pytest.mark.parametrize("host", sorted(CASES))
def test_secrets_check_verdict(run: dict, host: str) -> None:
    must_fail = CASES[host][2]
    assert run["failed"][host] == int(must_fail), run["messages"].get(host, run["output"])


@pytest.mark.parametrize("host", sorted(h for h, case in CASES.items() if case[2]))
def test_refusal_names_the_secret_and_states_the_rule(run: dict, host: str) -> None:
    message = run["messages"][host]
    name = "ex_optional" if host == "weak_optional" else "ex_secret"
    assert f"{name}: must be set to a strong secret" in message
    assert "16+ characters, 8+ distinct" in message


def test_no_secret_value_reaches_the_output(run: dict) -> None:
    values = {v for secret, optional, _unused in CASES.values() for v in (secret, optional) if v}
    leaked = sorted(v for v in values if v in run["output"])
    assert not leaked


def test_direct_use_without_the_parent_role_is_refused(run: dict) -> None:
    assert run["failed"]["direct"] == 1
    assert "missing required arguments: _common_parent_role" in run["messages"]["direct"]
