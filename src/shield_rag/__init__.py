"""Shield RAG services."""

__version__ = "0.1.0"
