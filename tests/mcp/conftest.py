"""The MCP test modules' processes: a directory, and the keyed data plane, per module.

A module shapes its stack by overriding ``stack_options`` (the keyword arguments of
``tests.mcp.server.start_stack``, ``kind`` included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mcp.server import KeyedStack, start_stack


@pytest.fixture(scope="module")
def root(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's directory: the stack's and the MCP servers' configs and logs."""
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    return Path(tmp_path_factory.mktemp(f"mcp-{name}"))


@pytest.fixture(scope="module")
def stack_options() -> dict[str, Any]:
    return {"workers": 1, "lightrag": True}


@pytest.fixture(scope="module")
def stack(root: Path, stack_options: dict[str, Any]) -> Iterator[KeyedStack]:
    s = start_stack(root, **stack_options)
    yield s
    s.stop()
