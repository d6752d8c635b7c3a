"""How the latency sections measure: warm-up, alternating rounds and the figure they give.

Every path is warmed up first; the measured calls then alternate between the paths (the
order rotates every round) so that machine noise falls on all of them alike. Every loop is
bounded by a sample count and a time budget.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.bench.stats import Figure, percentiles
from tests.support.mcp import text_of

Call = Callable[[int], Awaitable[None]]

WARMUP = 5


class ToolFailed(RuntimeError):
    """An MCP tool call returned an error where the benchmark expects an answer."""


def answer(tool: str, result: Any) -> Any:
    if getattr(result, "is_error", False):
        raise ToolFailed(f"{tool} failed: {text_of(result)[:300]}")
    return result


async def warm(paths: dict[str, Call], rounds: int) -> None:
    """Call every path ``rounds`` times: connections opened, lazy imports and caches filled."""
    for i in range(rounds):
        for call in paths.values():
            await call(i)


async def alternate(
    paths: dict[str, Call],
    count: int,
    budget_s: float,
    progress: Callable[[str], None],
    what: str,
) -> dict[str, list[float]]:
    """Latency samples (ms) of ``count`` rounds; each round calls every path once, in an
    order that rotates every round. Stops early (with at least 2 rounds) after ``budget_s``."""
    names = list(paths)
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.monotonic() + budget_s
    step = max(count // 4, 1)
    for i in range(count):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            await paths[name](i)
            samples[name].append((time.perf_counter() - started) * 1000)
        done = i + 1
        if done % step == 0 or done == count:
            progress(f"  {what}: {done}/{count} rounds")
        if done >= 2 and time.monotonic() > deadline:
            progress(f"  {what}: time budget of {budget_s:.0f} s reached after {done} rounds")
            break
    return samples


def budget_note(samples: list[float], count: int) -> list[str]:
    if len(samples) < count:
        return [f"stopped at {len(samples)} of {count} planned samples (time budget)"]
    return []


def latency_figure(
    section: str,
    name: str,
    floor_name: str,
    measured: list[float],
    floor: list[float],
    notes: list[str] | None = None,
    p50_ratio: float | None = None,
) -> Figure:
    """Percentiles of ``measured`` against those of ``floor``; ``p50_ratio`` bounds the
    median's ratio (a target the section sets)."""
    return Figure(
        section=section,
        name=name,
        floor_name=floor_name,
        unit="ms",
        measured=percentiles(measured),
        floor=percentiles(floor),
        samples=len(measured),
        floor_samples=len(floor),
        notes=notes or [],
        target_ratio=p50_ratio,
        target_ratio_keys=frozenset({"p50"}) if p50_ratio is not None else None,
    )
