"""Model management as Ollama's API does it: pull, delete, copy, blobs, create.

The "registry" a pull fetches from is the stand-in's catalog (see ``catalog``); nothing is
downloaded. A created model is an embedding model when its name is one of the catalog's
embedding names (``SHIELD_OLLAMA_STANDIN_EMBED_MODELS`` adds names), or when it is created
``from`` an embedding model; otherwise it is an LLM.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ollama import ProgressResponse
from ollama._types import PullRequest

from .catalog import EMBEDDING, LLM, StandIn, placeholder_weights
from .protocol import body_of, dump, error_response, parse_body
from .store import canonical, valid_digest, valid_name

INVALID_NAME = "invalid model name"

NO_MANIFEST = "pull model manifest: file does not exist"


def _progress(steps: list[dict[str, Any]], stream: bool | None) -> Response:
    """Ollama's progress answer: NDJSON lines (stream true or absent), else the last one."""
    if stream is False:
        last = steps[-1]
        return error_response(500, last["error"]) if "error" in last else JSONResponse(last)
    lines: Iterator[str] = (json.dumps(s) + "\n" for s in steps)
    return StreamingResponse(lines, media_type="application/x-ndjson")


def _status(status: str, **extra: Any) -> dict[str, Any]:
    return dump(ProgressResponse(status=status, **extra))


def _norm_digest(digest: str) -> str:
    return digest.replace("-", ":", 1)


def register(app: FastAPI, state: StandIn) -> None:
    def install(model: str) -> list[dict[str, Any]] | None:
        """Pull ``model`` from the catalog: its progress lines, or None if it has no entry."""
        kind = state.registry_kind(model)
        if kind is None:
            return None
        steps = [_status("pulling manifest")]
        for digest, size in state.store.write_model(model, kind, placeholder_weights(model, kind)):
            hexpart = digest.split(":", 1)[1]
            steps.append(
                _status(f"pulling {hexpart[:12]}", digest=digest, total=size, completed=size)
            )
        return [*steps, _status("verifying sha256 digest"), _status("writing manifest")]

    @app.post("/api/pull")
    async def pull(request: Request) -> Response:
        body = await body_of(request)
        if isinstance(body, Mapping) and "model" not in body and "name" in body:
            body = {**body, "model": body["name"]}  # the older field name
        req = parse_body(PullRequest, body)
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, PullRequest)
        if not valid_name(req.model):
            return error_response(400, INVALID_NAME)
        steps = install(req.model)
        if steps is None:
            return _progress([_status("pulling manifest"), {"error": NO_MANIFEST}], req.stream)
        return _progress([*steps, _status("success")], req.stream)

    @app.delete("/api/delete")
    async def delete(request: Request) -> Response:
        body = await body_of(request)
        model = ""
        if isinstance(body, Mapping):
            model = str(body.get("model") or body.get("name") or "")
        if not model:
            return error_response(400, "model is required")
        if not state.store.delete(model):
            return error_response(404, f"model '{model}' not found")
        state.scheduler.unload(canonical(model))
        return Response(status_code=200)

    @app.post("/api/copy")
    async def copy(request: Request) -> Response:
        body = await body_of(request)
        if not isinstance(body, Mapping) or not body.get("source") or not body.get("destination"):
            return error_response(400, "source and destination are required")
        if not valid_name(str(body["destination"])):
            return error_response(400, INVALID_NAME)
        if not state.store.copy(str(body["source"]), str(body["destination"])):
            return error_response(404, f"model '{body['source']}' not found")
        return Response(status_code=200)

    @app.head("/api/blobs/{digest}")
    async def head_blob(digest: str) -> Response:
        if not valid_digest(digest):
            return error_response(400, "invalid digest format")
        if not state.store.has_blob(_norm_digest(digest)):
            return error_response(404, f'blob "{digest}" not found')
        return Response(status_code=200)

    @app.post("/api/blobs/{digest}")
    async def create_blob(digest: str, request: Request) -> Response:
        if not valid_digest(digest):
            return error_response(400, "invalid digest format")
        expected = _norm_digest(digest)
        if state.store.has_blob(expected):
            return Response(status_code=200)
        actual = await state.store.receive_blob(request.stream(), expected)
        if actual != expected:
            return error_response(400, f'digest mismatch, expected "{digest}", got "{actual}"')
        return Response(status_code=201)

    @app.post("/api/create")
    async def create(request: Request) -> Response:
        body = await body_of(request)
        if not isinstance(body, Mapping):
            return error_response(400, "invalid request body")
        model = str(body.get("model") or body.get("name") or "")
        if not model:
            return error_response(400, "model is required")
        if not valid_name(model):
            return error_response(400, INVALID_NAME)
        stream = body.get("stream")
        files = body.get("files") or {}
        source = body.get("from")
        steps: list[dict[str, Any]] = []
        params: dict[str, Any] = {}
        layers: dict[str, Any] = {}
        if files:
            if not isinstance(files, Mapping):
                return error_response(400, "files must map file names to blob digests")
            ggufs = sorted(n for n in files if str(n).endswith(".gguf")) or sorted(files)
            digest = _norm_digest(str(files[ggufs[0]]))
            data = state.store.blob(digest) if valid_digest(digest) else None
            if data is None:
                return error_response(400, f'blob "{files[ggufs[0]]}" for {ggufs[0]} not found')
            if not data.startswith(b"GGUF"):
                return error_response(400, "invalid file magic")
            steps.append(_status("parsing GGUF"))
            kind = EMBEDDING if state.registry_kind(model) == EMBEDDING else LLM
            weights = digest
        elif source:
            found = state.installed(str(source))
            if found is None and install(str(source)) is not None:
                steps.append(_status("pulling model"))  # Ollama pulls a missing FROM model
                found = state.installed(str(source))
            if found is None:
                return error_response(404, f"model '{source}' not found")
            kind = found.kind
            from_weights = state.store.weights_digest(found.name)
            if from_weights is None:
                return error_response(500, f"model '{source}' has no model layer")
            weights = from_weights
            layers = {k: v.decode() for k, v in found.layers.items() if k != "params"}
            params = json.loads(found.layers.get("params", b"{}") or b"{}")
        else:
            return error_response(400, "neither 'from' or 'files' was specified")
        if isinstance(body.get("parameters"), Mapping):
            params |= dict(body["parameters"])
        for key in ("template", "system"):
            if isinstance(body.get(key), str):
                layers[key] = body[key]
        written = state.store.write_model(model, kind, weights, {**layers, "params": params})
        steps += [_status(f"using existing layer {d}") for d, _unused in written]
        steps += [_status("writing manifest"), _status("success")]
        return _progress(steps, stream)
