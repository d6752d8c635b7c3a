"""Schemathesis hooks for the contract test: every crawl URL it generates goes to 127.0.0.1.

Loaded by schemathesis through ``SCHEMATHESIS_HOOKS``. A crawl ``url`` that the schema
admits (it starts with ``http://`` or ``https://``) is replaced, just before the request is
sent, by the local test site's URL (``SHIELD_CONTRACT_SITE_URL``; its host joins
``allowed_domains`` when the case has them), so no generated host name
is resolved or fetched: not by the orchestrator when it checks the URL at submission (it
resolves host names there), and not by a worker. A ``url`` the schema refuses is sent as
generated: the server refuses it on its scheme or shape before resolving anything. Each
replacement is appended to ``SHIELD_CONTRACT_HOOK_LOG`` so the test can see the hook ran.

A valid ``Idempotency-Key`` of a positive case gets a unique suffix: a key is meant for one
request body, and the fuzzer reuses short keys ("0") across bodies, which the server rightly
refuses (422 ``idempotency_key_reused``, as the IETF Idempotency-Key draft asks).

A ``model`` of a positive ``POST /lightrag/query`` case becomes one the Ollama stand-in
serves (``SHIELD_CONTRACT_MODEL``): the schema admits any model name, and which ones a host
serves is only known at run time (the server checks ``/api/tags`` and answers 422 naming the
served ones, which a negative case still meets as generated).

One failure kind is dropped, for one operation: ``use_after_free`` (ST301) on
``GET /jobs/{job_id}``. ``DELETE /jobs/{job_id}`` cancels a job and the cancelled job stays
readable until ``worker.job_ttl_seconds`` (docs/api.md; the MCP server relies on it); the
check assumes a DELETE removes the resource. schemathesis.toml disables the check for that
operation, which its stateful phase does not honour (4.32), hence this hook.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import schemathesis

from shield_rag.orchestrator.openapi import URL_PATTERN

_ADMITTED = re.compile(URL_PATTERN)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if positive and isinstance(key, str) and _KEY.match(key):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    body = case.body
    model = body.get("model") if isinstance(body, dict) else None
    if positive and isinstance(model, str) and model != "auto":
        body["model"] = os.environ.get("SHIELD_CONTRACT_MODEL", "qwen2.5:0.5b")
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        return
    if not _ADMITTED.match(body["url"]):
        return
    site = os.environ["SHIELD_CONTRACT_SITE_URL"]
    body["url"] = f"{site}/"
    domains = body.get("allowed_domains")
    if isinstance(domains, list) and domains:
        # The start URL must stay inside its own allowed_domains (checked at submission).
        domains[-1] = "127.0.0.1"
    with open(os.environ["SHIELD_CONTRACT_HOOK_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{case.operation.label}\n")


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """True keeps the failure."""
    cancelled_job_read = case.operation.label == "GET /jobs/{job_id}"
    return not (failure.code == "ST301" and cancelled_job_read)
