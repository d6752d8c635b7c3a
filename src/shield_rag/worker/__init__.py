"""Ingestion workers: consume jobs from Redis and run the ingest pipeline."""
