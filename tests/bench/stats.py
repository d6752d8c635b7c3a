"""One benchmark figure: what the stack measured, the floor measured in the same run, and
their ratio. Latencies are kept in milliseconds, rates in units per second."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

PERCENTILES = ("p50", "p95", "p99")


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 of latency samples (ms), by linear interpolation between samples."""
    if len(samples_ms) < 2:
        raise ValueError(f"need at least 2 samples for percentiles, got {len(samples_ms)}")
    cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


@dataclass
class Figure:
    """One line of the report.

    ``measured`` and ``floor`` hold the same keys (``p50``/``p95``/``p99`` for latencies,
    ``value`` for a rate or a duration). ``higher_is_better`` is True for rates. A figure
    without a floor (``floor`` empty) has no ratio: a bound (``target``) is what it is read
    against.

    ``target`` (per key) and ``target_ratio`` are bounds the figure should meet, given by the
    section (a requirement, not a measurement): at most the target for latencies and
    durations, at least for rates, and a ratio of at most ``target_ratio`` (for the keys in
    ``target_ratio_keys``, or every key of the floor when that is None).
    """

    section: str  # e.g. "1. qdrant_find"
    name: str  # what was measured, e.g. "qdrant_find through the MCP server"
    floor_name: str  # e.g. "the same search with qdrant-client directly"
    unit: str  # "ms", "s", "chunks/s", "accepts/s"
    measured: dict[str, float]
    floor: dict[str, float]
    samples: int  # requests / jobs / runs behind the measured figure
    floor_samples: int
    higher_is_better: bool = False
    notes: list[str] = field(default_factory=list)
    target: dict[str, float] = field(default_factory=dict)
    target_ratio: float | None = None
    target_ratio_keys: frozenset[str] | None = None

    def has_target(self, key: str) -> bool:
        return key in self.target or self.has_target_ratio(key)

    def has_target_ratio(self, key: str) -> bool:
        """Whether ``target_ratio`` bounds the figure's ``key``."""
        if self.target_ratio is None or key not in self.floor:
            return False
        return self.target_ratio_keys is None or key in self.target_ratio_keys

    def meets_target(self, key: str) -> bool:
        """Whether the figure's ``key`` is within its bounds (True when it has none)."""
        ok = True
        if key in self.target:
            bound, value = self.target[key], self.measured[key]
            ok = value >= bound if self.higher_is_better else value <= bound
        if self.target_ratio is not None and self.has_target_ratio(key):
            ok = ok and self.ratio(key) <= self.target_ratio
        return ok

    def ratio(self, key: str) -> float:
        """measured / floor for latencies and durations; floor / measured for rates, so
        a ratio of 1.0 is the floor and larger is always worse."""
        m, f = self.measured[key], self.floor[key]
        if self.higher_is_better:
            return f / m if m else float("inf")
        return m / f if f else float("inf")
