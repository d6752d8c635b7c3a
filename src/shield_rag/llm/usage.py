"""What one model call used, as Ollama itself counts it.

Ollama reports, in a non-streamed answer or in the last frame of a stream, how many tokens
the prompt took (``prompt_eval_count``), how many it generated (``eval_count``) and how long
the whole call took (``total_duration``, nanoseconds). :class:`Usage` keeps those per model
and role (``query``, ``keyword``, ``extract``); :class:`UsageTotals` merges calls into one
total per (model, role), the shape returned with every query and insert so the orchestrator
can account them to a client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

NANOSECONDS = 1_000_000_000


def _field(response: object, name: str) -> Any:
    if isinstance(response, Mapping):
        return response.get(name)
    return getattr(response, name, None)


def _count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


@dataclass
class Usage:
    """Tokens and compute time one or more calls of ``model`` used in ``role``."""

    model: str
    role: str
    prompt_tokens: int
    completion_tokens: int
    compute_seconds: float
    calls: int = 1

    @classmethod
    def from_ollama(cls, model: str, role: str, response: object) -> Usage:
        """From a ``ChatResponse``/``GenerateResponse`` (or a stream's final frame, or their
        dict form); counts Ollama did not report are 0."""
        duration = _count(_field(response, "total_duration"))
        return cls(
            model=model,
            role=role,
            prompt_tokens=_count(_field(response, "prompt_eval_count")),
            completion_tokens=_count(_field(response, "eval_count")),
            compute_seconds=duration / NANOSECONDS,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        """The inverse of :meth:`as_dict` (a client reading a service's answer)."""
        return cls(
            model=str(data.get("model", "")),
            role=str(data.get("role", "")),
            prompt_tokens=_count(data.get("prompt_tokens")),
            completion_tokens=_count(data.get("completion_tokens")),
            compute_seconds=float(data.get("compute_seconds") or 0.0),
            calls=_count(data.get("calls", 1)),
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.compute_seconds += other.compute_seconds
        self.calls += other.calls

    def as_dict(self) -> dict[str, Any]:
        """JSON-able: model, role, prompt_tokens, completion_tokens, compute_seconds, calls."""
        data = asdict(self)
        data["compute_seconds"] = round(self.compute_seconds, 6)
        return data


class UsageTotals:
    """Usage merged into one :class:`Usage` per (model, role), in order of first use."""

    def __init__(self, items: Iterable[Usage] = ()) -> None:
        self._totals: dict[tuple[str, str], Usage] = {}
        for item in items:
            self.add(item)

    def add(self, usage: Usage) -> None:
        key = (usage.model, usage.role)
        if key in self._totals:
            self._totals[key].add(usage)
        else:
            self._totals[key] = Usage(**asdict(usage))

    def merge(self, other: UsageTotals) -> None:
        for item in other.items():
            self.add(item)

    def items(self) -> list[Usage]:
        return list(self._totals.values())

    def as_dicts(self) -> list[dict[str, Any]]:
        return [item.as_dict() for item in self._totals.values()]

    def __len__(self) -> int:
        return len(self._totals)
