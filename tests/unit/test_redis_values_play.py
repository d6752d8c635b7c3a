"""shield.rag.redis refuses values redis-server would refuse at its restart (which left the
queue down), before any change: its preflight task run for real by ansible-playbook on
localhost, one host per case, with the role's own defaults and variables."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.support.localplay import LOCAL, run_play
from tests.support.modules import ROOT

TASK = "Assert the server settings are values Redis reads"
# host -> (variables over the role's defaults, the message of the failure or None)
CASES: dict[str, tuple[dict[str, Any], str | None]] = {
    "defaults": ({}, None),
    "sizes": ({"redis_maxmemory": "2GB", "redis_save": [], "redis_port": 6380}, None),
    "binds": ({"redis_bind_addresses": ["127.0.0.1", "-::1", "10.0.0.5", "*"]}, None),
    "maxmemory": ({"redis_maxmemory": "lots"}, 'redis_maxmemory is "lots": it must be a size'),
    "port_high": ({"redis_port": 70000}, "redis_port is 70000: it must be a TCP port"),
    "port_zero": ({"redis_port": 0}, "redis_port is 0: it must be a TCP port"),
    "maxclients": ({"redis_maxclients": -5}, "redis_maxclients is -5: it must be a whole"),
    "save": ({"redis_save": ["every hour"]}, 'redis_save is ["every hour"]: each entry must be'),
    "bind": ({"redis_bind_addresses": ["not an ip"]}, "redis_bind_addresses is"),
}

PLAY = """\
- name: Check Redis' values
  hosts: all
  gather_facts: false
  vars_files:
    - {root}/roles/redis/defaults/main.yml
    - {root}/roles/redis/vars/main.yml
  tasks:
    - name: The role's check
      ansible.builtin.include_tasks: check.yml
"""


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    tmp = tmp_path_factory.mktemp("redis-values")
    tasks = yaml.safe_load((ROOT / "roles/redis/tasks/preflight.yml").read_text())
    (task,) = [t for t in tasks if t.get("name") == TASK]
    (tmp / "check.yml").write_text(yaml.safe_dump([task]), encoding="utf-8")
    # Host variables lose to vars_files: each case is set as extra variables by host, in a
    # vars file of its own read after the role's (include_vars outranks both).
    hosts = {name: LOCAL for name in CASES}
    for name, (values, _unused) in CASES.items():
        (tmp / f"case-{name}.yml").write_text(yaml.safe_dump(values), encoding="utf-8")
    play = PLAY.format(root=ROOT).replace(
        "  tasks:\n",
        "  tasks:\n"
        "    - name: Take the case's values\n"
        "      ansible.builtin.include_vars: case-{{ inventory_hostname }}.yml\n",
    )
    output = run_play(tmp, play, {"all": {"hosts": hosts}}).output
    recap = dict(re.findall(r"^(\w+)\s+: ok=.*failed=(\d+)", output, re.M))
    assert set(recap) == set(CASES), output
    messages = {
        host: json.loads(f'"{msg}"')
        for host, msg in re.findall(
            r'^failed: \[(\w+)\].*?"msg": "((?:[^"\\]|\\.)*)"', output, re.M | re.S
        )
    }
    return {h: (messages.get(h, output) if int(n) else None) for h, n in recap.items()}


@pytest.mark.parametrize("host", sorted(CASES))
def test_values_redis_cannot_read_are_refused_naming_the_variable(
    failures: dict[str, str | None], host: str
) -> None:
    expected = CASES[host][1]
    if expected is None:
        assert failures[host] is None
    else:
        assert failures[host] is not None and expected in failures[host], failures[host]
