"""What every benchmark section gets: the running stack, the MCP server, where to write
scratch files, whether this is the quick (smoke) run, and a progress printer.

Sections are modules under ``tests.bench`` exposing ``run(ctx: BenchContext) -> list[Figure]``.
The runner (``tests/bench/__main__.py``) calls them in order 1..7:

* section 3 (accept latency) runs first, on a stack **without workers** (``ctx.stack.workers``
  is empty and ``ctx.mcp`` is None), so it can flood the queue without anyone consuming;
  the runner flushes the bench's own Redis afterwards;
* then the runner starts the workers and the MCP server, seeds the demo documents, and runs
  sections 1, 2, 4, 5, 6, 7 with ``ctx.mcp`` set and ``ctx.stack.workers`` running.

A section bounds its own load (``ctx.quick`` means a few-second smoke version) and reports
what it is doing with ``ctx.progress("...")``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.integration.stack import Stack
    from tests.mcp.server import McpServer


def make_progress(started: float) -> Callable[[str], None]:
    """A progress printer: ``[  12.3 s] message`` on stdout, flushed at once."""

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f} s] {message}", flush=True)

    return progress


@dataclass
class BenchContext:
    """The shared state of one benchmark run (see the module docstring for the order)."""

    stack: Stack
    mcp: McpServer | None
    root: Path  # scratch directory of this run (configs, logs, stand-in storage)
    quick: bool  # the small smoke version: a few seconds per section
    progress: Callable[[str], None]  # prints one progress line with the elapsed time
    repo: Path  # the repository root (playbooks, inventories, docs)
    started: float = field(default_factory=time.monotonic)

    def scaled(self, full: int, quick: int) -> int:
        """The sample count for this run: ``full`` normally, ``quick`` with ``--quick``."""
        return quick if self.quick else full
