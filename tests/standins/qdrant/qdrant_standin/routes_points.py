"""Points: updates (upsert, delete, payload, vectors, batch) and reads (retrieve, scroll,
count, facet)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from qdrant_client import QdrantClient
from qdrant_client.http import models

from .checks import check_upsert_dims
from .errors import QdrantError
from .protocol import Calls, flag, ok, parse, points_selector


def register(app: FastAPI, calls: Calls) -> None:
    read, write, update = calls.read, calls.write, calls.update

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
        selector = points_selector(body.points, body.filter)
        if request.method == "PUT":

            def fn(c):
                return c.overwrite_payload(name, body.payload, selector)
        else:

            def fn(c):
                return c.set_payload(name, body.payload, selector, key=body.key)

        return ok(request, await update(request, name, fn))

    @app.post("/collections/{name}/points/payload/delete")
    async def delete_payload(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.DeletePayload)
        selector = points_selector(body.points, body.filter)

        def fn(c):
            return c.delete_payload(name, body.keys, selector)

        return ok(request, await update(request, name, fn))

    @app.post("/collections/{name}/points/payload/clear")
    async def clear_payload(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.PointsSelector)
        return ok(request, await update(request, name, lambda c: c.clear_payload(name, body)))

    @app.put("/collections/{name}/points/vectors")
    async def update_vectors(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.UpdateVectors)

        def fn(c):
            return c.update_vectors(name, body.points, update_filter=body.update_filter)

        return ok(request, await update(request, name, fn))

    @app.post("/collections/{name}/points/vectors/delete")
    async def delete_vectors(request: Request, name: str) -> JSONResponse:
        body = await parse(request, models.DeleteVectors)
        selector = points_selector(body.points, body.filter)

        def fn(c):
            return c.delete_vectors(name, body.vector, selector)

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

        def fn(c):
            return c.retrieve(name, body.ids, with_payload, with_vector)

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

        def fn(c):
            return c.facet(name, body.key, body.filter, limit=limit, exact=exact)

        return ok(request, await read(fn))
