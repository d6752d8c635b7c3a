"""The generation log: what the stand-in did for its last chat and generate calls.

STAND-IN ONLY, not part of Ollama's API: ``GET /standin/generations`` shows it and
``DELETE /standin/generations`` clears it (``register``). Tests read it to see what a client
really made the "model" do: how many chunks a streamed reply had and how many were sent
before the client went away (``aborted``), whether the final frame went out (``finished``),
and the calls a failing model (``--llm-fail``) refused.

One record per ``/api/chat`` or ``/api/generate`` call that generates (a load-only call, with
no messages or an empty prompt, is not one) for an installed model that is not refused with
404 or 400. A record is updated while its reply is streamed, so a read shows progress.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

KEPT = 200  # the last this many calls are kept


@dataclass
class Generation:
    id: int  # increasing from 1 for the life of the process (a clear does not reset it)
    model: str  # as the request named it
    endpoint: str  # "chat" or "generate"
    stream: bool
    chunks_total: int  # the reply's chunks (protocol.chunks); 0 when the model failed
    chunks_sent: int = 0  # streamed: handed to the server; not streamed: all, once answered
    finished: bool = False  # the final frame (done: true) was sent
    aborted: bool = False  # streamed, and the client went away before the final frame
    prompt_eval_count: int = 0
    eval_count: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class GenerationLog:
    """The last ``KEPT`` generations, oldest first."""

    def __init__(self) -> None:
        self._records: deque[Generation] = deque(maxlen=KEPT)
        self._ids = itertools.count(1)

    def start(
        self,
        model: str,
        endpoint: str,
        *,
        stream: bool,
        chunks_total: int,
        prompt_eval_count: int,
        eval_count: int,
    ) -> Generation:
        record = Generation(
            id=next(self._ids),
            model=model,
            endpoint=endpoint,
            stream=stream,
            chunks_total=chunks_total,
            prompt_eval_count=prompt_eval_count,
            eval_count=eval_count,
        )
        self._records.append(record)
        return record

    def records(self) -> list[Generation]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()


def register(app: FastAPI, log: GenerationLog) -> None:
    @app.get("/standin/generations")
    async def generations() -> dict[str, Any]:
        return {"generations": [r.as_json() for r in log.records()]}

    @app.delete("/standin/generations", status_code=204)
    async def clear_generations() -> Response:
        log.clear()
        return Response(status_code=204)
