# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)
"""Calls to one server's HTTP API from the managed host, standard library only: what
qdrant_api and ollama_api share.

Every call goes straight to the URL given: no proxy from the environment, no redirect (a
credential is sent to the server asked only). An answer other than 2xx raises `HTTPFailure`
with the status and the start of the body; no answer raises `Unreachable` with the reason.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.error
import urllib.request

from ansible_collections.shield.rag.plugins.module_utils.http_probe import context

# Files are read, hashed and written in blocks of this size (snapshots and models: many GB).
CHUNK = 1024 * 1024
# Error bodies are read up to this size for the server's message.
MAX_ERROR_BODY = 64 * 1024
# What a broken connection or answer raises while a body is read.
READ_ERRORS = (OSError, ValueError, http.client.HTTPException)


class HTTPFailure(Exception):
    """A non-2xx answer: ``status`` and ``body`` (its first MAX_ERROR_BODY bytes)."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class Unreachable(Exception):
    """No answer: ``str()`` is the reason."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx answer is an error


def sha256_file(path):
    """The SHA-256 (hex) of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def body_text(body):
    """An error body as text, and its JSON document when it is one (else None)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        return text, json.loads(text)
    except ValueError:
        return text, None


class Server:
    """One server at ``url`` (http or https, checked against ``ca_path`` unless
    ``validate_certs`` is false); ``timeout``: seconds for each connect and read."""

    def __init__(self, url, validate_certs, ca_path, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout
        handlers = [urllib.request.ProxyHandler({}), _NoRedirect()]
        if self.url.startswith("https://"):
            handlers.append(urllib.request.HTTPSHandler(context=context(validate_certs, ca_path)))
        self._opener = urllib.request.build_opener(*handlers)

    def open(self, method, path, body=None, data=None, headers=None):
        """The open 2xx answer to ``method path`` (``body``: sent as JSON; ``data``: raw
        bytes or a file). HTTPFailure for another status, Unreachable without an answer."""
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        target = self.url + path
        # the modules accept http and https URLs only
        request = urllib.request.Request(target, data=data, headers=headers, method=method)  # noqa: S310
        try:
            return self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                text = exc.read(MAX_ERROR_BODY)
            except OSError:
                text = b""
            finally:
                exc.close()
            raise HTTPFailure(exc.code, text) from None
        except READ_ERRORS as exc:
            raise Unreachable(str(getattr(exc, "reason", None) or exc)) from None
