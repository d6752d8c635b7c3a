"""Fixtures of the unit tests that more than one module uses."""

from __future__ import annotations

import os

import pytest

from tests.support.modules import Modules


@pytest.fixture
def clean_shield_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SHIELD_* variable of the developer's shell may leak into a test."""
    for name in list(os.environ):
        if name.upper().startswith("SHIELD_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Modules:
    """The collection's modules, run as Ansible runs them (tests/support/modules.py)."""
    return Modules(tmp_path_factory.mktemp("modules"))
