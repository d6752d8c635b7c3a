"""The scenario's two hosts as testinfra fixtures, and the journal printed when a check fails.

The checks do not take testinfra's parametrized `host` fixture: with two hosts every check
would run twice, and pytest would reorder them. Each check names the host it acts on.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
from tests.support.molecule import journal_on_failure

pytest_runtest_makereport = journal_on_failure(
    "redis-server shield-orchestrator shield-worker@* qdrant ollama",
    fixtures=("node1", "node2"),
)


@pytest.fixture(scope="session")
def node1() -> Any:
    """shield-jobs-1: Redis, Qdrant, the orchestrator and two workers."""
    return testinfra.get_host("podman://shield-jobs-1")


@pytest.fixture(scope="session")
def node2() -> Any:
    """shield-jobs-2: two more workers on the same Redis."""
    return testinfra.get_host("podman://shield-jobs-2")
