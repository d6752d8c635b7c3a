# Copyright: Shield RAG contributors
# Apache License 2.0 (see LICENSE)
"""The stack's concurrency contract with Ollama (playbooks/preflight.yml, docs/deploy.md).

What the stack will ask of Ollama at once, from the inventory, against what Ollama serves:

- LLM calls: every one goes through the LightRAG service (graph extraction at ingest, answers at
  query), which sends at most ``llm_max_async`` at once. Ollama runs ``OLLAMA_NUM_PARALLEL``
  requests per model at once and queues the rest: LLM calls queued behind others take minutes
  each and time out, so ``llm_max_async`` above ``num_parallel`` is refused.
- Graph stages: each worker instance runs ``graph_concurrency`` LightRAG inserts at once; all of
  them share LightRAG's ``llm_max_async`` LLM calls, so more graph slots than that only wait
  inside LightRAG until the worker's LightRAG timeout: refused.
- Embeddings: each worker instance embeds for ``concurrency`` jobs at once, LightRAG for
  ``embedding_max_async`` calls. An embedding call takes milliseconds, so a queue in Ollama costs
  little: more than ``num_parallel`` is a warning; more than Ollama's queue
  (``OLLAMA_MAX_QUEUE``, beyond which it refuses requests with 503) is refused.
- Models: the embedding model, the LLM and every model kept loaded must fit
  ``OLLAMA_MAX_LOADED_MODELS``, or Ollama unloads one to load another on every switch.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

_LLM_VARS = "lightrag_llm_max_async (the lightrag host) or the Ollama hosts' ollama_num_parallel"
_GRAPH_VARS = (
    "orchestrator_workers_graph_concurrency or orchestrator_workers_instances (per worker "
    "host; 0 graph slots on hosts that should only embed), or lightrag_llm_max_async"
)
_EMBED_VARS = (
    "orchestrator_workers_concurrency, orchestrator_workers_instances, "
    "lightrag_embedding_max_async, or the Ollama hosts' ollama_num_parallel"
)


def _count(value, what):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"{what} is {value!r}, not a whole number") from None
    if number < 0:
        raise AnsibleFilterError(f"{what} is {number}: it cannot be negative")
    return number


def _name(model):
    text = str(model).strip()
    return text if ":" in text else f"{text}:latest"


def ollama_contract(stack):
    """The load the stack puts on Ollama and whether Ollama serves it.

    ``stack`` holds ``workers`` (one dict per worker host: ``host``, ``instances``,
    ``concurrency``, ``graph_concurrency``, ``lightrag_enabled``), ``lightrag`` (``None`` without
    a LightRAG host, else ``llm_max_async``, ``embedding_max_async``, ``llm_model``, and
    optionally ``extract_model`` and ``tier_models``, the router's) and
    ``ollama`` (``num_parallel``, ``max_loaded_models``, ``max_queue``, ``embedding_model``,
    ``keep_loaded``: the models kept loaded, ``source``: where those values come from).
    Returns the demand (``llm``, ``graph``, ``embedding``, ``models``), the capacity, and the
    ``errors`` and ``warnings``, each naming the variables to change.
    """
    if not isinstance(stack, dict):
        raise AnsibleFilterError("ollama_contract expects a dict (workers, lightrag, ollama)")
    ollama = stack.get("ollama") or {}
    parallel = _count(ollama.get("num_parallel"), "Ollama's num_parallel")
    loaded_max = _count(ollama.get("max_loaded_models"), "Ollama's max_loaded_models")
    queue = _count(ollama.get("max_queue"), "Ollama's max_queue")
    source = ollama.get("source") or "Ollama"
    lightrag = stack.get("lightrag")

    llm = graph = embedding = 0
    lightrag_embed = 0
    models = {_name(ollama.get("embedding_model") or "all-minilm")}
    models.update(_name(m) for m in ollama.get("keep_loaded") or [])
    if lightrag:
        llm = _count(lightrag.get("llm_max_async"), "lightrag_llm_max_async")
        lightrag_embed = _count(lightrag.get("embedding_max_async"), "lightrag_embedding_max_async")
        models.add(_name(lightrag.get("llm_model") or ""))
        extra = [lightrag.get("extract_model") or "", *(lightrag.get("tier_models") or [])]
        models.update(_name(m) for m in extra if m)
    per_host = []
    for worker in stack.get("workers") or []:
        host = worker.get("host", "?")
        instances = _count(worker.get("instances"), f"{host}: orchestrator_workers_instances")
        slots = instances * _count(
            worker.get("concurrency"), f"{host}: orchestrator_workers_concurrency"
        )
        graph_slots = 0
        if lightrag and worker.get("lightrag_enabled", True):
            graph_slots = instances * _count(
                worker.get("graph_concurrency"), f"{host}: orchestrator_workers_graph_concurrency"
            )
        embedding += slots
        graph += graph_slots
        per_host.append(f"{host} {slots} embedding, {graph_slots} graph")
    embedding += lightrag_embed

    errors, warnings = [], []
    if llm > parallel:
        errors.append(
            f"LightRAG sends up to {llm} LLM calls at once (lightrag_llm_max_async) and "
            f"{source} serves {parallel} per model (num_parallel): the rest would queue for "
            f"minutes and time out. Change {_LLM_VARS}."
        )
    if lightrag and graph > llm:
        errors.append(
            f"The workers run up to {graph} graph stages at once ({'; '.join(per_host)}) and "
            f"LightRAG sends {llm} LLM calls at once: the others would wait inside LightRAG "
            f"until the workers' LightRAG timeout. Change {_GRAPH_VARS}."
        )
    if embedding > queue + parallel:
        errors.append(
            f"The stack sends up to {embedding} embedding calls at once (workers and LightRAG) "
            f"and {source} serves {parallel} and queues {queue} (max_queue): it would refuse "
            f"the rest with 503. Change {_EMBED_VARS}."
        )
    elif embedding > parallel:
        warnings.append(
            f"Up to {embedding} embedding calls at once against {parallel} served in parallel "
            f"by {source}: {embedding - parallel} may queue briefly in Ollama (acceptable for "
            f"embeddings, which take milliseconds). To avoid it change {_EMBED_VARS}."
        )
    if len(models) > loaded_max:
        errors.append(
            f"The stack uses {len(models)} models ({', '.join(sorted(models))}) and {source} "
            f"keeps {loaded_max} loaded (max_loaded_models): each switch would unload one and "
            f"load another. Raise ollama_max_loaded_models or keep fewer models loaded."
        )
    return {
        "llm": llm,
        "graph": graph,
        "embedding": embedding,
        "models": sorted(models),
        "capacity": {"num_parallel": parallel, "max_loaded_models": loaded_max, "max_queue": queue},
        "errors": errors,
        "warnings": warnings,
    }


class FilterModule:
    def filters(self):
        return {"ollama_contract": ollama_contract}
