"""Poll with a deadline: the one way the tests wait for something to become true.

- ``wait_until``: blocking; for plain test code and threads.
- ``eventually``: the same inside a running event loop (sleeps with ``asyncio.sleep``, so the
  loop keeps serving), and the predicate may be a coroutine function.

Both ask at least once and return the predicate's first truthy value. An exception from the
predicate counts as "not yet" and is kept; at the deadline they raise ``WaitTimeout`` (an
AssertionError, so a test fails, and a TimeoutError, for scripts) naming ``what`` and the last
value or error. ``interval`` is the poll period, not a synchronisation delay: the deadline
decides.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any


class WaitTimeout(AssertionError, TimeoutError):
    """What was waited for did not happen before the deadline."""


def _timed_out(timeout: float, what: str, last: Any) -> WaitTimeout:
    return WaitTimeout(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that; WaitTimeout after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise _timed_out(timeout, what, last)


async def eventually(
    predicate: Callable[[], Any | Awaitable[Any]],
    timeout: float,
    what: str,
    interval: float = 0.05,
) -> Any:
    """``wait_until`` for async code: awaits ``predicate()`` when it returns an awaitable, and
    never blocks the event loop."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last = exc
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(interval)
    raise _timed_out(timeout, what, last)
