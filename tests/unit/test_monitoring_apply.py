"""The monitoring role restarts or reloads exactly the services whose files changed.

The role's own expression (tasks/configure.yml, "Note the services that restart or reload")
is rendered with Ansible's templar over the role's defaults and vars, for a host in the
monitoring and redis groups, with a given list of changed paths.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.templar import in_ansible

ROLE = Path(__file__).resolve().parents[2] / "roles" / "monitoring"
TASK = "Note the services that restart or reload"

# Run in a child process by tests/support/templar.py.
_RENDER = """
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

job = json.load(sys.stdin)
loader = DataLoader()
variables = {}
for name in ("defaults/main.yml", "vars/main.yml"):
    variables.update(loader.load_from_file(job["role"] + "/" + name))


def find(tasks):
    for task in tasks:
        if task.get("name") == job["task"]:
            return task
        found = find(task.get("block", []))
        if found:
            return found
    return None


variables.update(find(loader.load_from_file(job["role"] + "/tasks/configure.yml"))["vars"])
variables.update(
    inventory_hostname="mon-1",
    group_names=["monitoring", "redis"],
    groups={"monitoring": ["mon-1"], "redis": ["mon-1"]},
    hostvars={},
    __monitoring_secrets={"changed_paths": job["secrets"]},
    __monitoring_configured={"changed_paths": job["changed"]},
)


def trust(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return {k: trust(v) for k, v in value.items()}
    if isinstance(value, list):
        return [trust(v) for v in value]
    return value


templar = Templar(loader=loader, variables=trust(variables))
json.dump(templar.template(trust_as_template("{{ __monitoring_apply }}")), sys.stdout)
"""


def apply(changed: list[str], secrets: tuple[str, ...] = ()) -> dict[str, list[str]]:
    job = {"role": str(ROLE), "task": TASK, "changed": changed, "secrets": list(secrets)}
    result: dict[str, list[str]] = in_ansible(_RENDER, job)
    return result


UNIT = "/etc/systemd/system/{}.service"
DROPIN = "/etc/systemd/system/{}.service.d/shield-rag.conf"


@pytest.mark.parametrize(
    ("changed", "restarts", "reloads"),
    [
        ([], [], []),
        (["/etc/prometheus/rules/shield-rag.rules.yml"], [], ["prometheus"]),
        (["/etc/prometheus/rules.yml.bak", "/etc/prometheus/rulesx"], [], []),
        (
            ["/etc/prometheus/prometheus.yml", "/etc/prometheus/alertmanager.yml"],
            [],
            ["prometheus", "prometheus-alertmanager"],
        ),
        # A restart covers the reload: Prometheus is not also reloaded.
        ([DROPIN.format("prometheus"), "/etc/prometheus/prometheus.yml"], ["prometheus"], []),
        ([UNIT.format("prometheus-node-exporter")], ["prometheus-node-exporter"], []),
        # Files a service reads only at start restart it.
        (
            ["/etc/prometheus/blackbox.yml", "/etc/prometheus/redis-exporter.env"],
            ["prometheus-blackbox-exporter", "prometheus-redis-exporter"],
            [],
        ),
    ],
)
def test_changed_paths_restart_or_reload_their_services(
    changed: list[str], restarts: list[str], reloads: list[str]
) -> None:
    assert apply(changed) == {"restarts": restarts, "reloads": reloads}


def test_changed_secret_files_reload_their_readers() -> None:
    result = apply(
        [], ("/etc/prometheus/qdrant_api_key", "/etc/prometheus/alertmanager_webhook_password")
    )
    assert result == {"restarts": [], "reloads": ["prometheus", "prometheus-alertmanager"]}
