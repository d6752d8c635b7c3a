"""Runtime feature flags: defaults from the settings, changes through the orchestrator's admin
endpoint, kept in Redis and seen by every service within a few seconds."""

from shield_rag.features.flags import FeatureDisabled, FeatureFlags, StateSource
from shield_rag.features.metrics import FEATURE_ENABLED

__all__ = ["FEATURE_ENABLED", "FeatureDisabled", "FeatureFlags", "StateSource"]
