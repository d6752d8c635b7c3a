"""Embeddings through Ollama (the official ``ollama`` client)."""

from __future__ import annotations

import httpx
import ollama

from shield_rag.errors import PermanentJobError, TransientJobError
from shield_rag.settings import OllamaSettings


class EmbeddingError(TransientJobError):
    """Ollama could not embed the texts (it may recover)."""


class Embedder:
    def __init__(self, settings: OllamaSettings, dimension: int) -> None:
        self.settings = settings
        self.dimension = dimension
        self.client = ollama.AsyncClient(host=str(settings.url), timeout=settings.timeout)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed ``texts`` in batches; raise if Ollama fails or returns a wrong dimension."""
        vectors: list[list[float]] = []
        size = self.settings.embed_batch_size
        for start in range(0, len(texts), size):
            batch = texts[start : start + size]
            try:
                res = await self.client.embed(
                    model=self.settings.embed_model,
                    input=batch,
                    keep_alive=self.settings.keep_alive,
                )
            except ollama.ResponseError as exc:
                if exc.status_code == 400:
                    raise PermanentJobError(f"Ollama rejected the text: {exc.error}") from exc
                raise EmbeddingError(
                    f"Ollama embed with model {self.settings.embed_model!r} failed "
                    f"({exc.status_code}): {exc.error}"
                ) from exc
            except (httpx.HTTPError, ConnectionError, OSError) as exc:
                raise EmbeddingError(
                    f"Ollama at {self.settings.url} is unreachable: {exc or type(exc).__name__}"
                ) from exc
            got = [list(map(float, v)) for v in res.embeddings]
            if len(got) != len(batch):
                raise EmbeddingError(f"Ollama returned {len(got)} vectors for {len(batch)} texts")
            for vec in got:
                if len(vec) != self.dimension:
                    raise PermanentJobError(
                        f"embedding model {self.settings.embed_model!r} returns {len(vec)} "
                        f"dimensions but qdrant.vector_size is {self.dimension}; set them to agree"
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
