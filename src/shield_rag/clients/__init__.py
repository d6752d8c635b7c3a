"""Clients of the services the stack depends on: Ollama, Qdrant, LightRAG.

Each raises errors naming its dependency (:mod:`shield_rag.errors`): ``DependencyUnavailable``
when it is unreachable, too slow or answers 5xx (transient: jobs retry it), and
``DependencyRejected`` / ``DependencyMisconfigured`` when it refuses our input or does not fit
the settings (permanent). Each takes an optional
:class:`~shield_rag.breaker.DependencyGuard`: the orchestrator and the workers give every
client a breaker of its own, which counts only ``DependencyUnavailable`` of calls sent.
"""
