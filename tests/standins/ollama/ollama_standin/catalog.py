"""The models the stand-in knows: the "registry" it can pull from (embedding and LLM names),
the installed ones (``store``), the loaded ones (``scheduler``), and how it describes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ollama import (
    ListResponse,
)
from ollama._types import (
    ModelDetails,
)
from pydantic import ByteSize

from .embed import Embedder
from .generations import GenerationLog
from .protocol import dump
from .scheduler import Scheduler
from .store import Installed, Store
from .store import canonical as _canonical
from .version import DEFAULT_VERSION

NAME = "ollama-standin"
VERSION = DEFAULT_VERSION  # the default; version.version() is what is reported
DEFAULT_EMBED_MODELS = ("all-minilm", "nomic-embed-text", "bge-m3", "mxbai-embed-large")
DEFAULT_LLM_MODELS = ("qwen2.5:0.5b", "qwen2.5:1.5b", "llama3.2", "smollm2:135m")
EMBEDDING, LLM = "embedding", "llm"


def canonical(model: str) -> str:
    return _canonical(model)


def placeholder_weights(model: str, kind: str) -> bytes:
    """The "model" layer of a pulled model: the stand-in has no weights."""
    return f"ollama-standin placeholder weights (tests only): {model} ({kind})\n".encode()


class StandIn:
    def __init__(
        self,
        embedder: Embedder,
        embed_models: list[str],
        llm_models: list[str],
        embed_latency: float = 0.0,
        store: Store | None = None,
        scheduler: Scheduler | None = None,
        num_parallel: int = 0,
        llm_latency: Mapping[str, float] | None = None,
        llm_fail: Iterable[str] = (),
    ) -> None:
        self.embedder = embedder
        # Seconds each embedding request takes at least, as a model's compute would: the
        # lexical embedder answers in microseconds, too fast for a test that must signal a
        # worker while it is in the middle of a job.
        self.embed_latency = embed_latency
        self.num_parallel = num_parallel  # OLLAMA_NUM_PARALLEL (0: no limit)
        # Seconds an LLM spends producing each chunk of a reply (--llm-latency), and the
        # models whose runner "dies" on every chat or generate call (--llm-fail); both keyed
        # by canonical name, so "llama3.2" and "llama3.2:latest" are one model.
        self.llm_latency = {canonical(m): s for m, s in (llm_latency or {}).items()}
        self.failing = {canonical(m) for m in llm_fail}
        self.generations = GenerationLog()  # stand-in only: GET /standin/generations
        # The "registry": what /api/pull can fetch.
        self.embed_models = {canonical(m) for m in embed_models}
        self.llm_models = {canonical(m) for m in llm_models}
        self.scheduler = scheduler or Scheduler()
        if store is None:  # no OLLAMA_MODELS: the whole catalog is installed, in memory
            store = Store(None)
            self.install_all(store)
        self.store = store

    def install_all(self, store: Store) -> None:
        for model in sorted(self.embed_models | self.llm_models):
            if store.get(model) is None:
                kind = self.registry_kind(model)
                assert kind is not None
                store.write_model(model, kind, placeholder_weights(model, kind))

    def registry_kind(self, model: str) -> str | None:
        name = canonical(model)
        if name in self.embed_models:
            return EMBEDDING
        return LLM if name in self.llm_models else None

    def installed(self, model: str) -> Installed | None:
        return self.store.get(model)

    def kind(self, model: str) -> str | None:
        """ "embedding" or "llm" for an installed model, None when it is not installed."""
        found = self.store.get(model)
        return found.kind if found else None

    def known(self, model: str) -> bool:
        return self.kind(model) is not None

    def chunk_latency(self, model: str) -> float:
        """Seconds ``model`` spends producing each chunk of a reply (0: as fast as it can)."""
        return self.llm_latency.get(canonical(model), 0.0)

    def fails(self, model: str) -> bool:
        """True when ``model``'s runner "terminates" on every generation (--llm-fail)."""
        return canonical(model) in self.failing

    def details(self, model: str, kind: str | None = None) -> ModelDetails:
        family = "bert" if (kind or self.kind(model)) == EMBEDDING else "standin"
        return ModelDetails(
            format="gguf",
            family=family,
            families=[family],
            parameter_size="0",
            quantization_level="F32",
        )

    def model_entry(self, model: str) -> dict[str, Any]:
        found = self.store.get(model)
        if found is None:
            raise KeyError(model)
        entry = dump(
            ListResponse.Model(
                model=found.name,
                modified_at=found.modified_at or datetime(2026, 1, 1, tzinfo=UTC),
                digest=found.digest,
                size=ByteSize(found.size),
                details=self.details(model, found.kind),
            )
        )
        return {"name": found.name, **entry}
