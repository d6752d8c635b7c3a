"""The orchestrator's API contracts, shared by the orchestrator (which serves them) and the
MCP server (which calls it): one module per route group (``jobs``, ``search``, ``store``,
``query``, ``health``), the field types they share (``fields``) and the error model
(``errors``). Nothing here imports a service, a client or settings.
"""
