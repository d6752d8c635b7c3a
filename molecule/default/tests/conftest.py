"""Print the stack's recent journal when a test fails, to see why without a second run; run
the chaos checks last.

The chaos modules (``CHAOS = True``: test_circuit_breakers, test_converge_receipt, then
test_dependencies_down) stop, freeze, edit and restart what the stack runs; each leaves the
stack healthy, but the checks of the converged host and of monitoring run before them, on a
stack nothing has disturbed.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.molecule import journal_on_failure

pytest_runtest_makereport = journal_on_failure(
    "redis-server qdrant shield-lightrag shield-orchestrator shield-worker@* shield-mcp ollama"
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[Any]) -> None:
    """The chaos modules' tests after every other test, each group in its collected order."""
    items.sort(key=lambda item: bool(getattr(item.module, "CHAOS", False)))
