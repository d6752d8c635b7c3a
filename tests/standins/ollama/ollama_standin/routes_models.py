"""Service and model-information endpoints: ``/``, version, tags, ps, show."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from ollama import (
    ProcessResponse,
    ShowResponse,
)
from ollama._types import (
    ShowRequest,
)
from pydantic import ByteSize

from .catalog import EMBEDDING, NAME, StandIn
from .protocol import body_of, dump, error_response, parse_body
from .version import version as current_version


def register(app: FastAPI, state: StandIn) -> None:
    @app.get("/")
    @app.head("/")
    async def root() -> PlainTextResponse:
        return PlainTextResponse("Ollama is running")

    @app.get("/api/version")
    @app.head("/api/version")
    async def version() -> dict[str, str]:
        return {"version": current_version()}

    @app.get("/api/tags")
    @app.head("/api/tags")
    async def tags() -> dict[str, Any]:
        entries = []
        for model in state.store.names():
            try:
                entries.append(state.model_entry(model))
            except KeyError:  # deleted meanwhile
                continue
        return {"models": entries}

    @app.get("/api/ps")
    async def ps() -> dict[str, Any]:
        models = []
        for model, until in state.scheduler.loaded().items():
            found = state.installed(model)
            entry = dump(
                ProcessResponse.Model(
                    model=model,
                    name=model,
                    digest=found.digest if found else "",
                    expires_at=datetime.fromtimestamp(until, UTC),
                    size=ByteSize(found.size if found else 0),
                    size_vram=ByteSize(0),
                    details=state.details(model, found.kind if found else None),
                    context_length=8192,
                )
            )
            models.append(entry)
        return {"models": models}

    @app.post("/api/show")
    async def show(request: Request) -> Response:
        body = await body_of(request)
        if isinstance(body, dict) and "model" not in body and "name" in body:
            body = {**body, "model": body["name"]}  # the older field name
        req = parse_body(ShowRequest, body)
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, ShowRequest)
        found = state.installed(req.model)
        if found is None:
            return error_response(404, f"model '{req.model}' not found")
        is_embed = found.kind == EMBEDDING
        dim = state.embedder.native_dim()
        info: dict[str, Any] = {"general.architecture": "bert" if is_embed else "standin"}
        if is_embed:
            info["bert.embedding_length"] = dim
        template = found.layers.get("template", b"{{ .Prompt }}").decode()
        system = found.layers.get("system", b"").decode()
        params = json.loads(found.layers.get("params", b"{}") or b"{}")
        parameters = "\n".join(
            f"{k} {json.dumps(v) if isinstance(v, str) else v}"
            for k, vs in sorted(params.items())
            for v in (vs if isinstance(vs, list) else [vs])
        )
        modelfile = f"# {NAME}: no model file\nFROM {found.name}\n"
        if system:
            modelfile += f'SYSTEM """{system}"""\n'
        resp = ShowResponse(
            modified_at=found.modified_at,
            modelfile=modelfile,
            template=template,
            parameters=parameters,
            details=state.details(req.model, found.kind),
            model_info=info,
            capabilities=["embedding"] if is_embed else ["completion"],
        )
        out = dump(resp)
        if system:
            out["system"] = system
        return JSONResponse(out)
