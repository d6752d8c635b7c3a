"""Benchmarks of the Shield stack against their floors, measured side by side in one run.

Run with ``make bench`` (``python -m tests.bench``); the report and chart land in
``docs/benchmarks/``. Not part of ``make test``: benchmarks measure, tests assert.
"""
