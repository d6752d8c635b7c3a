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
import json
import os
import urllib.parse

from ansible_collections.shield.rag.plugins.module_utils.direct_http import (
    CHUNK,
    READ_ERRORS,
    HTTPFailure,
    Server,
    Unreachable,
    body_text,
    sha256_file,
)

__all__ = ["CHUNK", "Qdrant", "QdrantCallError", "quoted", "sha256_file"]


class QdrantCallError(Exception):
    """A call that failed: ``str()`` is the message for the operator."""


def quoted(name):
    """A collection or snapshot name as one path segment."""
    return urllib.parse.quote(name, safe="")


def _error_text(body):
    """Qdrant's ``status.error`` from an error body, else the body's text (shortened)."""
    text, data = body_text(body)
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
        self._server = Server(url, validate_certs, ca_path, timeout)

    def _open(self, method, path, body, what):
        """The open answer to ``method path``; QdrantCallError unless it is 2xx."""
        call = f"{method} {path}"
        try:
            return self._server.open(method, path, body=body, headers=self._headers)
        except HTTPFailure as exc:
            raise QdrantCallError(
                f"{what}: {call} answered HTTP {exc.status}: {_error_text(exc.body)}"
            ) from None
        except Unreachable as exc:
            raise QdrantCallError(
                f"{what}: {call}: cannot reach Qdrant at {self.url + path}: {exc}"
            ) from None

    def call(self, method, path, what, body=None):
        """The ``result`` of Qdrant's JSON answer to ``method path`` (``what``: for messages)."""
        with self._open(method, path, body, what) as answer:
            status = answer.status
            try:
                raw = answer.read()
            except READ_ERRORS as exc:
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
                except READ_ERRORS as exc:
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
