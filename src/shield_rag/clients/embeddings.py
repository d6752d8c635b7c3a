"""Embeddings through Ollama: ``POST /api/embed`` as the official ``ollama`` client sends it,
over aiohttp (:mod:`shield_rag.jsonhttp`: a fraction of httpx's cost per call).

Failures name Ollama: unreachable, too slow or 5xx is :class:`EmbeddingError` (a
:class:`~shield_rag.errors.DependencyUnavailable`, counted by the ``ollama`` breaker when one
guards the client), its 4xx for our input is :class:`~shield_rag.errors.DependencyRejected`,
a model whose dimension differs from ``qdrant.vector_size`` is
:class:`~shield_rag.errors.DependencyMisconfigured`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import ollama

from shield_rag.breaker import DependencyGuard
from shield_rag.errors import DependencyMisconfigured, DependencyRejected, DependencyUnavailable
from shield_rag.jsonhttp import JsonHttp
from shield_rag.settings import OllamaSettings
from shield_rag.tls import client_context


class EmbeddingError(DependencyUnavailable):
    """Ollama could not embed the texts (it may recover)."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__("ollama", message, timeout=timeout)


@dataclass(frozen=True)
class EmbedResponse:
    embeddings: list[list[float]]


class OllamaHttp:
    """The two Ollama calls used here, answering as the ``ollama`` client does: a non-2xx
    answer raises ``ollama.ResponseError`` (its ``error`` field, else the body, and the
    status), a refused connection ``ConnectionError``; the rest is aiohttp's own errors."""

    def __init__(self, url: str, timeout: float, ca_bundle: Path | None = None) -> None:
        self.http = JsonHttp(
            url, timeout, {"User-Agent": "shield-rag"}, ssl_context=client_context(ca_bundle)
        )

    async def _json(self, method: str, path: str, body: object = None) -> dict[str, object]:
        try:
            answer = await self.http.request(method, path, body)
        except aiohttp.ClientConnectorError as exc:
            raise ConnectionError(f"Failed to connect to Ollama: {exc}") from exc
        if answer.status >= 400:
            raise ollama.ResponseError(answer.content.decode(errors="replace"), answer.status)
        try:
            data = answer.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ollama.ResponseError(f"unexpected answer {answer.content[:200]!r}", 502)
        return data

    async def embed(
        self, *, model: str, input: list[str], keep_alive: float | str | None
    ) -> EmbedResponse:
        body: dict[str, object] = {"model": model, "input": input}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        data = await self._json("POST", "/api/embed", body)
        embeddings = data.get("embeddings")
        if not isinstance(embeddings, list):
            raise ollama.ResponseError(f"no embeddings in the answer: {str(data)[:200]}", 502)
        return EmbedResponse(embeddings)

    async def list(self) -> dict[str, object]:
        return await self._json("GET", "/api/tags")

    async def close(self) -> None:
        await self.http.close()


class Embedder:
    def __init__(
        self,
        settings: OllamaSettings,
        dimension: int,
        guard: DependencyGuard | None = None,
        *,
        ca_bundle: Path | None = None,
    ) -> None:
        self.settings = settings
        self.dimension = dimension
        self.guard = guard or DependencyGuard("ollama")
        # ca_bundle: private CAs trusted besides certifi's (<service>.ca_bundle)
        self.client = OllamaHttp(str(settings.url), settings.timeout, ca_bundle)

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        try:
            res = await self.client.embed(
                model=self.settings.embed_model,
                input=batch,
                keep_alive=self.settings.keep_alive,
            )
        except ollama.ResponseError as exc:
            if 400 <= exc.status_code < 500:
                raise DependencyRejected(
                    "ollama",
                    f"Ollama rejected the text ({exc.status_code}): {exc.error}",
                    status=exc.status_code,
                ) from exc
            raise EmbeddingError(
                f"Ollama embed with model {self.settings.embed_model!r} failed "
                f"({exc.status_code}): {exc.error}"
            ) from exc
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise EmbeddingError(
                f"Ollama at {self.settings.url} gave no answer within "
                f"{self.settings.timeout:g}s (ollama.timeout)",
                timeout=True,
            ) from exc
        except (httpx.HTTPError, aiohttp.ClientError, ConnectionError, OSError) as exc:
            raise EmbeddingError(
                f"Ollama at {self.settings.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        got = [list(map(float, v)) for v in res.embeddings]
        if len(got) != len(batch):
            raise EmbeddingError(f"Ollama returned {len(got)} vectors for {len(batch)} texts")
        return got

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` in batches; raise if Ollama fails or returns a wrong dimension."""
        vectors: list[list[float]] = []
        size = self.settings.embed_batch_size
        for start in range(0, len(texts), size):
            batch = texts[start : start + size]
            got = await self.guard.call(functools.partial(self._embed_batch, batch))
            for vec in got:
                if len(vec) != self.dimension:
                    raise DependencyMisconfigured(
                        "ollama",
                        f"embedding model {self.settings.embed_model!r} returns {len(vec)} "
                        f"dimensions but qdrant.vector_size is {self.dimension}; set them to "
                        "agree",
                    )
            vectors.extend(got)
        return vectors

    async def embed_one(self, text: str) -> list[float]:
        return (await self.embed([text]))[0]

    async def ready(self) -> None:
        """Raise unless Ollama answers."""
        await self.client.list()

    async def close(self) -> None:
        await self.client.close()
