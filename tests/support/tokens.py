"""Random secrets and names for one test run (never a fixed credential in a test)."""

from __future__ import annotations

import secrets


def secret(nbytes: int = 24) -> str:
    """A random URL-safe secret (API key, bearer token) of ``nbytes`` random bytes."""
    return secrets.token_urlsafe(nbytes)


def unique(prefix: str = "", nbytes: int = 4) -> str:
    """``prefix`` and ``nbytes`` random bytes in hex: a fresh name (workspace, collection) or a
    key whose alphabet must stay [0-9a-f]."""
    return prefix + secrets.token_hex(nbytes)


# The stack-wide secrets the roles read (docs/variables.md), for a test's inventory.
STACK_SECRETS = (
    "shield_redis_password",
    "shield_qdrant_api_key",
    "shield_lightrag_api_key",
    "shield_orchestrator_api_key",
)
