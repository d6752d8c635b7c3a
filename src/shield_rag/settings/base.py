"""What every settings section shares: the section base, the configuration error and the
weak-secret policy.

The policy is ``secret_policy.yml`` next to this module, the one file the roles' preflight
(``shield.rag.common``) reads too, so a secret the roles accept is one the services accept.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr

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
