"""The scenario's six hosts as testinfra fixtures, and the journal printed when a check fails.

The checks run in order (the outage checks stop and start orchestrators), each naming the
hosts it acts on; ``hosts`` maps each host's name to its testinfra host.
"""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
from tests.support.molecule import journal_on_failure

HOSTS = (
    "shield-topo-edge",
    "shield-topo-data",
    "shield-topo-api-1",
    "shield-topo-api-2",
    "shield-topo-worker",
    "shield-topo-mcp",
)

pytest_runtest_makereport = journal_on_failure(
    "haproxy prometheus redis-server qdrant ollama shield-lightrag shield-orchestrator "
    "shield-worker@* shield-mcp",
    lines=40,
    fixtures=("edge", "api1", "api2", "mcp"),
)


@pytest.fixture(scope="session")
def hosts() -> dict[str, Any]:
    return {name: testinfra.get_host(f"podman://{name}") for name in HOSTS}


@pytest.fixture(scope="session")
def edge(hosts: dict[str, Any]) -> Any:
    """shield-topo-edge: HAProxy, Prometheus and Alertmanager."""
    return hosts["shield-topo-edge"]


@pytest.fixture(scope="session")
def api1(hosts: dict[str, Any]) -> Any:
    return hosts["shield-topo-api-1"]


@pytest.fixture(scope="session")
def api2(hosts: dict[str, Any]) -> Any:
    return hosts["shield-topo-api-2"]


@pytest.fixture(scope="session")
def mcp(hosts: dict[str, Any]) -> Any:
    return hosts["shield-topo-mcp"]
