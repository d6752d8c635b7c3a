"""The orchestrator: HTTP API in front of the queue, Qdrant and LightRAG."""
