"""The scenario's two hosts as testinfra fixtures, and the journal printed when a check fails.

The checks do not take testinfra's parametrized `host` fixture: they run in order, each stage
building on the one before (deploy, back up, upgrade, roll back, restore), and each names the
host it acts on.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
from tests.support.molecule import journal_on_failure

pytest_runtest_makereport = journal_on_failure(
    "redis-server qdrant shield-lightrag shield-orchestrator shield-worker@* shield-mcp",
    fixtures=("node1", "node2"),
)


@pytest.fixture(scope="session")
def node1() -> Any:
    """shield-life-1: Redis, Qdrant, LightRAG, an orchestrator, a worker, the MCP server."""
    return testinfra.get_host("podman://shield-life-1")


@pytest.fixture(scope="session")
def node2() -> Any:
    """shield-life-2: a second orchestrator and worker on shield-life-1's stores."""
    return testinfra.get_host("podman://shield-life-2")


@pytest.fixture(scope="session")
def state() -> dict[str, Any]:
    """What one stage leaves for the next (release names, results before the backup ...)."""
    return {}
