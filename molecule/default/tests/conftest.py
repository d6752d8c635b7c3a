"""Print the stack's recent journal when a test fails, to see why without a second run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

JOURNAL_UNITS = (
    "redis-server qdrant shield-lightrag shield-orchestrator shield-worker@* shield-mcp "
    "ollama-standin"
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "host" in getattr(item, "funcargs", {}):
        host: Any = item.funcargs["host"]
        units = " ".join(f"-u '{u}'" for u in JOURNAL_UNITS.split())
        journal = host.run(f"journalctl --no-pager -n 60 {units}").stdout
        report.sections.append(("journal", journal))
