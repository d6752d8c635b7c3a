"""Service and model endpoints: ``/``, version, tags, ps, show, pull."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from ollama import (
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
)
from ollama._types import (
    PullRequest,
    ShowRequest,
)

from .catalog import NAME, VERSION, StandIn, canonical
from .protocol import body_of, digest, dump, error_response, parse_body


def register(app: FastAPI, state: StandIn) -> None:
    @app.get("/")
    @app.head("/")
    async def root() -> PlainTextResponse:
        return PlainTextResponse("Ollama is running")

    @app.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": VERSION}

    @app.get("/api/tags")
    async def tags() -> dict[str, Any]:
        models = sorted(state.embed_models | state.llm_models)
        return {"models": [state.model_entry(m) for m in models]}

    @app.get("/api/ps")
    async def ps() -> dict[str, Any]:
        models = []
        for model, until in sorted(state.loaded.items()):
            entry = dump(
                ProcessResponse.Model(
                    model=model,
                    name=model,
                    digest=digest(model),
                    expires_at=datetime.fromtimestamp(until, UTC),
                    size=1,
                    size_vram=0,
                    details=state.details(model),
                    context_length=8192,
                )
            )
            models.append(entry)
        return {"models": models}

    @app.post("/api/show")
    async def show(request: Request) -> Response:
        req = parse_body(ShowRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, ShowRequest)
        if not state.known(req.model):
            return error_response(404, f"model '{req.model}' not found")
        is_embed = canonical(req.model) in state.embed_models
        dim = state.embedder.native_dim()
        info = {"general.architecture": "bert" if is_embed else "standin"}
        if is_embed:
            info["bert.embedding_length"] = dim
        resp = ShowResponse(
            modified_at=datetime(2026, 1, 1, tzinfo=UTC),
            modelfile=f"# {NAME}: no model file\nFROM {req.model}\n",
            template="{{ .Prompt }}",
            parameters="",
            details=state.details(req.model),
            model_info=info,
            capabilities=["embedding"] if is_embed else ["completion"],
        )
        return JSONResponse(dump(resp))

    @app.post("/api/pull")
    async def pull(request: Request) -> Response:
        req = parse_body(PullRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, PullRequest)
        if not state.known(req.model):
            return error_response(404, f"pull model manifest: model '{req.model}' not found")
        steps = [ProgressResponse(status="pulling manifest"), ProgressResponse(status="success")]
        if req.stream is False:
            return JSONResponse(dump(steps[-1]))
        lines = (json.dumps(dump(s)) + "\n" for s in steps)
        return StreamingResponse(lines, media_type="application/x-ndjson")
