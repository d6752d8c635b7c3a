"""``POST /ingest-async``: accept a crawl, an upload or raw text; answer 202 at once."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError
from pydantic_core import from_json

from shield_rag.api.errors import ApiError, ErrorCode, error_responses
from shield_rag.api.jobs import IngestRequest, JobAccepted, JobStatus, TextIngest, UrlIngest
from shield_rag.errors import PermanentJobError
from shield_rag.ingest.extract import detect_type
from shield_rag.ingest.links import DomainRule, clean_domain
from shield_rag.ingest.ssrf import SSRFError, check_submitted_url, validate_url
from shield_rag.jobs.store import IdempotencyConflict, QueueFull, RateLimited, StorageNearlyFull
from shield_rag.orchestrator import admission_wiring
from shield_rag.orchestrator.deps import (
    BODY_ERRORS,
    REDIS_ERRORS,
    ROUTE_ERRORS,
    WRITE_OFF,
    Services,
    client_guard,
    client_router,
)
from shield_rag.orchestrator.errors import invalid_field
from shield_rag.orchestrator.routes import ingest_http

# The lifespan keeps admission's view of Redis (memory, unfinished jobs) fresh on every replica.
# No router dependency and no declared parameter: the endpoint runs the routers' guard and
# reads its header itself (see ingest_async), and FastAPI's per-request handler is skipped
# (ingest_http.RequestRoute: the endpoint takes the Request alone).
router = client_router(
    "ingest",
    guard=False,
    lifespan=admission_wiring.lifespan,
    route_class=ingest_http.RequestRoute,
)
_ADAPTER: TypeAdapter[UrlIngest | TextIngest] = TypeAdapter(IngestRequest)
_FORM_OVERHEAD = 64 * 1024


# json.dumps(payload, sort_keys=True, default=str), with its encoder built once.
_HASH_JSON = json.JSONEncoder(sort_keys=True, default=str)
# The 202's body as JSONResponse renders it, with its encoder built once.
_RESPONSE_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _hash(payload: Any, blob: bytes | None = None) -> str:
    digest = hashlib.sha256(_HASH_JSON.encode(payload).encode())
    if blob is not None:
        digest.update(b"\0")
        digest.update(blob)
    return digest.hexdigest()


def _unprocessable(message: str, field: str) -> ApiError:
    return invalid_field(field, message)


async def _check_url(req: UrlIngest, services: Services) -> UrlIngest:
    """Refuse at once what a worker would refuse later: crawl limits, the SSRF guard (the
    host name resolved now, after the cheap checks) and a start URL outside its own
    ``allowed_domains``."""
    crawl = services.settings.crawl
    pages = req.max_pages if req.max_pages is not None else crawl.default_max_pages
    depth = req.max_depth if req.max_depth is not None else crawl.default_max_depth
    if pages > 1 and depth > 0:  # follows links: a crawl (one page is a document fetch)
        services.features.require("crawling")
    try:
        url = validate_url(req.url, crawl.allowed_networks)
    except SSRFError as exc:
        raise _unprocessable(str(exc), "url") from exc
    if req.max_pages is not None and req.max_pages > crawl.max_pages_limit:
        raise _unprocessable(
            f"at most {crawl.max_pages_limit} pages per crawl (crawl.max_pages_limit)", "max_pages"
        )
    if req.max_depth is not None and req.max_depth > crawl.max_depth_limit:
        raise _unprocessable(
            f"at most depth {crawl.max_depth_limit} (crawl.max_depth_limit)", "max_depth"
        )
    domains = req.allowed_domains
    if domains is not None:
        try:
            domains = [clean_domain(d) for d in domains]
            rule = DomainRule(domains, "")
        except PermanentJobError as exc:
            raise _unprocessable(str(exc), "allowed_domains") from exc
        if not rule.allows(url):
            raise _unprocessable(
                f"the start URL's host is outside allowed_domains ({rule.describe()}); add it "
                "or one of its parent domains",
                "allowed_domains",
            )
    try:
        url = await check_submitted_url(
            url, crawl.allowed_networks, dns_timeout=min(3.0, crawl.request_timeout)
        )
    except SSRFError as exc:
        raise _unprocessable(str(exc), "url") from exc
    return req.model_copy(update={"url": url, "allowed_domains": domains})


def _integral(raw: Any) -> Any:
    if isinstance(raw, dict):
        for key in ("max_pages", "max_depth"):
            value = raw.get(key)
            if isinstance(value, float) and value.is_integer():
                raw[key] = int(value)
    return raw


async def _read_json(request: Request, services: Services) -> UrlIngest | TextIngest:
    limit = services.settings.orchestrator.max_text_chars * 4 + _FORM_OVERHEAD
    body = await request.body()
    if len(body) > limit:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE, f"request body is {len(body)} bytes; the limit is {limit}"
        )
    try:
        raw = from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        raise ApiError(ErrorCode.INVALID_JSON, f"body is not valid JSON: {exc}") from exc
    try:
        # Strict, as the schema says ("5" or true is no integer), but 5.0 is one in JSON.
        parsed = _ADAPTER.validate_python(_integral(raw), strict=True)
    except ValidationError as exc:
        # Drop the union tag pydantic puts first ("text.text" → "text").
        errors = [
            {**e, "loc": tuple(e["loc"][1:])} if e["loc"][:1] in (("url",), ("text",)) else e
            for e in exc.errors()
        ]
        raise RequestValidationError(errors) from exc
    return parsed


async def _json_job(
    request: Request, parsed: UrlIngest | TextIngest, services: Services
) -> tuple[str, dict[str, Any], str]:
    """The kind, stored request and source of a JSON ingest, after the checks a worker would
    otherwise fail it on."""
    if isinstance(parsed, UrlIngest):
        # Resolving the host is work a client out of tokens must not get: admitted first.
        await admission_wiring.admit_now(request)
        parsed = await _check_url(parsed, services)
        return "url", parsed.model_dump(mode="json"), parsed.url
    max_chars = services.settings.orchestrator.max_text_chars
    if len(parsed.text) > max_chars:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"text has {len(parsed.text)} characters; the limit is {max_chars} "
            "(orchestrator.max_text_chars): split it or upload it as a file",
        )
    digest = hashlib.sha256(parsed.text.encode()).hexdigest()[:12]
    return "text", parsed.model_dump(mode="json"), parsed.source or f"text:{digest}"


async def _read_upload(request: Request, services: Services) -> tuple[dict[str, Any], bytes, str]:
    limit = services.settings.orchestrator.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
        raise ApiError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"upload is {declared} bytes; the limit is {limit} (orchestrator.max_upload_bytes)",
        )
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise _unprocessable("send the document in a form field named 'file'", "file")
        blob = await upload.read(limit + 1)
        if len(blob) > limit:
            raise ApiError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"upload is larger than {limit} bytes (orchestrator.max_upload_bytes)",
            )
        if not blob:
            raise _unprocessable("the uploaded file is empty", "file")
        filename = (upload.filename or "upload").rsplit("/", 1)[-1][:255]
        try:
            ctype = detect_type(blob, upload.content_type, filename)
        except PermanentJobError as exc:
            raise ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, str(exc)) from exc
        metadata: dict[str, Any] = {}
        raw_meta = form.get("metadata")
        if isinstance(raw_meta, str) and raw_meta.strip():
            try:
                metadata = json.loads(raw_meta)
            except json.JSONDecodeError as exc:
                raise _unprocessable(f"must be a JSON object ({exc.msg})", "metadata") from exc
            except RecursionError:
                raise _unprocessable("is nested too deeply to read", "metadata") from None
            if not isinstance(metadata, dict):
                raise _unprocessable("must be a JSON object", "metadata")
        title = form.get("title")
        graph = form.get("graph")
        if graph is not None and graph not in ("true", "false"):
            raise _unprocessable("must be true or false", "graph")
        checked = TextIngest.model_validate(
            {
                "type": "text",
                "text": "x",
                "metadata": metadata,
                # An empty form field is one left empty: no title.
                "title": title if isinstance(title, str) and title else None,
                **({"graph": graph == "true"} if graph is not None else {}),
            }
        )
        req = {
            "filename": filename,
            "content_type": ctype,
            "size": len(blob),
            "title": checked.title,
            "metadata": checked.metadata,
            "graph": checked.graph,
        }
        return req, blob, filename
    finally:
        await form.close()


@router.post(
    "/ingest-async",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start an ingest job (crawl, upload or text)",
    openapi_extra=ingest_http.OPENAPI_BODY,
    responses={
        202: {"description": "Accepted; poll track_url or stream events_url", "model": JobAccepted},
        **error_responses(*ROUTE_ERRORS, *BODY_ERRORS, *REDIS_ERRORS, 413, 415, WRITE_OFF),
    },
)
@admission_wiring.creates_jobs
async def ingest_async(request: Request) -> Response:
    # The routers' guard (API key, then admission) and the Idempotency-Key header are checked
    # here, in that order, rather than as a router dependency and a declared Header
    # parameter: FastAPI solves both anew for every request, which cost more than the
    # checks themselves (about a sixth of the accept's time in the app). The OpenAPI
    # document is the same (ingest_http.OPENAPI_BODY declares the header).
    await client_guard(request)
    idempotency_key = ingest_http.idempotency_key(request)
    # The services from the app's state rather than a dependency: one dependency fewer for
    # FastAPI to solve on every accept.
    services: Services = request.app.state.services
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    blob: bytes | None = None
    try:
        if ctype == "multipart/form-data":
            kind = "document"
            req, blob, source = await _read_upload(request, services)
            body_hash = _hash(req, blob)
        elif ctype in ("application/json", ""):
            parsed = await _read_json(request, services)
            kind, req, source = await _json_job(request, parsed, services)
            body_hash = _hash(req)
        else:
            raise ApiError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"content type {ctype!r} is not accepted: send application/json "
                "(url or text) or multipart/form-data (file upload)",
            )
    except Exception:
        # A request refused before its job script runs owes the token admission deferred.
        await admission_wiring.charge(request)
        raise
    try:
        outcome = await services.store.create(
            kind=kind,
            request=req,
            source=source,
            max_attempts=services.settings.worker.max_attempts,
            idempotency_key=idempotency_key,
            body_hash=body_hash,
            idempotency_ttl=services.settings.orchestrator.idempotency_ttl_seconds,
            blob=blob,
            **await admission_wiring.create_limits(request),
        )
    except (QueueFull, RateLimited, StorageNearlyFull) as exc:
        raise await admission_wiring.refusal(request, exc) from exc
    except IdempotencyConflict as exc:
        raise ApiError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            f"Idempotency-Key {idempotency_key!r} was already used for job {exc.job_id} "
            "with a different request body; use a new key for a new request",
        ) from exc
    if outcome.created:
        ingest_http.accepted(kind).inc()
        # Its status as the creation script stored it: no read back (a worker may have
        # taken it since; track_url says so).
        job_status = JobStatus.QUEUED.value
    else:
        record = await services.store.get(outcome.job_id)
        job_status = record.status.value if record else JobStatus.QUEUED.value
    public = services.settings.orchestrator.public_url
    base = str(public).rstrip("/") if public else ingest_http.request_base(request)
    track = f"{base}/jobs/{outcome.job_id}"
    headers = {
        "Location": track,
        "Retry-After": str(services.settings.orchestrator.retry_after_seconds),
    }
    if not outcome.created:
        headers["Idempotent-Replayed"] = "true"
    body = {
        "job_id": outcome.job_id,
        "status": job_status,
        "kind": kind,
        "track_url": track,
        "events_url": f"{track}/events",
        "created": outcome.created,
    }
    return Response(
        _RESPONSE_JSON.encode(body).encode(),
        status_code=status.HTTP_202_ACCEPTED,
        headers=headers,
        media_type="application/json",
    )
