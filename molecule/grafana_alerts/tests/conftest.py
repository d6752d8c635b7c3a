"""Print the journal when a check fails, and the measured alert timings at the end."""

from __future__ import annotations

from typing import Any

from tests.support.molecule import journal_on_failure

pytest_runtest_makereport = journal_on_failure(
    "prometheus prometheus-alertmanager prometheus-blackbox-exporter shield-orchestrator "
    "shield-worker@* shield-mcp shield-webhook-sink"
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from phases import FIGURES

    if FIGURES:
        terminalreporter.section("measured on this run")
        for line in FIGURES:
            terminalreporter.write_line(line)
