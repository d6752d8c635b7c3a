"""Clients of the services the stack depends on: Ollama, Qdrant, LightRAG."""
