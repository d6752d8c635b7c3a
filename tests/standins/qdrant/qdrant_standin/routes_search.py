"""Search: the query API (``points/query``, batch, groups) and the legacy ``points/search``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from qdrant_client import QdrantClient
from qdrant_client.http import models

from .checks import check_dims, dense_sizes
from .protocol import Calls, ok, parse


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


def register(app: FastAPI, calls: Calls) -> None:
    read = calls.read

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

        def fn(c):
            return [run_query(c, name, req) for req in body.searches]

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

        def fn(c):
            return [run_query(c, name, q).points for q in batch]

        return ok(request, await read(fn))
