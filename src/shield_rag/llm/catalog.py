"""Which models the Ollama host serves (``GET /api/tags``), cached for a while.

A caller naming a model is checked against this list before any work is done, so a typo is
a clear refusal ("model 'lama3' is not served by Ollama; available: ...") rather than a
failure half-way through a query. ``name`` and ``name:latest`` are the same model, as in
Ollama. The list is kept for ``ttl`` seconds; a name not in it is looked up once more
afresh (a model pulled a moment ago) before it is refused.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable

import httpx

from shield_rag.errors import DependencyUnavailable


def canonical(model: str) -> str:
    """``name`` and ``name:latest`` are one model."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


class UnknownModel(Exception):
    """``model`` is not among the ``available`` models Ollama serves."""

    def __init__(self, model: str, available: list[str]) -> None:
        names = ", ".join(available) if available else "none"
        super().__init__(f"model {model!r} is not served by Ollama; available: {names}")
        self.model = model
        self.available = available


class ModelCatalog:
    """The model names Ollama at ``ollama_url`` lists, cached for ``ttl`` seconds."""

    def __init__(
        self,
        ollama_url: str,
        ttl: float,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = ollama_url.rstrip("/")
        self.ttl = ttl
        self.timeout = timeout
        self.clock = clock
        self._http = httpx.AsyncClient(base_url=self.url, verify=verify, timeout=timeout)
        self._models: list[str] | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self) -> list[str]:
        try:
            resp = await self._http.get("/api/tags")
        except httpx.TimeoutException as exc:
            raise DependencyUnavailable(
                "ollama",
                f"Ollama at {self.url} gave no model list within {self.timeout:g}s",
                timeout=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise DependencyUnavailable(
                "ollama", f"Ollama at {self.url} is unreachable: {exc or type(exc).__name__}"
            ) from exc
        if resp.status_code != 200:
            raise DependencyUnavailable(
                "ollama", f"Ollama at {self.url} refused /api/tags ({resp.status_code})"
            )
        try:
            entries = resp.json().get("models") or []
            names = [str(e.get("name") or e.get("model")) for e in entries]
        except (ValueError, AttributeError) as exc:
            raise DependencyUnavailable(
                "ollama", f"Ollama at {self.url} answered /api/tags with no model list"
            ) from exc
        return sorted(dict.fromkeys(n for n in names if n and n != "None"))

    async def models(self, *, refresh: bool = False) -> list[str]:
        """The names Ollama lists (as it spells them), from the cache when fresh."""
        async with self._lock:
            stale = self._models is None or self.clock() - self._fetched_at >= self.ttl
            if refresh or stale:
                self._models = await self._fetch()
                self._fetched_at = self.clock()
            assert self._models is not None
            return list(self._models)

    @staticmethod
    def _has(models: list[str], model: str) -> bool:
        wanted = canonical(model)
        return any(canonical(m) == wanted for m in models)

    async def check(self, model: str) -> None:
        """Return if Ollama serves ``model``; else raise :class:`UnknownModel` (after one
        fresh look). Ollama unreachable: ``DependencyUnavailable("ollama", ...)``."""
        if self._has(await self.models(), model):
            return
        models = await self.models(refresh=True)
        if not self._has(models, model):
            raise UnknownModel(model, models)

    async def close(self) -> None:
        await self._http.aclose()
