"""How the routes use admission control (:mod:`shield_rag.orchestrator.admission`, whose
docstring says what is enforced): the markers of write endpoints, the routers' admission
step, and the one-round-trip admission of a job's creation.

Every client route takes a token in the routers' one dependency (:func:`admit`); a write
also has its counts read with it and judged there. A JSON request to an endpoint marked
with :func:`creates_jobs` (``POST /ingest-async``) is only marked *deferred* there: the job
creation script takes its token, answers an Idempotency-Key replay, applies the memory
guard's verdict and checks the caps, in one round trip instead of two. The refusals are the
same answers in the same precedence (429 ``rate_limited`` first, a replay before the memory
guard and the caps), and a refused request creates no job; what differs is only when the
token is taken: after the body is parsed and validated rather than before. A deferred
request refused before its job script runs (invalid body, a reused key…) still takes its
token then (:func:`charge`), so that it is 429 when its bucket is empty, as before; a crawl
is admitted the usual way before its host name is resolved (:func:`admit_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from fastapi import FastAPI, Request

from shield_rag.api.errors import ApiError
from shield_rag.jobs.store import QueueFull, RateLimited, StorageNearlyFull
from shield_rag.orchestrator.admission import Admission, client_id
from shield_rag.orchestrator.auth import CALLER_KEY, Caller


def _admission(app: FastAPI) -> Admission:
    admission: Admission | None = getattr(app.state, "admission", None)
    if admission is None:
        services = app.state.services
        admission = Admission(services.store, services.settings.admission)
        app.state.admission = admission
    return admission


def get_admission(request: Request) -> Admission:
    return _admission(request.app)


# What admission notes on a request, kept in its ASGI scope (a dict of its own per request)
# rather than on request.state, whose every read is a Python __getattr__ (and a name not set
# yet raises two exceptions on the way).
_CLIENT = "shield.admission_client"
_DEFERRED = "shield.admission_deferred"


def request_client(request: Request) -> str:
    """The name admission counts ``request`` against: its authenticated caller's, else
    :func:`client_id`'s (open API)."""
    scope = request.scope
    client: str | None = scope.get(_CLIENT)
    if client is None:
        caller: Caller | None = scope.get(CALLER_KEY)
        client = scope[_CLIENT] = caller.name if caller is not None else client_id(request)
    return client


_E = TypeVar("_E", bound=Callable[..., Any])
_WRITES = "__shield_admission_write__"
_ONE_TRIP = "__shield_admission_one_trip__"
IDEMPOTENCY_KEY_MAX = 255
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"
_IDEMPOTENCY_KEY_RE = re.compile(IDEMPOTENCY_KEY_PATTERN)


def writes(endpoint: _E) -> _E:
    """Mark a route's endpoint as a write (put it under ``@router.post(...)``): besides the
    rate limit, :func:`admit` then refuses new work (429/503) when a queue cap or the
    memory guard says so."""
    setattr(endpoint, _WRITES, True)
    return endpoint


def creates_jobs(endpoint: _E) -> _E:
    """:func:`writes`, for an endpoint that creates a job with :meth:`JobStore.create` and
    can take its admission into the creation script (see :func:`deferred`)."""
    setattr(endpoint, _ONE_TRIP, True)
    return writes(endpoint)


def is_write_endpoint(endpoint: object) -> bool:
    """Whether ``endpoint`` is marked with :func:`writes`."""
    return bool(getattr(endpoint, _WRITES, False))


def _is_write(request: Request) -> bool:
    """Whether the matched route's endpoint is marked with :func:`writes`."""
    return is_write_endpoint(getattr(request.scope.get("route"), "endpoint", None))


def _defers(request: Request, admission: Admission, key: str | None) -> bool:
    """Whether this write may leave its admission to the creation script: admission is on,
    the endpoint is marked with :func:`creates_jobs`, the body is JSON (small: an upload is
    judged before it is read) and the Idempotency-Key, if any, is valid (an invalid one is
    refused by FastAPI before the endpoint runs, so its token is taken now)."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    if not (admission.cfg.enabled and getattr(endpoint, _ONE_TRIP, False)):
        return False
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/json", ""):
        return False
    return key is None or (len(key) <= IDEMPOTENCY_KEY_MAX and bool(_IDEMPOTENCY_KEY_RE.match(key)))


async def admit(request: Request) -> None:
    """Admission of a request to a client route: a token from the client's bucket or 429; on a
    write route the counts are read with the token (one script) and judged by the caps and
    the memory guard. A JSON write to a :func:`creates_jobs` endpoint is only marked here:
    its admission happens in the creation script (:func:`deferred`). Called by
    :func:`shield_rag.orchestrator.deps.client_guard` (the routers' one dependency, or the
    endpoint itself for ``POST /ingest-async``), after the API-key check."""
    admission = get_admission(request)
    client = request_client(request)
    if not _is_write(request):
        await admission.check_rate(client)
        return
    key = request.headers.get("Idempotency-Key")
    if _defers(request, admission, key):
        request.scope[_DEFERRED] = True
        return
    await _admit_write(request, admission, client, key)


async def _admit_write(
    request: Request, admission: Admission, client: str, key: str | None
) -> None:
    counts = await admission.check_rate_of_write(client, key)
    await admission.check_write(client, key, _declared_size(request), counts)


def _declared_size(request: Request) -> int:
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else 0


def deferred(request: Request) -> bool:
    """Whether this request's admission is still to come: :func:`admit` left it to the job
    creation script, which takes the token and judges the memory guard and the caps in the
    same round trip as it creates the job (:func:`create_limits` passes them). Until then
    the endpoint must settle it on every other way out: :func:`admit_now` before work that
    must not be done for a refused client (a crawl's DNS check), :func:`charge` when it
    refuses the request itself."""
    return bool(request.scope.get(_DEFERRED, False))


async def admit_now(request: Request) -> None:
    """Admit a deferred request now, as :func:`admit` admits any other write (its job is then
    created without a token)."""
    if deferred(request):
        request.scope[_DEFERRED] = False
        key = request.headers.get("Idempotency-Key")
        await _admit_write(request, get_admission(request), request_client(request), key)


async def charge(request: Request) -> None:
    """A deferred request refused before its job script ran still takes its token, as it
    would have in :func:`admit`: 429 ``rate_limited`` replaces the refusal when the bucket is
    empty."""
    if deferred(request):
        request.scope[_DEFERRED] = False
        await get_admission(request).check_rate(request_client(request))


async def create_limits(request: Request) -> dict[str, Any]:
    """Keyword arguments of :meth:`JobStore.create` for a job this request submits: with the
    token and the memory guard's verdict when its admission is :func:`deferred`."""
    admission = get_admission(request)
    client = request_client(request)
    if deferred(request):
        request.scope[_DEFERRED] = False
        return await admission.one_trip_limits(client, _declared_size(request))
    return admission.create_limits(client)


async def refusal(request: Request, exc: QueueFull | RateLimited | StorageNearlyFull) -> ApiError:
    """The error answer to a job the creation script refused."""
    admission = get_admission(request)
    if isinstance(exc, RateLimited):
        return admission.rate_refusal(request_client(request), exc.wait)
    if isinstance(exc, StorageNearlyFull):
        return admission.storage_refusal()
    return await admission.queue_full(request_client(request), exc)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Keeps this replica's view of Redis (memory, unfinished jobs) and its gauges fresh."""
    task = asyncio.create_task(_admission(app).run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
