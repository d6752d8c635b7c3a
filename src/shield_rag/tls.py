"""TLS for the services: whom their HTTPS calls trust, and the files of their own listeners.

Every outbound HTTPS call of a Shield service (the MCP server to the orchestrator; the
orchestrator, the workers and shield-lightrag to Qdrant, Ollama and LightRAG; shield-smoke)
verifies the server against certifi's CAs plus, when the settings name one, a PEM bundle of
private CAs (``<section>.ca_bundle``). :func:`client_context` builds that context once per
bundle; httpx (``verify=``), aiohttp (``ssl=``) and qdrant-client take it as it is.

:func:`bundle_problem` and :func:`listener_problem` say in words why a bundle, or a listener's
certificate and key, cannot serve; the settings refuse such files at start-up (and in
``shield-check-config``) with the key and the path named.

Libraries that build their own httpx clients and take no ``verify`` (LightRAG's Ollama and
Qdrant storages) read ``SSL_CERT_FILE``; :func:`combined_bundle` writes certifi's CAs and the
private bundle into one file for it.
"""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

import certifi

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


def bundle_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a CA bundle, in words (None when it can)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    if PEM_CERTIFICATE not in data:
        if b"\x00" in data:
            return (
                f"{path} is not a PEM file (it holds binary data; a DER certificate converts "
                "with: openssl x509 -inform der -in FILE -out FILE.pem)"
            )
        return f"{path} holds no PEM certificate ({PEM_CERTIFICATE.decode()} ...)"
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        return f"{path} holds a certificate that cannot be read: {exc.reason or exc}"
    return None


class _EncryptedKey(Exception):
    pass


def _no_passphrase() -> bytes:
    raise _EncryptedKey


def listener_problem(certfile: Path, keyfile: Path) -> str | None:
    """Why ``certfile`` and ``keyfile`` cannot serve TLS together, in words (None when they
    can). The key itself is never shown."""
    for what, path in (("certificate", certfile), ("key", keyfile)):
        if not path.is_file():
            return f"the {what} file {path} does not exist"
        if not os.access(path, os.R_OK):
            return f"the {what} file {path} is not readable"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # An encrypted key would make OpenSSL ask for its passphrase on the terminal.
        context.load_cert_chain(certfile, keyfile, password=_no_passphrase)
    except _EncryptedKey:
        return f"the key {keyfile} is encrypted: the service needs it unencrypted"
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc)
        return (
            f"the certificate {certfile} and the key {keyfile} cannot be loaded together "
            f"({reason}): both must be PEM, the key unencrypted and matching the certificate"
        )
    return None


@functools.cache
def _context(bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if bundle is not None:
        context.load_verify_locations(cafile=bundle)
    return context


def client_context(bundle: Path | str | None = None) -> ssl.SSLContext:
    """The context that verifies servers against certifi's CAs and ``bundle``'s (None: only
    certifi's); made once per bundle and shared. Raises ``ssl.SSLError``/``OSError`` for a
    bundle that cannot be read (the settings refuse such a bundle first)."""
    return _context(None if bundle is None else str(bundle))


def combined_bundle(bundle: Path, dest: Path) -> Path:
    """Write certifi's CAs followed by ``bundle``'s into ``dest`` (mode 0644) and return it."""
    data = Path(certifi.where()).read_bytes().rstrip(b"\n") + b"\n" + bundle.read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".new")
    partial.write_bytes(data if data.endswith(b"\n") else data + b"\n")
    partial.chmod(0o644)
    partial.replace(dest)
    return dest
