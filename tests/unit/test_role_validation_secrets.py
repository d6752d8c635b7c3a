"""A variable of the wrong type stops a role before any change, and no secret reaches the output.

When a role's argument validation fails, Ansible prints the role's whole argument spec with the
error (``argument_spec_data``), each ``default`` rendered with the play's variables. A spec
default such as ``{{ shield_redis_password }}`` printed the stack's secrets on every typo; the
specs of options with ``no_log`` therefore carry no computed default (test_roles.py checks the
specs, this runs them). One play on localhost (connection local, the minimal facts), one host
per role with secrets: each gets a string where its first integer option is due, and every
secret it reads, stack-wide and its own, set to a fresh random value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.localplay import LOCAL, role_play, run_play
from tests.support.tokens import STACK_SECRETS, secret

ROOT = Path(__file__).resolve().parents[2]

PLAY = role_play("Give each role a wrong variable")


def _main_options(role: str) -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"].get("options") or {}


def _roles_with_secrets() -> list[str]:
    roles = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
    return [r for r in roles if any(o.get("no_log") for o in _main_options(r).values())]


ROLES = _roles_with_secrets()


def _wrong_variable(role: str) -> str:
    return next(n for n, o in _main_options(role).items() if o.get("type") == "int")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hosts: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        own = [n for n, o in _main_options(role).items() if o.get("no_log")]
        hosts[role] = {name: secret() for name in (*STACK_SECRETS, *own)}
        hosts[role] |= {"role_under_test": role, _wrong_variable(role): "notanint"}
    inventory = {"all": {"vars": LOCAL, "hosts": hosts}}
    output = run_play(tmp_path_factory.mktemp("validation-play"), PLAY, inventory).output
    recap = dict(re.findall(r"^(\w+)\s+: ok=.* changed=(\d+) .*failed=1 ", output, re.M))
    messages = dict(re.findall(r"^fatal: \[(\w+)\]: FAILED! => (.*)$", output, re.M))
    return {"hosts": hosts, "recap": recap, "messages": messages, "output": output}


def test_there_are_roles_with_secrets() -> None:
    assert {"redis", "qdrant", "orchestrator_fastapi", "fastmcp_server"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_the_wrong_variable_stops_the_role_before_any_change(run: dict, role: str) -> None:
    assert run["recap"].get(role) == "0", run["output"][-3000:]
    message = run["messages"][role]
    assert "Validation of arguments failed" in message
    assert f"argument '{_wrong_variable(role)}' is of type str" in message


@pytest.mark.parametrize("role", ROLES)
def test_no_secret_reaches_the_output(run: dict, role: str) -> None:
    values = {
        name: value
        for name, value in run["hosts"][role].items()
        if name in (*STACK_SECRETS, *(n for n, o in _main_options(role).items() if o.get("no_log")))
    }
    leaked = sorted(name for name, value in values.items() if value in run["output"])
    assert not leaked, f"{role}: these secrets are in the output: {leaked}"
