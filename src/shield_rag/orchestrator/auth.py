"""Who makes a request, and whether it may: API clients, their scopes, and delegation.

A client sends its key as ``Authorization: Bearer <key>``. The settings hold only each key's
SHA-256 (``orchestrator.clients``), so a request's key is hashed and looked up: the lookup
reveals nothing about other keys, and a leaked settings file reveals no key. The single
``orchestrator.api_key`` of earlier releases is one more client, ``default``, with the scopes
it always had (read, write, delegate).

Scopes: ``read`` (search, LightRAG queries, the status and events of the client's own jobs,
the feature list),
``write`` (ingest, store, cancel its own jobs), ``admin`` (feature flags, every client's
budget, every client's jobs),
``delegate`` (act for a caller it names). The MCP server's key is a delegate: it names its
caller in ``X-Shield-Client`` and the caller's scopes in ``X-Shield-Scopes``, and the
request is then that caller's — limited, accounted and budgeted as that name — with the
scopes all three allow: the delegate's own, the ones it asserts, and, when the name is a
configured client, that client's (a caller known only to the MCP server, e.g. an OAuth
subject, gets no ``admin``). ``delegate`` itself never passes on.

With neither clients nor api_key configured the API is open (loopback development): every
caller has every scope and is named as admission names it (``X-Shield-Client`` or address).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request

from shield_rag.api.errors import ApiError, ErrorCode
from shield_rag.orchestrator.admission import CLIENT_RE
from shield_rag.settings.orchestrator import (
    LEGACY_CLIENT,
    LEGACY_SCOPES,
    SCOPES,
    OrchestratorSettings,
)

CLIENT_HEADER = "x-shield-client"
SCOPES_HEADER = "x-shield-scopes"
ALL_SCOPES = frozenset(SCOPES)
# Kept in the request's ASGI scope (a dict of its own per request).
CALLER_KEY = "shield.caller"
_SCOPE_MARK = "__shield_scope__"
_E = TypeVar("_E", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is made by: ``name`` is what limits, metrics, jobs and budgets record
    (never the key); ``via`` the delegate that named it; ``authenticated`` False on an open
    API."""

    name: str
    scopes: frozenset[str]
    via: str | None = None
    authenticated: bool = True

    def may(self, scope: str) -> bool:
        return scope in self.scopes


@dataclass(frozen=True, slots=True)
class _Client:
    name: str
    scopes: frozenset[str]


def requires(scope: str) -> Callable[[_E], _E]:
    """Mark a route's endpoint with the scope it needs (put it under ``@router.<method>``);
    an unmarked client route needs ``write`` when it is marked as a write for admission
    (:func:`~shield_rag.orchestrator.admission_wiring.writes`), else ``read``."""
    if scope not in ALL_SCOPES:
        raise ValueError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")

    def mark(endpoint: _E) -> _E:
        setattr(endpoint, _SCOPE_MARK, scope)
        return endpoint

    return mark


def marked_scope(endpoint: object) -> str | None:
    """The scope :func:`requires` marked ``endpoint`` with, if any."""
    marked = getattr(endpoint, _SCOPE_MARK, None)
    return None if marked is None else str(marked)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """The clients of ``orchestrator`` settings, by key digest."""

    def __init__(self, settings: OrchestratorSettings) -> None:
        self._by_digest = {
            client.key_sha256: _Client(name, frozenset(client.scopes))
            for name, client in settings.clients.items()
        }
        self._by_name = {c.name: c for c in self._by_digest.values()}
        if settings.api_key is not None:
            legacy = _Client(LEGACY_CLIENT, frozenset(LEGACY_SCOPES))
            self._by_digest[_digest(settings.api_key.get_secret_value())] = legacy
            self._by_name[LEGACY_CLIENT] = legacy
        self.enabled = bool(self._by_digest)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def caller(self, request: Request, open_name: Callable[[Request], str]) -> Caller:
        """The caller of ``request`` (401 without a known key); ``open_name`` names it when
        the API is open."""
        if not self.enabled:
            return Caller(open_name(request), ALL_SCOPES, authenticated=False)
        header = request.headers.get("authorization", "")
        scheme, _unused, token = header.partition(" ")
        client = self._by_digest.get(_digest(token.strip())) if scheme.lower() == "bearer" else None
        if client is None:
            raise ApiError(
                ErrorCode.UNAUTHORIZED,
                "missing or unknown API key: send 'Authorization: Bearer <key>' with the key "
                "of a client in orchestrator.clients (or orchestrator.api_key)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        named = request.headers.get(CLIENT_HEADER)
        if named is None or "delegate" not in client.scopes or named == client.name:
            return Caller(client.name, client.scopes)
        return self._delegated(client, named, request.headers.get(SCOPES_HEADER))

    def _delegated(self, delegate: _Client, named: str, asserted: str | None) -> Caller:
        if not CLIENT_RE.fullmatch(named):
            raise ApiError(
                ErrorCode.INVALID_REQUEST,
                f"X-Shield-Client: {named[:80]!r} is not a client name (1 to 64 letters, "
                "digits or ._:@/- characters)",
            )
        scopes = set(delegate.scopes) - {"delegate"}
        configured = self._by_name.get(named)
        scopes &= configured.scopes if configured is not None else ALL_SCOPES - {"admin"}
        if asserted is not None:
            scopes &= set(asserted.split())
        return Caller(named, frozenset(scopes), via=delegate.name)


def authorize(caller: Caller, scope: str, what: str) -> None:
    """403 unless ``caller`` has ``scope``; ``what`` names the operation."""
    if caller.may(scope):
        return
    held = ", ".join(sorted(caller.scopes)) or "none"
    via = f" (named by {caller.via})" if caller.via else ""
    raise ApiError(
        ErrorCode.FORBIDDEN,
        f"client {caller.name!r}{via} may not {what}: that needs scope {scope!r}; its scopes: "
        f"{held}",
    )


def sees_job(caller: Caller, owner: str | None) -> bool:
    """Whether ``caller`` may read or cancel a job submitted by ``owner``: a job is its
    submitter's (the name the job records, a delegate's caller included), and a client with
    ``admin`` sees every job. Anyone else is told there is no such job, so a job id is never
    confirmed to a client it is not for. On an open API every caller has ``admin``."""
    return caller.may("admin") or (owner is not None and owner == caller.name)


def current_caller(request: Request) -> Caller:
    """The caller :func:`~shield_rag.orchestrator.deps.client_guard` found for ``request``."""
    caller: Caller | None = request.scope.get(CALLER_KEY)
    if caller is None:
        raise RuntimeError("current_caller() before client_guard ran for this request")
    return caller
