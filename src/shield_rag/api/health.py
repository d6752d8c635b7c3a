"""``GET /healthz`` and ``GET /readyz``: the orchestrator's liveness and readiness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Liveness(BaseModel):
    status: Literal["ok"]


class Check(BaseModel):
    ok: bool
    ms: float | None = Field(None, description="How long the check took, when it passed")
    error: str | None = Field(None, description="Why it failed, when it failed")


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, Check] = Field(description="One check per dependency, by name")
