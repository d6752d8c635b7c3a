"""Which model answers a query sent with ``model: "auto"``: a deterministic tier router.

The tiers (``router.tiers``, :class:`~shield_rag.settings.routing.RouterSettings`) run from
the smallest model to the largest; each takes prompts up to its ``max_prompt_tokens`` (the
last takes any). The decision uses only what is known before the answer call, so the same
query, mode and prompt always give the same tier:

=====================================  =======================================================
input                                  effect
=====================================  =======================================================
prompt tokens (query + retrieved       the *size tier*: the smallest tier whose
context, the service's tokenizer)      ``max_prompt_tokens`` takes the prompt; never lower
analytical cue in the query (why,      +2 points
how, compare, explain, analyse,
difference, trade-off, relationship,
evaluate, pros and cons, impact, ...)
lookup cue, and no analytical one      -1 point
(what is, who, when, where, which,
list, define, how many, ...)
query longer than 25 words             +1 point
mode ``global``, ``hybrid``, ``mix``   +1 point (``naive``, ``local``, ``bypass``: 0 — they
                                       send a lighter context)
points >= 3                            one tier above the size tier (the last tier stays)
=====================================  =======================================================

The :class:`Decision` names the tier, its model, a one-line reason ("prompt 1,830 tokens >
tier small's 1,500; analytical question; global mode; 3 points: one tier up to large") and
the *candidates* to try in order: the chosen tier's model, then the larger tiers', then the
smaller ones (nearest first), each model once. A model that failed or timed out
(:meth:`Router.failed`) rests for ``router.cooldown_seconds`` and is left out of the
candidates; when every model rests the order is kept as it is, so something is still tried.

Pure: no I/O; the clock is injected.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shield_rag.settings.routing import RouterSettings, Tier

ANALYTICAL_CUES = (
    r"why",
    r"how(?! (?:many|much|old|long|far|tall|big)\b)",
    r"compar\w*",
    r"explain\w*",
    r"analy[sz]\w*",
    r"differen\w*",
    r"differ",
    r"trade-?offs?",
    r"relationships?",
    r"relate[sd]?",
    r"evaluat\w*",
    r"pros and cons",
    r"impacts?",
    r"implications?",
    r"versus",
    r"vs\.?",
    r"assess\w*",
    r"justify",
)
LOOKUP_CUES = (
    r"what (?:is|are|was|were)",
    r"who",
    r"when",
    r"where",
    r"which",
    r"list",
    r"define",
    r"definition",
    r"name",
    r"how (?:many|much|old|long|far|tall|big)",
)
_ANALYTICAL = re.compile(r"\b(?:" + "|".join(ANALYTICAL_CUES) + r")\b", re.IGNORECASE)
_LOOKUP = re.compile(r"\b(?:" + "|".join(LOOKUP_CUES) + r")\b", re.IGNORECASE)
HEAVY_MODES = frozenset({"global", "hybrid", "mix"})
LONG_QUERY_WORDS = 25
BUMP_POINTS = 3


def question_type(query: str) -> str:
    """``analytical``, ``lookup`` or ``plain`` (no cue)."""
    if _ANALYTICAL.search(query):
        return "analytical"
    if _LOOKUP.search(query):
        return "lookup"
    return "plain"


@dataclass(frozen=True)
class Decision:
    """The tier chosen (None: no router tiers), the model to try first, why, and every
    model to try in order."""

    tier: str | None
    model: str
    reason: str
    candidates: list[str] = field(default_factory=list)


def _tokens(n: int) -> str:
    return f"{n:,}"


class Router:
    """Chooses tiers (:meth:`decide`) and remembers which models rest after a failure."""

    def __init__(
        self,
        settings: RouterSettings,
        clock: Callable[[], float] = time.monotonic,
        *,
        default_model: str | None = None,
    ) -> None:
        self.settings = settings
        self.tiers: list[Tier] = list(settings.tiers)
        self.clock = clock
        self.default_model = default_model
        self._resting_until: dict[str, float] = {}

    def _size_tier(self, prompt_tokens: int) -> int:
        for index, tier in enumerate(self.tiers):
            if tier.max_prompt_tokens is None or prompt_tokens <= tier.max_prompt_tokens:
                return index
        return len(self.tiers) - 1

    def _size_reason(self, index: int, prompt_tokens: int) -> str:
        tier = self.tiers[index]
        if index > 0:
            below = self.tiers[index - 1]
            limit = below.max_prompt_tokens or 0
            return f"prompt {_tokens(prompt_tokens)} tokens > tier {below.name}'s {_tokens(limit)}"
        if tier.max_prompt_tokens is None:
            return f"prompt {_tokens(prompt_tokens)} tokens; one tier ({tier.name})"
        return (
            f"prompt {_tokens(prompt_tokens)} tokens fits tier {tier.name}'s "
            f"{_tokens(tier.max_prompt_tokens)}"
        )

    def decide(self, query: str, mode: str, prompt_tokens: int) -> Decision:
        """The tier and the candidate models for one query (see the module's table)."""
        if not self.tiers:
            if self.default_model is None:
                raise ValueError("no router tiers and no default model")
            return Decision(
                None,
                self.default_model,
                "no tiers configured (router.tiers): the default model ollama.llm_model",
                [self.default_model],
            )
        index = self._size_tier(prompt_tokens)
        parts = [self._size_reason(index, prompt_tokens)]
        kind = question_type(query)
        points = {"analytical": 2, "lookup": -1, "plain": 0}[kind]
        parts.append(f"{kind} question" if kind != "plain" else "no question cue")
        words = len(query.split())
        if words > LONG_QUERY_WORDS:
            points += 1
            parts.append(f"{words} words")
        if mode in HEAVY_MODES:
            points += 1
            parts.append(f"{mode} mode")
        if points >= BUMP_POINTS and index < len(self.tiers) - 1:
            index += 1
            parts.append(f"{points} points: one tier up to {self.tiers[index].name}")
        candidates = self._candidates(index)
        resting = self.cooling()
        skipped = [m for m in dict.fromkeys(t.model for t in self.tiers) if m in resting]
        if skipped:
            parts.append(
                "cooling down: " + ", ".join(f"{m} ({resting[m]:.0f}s left)" for m in skipped)
            )
        return Decision(self.tiers[index].name, candidates[0], "; ".join(parts), candidates)

    def _candidates(self, index: int) -> list[str]:
        order = self.tiers[index:] + self.tiers[:index][::-1]
        models = list(dict.fromkeys(tier.model for tier in order))
        resting = self.cooling()
        ready = [m for m in models if m not in resting]
        return ready or models

    def keyword_candidates(self) -> list[str]:
        """Models for a query's keyword extraction, a small task: the smallest tier's first
        (the default model when there are no tiers)."""
        if not self.tiers:
            return [self.default_model] if self.default_model else []
        return self._candidates(0)

    def tier_of(self, model: str) -> str | None:
        """The name of the first tier served by ``model`` (None: no tier)."""
        return next((t.name for t in self.tiers if t.model == model), None)

    def failed(self, model: str) -> None:
        """``model`` failed or timed out: skip it for ``router.cooldown_seconds``."""
        self._resting_until[model] = self.clock() + self.settings.cooldown_seconds

    def succeeded(self, model: str) -> None:
        """``model`` answered: it rests no longer."""
        self._resting_until.pop(model, None)

    def cooling(self) -> dict[str, float]:
        """Models resting now, with the seconds each has left."""
        now = self.clock()
        expired = [m for m, until in self._resting_until.items() if until <= now]
        for model in expired:
            del self._resting_until[model]
        return {m: until - now for m, until in self._resting_until.items()}
