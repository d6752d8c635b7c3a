"""TLS keys shared by several sections: the CA bundle a service's HTTPS calls trust, and the
certificate and key of a service's own listener.

Each is a small section base the service's section derives from, so the keys read the same
everywhere (``<section>.ca_bundle``, ``<section>.tls_certfile``, ``<section>.tls_keyfile``)
and a file that cannot serve is refused at start-up with the key and the path named.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from shield_rag import tls
from shield_rag.settings.base import _Section


class ClientTlsSettings(_Section):
    """Whom the service's outbound HTTPS calls trust."""

    ca_bundle: Path | None = Field(
        None,
        description="PEM file of CA certificates (a private CA) this service's HTTPS calls "
        "trust besides certifi's, for Qdrant, Ollama, LightRAG or the orchestrator behind TLS "
        "(null: certifi's only).",
    )

    @field_validator("ca_bundle")
    @classmethod
    def _readable_bundle(cls, value: Path | None) -> Path | None:
        if value is not None:
            problem = tls.bundle_problem(value)
            if problem:
                raise ValueError(f"CA bundle {problem}")
        return value


class ListenerTlsSettings(_Section):
    """TLS on the service's own listener, for hosts without the edge proxy in front."""

    tls_certfile: Path | None = Field(
        None,
        description="PEM certificate (with its chain) the service's own listener serves "
        "HTTPS with, together with tls_keyfile (null: plain HTTP, e.g. behind the edge proxy).",
    )
    tls_keyfile: Path | None = Field(
        None,
        description="PEM private key (unencrypted) of tls_certfile, readable by the service "
        "user only (null: plain HTTP).",
    )

    @model_validator(mode="after")
    def _listener_pair(self) -> ListenerTlsSettings:
        cert, key = self.tls_certfile, self.tls_keyfile
        if (cert is None) != (key is None):
            raise ValueError("tls_certfile and tls_keyfile must be set together, or neither")
        if cert is not None and key is not None:
            problem = tls.listener_problem(cert, key)
            if problem:
                raise ValueError(f"listener TLS (tls_certfile, tls_keyfile): {problem}")
        return self

    @property
    def scheme(self) -> str:
        """``https`` when the listener serves TLS, else ``http``."""
        return "https" if self.tls_certfile is not None else "http"
