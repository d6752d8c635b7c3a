"""Generation endpoints: ``/api/chat`` and ``/api/generate`` (streamed or not)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
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


def register(app: FastAPI, state: StandIn) -> None:
    def generation(
        model: str, system: str, messages: list[Mapping[str, Any]], req: Any, chat: bool
    ) -> Response:
        kind = state.kind(model)
        if kind is None:
            return not_found(model)
        try:
            keep_alive = keep_alive_of(req)
        except ValueError as exc:
            return error_response(400, str(exc))
        if kind == EMBEDDING:
            return error_response(
                400, f'"{model}" does not support {"chat" if chat else "generate"}'
            )
        started = time.perf_counter_ns()
        text = reply(system, messages, as_json=req.format not in (None, ""))
        text, reason = cut(text, req.options)
        state.scheduler.touch(canonical(model), keep_alive)
        prompt_count = count_words(system, *(content_of(m) for m in messages))
        final: dict[str, Any] = {
            "model": model,
            "done": True,
            "done_reason": reason,
            "load_duration": 0,
            "prompt_eval_count": prompt_count,
            "prompt_eval_duration": 1,
            "eval_count": count_words(text),
        }

        def frame(piece: str, done: bool) -> BaseModel:
            common: dict[str, Any] = {"model": model, "created_at": now(), "done": done}
            if done:
                common |= final | {
                    "total_duration": time.perf_counter_ns() - started,
                    "eval_duration": time.perf_counter_ns() - started,
                }
            if chat:
                return ChatResponse(message=Message(role="assistant", content=piece), **common)
            return GenerateResponse(response=piece, **common)

        if req.stream is False:
            return JSONResponse(dump(frame(text, True)))

        def stream() -> Iterator[str]:
            for piece in chunks(text):
                yield json.dumps(dump(frame(piece, False))) + "\n"
            yield json.dumps(dump(frame("", True))) + "\n"

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    def load_only(req: Any, chat: bool) -> Response:
        if not state.known(req.model):
            return not_found(req.model)
        try:
            keep_alive = keep_alive_of(req)
        except ValueError as exc:
            return error_response(400, str(exc))
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
        req = parse_body(ChatRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, ChatRequest)
        msgs = [m if isinstance(m, Mapping) else dump(m) for m in (req.messages or [])]
        system = "\n".join(content_of(m) for m in msgs if role_of(m) == "system")
        rest = [m for m in msgs if role_of(m) != "system"]
        if not msgs:  # Ollama: no messages only loads (or, keep_alive 0, unloads) the model
            return load_only(req, chat=True)
        return generation(req.model, system, rest, req, chat=True)

    @app.post("/api/generate")
    async def generate(request: Request) -> Response:
        req = parse_body(GenerateRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, GenerateRequest)
        if not req.prompt:  # Ollama: an empty prompt only loads (or unloads) the model
            return load_only(req, chat=False)
        msgs: list[Mapping[str, Any]] = [{"role": "user", "content": req.prompt}]
        return generation(req.model, req.system or "", msgs, req, chat=False)
