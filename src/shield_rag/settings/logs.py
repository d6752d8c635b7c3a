"""Log level and format of every service."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
)

from shield_rag.settings.base import _Section


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description="Log level of every service; DEBUG also logs each HTTP request of "
        "shield-lightrag.",
    )
    json_format: bool = Field(
        False,
        description="Whether the orchestrator and workers log one JSON object per line (for "
        "log shippers) instead of plain text; shield-lightrag always logs plain text.",
    )
