"""The models the stand-in knows (embedding and LLM names), and how it describes them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ollama import (
    ListResponse,
)
from ollama._types import (
    ModelDetails,
)

from .embed import Embedder
from .protocol import digest, dump

NAME = "ollama-standin"
VERSION = "0.12.6"
DEFAULT_EMBED_MODELS = ("all-minilm", "nomic-embed-text", "bge-m3", "mxbai-embed-large")
DEFAULT_LLM_MODELS = ("qwen2.5:0.5b", "qwen2.5:1.5b", "llama3.2", "smollm2:135m")


def canonical(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


class StandIn:
    def __init__(
        self,
        embedder: Embedder,
        embed_models: list[str],
        llm_models: list[str],
        embed_latency: float = 0.0,
    ) -> None:
        self.embedder = embedder
        # Seconds each embedding request takes at least, as a model's compute would: the
        # lexical embedder answers in microseconds, too fast for a test that must signal a
        # worker while it is in the middle of a job.
        self.embed_latency = embed_latency
        self.embed_models = {canonical(m) for m in embed_models}
        self.llm_models = {canonical(m) for m in llm_models}
        self.loaded: dict[str, float] = {}

    def known(self, model: str) -> bool:
        return canonical(model) in self.embed_models | self.llm_models

    def details(self, model: str) -> ModelDetails:
        family = "bert" if canonical(model) in self.embed_models else "standin"
        return ModelDetails(
            format="gguf",
            family=family,
            families=[family],
            parameter_size="0",
            quantization_level="F32",
        )

    def model_entry(self, model: str) -> dict[str, Any]:
        entry = dump(
            ListResponse.Model(
                model=model,
                modified_at=datetime(2026, 1, 1, tzinfo=UTC),
                digest=digest(model),
                size=1,
                details=self.details(model),
            )
        )
        return {"name": model, **entry}
