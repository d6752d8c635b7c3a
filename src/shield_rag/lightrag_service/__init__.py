"""shield-lightrag: LightRAG (lightrag-hku) run as a library behind a small HTTP API.

The API is the subset of the upstream ``lightrag-server`` API that Shield uses, so an
operator may point Shield at a real lightrag-server instead. See ``app.py`` for the
endpoints and ``engine.py`` for how LightRAG is configured (Qdrant vectors, NetworkX graph,
JSON key/value and status files, Ollama LLM and embeddings, offline tokenizer).
"""
