"""Render the monitoring role's files the way the role does, and find the Prometheus tools.

The role's templates are rendered by Ansible itself (rendering.py runs render.yml), with the
role's defaults and internal variables, for an inventory each test writes. promtool, amtool and
the blackbox exporter come from Debian's prometheus, prometheus-alertmanager and
prometheus-blackbox-exporter packages; without them the tests fail and say so.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.rendering import Rendered, render_role

RULE_TESTS_DIR = Path(__file__).with_name("rules")

# Debian package of each tool the tests run.
TOOLS = {
    "promtool": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-blackbox-exporter": "prometheus-blackbox-exporter",
}


def tool(name: str) -> str:
    """Path of a Prometheus tool; fails (never skips) when its Debian package is missing."""
    # /usr/bin is where Debian puts them, and may be missing from PATH under some runners.
    found = shutil.which(name) or shutil.which(name, path="/usr/bin")
    if not found:
        pytest.fail(
            f"{name} is not installed: the monitoring tests need Debian's {TOOLS[name]} package "
            f"(apt-get install {' '.join(TOOLS.values())})",
            pytrace=False,
        )
    return found


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


Render = Callable[..., Rendered]


@pytest.fixture(scope="session")
def rendered_defaults(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Every file rendered with the role's defaults, for one host in every group."""
    return render_role(tmp_path_factory.mktemp("defaults"))


@pytest.fixture
def render(tmp_path: Path) -> Render:
    """render(inventory, extra_vars=None, host="monitoring") -> Rendered."""
    counter = iter(range(100))

    def _do(
        inventory: dict[str, Any],
        extra_vars: dict[str, Any] | None = None,
        host: str = "monitoring",
    ) -> Rendered:
        return render_role(tmp_path / f"r{next(counter)}", inventory, extra_vars, host)

    return _do
