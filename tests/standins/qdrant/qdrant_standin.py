#!/usr/bin/env python3
"""Qdrant STAND-IN for Shield RAG tests -- this is NOT the real Qdrant server.

No Qdrant server binary can be obtained on the build machines, so tests (and a role test's
"release archive") run this file instead. It speaks the subset of Qdrant's REST API that
qdrant-client uses over HTTP, with the official request/response models from
``qdrant_client.http.models``, and stores data with qdrant-client's local mode engine
(``QdrantClient(path=...)``), which persists to disk. gRPC is not served.

It is started like the real binary::

    qdrant --config-path /etc/qdrant/config.yaml
    qdrant --version

and reads the real ``config.yaml`` keys it understands (``service.host``, ``service.http_port``,
``service.api_key``, ``service.read_only_api_key``, ``service.enable_tls`` + ``tls.cert`` /
``tls.key``, ``storage.storage_path``, ``storage.snapshots_path``, ``log_level``,
``telemetry_disabled``), ignoring the rest, then the ``QDRANT__SECTION__KEY`` environment
overrides. The file is self-contained on purpose: it is copied alone into release archives.
It needs a Python with qdrant-client, fastapi, uvicorn and PyYAML; if the ``python3`` found by
the shebang lacks them, it re-executes itself with ``$QDRANT_STANDIN_PYTHON`` when that is set.
The version it reports (``GET /``, ``--version``) follows the installed qdrant-client so that the
client's compatibility check passes; ``$QDRANT_STANDIN_VERSION`` or a baked value overrides it.
"""

from __future__ import annotations

import os
import sys

STANDIN_NAME = "Qdrant stand-in (Shield RAG tests; NOT the real Qdrant server)"
# Release archives built by the tests may pin the reported version by rewriting this line.
BAKED_VERSION: str | None = None
_DEPENDENCIES = ("fastapi", "uvicorn", "yaml", "qdrant_client")


def _ensure_dependencies() -> None:
    """Re-exec under $QDRANT_STANDIN_PYTHON when this interpreter lacks the dependencies."""
    missing = []
    for module in _DEPENDENCIES:
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if not missing:
        return
    alt = os.environ.get("QDRANT_STANDIN_PYTHON")
    if alt and not os.environ.get("_QDRANT_STANDIN_REEXEC"):
        os.environ["_QDRANT_STANDIN_REEXEC"] = "1"
        os.execv(alt, [alt, os.path.abspath(__file__), *sys.argv[1:]])
    sys.stderr.write(
        f"{STANDIN_NAME}: {sys.executable} lacks {', '.join(missing)}; install qdrant-client, "
        "fastapi, uvicorn and PyYAML or set QDRANT_STANDIN_PYTHON to a Python that has them\n"
    )
    raise SystemExit(2)


def standin_version() -> str:
    """The Qdrant version reported: baked, from the environment, or matching the client."""
    from importlib import metadata

    if BAKED_VERSION:
        return BAKED_VERSION
    if os.environ.get("QDRANT_STANDIN_VERSION"):
        return os.environ["QDRANT_STANDIN_VERSION"]
    try:  # qdrant-client warns unless major matches and minor is within one of the server's
        major, minor, *_ = metadata.version("qdrant-client").split(".")
        return f"{major}.{minor}.0"
    except (metadata.PackageNotFoundError, ValueError):
        return "1.20.0"


if __name__ == "__main__" and "--version" in sys.argv[1:]:
    print(f"qdrant {standin_version()}")
    print(STANDIN_NAME, file=sys.stderr)
    raise SystemExit(0)
if __name__ == "__main__":
    _ensure_dependencies()

# ruff: noqa: E402 - third-party imports come after the interpreter check above
import argparse
import asyncio
import contextlib
import hmac
import json
import logging
import re
import signal
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python
from qdrant_client import QdrantClient
from qdrant_client.http import models
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("qdrant_standin")

# --------------------------------------------------------------------------- configuration

DEFAULT_CONFIG: dict[str, Any] = {
    "log_level": "INFO",
    "telemetry_disabled": False,
    "storage": {"storage_path": "./storage", "snapshots_path": "./snapshots"},
    "service": {
        "host": "0.0.0.0",
        "http_port": 6333,
        "grpc_port": 6334,
        "api_key": None,
        "read_only_api_key": None,
        "enable_tls": False,
    },
    "tls": {"cert": None, "key": None},
}


@dataclass
class Settings:
    host: str = "0.0.0.0"
    http_port: int = 6333
    grpc_port: int | None = 6334
    api_key: str | None = None
    read_only_api_key: str | None = None
    storage_path: Path = Path("./storage")
    snapshots_path: Path = Path("./snapshots")
    log_level: str = "INFO"
    telemetry_disabled: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    sources: list[str] = field(default_factory=list)


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _key_or_none(value: Any) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def load_settings(config_path: str | None, environ: dict[str, str] | None = None) -> Settings:
    """Defaults, then ``config/config.yaml`` (or ``--config-path``), then ``QDRANT__*`` env."""
    environ = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = json.loads(json.dumps(DEFAULT_CONFIG))
    sources: list[str] = []
    path = Path(config_path) if config_path else Path("config/config.yaml")
    if config_path or path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"{path}: a Qdrant config must be a YAML mapping")
        _merge(raw, loaded)
        sources.append(str(path))
    for name, value in sorted(environ.items()):
        if not name.startswith("QDRANT__"):
            continue
        keys = [part.lower() for part in name[len("QDRANT__") :].split("__") if part]
        node = raw
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        if keys:
            node[keys[-1]] = yaml.safe_load(value) if value != "" else ""
            sources.append(name)
    service, storage, tls = raw["service"], raw["storage"], raw.get("tls") or {}
    tls_on = bool(service.get("enable_tls"))
    grpc_port = service.get("grpc_port")
    return Settings(
        host=str(service.get("host") or "0.0.0.0"),
        http_port=int(service.get("http_port") or 6333),
        grpc_port=int(grpc_port) if grpc_port not in (None, "") else None,
        api_key=_key_or_none(service.get("api_key")),
        read_only_api_key=_key_or_none(service.get("read_only_api_key")),
        storage_path=Path(str(storage.get("storage_path") or "./storage")),
        snapshots_path=Path(str(storage.get("snapshots_path") or "./snapshots")),
        log_level=str(raw.get("log_level") or "INFO"),
        telemetry_disabled=bool(raw.get("telemetry_disabled")),
        tls_cert=tls.get("cert") if tls_on else None,
        tls_key=tls.get("key") if tls_on else None,
        sources=sources,
    )


# --------------------------------------------------------------------------- errors


class QdrantError(Exception):
    """An error answered the way Qdrant does: ``{"status": {"error": ...}, "time": ...}``."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def translate_error(exc: BaseException) -> QdrantError:
    if isinstance(exc, QdrantError):
        return exc
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        return QdrantError(400, f"Format error in JSON body: {problems}")
    message = str(exc)
    if isinstance(exc, ValueError):
        if found := re.fullmatch(r"Collection (.+) not found", message):
            return QdrantError(404, f"Not found: Collection `{found[1]}` doesn't exist!")
        if found := re.fullmatch(r"(Collection|Alias) (.+) already exists", message):
            return QdrantError(409, f"Wrong input: {found[1]} `{found[2]}` already exists!")
        if message.startswith(("Wrong input", "Bad request", "Not found")):
            return QdrantError(404 if message.startswith("Not found") else 400, message)
        return QdrantError(400, f"Bad request: {message}")
    if isinstance(exc, NotImplementedError):
        return QdrantError(400, f"Bad request: not supported by the Qdrant stand-in: {message}")
    return QdrantError(500, f"Service internal error: {type(exc).__name__}: {message}")


# --------------------------------------------------------------------------- engine


def _dump(value: Any) -> Any:
    return to_jsonable_python(value)


class Engine:
    """qdrant-client's local mode behind one lock, plus an ordered queue for updates.

    Local mode is not thread-safe, so every call holds ``_lock``. Updates run one at a time on
    a single writer thread in arrival order; ``wait=true`` awaits them, ``wait=false`` returns
    ``acknowledged`` at once, as Qdrant does. What local mode does not keep (payload index
    schemas, HNSW/optimizer/WAL settings) is kept in ``standin_meta.json`` next to its data.
    """

    META_FILE = "standin_meta.json"

    def __init__(self, storage_path: Path) -> None:
        self.storage_path = storage_path
        storage_path.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # local mode's advice to users of the library, not news for a server's log
        for advice in ("Payload indexes have no effect", "Local mode is not recommended"):
            warnings.filterwarnings("ignore", message=advice)
        self.client = QdrantClient(path=str(storage_path), force_disable_check_same_thread=True)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qdrant-update")
        self._meta_path = storage_path / self.META_FILE
        self.meta: dict[str, dict[str, Any]] = {}
        if self._meta_path.is_file():
            self.meta = json.loads(self._meta_path.read_text(encoding="utf-8")).get(
                "collections", {}
            )
        self._op_ids: dict[str, int] = {}
        self._op_ids_lock = threading.Lock()
        self.closed = False

    # -- plumbing
    def locked(self, fn: Callable[[QdrantClient], Any]) -> Any:
        with self._lock:
            if self.closed:
                raise QdrantError(503, "Service unavailable: the stand-in is shutting down")
            return fn(self.client)

    async def read(self, fn: Callable[[QdrantClient], Any]) -> Any:
        return await run_in_threadpool(self.locked, fn)

    async def write(self, fn: Callable[[QdrantClient], Any]) -> Any:
        """Run an update in order and wait for it."""
        return await asyncio.wrap_future(self._writer.submit(self.locked, fn))

    async def update(
        self, collection: str, fn: Callable[[QdrantClient], Any], wait: bool
    ) -> models.UpdateResult:
        """A point/index update: ``UpdateResult`` completed, or acknowledged if not waiting."""
        await self.read(lambda c: self.require_collection(c, collection))
        with self._op_ids_lock:
            op_id = self._op_ids.get(collection, 0)
            self._op_ids[collection] = op_id + 1
        future = self._writer.submit(self.locked, fn)
        if not wait:
            future.add_done_callback(_log_failed_update)
            return models.UpdateResult(operation_id=op_id, status=models.UpdateStatus.ACKNOWLEDGED)
        await asyncio.wrap_future(future)
        return models.UpdateResult(operation_id=op_id, status=models.UpdateStatus.COMPLETED)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        with self._lock:
            if not self.closed:
                self.closed = True
                self.client.close()

    # -- helpers used under the lock
    @staticmethod
    def require_collection(client: QdrantClient, name: str) -> None:
        if not client.collection_exists(name):
            raise QdrantError(404, f"Not found: Collection `{name}` doesn't exist!")

    def save_meta(self) -> None:
        tmp = self._meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"collections": self.meta}, indent=1), encoding="utf-8")
        os.replace(tmp, self._meta_path)

    def collection_meta(self, name: str) -> dict[str, Any]:
        return self.meta.setdefault(name, {})

    def collection_info(self, client: QdrantClient, name: str) -> models.CollectionInfo:
        info = client.get_collection(name)
        meta = self.meta.get(name, {})
        schema: dict[str, models.PayloadIndexInfo] = {}
        for field_name, stored in meta.get("payload_indexes", {}).items():
            index = TypeAdapter(models.PayloadFieldSchema).validate_python(stored)
            data_type = index if isinstance(index, models.PayloadSchemaType) else index.type
            present = models.Filter(
                must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=field_name))]
            )
            points = client.count(name, count_filter=present, exact=True).count
            schema[field_name] = models.PayloadIndexInfo(
                data_type=models.PayloadSchemaType(_enum_value(data_type)),
                params=None if isinstance(index, models.PayloadSchemaType) else index,
                points=points,
            )
        info.payload_schema = schema
        info.indexed_vectors_count = info.points_count
        config = info.config
        for key, attr, model in (
            ("hnsw_config", "hnsw_config", models.HnswConfig),
            ("optimizers_config", "optimizer_config", models.OptimizersConfig),
            ("wal_config", "wal_config", models.WalConfig),
        ):
            if meta.get(key):
                with contextlib.suppress(ValidationError):
                    merged = {**_dump(getattr(config, attr)), **meta[key]}
                    setattr(config, attr, model.model_validate(merged))
        return info


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _log_failed_update(future: Any) -> None:
    if future.exception() is not None:
        log.error("Error processing request: %s", translate_error(future.exception()).message)


def dense_sizes(client: QdrantClient, name: str) -> dict[str, int]:
    """Dense (single-vector) sizes by vector name, ``""`` for the unnamed vector."""
    vectors = client.get_collection(name).config.params.vectors
    named = {"": vectors} if isinstance(vectors, models.VectorParams) else dict(vectors or {})
    return {k: v.size for k, v in named.items() if v.multivector_config is None}


def check_dims(sizes: dict[str, int], vector: Any, using: str | None) -> None:
    """Qdrant's "Vector dimension error" for a dense vector of the wrong length."""
    if isinstance(vector, models.NearestQuery):
        vector = vector.nearest
    if not (isinstance(vector, list) and vector and isinstance(vector[0], int | float)):
        return
    size = sizes.get(using or "")
    if size is not None and len(vector) != size:
        raise QdrantError(
            400, f"Wrong input: Vector dimension error: expected dim: {size}, got {len(vector)}"
        )


def check_upsert_dims(client: QdrantClient, name: str, body: Any) -> None:
    sizes = dense_sizes(client, name)
    if isinstance(body, models.PointsList):
        structs = [p.vector for p in body.points]
    elif isinstance(body.batch.vectors, dict):
        structs = [{k: v} for k, vs in body.batch.vectors.items() for v in vs]
    else:
        structs = list(body.batch.vectors)
    for struct in structs:
        for using, vector in struct.items() if isinstance(struct, dict) else [("", struct)]:
            check_dims(sizes, vector, using)


def check_point_ids(body: Any) -> None:
    """Reject ids that are neither unsigned integers nor UUIDs, as Qdrant's parser does."""
    ids: list[Any] = []
    if isinstance(body, models.PointsList | models.UpdateVectors):
        ids = [p.id for p in body.points]
    elif isinstance(body, models.PointsBatch):
        ids = list(body.batch.ids)
    elif isinstance(body, models.PointIdsList):
        ids = list(body.points)
    elif isinstance(body, models.PointRequest):
        ids = list(body.ids)
    elif isinstance(body, models.SetPayload | models.DeletePayload | models.DeleteVectors):
        ids = list(body.points or [])
    for pid in ids:
        if isinstance(pid, uuid.UUID) or (isinstance(pid, int) and pid >= 0):
            continue
        try:
            uuid.UUID(str(pid))
        except ValueError:
            raise QdrantError(
                400,
                f"Format error in JSON body: value {pid} is not a valid point ID, "
                "valid values are either an unsigned integer or a UUID",
            ) from None


# --------------------------------------------------------------------------- search (legacy)


class NamedVector(BaseModel, extra="forbid"):
    name: str
    vector: list[float]


class NamedSparseVector(BaseModel, extra="forbid"):
    name: str
    vector: models.SparseVector


class SearchRequest(BaseModel, extra="forbid"):
    """``POST /points/search`` (deprecated in Qdrant, gone from qdrant-client 1.20's models)."""

    shard_key: Any = None
    vector: list[float] | NamedVector | NamedSparseVector
    filter: models.Filter | None = None
    params: models.SearchParams | None = None
    limit: int
    offset: int | None = None
    with_payload: models.WithPayloadInterface | None = None
    with_vector: models.WithVector | None = None
    score_threshold: float | None = None


class SearchRequestBatch(BaseModel, extra="forbid"):
    searches: list[SearchRequest]


# --------------------------------------------------------------------------- HTTP app

READ_ONLY_POST = re.compile(
    r"^/collections/[^/]+/(points|facet|points/(count|scroll|query|query/batch|query/groups"
    r"|search|search/batch|search/groups|search/matrix/pairs|search/matrix/offsets"
    r"|recommend|recommend/batch|recommend/groups|discover|discover/batch))$"
)
OPEN_EXACT = {"/", "/healthz"}
OPEN_PREFIX = ("/readyz", "/livez")


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    responses: dict[tuple[str, str, int], list[float]] = field(default_factory=dict)

    def record(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        count_sum_min_max = self.responses.setdefault(
            (method, endpoint, status), [0, 0.0, seconds, seconds]
        )
        count_sum_min_max[0] += 1
        count_sum_min_max[1] += seconds
        count_sum_min_max[2] = min(count_sum_min_max[2], seconds)
        count_sum_min_max[3] = max(count_sum_min_max[3], seconds)


def _elapsed(request: Request) -> float:
    return time.perf_counter() - getattr(request.state, "t0", time.perf_counter())


def ok(request: Request, result: Any) -> JSONResponse:
    return JSONResponse({"result": _dump(result), "status": "ok", "time": _elapsed(request)})


def error_response(request: Request, err: QdrantError) -> JSONResponse:
    return JSONResponse(
        {"status": {"error": err.message}, "time": _elapsed(request)},
        status_code=err.status_code,
    )


async def parse(request: Request, model: Any) -> Any:
    body = await request.body()
    try:
        data = json.loads(body or b"null")
    except json.JSONDecodeError as exc:
        raise QdrantError(400, f"Json deserialize error: {exc}") from exc
    parsed = TypeAdapter(model).validate_python(data)
    check_point_ids(parsed)
    return parsed


def flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise QdrantError(400, f"Query deserialize error: invalid value for `{name}`: {value}")
    return value.lower() == "true"


def _points_selector(points: list[Any] | None, flt: models.Filter | None) -> Any:
    if points is not None:
        return models.PointIdsList(points=points)
    if flt is not None:
        return models.FilterSelector(filter=flt)
    raise QdrantError(400, "Bad request: either `points` or `filter` is required")


def create_app(engine: Engine, settings: Settings) -> FastAPI:
    version = standin_version()
    app = FastAPI(title=STANDIN_NAME, docs_url=None, redoc_url=None, openapi_url=None)
    stats = Stats()
    app.state.engine, app.state.settings, app.state.stats = engine, settings, stats

    # -- middleware: timing, metrics, API keys
    @app.middleware("http")
    async def auth_and_metrics(request: Request, call_next: Any) -> Response:
        request.state.t0 = time.perf_counter()
        response = await _authorise(request, settings) or await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", None) or "unknown"
        stats.record(request.method, endpoint, response.status_code, _elapsed(request))
        return response

    @app.exception_handler(QdrantError)
    async def on_qdrant_error(request: Request, exc: QdrantError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(ValidationError)
    async def on_validation_error(request: Request, exc: ValidationError) -> JSONResponse:
        return error_response(request, translate_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, QdrantError(exc.status_code, str(exc.detail)))

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        err = translate_error(exc)
        if err.status_code >= 500:
            log.exception("Error processing request")
        return error_response(request, err)

    async def read(fn: Callable[[QdrantClient], Any]) -> Any:
        try:
            return await engine.read(fn)
        except Exception as exc:
            raise translate_error(exc) from exc

    async def write(fn: Callable[[QdrantClient], Any]) -> Any:
        try:
            return await engine.write(fn)
        except Exception as exc:
            raise translate_error(exc) from exc

    async def update(request: Request, name: str, fn: Callable[[QdrantClient], Any]) -> Any:
        try:
            return await engine.update(name, fn, flag(request, "wait", False))
        except Exception as exc:
            raise translate_error(exc) from exc

    # -- service
    @app.get("/")
    async def root() -> dict[str, Any]:
        return {"title": "qdrant - vector search engine", "version": version, "commit": None}

    @app.get("/healthz")
    @app.get("/livez")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("healthz check passed")

    @app.get("/readyz")
    async def readyz() -> PlainTextResponse:
        if engine.closed:
            return PlainTextResponse("shutting down", status_code=503)
        return PlainTextResponse("all shards are ready")

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        counts = await read(
            lambda c: {
                d.name: c.count(d.name, exact=True).count for d in c.get_collections().collections
            }
        )
        return PlainTextResponse(
            _prometheus(version, counts, stats), media_type="text/plain; version=0.0.4"
        )

    @app.get("/telemetry")
    async def telemetry(request: Request) -> JSONResponse:
        names = await read(lambda c: [d.name for d in c.get_collections().collections])
        return ok(
            request,
            {
                "id": "qdrant-standin",
                "app": {"name": "qdrant", "version": version, "standin": True},
                "collections": {"number_of_collections": len(names)},
            },
        )

    @app.get("/cluster")
    async def cluster(request: Request) -> JSONResponse:
        return ok(request, {"status": "disabled"})

    @app.get("/issues")
    async def issues(request: Request) -> JSONResponse:
        return ok(request, {"issues": []})

    # -- collections
    @app.get("/collections")
    async def list_collections(request: Request) -> JSONResponse:
        return ok(request, await read(lambda c: c.get_collections()))

    @app.get("/collections/{name}")
    async def get_collection(request: Request, name: str) -> JSONResponse:
        return ok(request, await read(lambda c: engine.collection_info(c, name)))

    @app.get("/collections/{name}/exists")
    async def collection_exists(request: Request, name: str) -> JSONResponse:
        exists = await read(lambda c: c.collection_exists(name))
        return ok(request, models.CollectionExistence(exists=exists))

    @app.put("/collections/{name}")
    async def create_collection(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.CreateCollection)

        def run(c: QdrantClient) -> bool:
            if c.collection_exists(name):
                raise QdrantError(409, f"Wrong input: Collection `{name}` already exists!")
            created = c.create_collection(
                name,
                vectors_config=body.vectors,
                sparse_vectors_config=body.sparse_vectors,
                metadata=body.metadata,
            )
            engine.meta[name] = {
                key: _dump(value.model_dump(exclude_none=True))
                for key in ("hnsw_config", "optimizers_config", "wal_config")
                if (value := getattr(body, key)) is not None
            }
            engine.save_meta()
            return created

        return ok(request, await write(run))

    @app.patch("/collections/{name}")
    async def update_collection(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.UpdateCollection)

        def run(c: QdrantClient) -> bool:
            c.update_collection(
                name,
                vectors_config=body.vectors,
                sparse_vectors_config=body.sparse_vectors,
                metadata=body.metadata,
            )
            meta = engine.collection_meta(name)
            for key in ("hnsw_config", "optimizers_config"):
                if (value := getattr(body, key)) is not None:
                    meta[key] = {**meta.get(key, {}), **_dump(value.model_dump(exclude_none=True))}
            engine.save_meta()
            return True

        return ok(request, await write(run))

    @app.delete("/collections/{name}")
    async def delete_collection(request: Request, name: str) -> JSONResponse:
        def run(c: QdrantClient) -> bool:
            existed = c.delete_collection(name)
            if engine.meta.pop(name, None) is not None:
                engine.save_meta()
            return existed

        return ok(request, await write(run))

    # -- aliases
    @app.get("/aliases")
    async def list_aliases(request: Request) -> JSONResponse:
        return ok(request, await read(lambda c: c.get_aliases()))

    @app.get("/collections/{name}/aliases")
    async def collection_aliases(request: Request, name: str) -> JSONResponse:
        return ok(request, await read(lambda c: c.get_collection_aliases(name)))

    @app.post("/collections/aliases")
    async def change_aliases(request: Request) -> JSONResponse:
        body = await parse(request, models.ChangeAliasesOperation)
        return ok(request, await write(lambda c: c.update_collection_aliases(body.actions)))

    # -- payload indexes
    @app.put("/collections/{name}/index")
    async def create_index(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.CreateFieldIndex)
        if body.field_schema is None:
            raise QdrantError(400, "Bad request: `field_schema` is required by the stand-in")

        def run(c: QdrantClient) -> None:
            c.create_payload_index(name, body.field_name, field_schema=body.field_schema)
            indexes = engine.collection_meta(name).setdefault("payload_indexes", {})
            indexes[body.field_name] = _dump(body.field_schema)
            engine.save_meta()

        return ok(request, await update(request, name, run))

    @app.delete("/collections/{name}/index/{field_name:path}")
    async def delete_index(request: Request, name: str, field_name: str) -> JSONResponse:
        def run(c: QdrantClient) -> None:
            c.delete_payload_index(name, field_name)
            engine.collection_meta(name).get("payload_indexes", {}).pop(field_name, None)
            engine.save_meta()

        return ok(request, await update(request, name, run))

    # -- point updates
    @app.put("/collections/{name}/points")
    async def upsert(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.PointInsertOperations)
        points = body.batch if isinstance(body, models.PointsBatch) else body.points
        extra = {"update_filter": body.update_filter, "update_mode": body.update_mode}
        await read(lambda c: check_upsert_dims(c, name, body))
        return ok(request, await update(request, name, lambda c: c.upsert(name, points, **extra)))

    @app.post("/collections/{name}/points/delete")
    async def delete_points(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.PointsSelector)
        return ok(request, await update(request, name, lambda c: c.delete(name, body)))

    @app.post("/collections/{name}/points/payload")
    @app.put("/collections/{name}/points/payload")
    async def set_payload(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.SetPayload)
        selector = _points_selector(body.points, body.filter)
        if request.method == "PUT":
            fn = lambda c: c.overwrite_payload(name, body.payload, selector)  # noqa: E731
        else:
            fn = lambda c: c.set_payload(name, body.payload, selector, key=body.key)  # noqa: E731
        return ok(request, await update(request, name, fn))

    @app.post("/collections/{name}/points/payload/delete")
    async def delete_payload(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.DeletePayload)
        selector = _points_selector(body.points, body.filter)
        fn = lambda c: c.delete_payload(name, body.keys, selector)  # noqa: E731
        return ok(request, await update(request, name, fn))

    @app.post("/collections/{name}/points/payload/clear")
    async def clear_payload(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.PointsSelector)
        return ok(request, await update(request, name, lambda c: c.clear_payload(name, body)))

    @app.put("/collections/{name}/points/vectors")
    async def update_vectors(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.UpdateVectors)
        fn = lambda c: c.update_vectors(name, body.points, update_filter=body.update_filter)  # noqa: E731
        return ok(request, await update(request, name, fn))

    @app.post("/collections/{name}/points/vectors/delete")
    async def delete_vectors(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.DeleteVectors)
        selector = _points_selector(body.points, body.filter)
        fn = lambda c: c.delete_vectors(name, body.vector, selector)  # noqa: E731
        return ok(request, await update(request, name, fn))

    @app.post("/collections/{name}/points/batch")
    async def batch_update(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.UpdateOperations)
        wait = flag(request, "wait", False)
        results = await write(lambda c: c.batch_update_points(name, body.operations))
        status = models.UpdateStatus.COMPLETED if wait else models.UpdateStatus.ACKNOWLEDGED
        return ok(
            request,
            [models.UpdateResult(operation_id=r.operation_id, status=status) for r in results],
        )

    # -- point reads
    @app.post("/collections/{name}/points")
    async def retrieve(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.PointRequest)
        with_payload = True if body.with_payload is None else body.with_payload
        with_vector = False if body.with_vector is None else body.with_vector
        fn = lambda c: c.retrieve(name, body.ids, with_payload, with_vector)  # noqa: E731
        return ok(request, await read(fn))

    @app.get("/collections/{name}/points/{point_id}")
    async def get_point(request: Request, name: str, point_id: str) -> JSONResponse:
        pid: Any = int(point_id) if point_id.isdigit() else point_id
        records = await read(lambda c: c.retrieve(name, [pid], True, True))
        if not records:
            raise QdrantError(404, f"Not found: No point with id {point_id} found")
        return ok(request, records[0])

    @app.post("/collections/{name}/points/scroll")
    async def scroll(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.ScrollRequest)

        def run(c: QdrantClient) -> models.ScrollResult:
            points, next_offset = c.scroll(
                name,
                scroll_filter=body.filter,
                limit=10 if body.limit is None else body.limit,
                order_by=body.order_by,
                offset=body.offset,
                with_payload=True if body.with_payload is None else body.with_payload,
                with_vectors=False if body.with_vector is None else body.with_vector,
            )
            return models.ScrollResult(points=points, next_page_offset=next_offset)

        return ok(request, await read(run))

    @app.post("/collections/{name}/points/count")
    async def count(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.CountRequest | None) or models.CountRequest()
        exact = True if body.exact is None else body.exact
        return ok(request, await read(lambda c: c.count(name, body.filter, exact)))

    @app.post("/collections/{name}/facet")
    async def facet(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.FacetRequest)
        limit, exact = body.limit or 10, bool(body.exact)
        fn = lambda c: c.facet(name, body.key, body.filter, limit=limit, exact=exact)  # noqa: E731
        return ok(request, await read(fn))

    def run_query(c: QdrantClient, name: str, req: models.QueryRequest) -> models.QueryResponse:
        check_dims(dense_sizes(c, name), req.query, req.using)
        return c.query_points(
            name,
            query=req.query,
            using=req.using,
            prefetch=req.prefetch,
            query_filter=req.filter,
            search_params=req.params,
            limit=10 if req.limit is None else req.limit,
            offset=req.offset,
            with_payload=False if req.with_payload is None else req.with_payload,
            with_vectors=False if req.with_vector is None else req.with_vector,
            score_threshold=req.score_threshold,
            lookup_from=req.lookup_from,
        )

    @app.post("/collections/{name}/points/query")
    async def query(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.QueryRequest)
        return ok(request, await read(lambda c: run_query(c, name, body)))

    @app.post("/collections/{name}/points/query/batch")
    async def query_batch(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.QueryRequestBatch)
        fn = lambda c: [run_query(c, name, req) for req in body.searches]  # noqa: E731
        return ok(request, await read(fn))

    @app.post("/collections/{name}/points/query/groups")
    async def query_groups(request: Request, name: str) -> JSONResponse:
        req = await parse(request, models.QueryGroupsRequest)

        def run(c: QdrantClient) -> models.GroupsResult:
            check_dims(dense_sizes(c, name), req.query, req.using)
            return c.query_points_groups(
                name,
                req.group_by,
                query=req.query,
                using=req.using,
                prefetch=req.prefetch,
                query_filter=req.filter,
                search_params=req.params,
                limit=10 if req.limit is None else req.limit,
                group_size=3 if req.group_size is None else req.group_size,
                with_payload=False if req.with_payload is None else req.with_payload,
                with_vectors=False if req.with_vector is None else req.with_vector,
                score_threshold=req.score_threshold,
                with_lookup=req.with_lookup,
                lookup_from=req.lookup_from,
            )

        return ok(request, await read(run))

    def search_as_query(req: SearchRequest) -> models.QueryRequest:
        vector, using = req.vector, None
        if isinstance(vector, NamedVector | NamedSparseVector):
            vector, using = vector.vector, vector.name
        return models.QueryRequest(
            query=vector,
            using=using,
            filter=req.filter,
            params=req.params,
            limit=req.limit,
            offset=req.offset,
            with_payload=req.with_payload,
            with_vector=req.with_vector,
            score_threshold=req.score_threshold,
        )

    @app.post("/collections/{name}/points/search")
    async def search(request: Request, name: str) -> JSONResponse:
        body = search_as_query(await parse(request, SearchRequest))
        return ok(request, (await read(lambda c: run_query(c, name, body))).points)

    @app.post("/collections/{name}/points/search/batch")
    async def search_batch(request: Request, name: str) -> JSONResponse:
        batch = [search_as_query(s) for s in (await parse(request, SearchRequestBatch)).searches]
        fn = lambda c: [run_query(c, name, q).points for q in batch]  # noqa: E731
        return ok(request, await read(fn))

    @app.get("/collections/{name}/snapshots")
    async def list_snapshots(request: Request, name: str) -> JSONResponse:
        await read(lambda c: engine.require_collection(c, name))
        return ok(request, [])

    return app


async def _authorise(request: Request, settings: Settings) -> Response | None:
    """Qdrant's API-key rules; returns the refusal, or None to let the request through."""
    if not (settings.api_key or settings.read_only_api_key):
        return None
    path = request.url.path
    if path in OPEN_EXACT or path.startswith(OPEN_PREFIX):
        return None
    key = request.headers.get("api-key")
    if key is None:
        bearer = request.headers.get("authorization", "")
        key = bearer[len("Bearer ") :] if bearer.startswith("Bearer ") else None
    if key is None:
        return PlainTextResponse(
            "Must provide an API key or an Authorization bearer token", status_code=401
        )
    if settings.api_key and hmac.compare_digest(key.encode(), settings.api_key.encode()):
        return None
    if settings.read_only_api_key and hmac.compare_digest(
        key.encode(), settings.read_only_api_key.encode()
    ):
        if request.method in ("GET", "HEAD") or (
            request.method == "POST" and READ_ONLY_POST.match(path)
        ):
            return None
        return error_response(
            request, QdrantError(403, "Forbidden: Write access is required, the key is read-only")
        )
    return PlainTextResponse("Invalid API key or JWT", status_code=401)


def _prometheus(version: str, counts: dict[str, int], stats: Stats) -> str:
    lines = [
        "# HELP app_info information about qdrant server",
        "# TYPE app_info gauge",
        f'app_info{{name="qdrant",version="{version}",standin="true"}} 1',
        "# HELP app_status_recovery_mode features enabled in qdrant server",
        "# TYPE app_status_recovery_mode gauge",
        "app_status_recovery_mode 0",
        "# HELP collections_total number of collections",
        "# TYPE collections_total gauge",
        f"collections_total {len(counts)}",
        "# HELP collections_vector_total total number of vectors in all collections",
        "# TYPE collections_vector_total gauge",
        f"collections_vector_total {sum(counts.values())}",
        "# HELP collection_points approximate amount of points per collection",
        "# TYPE collection_points gauge",
        *(f'collection_points{{collection="{n}"}} {v}' for n, v in sorted(counts.items())),
        "# HELP cluster_enabled is cluster support enabled",
        "# TYPE cluster_enabled gauge",
        "cluster_enabled 0",
        "# HELP process_start_time_seconds start time of the process (unix seconds)",
        "# TYPE process_start_time_seconds gauge",
        f"process_start_time_seconds {stats.started:.3f}",
        "# HELP rest_responses_total total number of responses",
        "# TYPE rest_responses_total counter",
    ]
    rows = sorted(stats.responses.items())
    label = 'method="{}",endpoint="{}",status="{}"'
    lines += [f"rest_responses_total{{{label.format(*k)}}} {v[0]}" for k, v in rows]
    lines += [
        "# HELP rest_responses_fail_total total number of failed responses",
        "# TYPE rest_responses_fail_total counter",
    ]
    lines += [
        f"rest_responses_fail_total{{{label.format(*k)}}} {v[0]}" for k, v in rows if k[2] >= 400
    ]
    for name, index in (("avg", None), ("min", 2), ("max", 3)):
        lines += [
            f"# HELP rest_responses_{name}_duration_seconds {name} response duration",
            f"# TYPE rest_responses_{name}_duration_seconds gauge",
        ]
        for k, v in rows:
            value = v[1] / v[0] if index is None else v[index]
            lines.append(
                f"rest_responses_{name}_duration_seconds{{{label.format(*k)}}} {value:.6f}"
            )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qdrant", description=STANDIN_NAME)
    parser.add_argument("--config-path", help="path to a Qdrant config.yaml")
    parser.add_argument("--disable-telemetry", action="store_true")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    args, unknown = parser.parse_known_args(argv)
    if args.version:
        print(f"qdrant {standin_version()}")
        return 0
    settings = load_settings(args.config_path)
    level = settings.log_level.split(",")[0].strip().upper() or "INFO"
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if unknown:
        log.warning("ignoring arguments the stand-in does not implement: %s", " ".join(unknown))
    settings.snapshots_path.mkdir(parents=True, exist_ok=True)
    uvicorn_level = level.lower() if level.lower() in ("debug", "info", "warning") else "error"
    engine: Engine | None = None
    server: uvicorn.Server | None = None

    def on_stop_signal(signum: int, frame: Any) -> None:
        # Before uvicorn serves, stop at once. Once it has served, uvicorn handles the signal
        # itself (graceful shutdown) and re-raises it here afterwards: nothing left to do.
        if server is None or not server.started:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGINT, on_stop_signal)
    try:
        try:
            engine = Engine(settings.storage_path)
        except RuntimeError as exc:  # storage locked by another process
            print(f"{STANDIN_NAME}: cannot open storage: {exc}", file=sys.stderr, flush=True)
            return 1
        print(
            f"{STANDIN_NAME} {standin_version()} starting: engine qdrant-client local mode, "
            f"storage {settings.storage_path.resolve()}, config from "
            f"{', '.join(settings.sources) or 'defaults'}, api key "
            f"{'on' if settings.api_key or settings.read_only_api_key else 'off'}",
            flush=True,
        )
        scheme = "HTTPS" if settings.tls_cert else "HTTP"
        print(f"Qdrant {scheme} listening on {settings.http_port} (no gRPC)", flush=True)
        config = uvicorn.Config(
            create_app(engine, settings),
            host=settings.host,
            port=settings.http_port,
            log_level=uvicorn_level,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            lifespan="off",
            server_header=False,
        )
        server = uvicorn.Server(config)
        server.run()  # SIGTERM/SIGINT: uvicorn stops accepting, finishes requests, returns
        return 0 if server.started else 1
    finally:
        if engine is not None:
            engine.close()
            print(f"{STANDIN_NAME}: storage closed, stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
