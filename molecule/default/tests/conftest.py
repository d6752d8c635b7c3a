"""Print the stack's recent journal when a test fails, to see why without a second run."""

from __future__ import annotations

from tests.support.molecule import journal_on_failure

pytest_runtest_makereport = journal_on_failure(
    "redis-server qdrant shield-lightrag shield-orchestrator shield-worker@* shield-mcp ollama"
)
