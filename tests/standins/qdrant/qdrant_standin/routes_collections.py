"""Collections, aliases and payload indexes (snapshots: ``routes_snapshots``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from qdrant_client import QdrantClient
from qdrant_client.http import models

from .engine import dump
from .errors import QdrantError
from .protocol import Calls, ok, parse


def register(app: FastAPI, calls: Calls) -> None:
    engine, read, write, update = calls.engine, calls.read, calls.write, calls.update

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
                key: dump(value.model_dump(exclude_none=True))
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
                    meta[key] = {**meta.get(key, {}), **dump(value.model_dump(exclude_none=True))}
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
            indexes[body.field_name] = dump(body.field_schema)
            engine.save_meta()

        return ok(request, await update(request, name, run))

    @app.delete("/collections/{name}/index/{field_name:path}")
    async def delete_index(request: Request, name: str, field_name: str) -> JSONResponse:
        def run(c: QdrantClient) -> None:
            c.delete_payload_index(name, field_name)
            engine.collection_meta(name).get("payload_indexes", {}).pop(field_name, None)
            engine.save_meta()

        return ok(request, await update(request, name, run))
