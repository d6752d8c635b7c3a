"""``shield_feature_enabled{feature}``: 1 when a feature is on in this service, 0 when off.

One gauge in the default registry, set by every :class:`~shield_rag.features.FeatureFlags`
whenever what it applies changes, so a dashboard shows each service's view of each flag (and
an alert can catch a service that lags behind the others).
"""

from __future__ import annotations

from prometheus_client import Gauge

FEATURE_ENABLED = Gauge(
    "shield_feature_enabled",
    "Whether a feature is on (1) or off (0) in this service, after runtime changes",
    ["feature"],
)
