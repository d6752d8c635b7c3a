"""One settings model for every Shield service.

Settings are read from a YAML file (the roles render it) and may be overridden by
environment variables: ``SHIELD_<SECTION>__<KEY>`` (for example
``SHIELD_REDIS__URL=redis://127.0.0.1:6380/0``). The file is named by ``--config`` on the
command line or by ``SHIELD_CONFIG``. Unknown keys, missing required keys and bad values
fail at start-up with a message that names the key.

One module per section; :mod:`shield_rag.settings.loader` holds the whole model and
:func:`load_settings`.
"""

from shield_rag.settings.base import (
    CONFIG_ENV,
    SETTINGS_SCHEMA,
    ConfigError,
    check_secret,
    secret_policy,
)
from shield_rag.settings.ingest import ChunkSettings, CrawlSettings
from shield_rag.settings.lightrag_service import LightRAGServiceSettings
from shield_rag.settings.loader import McpServiceSettings, Settings, load_settings
from shield_rag.settings.logs import LoggingSettings
from shield_rag.settings.mcp import McpSettings
from shield_rag.settings.orchestrator import AdmissionSettings, OrchestratorSettings
from shield_rag.settings.routing import RouterSettings, Tier
from shield_rag.settings.stores import (
    LightRAGSettings,
    OllamaSettings,
    QdrantSettings,
    RedisSettings,
)
from shield_rag.settings.worker import WorkerSettings

__all__ = [
    "CONFIG_ENV",
    "SETTINGS_SCHEMA",
    "AdmissionSettings",
    "ChunkSettings",
    "ConfigError",
    "CrawlSettings",
    "LightRAGServiceSettings",
    "LightRAGSettings",
    "LoggingSettings",
    "McpServiceSettings",
    "McpSettings",
    "OllamaSettings",
    "OrchestratorSettings",
    "QdrantSettings",
    "RedisSettings",
    "RouterSettings",
    "Settings",
    "Tier",
    "WorkerSettings",
    "check_secret",
    "load_settings",
    "secret_policy",
]
