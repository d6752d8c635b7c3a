# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)
"""Ollama's HTTP API from the Ollama host, standard library only: shield.rag.ollama_models.

Every call goes straight to the URL given: no proxy from the environment, no redirect. An
answer other than 2xx raises `OllamaError` with Ollama's own ``error`` text; no answer raises
it naming the URL.
"""

from __future__ import annotations

import json
import os
import time

from ansible_collections.shield.rag.plugins.module_utils.direct_http import (
    CHUNK,
    READ_ERRORS,
    HTTPFailure,
    Server,
    Unreachable,
    body_text,
    sha256_file,
)

__all__ = ["CHUNK", "Ollama", "OllamaError", "full_name", "never_expires", "sha256_file"]
# An expiry in /api/ps further away than this many years is Ollama's "never" (keep_alive -1:
# Ollama keeps the model for the longest Go duration, about 292 years).
NEVER_YEARS = 100


class OllamaError(Exception):
    """A call that failed: ``str()`` is Ollama's error text, or why there was no answer."""


def full_name(name):
    """``name`` as Ollama lists it: ``all-minilm`` is ``all-minilm:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def never_expires(expires_at):
    """Whether /api/ps's ``expires_at`` (RFC 3339) is Ollama's "never"."""
    try:
        year = int(str(expires_at)[:4])
    except ValueError:
        return False
    return year - time.gmtime().tm_year >= NEVER_YEARS


def _error_text(body):
    """Ollama's ``error`` from an error body, else the body's text (shortened)."""
    text, data = body_text(body)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return text[:500] or "(no message)"


class Ollama:
    """One Ollama server at ``url``; ``timeout``: seconds one pull, create or upload may take
    (and one read of any answer)."""

    def __init__(self, url, validate_certs, ca_path, timeout):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._server = Server(url, validate_certs, ca_path, timeout)

    def _open(self, method, path, body=None, data=None, headers=None):
        """The open answer to ``method path``; OllamaError unless it is 2xx."""
        try:
            return self._server.open(method, path, body=body, data=data, headers=headers)
        except HTTPFailure as exc:
            error = OllamaError(_error_text(exc.body))
            error.status = exc.status
            raise error from None
        except Unreachable as exc:
            raise OllamaError(f"cannot reach Ollama at {self.url + path}: {exc}") from None

    def call(self, method, path, body=None):
        """Ollama's JSON answer to ``method path`` (a dict; {} for an empty answer)."""
        with self._open(method, path, body) as answer:
            try:
                raw = answer.read()
            except READ_ERRORS as exc:
                raise OllamaError(f"{method} {path}: the answer broke off: {exc}") from None
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except ValueError:
            raise OllamaError(f"{method} {path} answered no JSON: {raw[:200]!r}") from None
        if isinstance(data, dict) and data.get("error"):
            raise OllamaError(str(data["error"]))
        return data if isinstance(data, dict) else {}

    def stream(self, path, body):
        """POST ``body`` to ``path`` and read Ollama's ndjson progress lines until the last
        one; returns the last ``status``. An ``error`` line raises OllamaError with its text;
        so does going on longer than ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        status = ""
        with self._open("POST", path, dict(body, stream=True)) as answer:
            while True:
                try:
                    line = answer.readline()
                except READ_ERRORS as exc:
                    raise OllamaError(f"the answer broke off after {status!r}: {exc}") from None
                if not line:
                    return status
                if not line.strip():
                    continue
                try:
                    event = json.loads(line.decode("utf-8"))
                except ValueError:
                    raise OllamaError(f"not a progress line: {line[:200]!r}") from None
                if isinstance(event, dict) and event.get("error"):
                    raise OllamaError(str(event["error"]))
                if isinstance(event, dict) and event.get("status"):
                    status = str(event["status"])
                if time.monotonic() > deadline:
                    raise OllamaError(f"still at {status!r} after {self.timeout} seconds")

    def has_blob(self, digest):
        """Whether Ollama holds the blob ``sha256:<digest>`` (HEAD /api/blobs/...)."""
        try:
            self._open("HEAD", f"/api/blobs/sha256:{digest}").close()
        except OllamaError as exc:
            if getattr(exc, "status", None) == 404:
                return False
            raise
        return True

    def upload_blob(self, path, digest):
        """Send the file at ``path`` as the blob ``sha256:<digest>`` (Ollama checks it)."""
        size = os.path.getsize(path)
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        with open(path, "rb") as handle:
            self._open("POST", f"/api/blobs/sha256:{digest}", data=handle, headers=headers).close()

    def kept_loaded(self):
        """The names of the models GET /api/ps lists with a "never" expiry."""
        running = self.call("GET", "/api/ps").get("models") or []
        return {
            str(m.get("name") or m.get("model"))
            for m in running
            if isinstance(m, dict) and never_expires(m.get("expires_at"))
        }

    def capabilities(self, name):
        """The capabilities POST /api/show gives ``name`` (None when it gives none)."""
        try:
            capabilities = self.call("POST", "/api/show", {"model": name}).get("capabilities")
        except OllamaError:
            return None
        return capabilities if isinstance(capabilities, list) else None

    def load(self, name):
        """Load ``name`` to stay loaded (keep_alive -1): an embedding model with an empty
        /api/embed, another with an empty /api/generate; without capabilities from /api/show,
        /api/embed is tried first."""
        embed = {"model": name, "input": [], "keep_alive": -1}
        generate = {"model": name, "prompt": "", "keep_alive": -1, "stream": False}
        capabilities = self.capabilities(name)
        if capabilities is None:
            try:
                self.call("POST", "/api/embed", embed)
            except OllamaError:
                self.call("POST", "/api/generate", generate)
        elif "embedding" in capabilities:
            self.call("POST", "/api/embed", embed)
        else:
            self.call("POST", "/api/generate", generate)
