"""Runtime feature flags: defaults from the settings, changes through the orchestrator's admin
endpoint, kept in Redis and seen by every service within a few seconds."""
