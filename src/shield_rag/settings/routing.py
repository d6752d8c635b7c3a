"""Model routing for shield-lightrag: tiers of models from small to large.

A query sent with ``model: "auto"`` is answered by the tier the router
(:mod:`shield_rag.llm.router`) picks from the size of its prompt and the kind of question;
a tier whose model fails or times out hands over to the next larger tier, and the failed
model rests for ``cooldown_seconds``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from shield_rag.settings.base import _Section

MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$"


class Tier(_Section):
    name: str = Field(
        pattern=r"^[a-z0-9_-]{1,40}$",
        description="Name of the tier, shown in routing decisions (lower-case letters, digits, "
        "dashes and underscores).",
    )
    model: str = Field(
        pattern=MODEL_NAME_PATTERN,
        description="Ollama chat model that answers for this tier; it must be pulled on the "
        "Ollama host.",
    )
    max_prompt_tokens: int | None = Field(
        None,
        ge=1,
        description="Largest prompt (query plus retrieved context, counted with "
        "lightrag_service.tokenizer_model) this tier takes; null only for the last tier.",
    )


class RouterSettings(_Section):
    """The tiers ``model: "auto"`` chooses from; read by shield-lightrag only."""

    tiers: list[Tier] = Field(
        default_factory=list,
        description="Tiers ordered from the smallest model to the largest, each with a name, a "
        "model and max_prompt_tokens (null for the last); empty means auto answers with "
        "ollama.llm_model.",
    )
    cooldown_seconds: float = Field(
        60.0,
        ge=0,
        description="Seconds a model that failed or timed out is skipped by auto routing "
        "before it is tried again.",
    )
    attempt_timeout_seconds: float | None = Field(
        None,
        gt=0,
        description="Seconds one model may take to answer before auto routing falls back to "
        "the next tier; null means ollama.timeout.",
    )
    catalog_ttl_seconds: float = Field(
        60.0,
        ge=0,
        description="Seconds the list of models Ollama serves is cached before it is asked again.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> RouterSettings:
        names = [tier.name for tier in self.tiers]
        doubles = sorted({name for name in names if names.count(name) > 1})
        if doubles:
            raise ValueError(f"tiers: names must be unique; repeated: {', '.join(doubles)}")
        previous: Tier | None = None
        for index, tier in enumerate(self.tiers):
            last = index == len(self.tiers) - 1
            if tier.max_prompt_tokens is None and not last:
                raise ValueError(
                    f"tiers: only the last tier may have max_prompt_tokens null; tier "
                    f"{tier.name!r} is not last"
                )
            if tier.max_prompt_tokens is not None and last:
                raise ValueError(
                    f"tiers: the last tier ({tier.name!r}) must have max_prompt_tokens null, "
                    "so that every prompt has a tier"
                )
            if (
                previous is not None
                and previous.max_prompt_tokens is not None
                and tier.max_prompt_tokens is not None
                and tier.max_prompt_tokens <= previous.max_prompt_tokens
            ):
                raise ValueError(
                    f"tiers: max_prompt_tokens must increase from tier to tier; tier "
                    f"{tier.name!r} ({tier.max_prompt_tokens}) follows {previous.name!r} "
                    f"({previous.max_prompt_tokens})"
                )
            previous = tier
        return self
