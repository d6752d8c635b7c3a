"""The Shield MCP server: agent tools over the orchestrator API, behind a circuit breaker.

Modules, one concern each: ``breaker`` (circuit breaker), ``orchestrator`` (the HTTP client
every tool uses), ``metrics``, ``auth`` (bearer token for the HTTP transport), ``errors`` and
``middleware`` (tool errors an agent can act on, per-tool metrics), ``tools`` (the tools),
``server`` (builds the FastMCP server) and ``main`` (the ``shield-mcp`` command).
"""
