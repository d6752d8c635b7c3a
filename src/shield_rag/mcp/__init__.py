"""The Shield MCP server: agent tools over the orchestrator API, behind circuit breakers.

One breaker per target (the orchestrator, and each dependency it names: redis, qdrant,
ollama, lightrag; the breaker itself is :mod:`shield_rag.breaker`); each tool declares the
dependencies it needs (``tools.TOOL_NEEDS``) and fails fast only when one of them, or the
orchestrator, is failing.

Modules, one concern each: ``orchestrator`` (the HTTP client every tool uses, its breakers
and which failure counts against which), ``metrics``, ``auth`` (bearer token for the HTTP
transport), ``http`` (oversized requests answered with their reason), ``errors`` and
``middleware`` (tool errors an agent can act on, per-tool metrics, the caller's identity),
``tools`` (the tools), ``server`` (builds the FastMCP server) and ``main`` (the
``shield-mcp`` command).
"""
