"""Collection snapshots: create, list, download, delete, recover (from a ``file://`` location
inside the snapshots directory or a loopback URL) and upload, with Qdrant's paths, query
parameters (``wait`` defaults to true here), bodies and answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from qdrant_client.http import models
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from .config import Settings
from .errors import QdrantError, translate_error
from .protocol import Calls, elapsed, flag, ok, parse
from .snapshots import (
    CHECKSUM_SUFFIX,
    SnapshotStore,
    check_checksum,
    loopback_url,
    read_snapshot,
    restore,
    sha256_file,
)

log = logging.getLogger("qdrant_standin")
DOWNLOAD_TIMEOUT = 300.0
_background: set[asyncio.Task[Any]] = set()


def register(app: FastAPI, calls: Calls, settings: Settings) -> None:
    engine, read, write = calls.engine, calls.read, calls.write
    store = SnapshotStore(settings.snapshots_path)

    async def run_or_accept(
        request: Request, work: Callable[[], Coroutine[Any, Any, Any]]
    ) -> Response:
        """``wait=true``: the result; ``wait=false``: 202 ``accepted`` at once, as Qdrant."""
        if flag(request, "wait", True):
            return ok(request, await work())
        task = asyncio.create_task(work())
        _background.add(task)
        task.add_done_callback(_done)
        body = {"status": "accepted", "time": elapsed(request)}
        return JSONResponse(body, status_code=202)

    async def recover(name: str, path: Path, checksum: str | None) -> bool:
        """Check the file (checksum, format) first; only then replace the collection."""
        await run_in_threadpool(check_checksum, path, checksum)
        snap = await run_in_threadpool(read_snapshot, path)
        return bool(await write(lambda c: restore(engine, c, name, snap)))

    @app.get("/collections/{name}/snapshots")
    async def list_snapshots(request: Request, name: str) -> JSONResponse:
        await read(lambda c: engine.require_collection(c, name))
        return ok(request, await run_in_threadpool(store.listing, name))

    @app.post("/collections/{name}/snapshots")
    async def create_snapshot(request: Request, name: str) -> Response:
        await read(lambda c: engine.require_collection(c, name))
        # through the writer queue: after every update accepted before it, before any after
        return await run_or_accept(request, lambda: write(lambda c: store.create(engine, c, name)))

    @app.get("/collections/{name}/snapshots/{snapshot_name}")
    async def download_snapshot(request: Request, name: str, snapshot_name: str) -> Response:
        await read(lambda c: engine.require_collection(c, name))
        path = store.path(name, snapshot_name)
        return FileResponse(path, media_type="application/octet-stream", filename=path.name)

    @app.delete("/collections/{name}/snapshots/{snapshot_name}")
    async def delete_snapshot(request: Request, name: str, snapshot_name: str) -> Response:
        await read(lambda c: engine.require_collection(c, name))
        store.path(name, snapshot_name)  # 404 before accepting

        async def work() -> bool:
            return bool(await run_in_threadpool(store.delete, name, snapshot_name))

        return await run_or_accept(request, work)

    @app.put("/collections/{name}/snapshots/recover")
    async def recover_snapshot(request: Request, name: str) -> Response:
        store.collection_dir(name)
        body = await parse(request, models.SnapshotRecover)
        scheme = body.location.split(":", 1)[0].lower() if ":" in body.location else ""
        if scheme == "file":
            path = store.local_file(body.location)
            return await run_or_accept(request, lambda: recover(name, path, body.checksum))
        if scheme not in ("http", "https"):
            raise QdrantError(
                400, f"Bad request: URL {body.location} with schema {scheme} is not supported"
            )
        url = loopback_url(body.location)

        async def from_url() -> bool:
            path = await download(url, body.api_key)
            try:
                return await recover(name, path, body.checksum)
            finally:
                path.unlink(missing_ok=True)

        return await run_or_accept(request, from_url)

    @app.post("/collections/{name}/snapshots/upload")
    async def upload_snapshot(request: Request, name: str) -> Response:
        folder = store.collection_dir(name)
        priority = request.query_params.get("priority")
        if priority is not None and priority not in {p.value for p in models.SnapshotPriority}:
            raise QdrantError(400, f"Query deserialize error: unknown priority `{priority}`")
        checksum = request.query_params.get("checksum")
        flag(request, "wait", True)  # a bad flag is refused before anything is saved
        form = await request.form()
        try:
            upload = form.get("snapshot")
            if not isinstance(upload, UploadFile):
                raise QdrantError(
                    400, "Bad request: multipart field `snapshot` (a file) is missing"
                )
            path = store.temp_file()
            await run_in_threadpool(_copy, upload, path)
        finally:
            await form.close()
        try:
            await run_in_threadpool(check_checksum, path, checksum)
        except QdrantError:
            path.unlink(missing_ok=True)
            raise
        # as Qdrant, keep the upload in the collection's snapshots directory, under its name
        target = folder / Path(upload.filename or path.name).name
        folder.mkdir(parents=True, exist_ok=True)
        path = path.replace(target if target.name not in ("", ".", "..") else folder / path.name)
        sidecar = path.with_name(path.name + CHECKSUM_SUFFIX)
        if sidecar.is_file():  # an earlier snapshot of that name: keep its checksum true
            sidecar.write_text(await run_in_threadpool(sha256_file, path), encoding="utf-8")
        return await run_or_accept(request, lambda: recover(name, path, None))

    async def download(url: str, api_key: str | None) -> Path:
        """Fetch a loopback URL into the snapshots directory; no proxy, no redirect."""
        path = store.temp_file()
        headers = {"api-key": api_key} if api_key else {}
        try:
            async with (
                httpx.AsyncClient(
                    trust_env=False, verify=False, follow_redirects=False, timeout=DOWNLOAD_TIMEOUT
                ) as http,
                http.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise QdrantError(
                        400,
                        f"Bad request: failed to download snapshot from {url}: "
                        f"HTTP {response.status_code}",
                    )
                with path.open("wb") as f:
                    async for chunk in response.aiter_bytes():
                        f.write(chunk)
        except httpx.HTTPError as exc:
            path.unlink(missing_ok=True)
            raise QdrantError(
                400, f"Bad request: failed to download snapshot from {url}: {exc}"
            ) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


def _copy(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with path.open("wb") as f:
        while block := upload.file.read(1 << 20):
            f.write(block)


def _done(task: asyncio.Task[Any]) -> None:
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        err = translate_error(task.exception() or Exception())
        log.error("Error processing snapshot request: %s", err.message)
