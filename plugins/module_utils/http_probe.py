# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)
"""Ask HTTP endpoints from the managed host: shared by shield.rag.wait_http and shield.rag.drift.

A check is a dict with ``url``, ``status`` (the status that means "answers"), optional
``contains`` (text the body must hold) and ``headers`` (kept out of results: API keys).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

# Bodies are read up to this size to look for `contains` (metrics pages are a few hundred KB).
MAX_BODY = 4 * 1024 * 1024

# The argument spec of one check, as both modules take it.
CHECK_OPTIONS = {
    "name": {"type": "str"},
    "url": {"type": "str", "required": True},
    "status": {"type": "int", "default": 200},
    "contains": {"type": "str"},
    "headers": {"type": "dict", "default": {}, "no_log": True},
}


def bad_urls(checks):
    """The URLs of ``checks`` that are not http or https URLs."""
    return [c["url"] for c in checks if not c["url"].startswith(("http://", "https://"))]


def context(validate_certs, ca_path):
    """The TLS context for https URLs: the system's CAs, ``ca_path``'s, or none (explicit)."""
    if not validate_certs:
        return ssl._create_unverified_context()  # noqa: S323 - the operator's explicit choice
    return ssl.create_default_context(cafile=ca_path)


def ask(check, tls, request_timeout):
    """One GET: ``(answers, status, error)``; status -1 when there was no HTTP answer."""
    # Callers accept http and https URLs only (bad_urls).
    request = urllib.request.Request(check["url"], headers=check["headers"] or {}, method="GET")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=request_timeout, context=tls) as answer:  # noqa: S310
            status = answer.status
            body = answer.read(MAX_BODY) if check.get("contains") else b""
    except urllib.error.HTTPError as exc:
        status, body = exc.code, b""
    except (OSError, ValueError) as exc:
        return False, -1, str(getattr(exc, "reason", exc))
    if status != check["status"]:
        return False, status, f"HTTP {status}, expected {check['status']}"
    if check.get("contains") and check["contains"].encode() not in body:
        return False, status, f"no {check['contains']!r} in the answer"
    return True, status, ""


def ask_all(pool, checks, tls, request_timeout):
    """Ask every check of ``checks`` at once on ``pool``: their ``ask`` answers, in order."""
    return list(pool.map(lambda check: ask(check, tls, request_timeout), checks))


def pool_for(checks):
    """A thread pool sized for asking ``checks`` together (at most 16 at a time)."""
    return ThreadPoolExecutor(max_workers=min(len(checks), 16) or 1)
