"""shield-mcp turns FastMCP's own OpenTelemetry spans off unless the operator chose a mode."""

from __future__ import annotations

from collections.abc import Iterator

import fastmcp
import pytest
from fastmcp import telemetry

from shield_rag.mcp.main import TELEMETRY_ENV, quiet_telemetry


@pytest.fixture(autouse=True)
def restore_mode() -> Iterator[None]:
    before = fastmcp.settings.telemetry_mode
    yield
    fastmcp.settings.telemetry_mode = before


def test_spans_off_by_default() -> None:
    fastmcp.settings.telemetry_mode = "native"
    quiet_telemetry({})
    assert fastmcp.settings.telemetry_mode == "off"
    assert not telemetry.native_spans_enabled()


@pytest.mark.parametrize("mode", ["native", "propagation_only"])
def test_operator_choice_is_kept(mode: str) -> None:
    fastmcp.settings.telemetry_mode = mode  # what FastMCP read from the environment
    quiet_telemetry({TELEMETRY_ENV: mode})
    assert fastmcp.settings.telemetry_mode == mode
