"""API contracts shared by the orchestrator (which serves them) and the MCP server (which
calls it): the error model now; request and response models as they move here."""
