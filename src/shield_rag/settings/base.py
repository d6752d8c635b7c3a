"""What every settings section shares: the section base, the configuration error and the
weak-secret policy.

The policy is ``secret_policy.yml`` next to this module, the one file the roles' preflight
(``shield.rag.common``) reads too, so a secret the roles accept is one the services accept.
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, SecretStr

CONFIG_ENV = "SHIELD_CONFIG"

# The format of the settings files this package reads. Raise it whenever a settings file that
# the previous release accepted means something else or is refused (a key renamed, removed or
# made required), so that a rollback across the change re-renders the old format or refuses
# (shield.rag.shield_runtime records it in each release's manifest).
SETTINGS_SCHEMA = 1


class ConfigError(Exception):
    """Raised when the configuration cannot be loaded; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@cache
def secret_policy() -> dict[str, Any]:
    """The weak-secret policy (``secret_policy.yml``), read once."""
    text = resources.files(__package__).joinpath("secret_policy.yml").read_text("utf-8")
    policy: dict[str, Any] = yaml.safe_load(text)
    return policy


def secret_problem(raw: str) -> str | None:
    """Which rule of the policy ``raw`` breaks, in words (None when it is strong enough)."""
    policy = secret_policy()
    folded = raw.lower()
    if len(raw) < policy["min_length"]:
        return f"it needs at least {policy['min_length']} characters"
    # Case-insensitive, like the roles' `unique` filter.
    if len(set(folded)) < policy["min_distinct"]:
        return f"it needs at least {policy['min_distinct']} different characters"
    left = folded
    for word in policy["weak_words"]:
        left = left.replace(word, "")
    if len(left) < policy["min_left"]:
        return (
            f"it needs at least {policy['min_left']} characters left once well-known words "
            "(" + ", ".join(policy["weak_words"]) + ") are cut out"
        )
    if any(mark in folded for mark in policy["placeholder_marks"]):
        return "it carries a placeholder mark (" + ", ".join(policy["placeholder_marks"]) + ")"
    return None


def check_secret(value: SecretStr | None, key: str) -> SecretStr | None:
    """Refuse a weak ``value`` for ``key``; the message names the key and the rule, never the
    value."""
    if value is None:
        return None
    problem = secret_problem(value.get_secret_value())
    if problem is not None:
        raise ValueError(f"{key} is weak: {problem} (generate one: openssl rand -hex 32)")
    return value


# A DNS label (letters, digits, hyphens, and underscores as container and inventory names
# have them), 1 to 63 characters, not beginning or ending with a hyphen. The roles check the
# same rule before any change (the collection's test plugin shield.rag.host_address; a unit
# test holds the two to the same answers).
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def is_host_address(value: str) -> bool:
    """Whether ``value`` is an IP address (IPv6 without brackets) or a host name: no scheme,
    port, path or brackets, which the services could not bind to or connect to."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        return True
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    # An all-digit last label is a malformed address (999.1.1.1, 10.0.5), not a name.
    return all(_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def _listen_address(value: str) -> str:
    # "" is every interface, to the servers' sockets as to HAProxy.
    if value and not is_host_address(value):
        raise ValueError(
            f"{value!r} is not an address: give an IP address (IPv6 without brackets) or a "
            "host name only, without a scheme, a port or a path (e.g. 127.0.0.1, 0.0.0.0, ::, "
            "rag-1.internal); the port has a key of its own"
        )
    return value


# The address a server of the stack listens on.
ListenAddress = Annotated[str, AfterValidator(_listen_address)]
