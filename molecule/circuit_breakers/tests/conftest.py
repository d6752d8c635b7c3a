"""Print the journal when a check fails."""

from __future__ import annotations

from tests.support.molecule import journal_on_failure

pytest_runtest_makereport = journal_on_failure(
    "shield-orchestrator shield-worker@* shield-mcp qdrant ollama"
)
