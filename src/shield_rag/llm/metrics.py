"""What model calls used, by client and model, in the process that accounts them (the
orchestrator for LightRAG queries, the workers for graph extraction at ingest)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter

from shield_rag.llm.prices import cost_micros, micros_to_decimal
from shield_rag.llm.usage import Usage
from shield_rag.settings.accounting import ModelPrice

LLM_TOKENS = Counter(
    "shield_llm_tokens_total",
    "Model tokens by client, model, role (query, keyword, extract) and direction (in: prompt, "
    "out: generated), as Ollama counts them",
    ["client", "model", "role", "direction"],
)
LLM_COMPUTE = Counter(
    "shield_llm_compute_seconds_total",
    "Ollama compute seconds (its total_duration) by client and model",
    ["client", "model"],
)
LLM_COST = Counter(
    "shield_llm_cost_total",
    "Cost by client and model, in accounting.currency (0 for a model without a price)",
    ["client", "model"],
)


def observe(client: str, usage: Usage, prices: Mapping[str, ModelPrice]) -> None:
    """Count one usage entry of ``client``."""
    LLM_TOKENS.labels(client, usage.model, usage.role, "in").inc(usage.prompt_tokens)
    LLM_TOKENS.labels(client, usage.model, usage.role, "out").inc(usage.completion_tokens)
    LLM_COMPUTE.labels(client, usage.model).inc(usage.compute_seconds)
    micros = cost_micros(
        prices, usage.model, usage.prompt_tokens, usage.completion_tokens, usage.compute_seconds
    )
    LLM_COST.labels(client, usage.model).inc(float(micros_to_decimal(micros)))
