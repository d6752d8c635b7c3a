"""The value checks of the roles (entry point validate, which their preflights and site.yml run)
refuse what the service would refuse at its restart (for Redis that left the queue down), before
any change, naming the variable and its rule: the role's validate entry point run for real by
ansible-playbook on localhost, one host per case, with the stack's secrets set."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.localplay import LOCAL, role_play, run_play
from tests.support.tokens import STACK_SECRETS, secret

# host -> (role, variables over the role's defaults, the message of the failure or None)
CASES: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "redis_defaults": ("redis", {}, None),
    "redis_sizes": (
        "redis",
        {"redis_maxmemory": "2GB", "redis_save": [], "redis_port": 6380},
        None,
    ),
    "redis_binds": (
        "redis",
        {"redis_bind_addresses": ["127.0.0.1", "-::1", "10.0.0.5", "*"]},
        None,
    ),
    "redis_maxmemory": (
        "redis",
        {"redis_maxmemory": "lots"},
        'redis_maxmemory is "lots": it must be a size',
    ),
    "redis_port_high": (
        "redis",
        {"redis_port": 70000},
        "redis_port is 70000: it must be a TCP port",
    ),
    "redis_port_zero": ("redis", {"redis_port": 0}, "redis_port is 0: it must be a TCP port"),
    "redis_maxclients": (
        "redis",
        {"redis_maxclients": -5},
        "redis_maxclients is -5: it must be a whole",
    ),
    "redis_save": (
        "redis",
        {"redis_save": ["every hour"]},
        'redis_save is ["every hour"]: each entry must be',
    ),
    "redis_bind": ("redis", {"redis_bind_addresses": ["not an ip"]}, "redis_bind_addresses is"),
    "ollama_defaults": ("ollama", {"ollama_version": "0.12.6"}, None),
    "ollama_port": (
        "ollama",
        {"ollama_version": "0.12.6", "ollama_port": 70000},
        "ollama_port is 70000: it must be a TCP port",
    ),
    "ollama_keep_alive": (
        "ollama",
        {"ollama_version": "0.12.6", "ollama_keep_alive": "a while"},
        'ollama_keep_alive is "a while": it must be a duration',
    ),
    "ollama_version": (
        "ollama",
        {"ollama_version": "v0.12"},
        'ollama_version is "v0.12": it must be X.Y.Z',
    ),
}

PLAY = role_play("Check the roles' values", "validate")


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    hosts = {
        name: {**values, "role_under_test": role} for name, (role, values, _m) in CASES.items()
    }
    inventory = {"all": {"vars": {**LOCAL, **{s: secret() for s in STACK_SECRETS}}, "hosts": hosts}}
    output = run_play(tmp_path_factory.mktemp("role-values"), PLAY, inventory).output
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
    expected = CASES[host][2]
    if expected is None:
        assert failures[host] is None
    else:
        assert failures[host] is not None and expected in failures[host], failures[host]
