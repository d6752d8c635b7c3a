"""Model accounting: what each model's tokens cost and what a client may spend per period.

Every LLM call the stack makes is counted (prompt and completion tokens, Ollama's compute
time, its cost); a client with a budget is refused (HTTP 429) once its period's spend reaches a
limit. Prices follow LiteLLM's gateways: per million tokens, and zero for a model without a
price, which is right for models served by the deployment's own Ollama hosts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shield_rag.settings.base import _Section


class ModelPrice(_Section):
    """What one model's use costs, in ``accounting.currency``."""

    input_per_million: Decimal = Field(
        Decimal(0),
        ge=0,
        description="Price of one million prompt tokens sent to the model (0: free).",
    )
    output_per_million: Decimal = Field(
        Decimal(0),
        ge=0,
        description="Price of one million completion tokens the model generates (0: free).",
    )
    per_compute_second: Decimal = Field(
        Decimal(0),
        ge=0,
        description="Price of one second of Ollama compute time the model uses, for hosts "
        "billed by the hour rather than by the token (0: none).",
    )


class BudgetSettings(_Section):
    """What a client may spend per period; a call is refused once a limit is reached."""

    period: Literal["daily", "monthly"] = Field(
        "monthly",
        description="How often the budget starts again: daily (at 00:00 UTC) or monthly (on "
        "the 1st at 00:00 UTC).",
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="Tokens (prompt plus completion, every model together) the client may use "
        "per period (null: no token limit).",
    )
    max_cost: Decimal | None = Field(
        None,
        gt=0,
        decimal_places=6,
        description="Cost in accounting.currency the client may run up per period, priced by "
        "accounting.prices (null: no cost limit).",
    )

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetSettings:
        if self.max_tokens is None and self.max_cost is None:
            raise ValueError(
                "a budget needs max_tokens, max_cost or both; a client that may spend without "
                "limit needs no budget (leave it out)"
            )
        return self


class AccountingSettings(_Section):
    """Prices of the models and the default budget; budget state lives in Redis."""

    currency: str = Field(
        "USD",
        min_length=1,
        max_length=16,
        pattern=r"^\S+$",
        description="Name of the currency prices and cost budgets are written in, as shown in "
        "messages and status (USD, EUR, credits).",
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="Price of each model by its Ollama name (llama3.1:8b); a model left out "
        "costs nothing, the right default for models served by your own hosts.",
    )
    default_budget: BudgetSettings | None = Field(
        None,
        description="Budget of a client that has none of its own, such as an MCP caller known "
        "only by name (null: such clients are counted but never refused).",
    )
    reservation_tokens: int = Field(
        4096,
        ge=1,
        description="Tokens a call is assumed to use while it runs, held against its client's "
        "budget until it ends (the client's largest call so far counts when larger); raise it "
        "when calls are larger than this, to keep concurrent calls from overspending.",
    )
    reservation_seconds: int = Field(
        600,
        ge=1,
        description="Seconds after which a call's hold on its client's budget lapses when the "
        "call never reports its end (a replica that crashed); keep it above the longest model "
        "call.",
    )

    @field_validator("prices")
    @classmethod
    def _model_names(cls, v: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        for name in v:
            if not name.strip():
                raise ValueError("a model name in accounting.prices is empty")
        return v
