"""Embedding endpoints: ``/api/embed`` and the legacy ``/api/embeddings``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ollama import (
    EmbeddingsResponse,
    EmbedResponse,
)
from ollama._types import (
    EmbeddingsRequest,
    EmbedRequest,
)

from .catalog import StandIn, canonical
from .protocol import body_of, dump, error_response, keep_alive_of, not_found, parse_body
from .text import count_words


def register(app: FastAPI, state: StandIn) -> None:
    slots: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def computing(model: str) -> AsyncIterator[None]:
        """The model's compute time (``embed_latency``), at most OLLAMA_NUM_PARALLEL at once."""
        if not state.embed_latency:
            yield
            return
        if not state.num_parallel:
            await asyncio.sleep(state.embed_latency)
            yield
            return
        slot = slots.setdefault(model, asyncio.Semaphore(state.num_parallel))
        async with slot:
            await asyncio.sleep(state.embed_latency)
            yield

    @app.post("/api/embed")
    async def embed(request: Request) -> Response:
        req = parse_body(EmbedRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, EmbedRequest)
        if not state.known(req.model):
            return not_found(req.model)
        try:
            keep_alive = keep_alive_of(req)
        except ValueError as exc:
            return error_response(400, str(exc))
        # Ollama: an empty input only loads the model (with keep_alive: preloading)
        texts = ([req.input] if req.input else []) if isinstance(req.input, str) else req.input
        texts = list(texts)
        started = time.perf_counter_ns()
        try:
            vectors = state.embedder.embed(texts, req.dimensions) if texts else []
        except ValueError as exc:
            return error_response(400, str(exc))
        if texts:
            async with computing(canonical(req.model)):
                pass
        state.scheduler.touch(canonical(req.model), keep_alive)
        resp = EmbedResponse(
            model=req.model,
            embeddings=vectors,
            total_duration=time.perf_counter_ns() - started,
            load_duration=0,
            prompt_eval_count=count_words(*texts),
        )
        return JSONResponse(dump(resp))

    @app.post("/api/embeddings")
    async def embeddings(request: Request) -> Response:
        req = parse_body(EmbeddingsRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, EmbeddingsRequest)
        if not state.known(req.model):
            return not_found(req.model)
        try:
            keep_alive = keep_alive_of(req)
        except ValueError as exc:
            return error_response(400, str(exc))
        vector = state.embedder.embed([req.prompt], None)[0] if req.prompt else []
        if req.prompt:
            async with computing(canonical(req.model)):
                pass
        state.scheduler.touch(canonical(req.model), keep_alive)
        return JSONResponse(dump(EmbeddingsResponse(embedding=vector)))
