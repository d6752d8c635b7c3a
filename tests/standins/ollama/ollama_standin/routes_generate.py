"""Generation endpoints: ``/api/chat`` and ``/api/generate`` (streamed or not).

A reply is produced chunk by chunk (``protocol.chunks``), each taking the model's
``--llm-latency`` (``StandIn.chunk_latency``), streamed or not; a streamed reply is an async
generator, so when its client goes away Starlette cancels it and no further chunk is produced.
The final frame carries real durations (nanoseconds, ``perf_counter_ns``): ``load_duration``
(the scheduler's bookkeeping), ``prompt_eval_duration`` (composing the reply),
``eval_duration`` (producing its chunks) and ``total_duration`` (the whole call). A model in
``--llm-fail`` answers 500 as Ollama does when its runner dies. Every generation is recorded
in the stand-in's log (``generations``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ollama import (
    ChatResponse,
    GenerateResponse,
    Message,
)
from ollama._types import (
    ChatRequest,
    GenerateRequest,
)
from pydantic import BaseModel

from .answers import content_of, reply, role_of
from .catalog import EMBEDDING, StandIn, canonical
from .generations import Generation
from .protocol import (
    body_of,
    chunks,
    cut,
    dump,
    error_response,
    keep_alive_of,
    not_found,
    now,
    parse_body,
)
from .text import count_words

# What Ollama answers (500) when the model's runner process dies.
RUNNER_TERMINATED = "llama runner process has terminated: exit status 2 (stand-in: --llm-fail)"


async def compute(seconds: float) -> None:
    """Take ``seconds`` (at least) without blocking the server: a model's compute. The event
    loop's timers may fire a little early (uvloop's are milliseconds), so sleep until a
    ``perf_counter`` deadline rather than once."""
    deadline = time.perf_counter() + seconds
    while (left := deadline - time.perf_counter()) > 0:
        await asyncio.sleep(left)


async def produce(pieces: list[str], latency: float) -> AsyncIterator[str]:
    """The reply's chunks, each after ``latency`` seconds: the model's emulated compute."""
    for piece in pieces:
        if latency:
            await compute(latency)
        yield piece


def register(app: FastAPI, state: StandIn) -> None:
    log = state.generations

    async def generation(
        model: str,
        system: str,
        messages: list[Mapping[str, Any]],
        req: Any,
        chat: bool,
        started: int,
    ) -> Response:
        kind = state.kind(model)
        if kind is None:
            return not_found(model)
        try:
            keep_alive = keep_alive_of(req)
        except ValueError as exc:
            return error_response(400, str(exc))
        endpoint = "chat" if chat else "generate"
        if kind == EMBEDDING:
            return error_response(400, f'"{model}" does not support {endpoint}')
        stream = req.stream is not False
        prompt_count = count_words(system, *(content_of(m) for m in messages))
        if state.fails(model):
            log.start(
                model,
                endpoint,
                stream=stream,
                chunks_total=0,
                prompt_eval_count=prompt_count,
                eval_count=0,
            )
            return error_response(500, RUNNER_TERMINATED)
        mark = time.perf_counter_ns()
        state.scheduler.touch(canonical(model), keep_alive)
        load_ns, mark = time.perf_counter_ns() - mark, time.perf_counter_ns()
        text = reply(system, messages, as_json=req.format not in (None, ""))
        text, reason = cut(text, req.options)
        pieces = list(chunks(text))
        prompt_ns = time.perf_counter_ns() - mark
        record = log.start(
            model,
            endpoint,
            stream=stream,
            chunks_total=len(pieces),
            prompt_eval_count=prompt_count,
            eval_count=count_words(text),
        )
        latency = state.chunk_latency(model)

        def frame(piece: str, eval_ns: int | None = None) -> BaseModel:
            """A chunk, or (``eval_ns`` given) the final frame with the counts and durations."""
            common: dict[str, Any] = {"model": model, "created_at": now(), "done": False}
            if eval_ns is not None:
                common |= {
                    "done": True,
                    "done_reason": reason,
                    "total_duration": time.perf_counter_ns() - started,
                    "load_duration": load_ns,
                    "prompt_eval_count": record.prompt_eval_count,
                    "prompt_eval_duration": prompt_ns,
                    "eval_count": record.eval_count,
                    "eval_duration": eval_ns,
                }
            if chat:
                return ChatResponse(message=Message(role="assistant", content=piece), **common)
            return GenerateResponse(response=piece, **common)

        if not stream:
            eval_started = time.perf_counter_ns()
            async for _unused in produce(pieces, latency):
                pass
            final = dump(frame(text, time.perf_counter_ns() - eval_started))
            record.chunks_sent, record.finished = record.chunks_total, True
            return JSONResponse(final)
        return StreamingResponse(
            streamed(record, produce(pieces, latency), frame), media_type="application/x-ndjson"
        )

    async def streamed(
        record: Generation, pieces: AsyncIterator[str], frame: Callable[..., BaseModel]
    ) -> AsyncIterator[str]:
        """NDJSON lines: the chunks as they are produced, then the final frame. A client that
        goes away cancels (or closes) this generator: the record says aborted."""
        eval_started = time.perf_counter_ns()
        try:
            async for piece in pieces:
                yield json.dumps(dump(frame(piece))) + "\n"
                record.chunks_sent += 1
            yield json.dumps(dump(frame("", time.perf_counter_ns() - eval_started))) + "\n"
            record.finished = True
        finally:
            record.aborted = not record.finished

    def load_only(req: Any, chat: bool) -> Response:
        if not state.known(req.model):
            return not_found(req.model)
        try:
            keep_alive = keep_alive_of(req)
        except ValueError as exc:
            return error_response(400, str(exc))
        if state.fails(req.model) and keep_alive != 0:  # the runner dies while loading, too
            return error_response(500, RUNNER_TERMINATED)
        state.scheduler.touch(canonical(req.model), keep_alive)
        reason = "unload" if keep_alive == 0 else "load"
        common: dict[str, Any] = {
            "model": req.model,
            "created_at": now(),
            "done": True,
            "done_reason": reason,
        }
        if chat:
            message = Message(role="assistant", content="")
            return JSONResponse(dump(ChatResponse(message=message, **common)))
        return JSONResponse(dump(GenerateResponse(response="", **common)))

    @app.post("/api/chat")
    async def chat(request: Request) -> Response:
        started = time.perf_counter_ns()
        req = parse_body(ChatRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, ChatRequest)
        msgs = [m if isinstance(m, Mapping) else dump(m) for m in (req.messages or [])]
        system = "\n".join(content_of(m) for m in msgs if role_of(m) == "system")
        rest = [m for m in msgs if role_of(m) != "system"]
        if not msgs:  # Ollama: no messages only loads (or, keep_alive 0, unloads) the model
            return load_only(req, chat=True)
        return await generation(req.model, system, rest, req, chat=True, started=started)

    @app.post("/api/generate")
    async def generate(request: Request) -> Response:
        started = time.perf_counter_ns()
        req = parse_body(GenerateRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, GenerateRequest)
        if not req.prompt:  # Ollama: an empty prompt only loads (or unloads) the model
            return load_only(req, chat=False)
        msgs: list[Mapping[str, Any]] = [{"role": "user", "content": req.prompt}]
        return await generation(req.model, req.system or "", msgs, req, chat=False, started=started)
