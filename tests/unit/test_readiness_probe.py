"""The orchestrator's readiness probe of one dependency (``/readyz``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shield_rag.orchestrator.routes.health import _probe


class Flaky:
    """A check that raises for its first ``failures`` calls, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


def probe(check: Any, limit: float = 2.0) -> dict[str, Any]:
    return asyncio.run(_probe("qdrant", check, limit))


def test_a_check_that_fails_once_is_tried_again_and_ready() -> None:
    check = Flaky(failures=1)
    result = probe(check)
    assert result["ok"] is True and check.calls == 2, result


def test_a_dependency_that_keeps_failing_is_not_ready_with_its_error() -> None:
    check = Flaky(failures=5)
    result = probe(check)
    assert result == {
        "name": "qdrant",
        "ok": False,
        "error": "RemoteProtocolError: Server disconnected without sending a response.",
    }
    assert check.calls == 2


def test_a_check_that_does_not_answer_is_not_ready_within_the_limit() -> None:
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()

    result = probe(hangs, limit=0.2)
    assert result == {"name": "qdrant", "ok": False, "error": "no answer within 0.2s"}
    assert calls == 1
