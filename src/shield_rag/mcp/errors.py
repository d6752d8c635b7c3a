"""Tool errors an agent can act on: what went wrong, and what to change or when to retry."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from fastmcp.exceptions import ToolError
from pydantic import ValidationError

from shield_rag.mcp.orchestrator import (
    ADMISSION_CODES,
    TARGET,
    OrchestratorError,
    OrchestratorUnavailable,
)


class InvalidArguments(ToolError):
    """The arguments are wrong; the message names each one and what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message, log_level=logging.INFO)


class Unavailable(ToolError):
    """The orchestrator or a dependency it needs cannot be used now; ``retry_after`` seconds
    says when to try again; ``target`` names what is failing.

    ``sent`` is False for a fast-fail of an open breaker: FastMCP logs it at DEBUG only, as
    the breaker's transition was logged once when it opened and every fast-fail is counted
    (``circuit_breaker_rejections_total``, ``tool_calls_total{status="unavailable"}``)."""

    def __init__(
        self, message: str, retry_after: float, target: str = "orchestrator", *, sent: bool = True
    ) -> None:
        super().__init__(message, log_level=logging.WARNING if sent else logging.DEBUG)
        self.retry_after = retry_after
        self.target = target


class Limited(ToolError):
    """Admission control refused the call for now (rate limit, queue cap, overload, storage
    nearly full); ``retry_after`` seconds says when to try again. Nothing is failing."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, log_level=logging.INFO)
        self.retry_after = retry_after


class Rejected(ToolError):
    """The orchestrator refused the request (4xx) and said why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, log_level=logging.INFO)


def invalid(tool: str, problems: Iterable[str]) -> InvalidArguments:
    listed = "; ".join(p.rstrip(". ") for p in problems)
    return InvalidArguments(f"Invalid arguments for {tool}: {listed}. Fix them and call again.")


def _fields(code: str | None, dependency: str | None, wait: int | None) -> str:
    """The error model's fields, as an agent reads them: ``code=... dependency=...
    retry_after=N seconds``."""
    parts = []
    if code:
        parts.append(f"code={code}")
    if dependency:
        parts.append(f"dependency={dependency}")
    if wait is not None:
        parts.append(f"retry_after={wait} seconds")
    return " ".join(parts)


def _wait(seconds: float) -> int:
    return max(1, math.ceil(seconds))


def unavailable(tool: str, exc: OrchestratorUnavailable) -> Unavailable | Limited:
    wait = _wait(exc.retry_after)
    if exc.code in ADMISSION_CODES:
        # A rate limit, queue cap or budget is the caller's (or the stack's), not the tool's:
        # other tools of the same caller are refused alike until then.
        return Limited(
            f"{tool}: {exc.reason.rstrip('. ')}. {_fields(exc.code, None, wait)}: call the "
            "tool again after that.",
            float(wait),
        )
    if exc.target == TARGET:
        return Unavailable(
            f"Orchestrator unavailable: {exc.reason}. {_fields(exc.code, None, wait)}: call "
            "the tool again after that.",
            float(wait),
            sent=exc.sent,
        )
    return Unavailable(
        f"Dependency {exc.target} unavailable: {exc.reason}. "
        f"{_fields(exc.code or 'dependency_unavailable', exc.target, wait)}: call the tool "
        f"again after that; tools that do not need {exc.target} still work.",
        float(wait),
        exc.target,
        sent=exc.sent,
    )


def rejected(tool: str, exc: OrchestratorError) -> Rejected | Limited:
    wait = _wait(exc.retry_after) if exc.retry_after is not None else None
    fields = _fields(exc.code, exc.dependency, wait)
    if exc.status == 429 and wait is not None:
        return Limited(
            f"{tool}: the orchestrator refused the request for now ({exc.status}): "
            f"{exc.detail}. {fields}: call the tool again after that.",
            float(wait),
        )
    return Rejected(
        f"{tool}: the orchestrator rejected the request ({exc.status}): {exc.detail}. "
        + (f"{fields}. " if fields else "")
        + "Change the arguments accordingly and call again."
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
    if kind == "finite_number":
        return f"{loc}: must be a finite number{shown}"
    if kind == "value_error" and ctx.get("error"):
        return f"{loc}: {ctx['error']}"  # our own validators' messages name what they got
    return f"{loc or 'arguments'}: {err.get('msg', 'invalid')}{shown}"


def from_validation(tool: str, exc: ValidationError, allowed: list[str]) -> InvalidArguments:
    """Turn pydantic's argument errors into one line per argument."""
    return invalid(tool, (_describe(dict(e), allowed) for e in exc.errors(include_url=False)))
