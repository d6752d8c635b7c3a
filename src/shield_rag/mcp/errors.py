"""Tool errors an agent can act on: what went wrong, and what to change or when to retry."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from fastmcp.exceptions import ToolError
from pydantic import ValidationError

from shield_rag.mcp.orchestrator import OrchestratorError, OrchestratorUnavailable


class InvalidArguments(ToolError):
    """The arguments are wrong; the message names each one and what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message, log_level=logging.INFO)


class Unavailable(ToolError):
    """The orchestrator cannot be used now; ``retry_after`` seconds says when to try again."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, log_level=logging.WARNING)
        self.retry_after = retry_after


class Rejected(ToolError):
    """The orchestrator refused the request (4xx) and said why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, log_level=logging.INFO)


def invalid(tool: str, problems: Iterable[str]) -> InvalidArguments:
    listed = "; ".join(problems)
    return InvalidArguments(f"Invalid arguments for {tool}: {listed}. Fix them and call again.")


def unavailable(exc: OrchestratorUnavailable) -> Unavailable:
    wait = max(1, round(exc.retry_after))
    return Unavailable(
        f"Orchestrator unavailable: {exc.reason}. retry_after={wait} seconds: call the tool "
        "again after that.",
        float(wait),
    )


def rejected(tool: str, exc: OrchestratorError) -> Rejected:
    return Rejected(
        f"{tool}: the orchestrator rejected the request ({exc.status}): {exc.detail}. "
        "Change the arguments accordingly and call again."
    )


def _describe(err: dict[str, Any], allowed: list[str]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith("function-"))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    given = err.get("input")
    shown = f" (got {given!r:.60})" if isinstance(given, str | int | float | bool) else ""
    if kind == "unexpected_keyword_argument":
        return f"{loc}: unknown parameter; the parameters are {', '.join(allowed)}"
    if kind in ("missing_argument", "missing"):
        return f"{loc}: required, add it"
    if kind == "string_too_short":
        return f"{loc}: must have at least {ctx.get('min_length')} character(s){shown}"
    if kind == "string_too_long":
        return f"{loc}: must have at most {ctx.get('max_length')} characters, shorten it"
    if kind == "string_pattern_mismatch":
        return f"{loc}: must match {ctx.get('pattern')}{shown}"
    if kind in ("less_than_equal", "less_than", "greater_than_equal", "greater_than"):
        bound = {
            "less_than_equal": f"at most {ctx.get('le')}",
            "less_than": f"less than {ctx.get('lt')}",
            "greater_than_equal": f"at least {ctx.get('ge')}",
            "greater_than": f"greater than {ctx.get('gt')}",
        }[kind]
        return f"{loc}: must be {bound}{shown}"
    if kind == "too_long":
        return f"{loc}: at most {ctx.get('max_length')} items, send fewer"
    if kind == "too_short":
        return f"{loc}: at least {ctx.get('min_length')} item(s)"
    if kind == "literal_error":
        return f"{loc}: must be one of {ctx.get('expected')}{shown}"
    return f"{loc or 'arguments'}: {err.get('msg', 'invalid')}{shown}"


def from_validation(tool: str, exc: ValidationError, allowed: list[str]) -> InvalidArguments:
    """Turn pydantic's argument errors into one line per argument."""
    return invalid(tool, (_describe(dict(e), allowed) for e in exc.errors(include_url=False)))
