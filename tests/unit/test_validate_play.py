"""playbooks/validate.yml, which site.yml runs before any play that changes a host: each host
is checked against the `validate` entry point of every role of its groups (argument spec,
secrets, values), so a wrong setting of the MCP server stops the run before Redis or the
runtime are touched anywhere. Run for real by ansible-playbook, one host per case on the local
connection, in one run: each case asserts which host failed, naming which variable, and that
nothing changed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.localplay import LOCAL, run_play
from tests.support.modules import ROOT
from tests.support.tokens import STACK_SECRETS, secret

PLAY = """\
- name: Check the settings of every role on its hosts
  ansible.builtin.import_playbook: shield.rag.validate

- name: Stand for the plays of site.yml that change the hosts
  hosts: all
  gather_facts: false
  tasks:
    - name: Change the host
      ansible.builtin.debug:
        msg: changed
"""

# Groups as site.yml's plays use them; the edge and monitoring read every host of the other
# groups (their backends, their scrape targets) and have plays of their own in other tests.
SERVICE_GROUPS = ("redis", "qdrant", "ollama", "lightrag", "orchestrator", "workers", "mcp")
WEAK = "Password123456!!"
# host -> (its groups, its variables, the text of its failure or None)
CASES: dict[str, tuple[tuple[str, ...], dict[str, Any], str | None]] = {
    "sound": (
        SERVICE_GROUPS,
        {
            "lightrag_qdrant_url": "https://[::1]:6333/",
            "orchestrator_fastapi_public_url": "https://rag.example.org/api",
            # Every interface.
            "fastmcp_server_metrics_host": "",
        },
        None,
    ),
    # The services' settings check cannot run on a new host before the runtime is installed.
    "orchestrator_url": (
        ("orchestrator",),
        {"shield_qdrant_url": "qdrant:6333"},
        'orchestrator_fastapi_qdrant_url (shield_qdrant_url) is "qdrant:6333"',
    ),
    "mcp_url_port": (
        ("mcp",),
        {"fastmcp_server_orchestrator_url": "http://127.0.0.1:86000"},
        'fastmcp_server_orchestrator_url (shield_orchestrator_url) is "http://127.0.0.1:86000"',
    ),
    "mcp_weak_token": (
        ("mcp",),
        {"fastmcp_server_host": "0.0.0.0", "fastmcp_server_auth_token": WEAK},
        "fastmcp_server_auth_token: must be set to a strong secret",
    ),
    "mcp_no_token": (
        ("mcp",),
        {"fastmcp_server_host": "0.0.0.0"},
        "fastmcp_server_auth_token or fastmcp_server_tokens (shield_mcp_tokens) is required",
    ),
    "qdrant_checksum": (
        ("qdrant",),
        {"qdrant_archive_sha256": "abc123"},
        "qdrant_archive_sha256 must be 64 hexadecimal digits",
    ),
    "qdrant_host": (
        ("qdrant",),
        {"qdrant_host": "http://0.0.0.0:6333"},
        'qdrant_host is "http://0.0.0.0:6333": each must be an IP address',
    ),
    # A listen address with a scheme, or a Redis host left empty: the service could not start.
    "mcp_host_url": (
        ("mcp",),
        {"fastmcp_server_host": "http://0.0.0.0", "fastmcp_server_auth_token": secret()},
        'fastmcp_server_host is "http://0.0.0.0": each must be an IP address',
    ),
    "workers_redis_host": (
        ("workers",),
        {"shield_redis_host": ""},
        'orchestrator_workers_redis_host (shield_redis_host) is ""',
    ),
    # Qdrant reads no empty address as every interface (the Python services do).
    "qdrant_empty_host": (("qdrant",), {"qdrant_host": ""}, 'qdrant_host is ""'),
    "redis_memory": (("redis",), {"redis_maxmemory": "lots"}, 'redis_maxmemory is "lots"'),
    # Argument validation of the entry point: the type of an option.
    "workers_type": (
        ("workers",),
        {"orchestrator_workers_instances": "several"},
        "orchestrator_workers_instances",
    ),
    "ollama_models": (
        ("ollama",),
        {"ollama_models": [{"name": "all-minilm"}, {"name": "all-minilm:latest"}]},
        "ollama_models names all-minilm:latest, all-minilm:latest: each model once",
    ),
    # A setting of a role the host does not run is not that host's concern.
    "redis_only_weak_mcp": (
        ("redis",),
        {"fastmcp_server_host": "0.0.0.0", "fastmcp_server_auth_token": WEAK},
        None,
    ),
    # A misspelt variable is named (Ansible would ignore it), not refused.
    "misspelt": (("redis", "mcp"), {"redis_maxmemroy": "2gb", "fastmcp_server_prot": 1}, None),
    # A host site.yml found as its last full converge left it (converge_check.yml) is skipped.
    "converged": (
        ("mcp",),
        {"fastmcp_server_host": "0.0.0.0", "__shield_converged": True},
        None,
    ),
}


def _play(workdir: Path, *args: str) -> dict[str, Any]:
    hosts = {name: dict(variables) for name, (_groups, variables, _msg) in CASES.items()}
    groups = {
        group: {"hosts": {h: {} for h, (gs, _v, _m) in CASES.items() if group in gs}}
        for group in SERVICE_GROUPS
    }
    inventory = {
        "all": {
            "vars": {**LOCAL, **{name: secret() for name in STACK_SECRETS}},
            "hosts": hosts,
            "children": groups,
        }
    }
    output = run_play(workdir, PLAY, inventory, args=args).output
    recap = {
        host: (int(ok), int(changed), int(failed))
        for host, ok, changed, failed in re.findall(
            r"^(\w+)\s+: ok=(\d+)\s+changed=(\d+) .*failed=(\d+)", output, re.M
        )
    }
    assert set(recap) == set(CASES), output
    failures: dict[str, str] = {}
    stops: list[str] = []
    for host, line in re.findall(r"^(?:fatal|failed): \[(\w+)\].*?=> (\{.*\})$", output, re.M):
        message = json.loads(line)["msg"]
        if message.startswith("The settings of "):
            stops.append(message)
        else:
            failures[host] = failures.get(host, "") + message
    return {"recap": recap, "failures": failures, "stops": stops, "output": output}


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _play(tmp_path_factory.mktemp("validate-play"))


@pytest.fixture(scope="module")
def played_tagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same hosts, in a run limited to one role's tag."""
    return _play(tmp_path_factory.mktemp("validate-tagged"), "--tags", "qdrant_configure")


@pytest.mark.parametrize("host", sorted(CASES))
def test_each_host_is_checked_for_the_roles_of_its_groups(
    played: dict[str, Any], host: str
) -> None:
    expected = CASES[host][2]
    _ok, changed, _failed = played["recap"][host]
    assert changed == 0, played["output"]
    if expected is None:
        assert host not in played["failures"], played["failures"][host]
    else:
        assert expected in played["failures"][host], played["failures"].get(host, played["output"])


def test_one_host_with_wrong_settings_stops_them_all(played: dict[str, Any]) -> None:
    """The hosts whose settings pass do not go on to the plays that change them."""
    wrong = {h for h, (_g, _v, message) in CASES.items() if message is not None}
    (stop,) = played["stops"]
    named = re.match(r"The settings of (.*) are wrong", stop)
    assert named and set(named.group(1).split(", ")) == wrong, stop
    assert "TASK [Change the host]" not in played["output"]


def test_a_run_limited_by_tags_checks_the_roles_it_selects_before_any_change(
    played_tagged: dict[str, Any],
) -> None:
    """--tags qdrant_configure runs the Qdrant role only: its settings are checked up front on
    every host, and another role's wrong settings do not stop the run."""
    wrong = {h for h, (gs, _v, msg) in CASES.items() if msg is not None and gs == ("qdrant",)}
    assert wrong and set(played_tagged["failures"]) == wrong, played_tagged["output"]
    (stop,) = played_tagged["stops"]
    named = re.match(r"The settings of (.*) are wrong", stop)
    assert named and set(named.group(1).split(", ")) == wrong, stop


def test_a_converged_host_runs_no_check(played: dict[str, Any]) -> None:
    ok, _changed, failed = played["recap"]["converged"]
    assert (ok, failed) == (1, 0), played["output"]  # the note that this run began with it


def test_a_misspelt_variable_is_named_on_its_host_only(played: dict[str, Any]) -> None:
    pattern = r'"msg": "Warning: (\w+) has ([^,]+(?:, [^,]+)*), which no'
    warnings = re.findall(pattern, played["output"])
    assert warnings == [("misspelt", "fastmcp_server_prot, redis_maxmemroy")], played["output"]


def test_no_secret_reaches_the_output(played: dict[str, Any]) -> None:
    assert WEAK not in played["output"]


def test_site_checks_every_role_before_the_first_play_that_changes_a_host() -> None:
    site = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text(encoding="utf-8"))
    order = [entry["ansible.builtin.import_playbook"] for entry in site]
    assert order[:4] == ["preflight.yml", "converge_check.yml", "validate.yml", "runtime.yml"]


def test_the_play_checks_every_role_that_site_deploys() -> None:
    """Every role a play of site.yml runs (its `roles:` or an import_role) has a `validate`
    entry point, and validate.yml runs it."""
    validate = yaml.safe_load((ROOT / "playbooks" / "validate.yml").read_text(encoding="utf-8"))
    checked = set(validate[0]["vars"]["__shield_validate_groups"])
    deployed: set[str] = set()
    for entry in yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text(encoding="utf-8")):
        text = (ROOT / "playbooks" / entry["ansible.builtin.import_playbook"]).read_text()
        deployed |= set(re.findall(r"(?:role|name): shield\.rag\.(\w+)", text))
    deployed -= {"shield_runtime"}  # runtime.yml checks its archive before it changes anything
    assert deployed and deployed <= checked, deployed - checked
    for role in deployed:
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        assert "validate" in specs["argument_specs"], role
        assert (ROOT / "roles" / role / "tasks" / "validate.yml").is_file(), role


def _set_facts(tasks: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(tasks, list):
        for task in tasks:
            names |= _set_facts(task)
    elif isinstance(tasks, dict):
        facts = tasks.get("ansible.builtin.set_fact")
        if isinstance(facts, dict):
            names |= set(facts)
        for key in ("block", "rescue", "always"):
            names |= _set_facts(tasks.get(key))
    return names


def test_the_facts_the_roles_set_are_not_named_as_misspelt() -> None:
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta").is_dir())
    public = {
        name
        for path in (ROOT / "roles").glob("*/tasks/*.yml")
        for name in _set_facts(yaml.safe_load(path.read_text(encoding="utf-8")))
        if any(name.startswith(f"{role}_") for role in roles)
    }
    validate = yaml.safe_load((ROOT / "playbooks" / "validate.yml").read_text(encoding="utf-8"))
    task = next(t for t in validate[0]["tasks"] if t["name"].startswith("Name the variables"))
    assert public == set(task["vars"]["__shield_role_facts"])
