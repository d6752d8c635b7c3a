"""Read the Ollama stand-in's generation log from tests (stand-in only, not Ollama's API), and
be the client that goes away in the middle of a streamed reply.

``GET /standin/generations`` answers ``{"generations": [...]}``, oldest first, one record per
chat or generate call (see ``ollama_standin/generations.py`` for the fields);
``DELETE /standin/generations`` clears it, for tests that share one stand-in.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

LOG_PATH = "/standin/generations"


def generations(url: str) -> list[dict[str, Any]]:
    """The stand-in at ``url``'s generation records, oldest first."""
    resp = httpx.get(url + LOG_PATH, timeout=10)
    resp.raise_for_status()
    records: list[dict[str, Any]] = resp.json()["generations"]
    return records


def clear_generations(url: str) -> None:
    resp = httpx.delete(url + LOG_PATH, timeout=10)
    resp.raise_for_status()


def generation(url: str, record_id: int) -> dict[str, Any]:
    """The record ``record_id``; KeyError when it is no longer (or not yet) in the log."""
    for record in generations(url):
        if record["id"] == record_id:
            return record
    raise KeyError(record_id)


def hang_up_after_first_chunk(url: str, endpoint: str, model: str, prompt: str) -> dict[str, Any]:
    """Ask ``/api/<endpoint>`` (chat or generate) for a streamed reply, read its first NDJSON
    line, then close the connection without reading the rest. Returns that first frame."""
    if endpoint == "chat":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    else:
        body = {"model": model, "prompt": prompt}
    with (
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream("POST", f"/api/{endpoint}", json=body | {"stream": True}) as resp,
    ):
        resp.raise_for_status()
        first: dict[str, Any] = json.loads(next(resp.iter_lines()))
    # Closing a response that was not read to its end closes its connection (httpcore does
    # not reuse it), and the client closes its pool: the server sees the client go away.
    return first
