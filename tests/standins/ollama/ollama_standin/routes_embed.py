"""Embedding endpoints: ``/api/embed`` and the legacy ``/api/embeddings``."""

from __future__ import annotations

import asyncio
import time

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
from .protocol import body_of, dump, error_response, parse_body
from .text import count_words


def register(app: FastAPI, state: StandIn) -> None:
    @app.post("/api/embed")
    async def embed(request: Request) -> Response:
        req = parse_body(EmbedRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, EmbedRequest)
        if not state.known(req.model):
            return error_response(404, f"model '{req.model}' not found")
        texts = [req.input] if isinstance(req.input, str) else list(req.input)
        started = time.perf_counter_ns()
        try:
            vectors = state.embedder.embed(texts, req.dimensions)
        except ValueError as exc:
            return error_response(400, str(exc))
        if state.embed_latency:
            await asyncio.sleep(state.embed_latency)
        state.loaded[canonical(req.model)] = time.time() + 300
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
            return error_response(404, f"model '{req.model}' not found")
        vector = state.embedder.embed([req.prompt], None)[0] if req.prompt else []
        if state.embed_latency:
            await asyncio.sleep(state.embed_latency)
        return JSONResponse(dump(EmbeddingsResponse(embedding=vector)))
