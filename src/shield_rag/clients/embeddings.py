"""Embeddings through Ollama (the official ``ollama`` client).

Failures name Ollama: unreachable, too slow or 5xx is :class:`EmbeddingError` (a
:class:`~shield_rag.errors.DependencyUnavailable`, counted by the ``ollama`` breaker when one
guards the client), its 4xx for our input is :class:`~shield_rag.errors.DependencyRejected`,
a model whose dimension differs from ``qdrant.vector_size`` is
:class:`~shield_rag.errors.DependencyMisconfigured`.
"""

from __future__ import annotations

import functools

import httpx
import ollama

from shield_rag.breaker import DependencyGuard
from shield_rag.errors import DependencyMisconfigured, DependencyRejected, DependencyUnavailable
from shield_rag.settings import OllamaSettings


class EmbeddingError(DependencyUnavailable):
    """Ollama could not embed the texts (it may recover)."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__("ollama", message, timeout=timeout)


class Embedder:
    def __init__(
        self, settings: OllamaSettings, dimension: int, guard: DependencyGuard | None = None
    ) -> None:
        self.settings = settings
        self.dimension = dimension
        self.guard = guard or DependencyGuard("ollama")
        self.client = ollama.AsyncClient(host=str(settings.url), timeout=settings.timeout)

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
        except httpx.TimeoutException as exc:
            raise EmbeddingError(
                f"Ollama at {self.settings.url} gave no answer within "
                f"{self.settings.timeout:g}s (ollama.timeout)",
                timeout=True,
            ) from exc
        except (httpx.HTTPError, ConnectionError, OSError) as exc:
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
        inner = getattr(self.client, "_client", None)
        if isinstance(inner, httpx.AsyncClient):
            await inner.aclose()
