# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)
"""Qdrant's REST API from the managed host, standard library only: shield.rag.qdrant_snapshots.

Every call goes straight to the URL given: no proxy from the environment, no redirect (the
API key is sent to that server only). An answer other than 2xx raises `QdrantCallError`
naming the call, the HTTP status and Qdrant's ``status.error`` text; no answer raises it
naming the URL. The API key never appears in a message.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.shield.rag.plugins.module_utils.http_probe import context

# Files are read, hashed and written in blocks of this size (snapshots can be many GB).
CHUNK = 1024 * 1024
# Error bodies are read up to this size for Qdrant's message.
MAX_ERROR_BODY = 64 * 1024


class QdrantCallError(Exception):
    """A call that failed: ``str()`` is the message for the operator."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx answer is an error (the API key stays with the server asked)


def quoted(name):
    """A collection or snapshot name as one path segment."""
    return urllib.parse.quote(name, safe="")


def sha256_file(path):
    """The SHA-256 (hex) of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _error_text(body):
    """Qdrant's ``status.error`` from an error body, else the body's text (shortened)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        status = data.get("status")
        if isinstance(status, dict) and status.get("error"):
            return str(status["error"])
        if isinstance(status, str) and status:
            return status
    return text[:500] or "(no message)"


class Qdrant:
    """One Qdrant server: ``url`` (its REST base URL), ``api_key`` (sent as ``api-key``)."""

    def __init__(self, url, api_key, validate_certs, ca_path, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["api-key"] = api_key
        handlers = [urllib.request.ProxyHandler({}), _NoRedirect()]
        if self.url.startswith("https://"):
            handlers.append(urllib.request.HTTPSHandler(context=context(validate_certs, ca_path)))
        self._opener = urllib.request.build_opener(*handlers)

    def _open(self, method, path, body, what):
        """The open answer to ``method path``; QdrantCallError unless it is 2xx."""
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        target = self.url + path
        call = f"{method} {path}"
        # the module accepts http and https URLs only
        request = urllib.request.Request(target, data=data, headers=headers, method=method)  # noqa: S310
        try:
            return self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                text = _error_text(exc.read(MAX_ERROR_BODY))
            except OSError:
                text = "(no message)"
            finally:
                exc.close()
            raise QdrantCallError(f"{what}: {call} answered HTTP {exc.code}: {text}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise QdrantCallError(
                f"{what}: {call}: cannot reach Qdrant at {target}: {reason}"
            ) from None

    def call(self, method, path, what, body=None):
        """The ``result`` of Qdrant's JSON answer to ``method path`` (``what``: for messages)."""
        with self._open(method, path, body, what) as answer:
            status = answer.status
            try:
                raw = answer.read()
            except (OSError, ValueError, http.client.HTTPException) as exc:
                raise QdrantCallError(
                    f"{what}: {method} {path}: the answer broke off: {exc}"
                ) from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise QdrantCallError(
                f"{what}: {method} {path} answered HTTP {status} with no JSON body"
            ) from None
        # GET / answers without the envelope: {"title", "version", ...}
        return data.get("result", data) if isinstance(data, dict) else data

    def download(self, path, handle, what):
        """Stream the answer to ``GET path`` into the open binary file ``handle``; returns
        ``(sha256 hex, size)`` of what was written."""
        digest = hashlib.sha256()
        size = 0
        with self._open("GET", path, None, what) as answer:
            while True:
                try:
                    block = answer.read(CHUNK)
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    raise QdrantCallError(
                        f"{what}: GET {path}: the download broke off after {size} bytes: {exc}"
                    ) from None
                if not block:
                    break
                digest.update(block)
                handle.write(block)
                size += len(block)
            expected = answer.headers.get("Content-Length")
        if expected is not None and expected.isdigit() and int(expected) != size:
            raise QdrantCallError(
                f"{what}: GET {path}: received {size} bytes, the answer announced {expected}"
            )
        handle.flush()
        os.fsync(handle.fileno())
        return digest.hexdigest(), size
