"""Feature flags on the wire: ``GET /features``, ``GET /admin/features``,
``PUT /admin/features/{name}`` and ``DELETE /admin/features/{name}`` (back to the inventory).

The MCP server reads ``GET /features`` (a :class:`FeatureList`) and applies it with
``FeatureFlags.apply``, so it follows the same switches as the services that read Redis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shield_rag.api.fields import STRICT

FeatureSource = Literal["inventory", "runtime"]


class FeatureState(BaseModel):
    """One feature as a service applies it now."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="The feature's name, as in the settings' features section")
    enabled: bool = Field(description="Whether the feature is on now")
    default: bool = Field(description="Its value in the inventory (features.<name>)")
    source: FeatureSource = Field(
        description="Where ``enabled`` comes from: the inventory, or a runtime change an admin "
        "made (kept until it is reset)"
    )
    changed_by: str | None = Field(
        None, description="Who made the runtime change (null: no runtime change)"
    )
    changed_at: datetime | None = Field(
        None, description="When the runtime change was made, UTC (null: no runtime change)"
    )


class FeatureList(BaseModel):
    features: list[FeatureState] = Field(description="Every feature, in a stable order")


class FeatureChange(BaseModel):
    """The body of ``PUT /admin/features/{name}``."""

    model_config = STRICT

    enabled: bool = Field(
        description="true turns the feature on, false turns it off, for every service, until "
        "an admin changes or resets it (DELETE /admin/features/{name})"
    )


class FeatureChangeRecord(BaseModel):
    """One entry of the audit log of runtime changes, newest first in listings."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The entry's id in the audit stream")
    name: str = Field(description="The feature changed")
    enabled: bool = Field(description="Its value after the change")
    was: bool = Field(description="Its value before the change")
    action: Literal["set", "reset"] = Field(
        description="set: an explicit on/off; reset: back to the inventory's value"
    )
    by: str = Field(description="Who made the change")
    at: datetime = Field(description="When the change was made, UTC")


class FeatureHistory(BaseModel):
    changes: list[FeatureChangeRecord] = Field(
        description="The last runtime changes, newest first (the log keeps about 1000)"
    )
