"""Ingestion pipeline stages: SSRF-safe fetching and crawling, text extraction, chunking.

Import from the submodules (``shield_rag.ingest.ssrf``, ``.fetch``, ``.extract``,
``.chunk``); nothing is re-exported here, so importing the SSRF guard does not load the
document extractors.
"""
