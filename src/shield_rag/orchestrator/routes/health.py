"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shield_rag.api.errors import error_responses
from shield_rag.api.health import Liveness, Readiness
from shield_rag.orchestrator.deps import ServicesDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness", response_model=Liveness, responses=error_responses(500))
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _probe(name: str, check: Callable[[], Awaitable[Any]], limit: float) -> dict[str, Any]:
    """Run one dependency check within ``limit`` seconds. A check that fails fast is tried
    once more within what is left of the limit: a pooled keep-alive connection the dependency
    closed at the instant it was reused fails one request, and is not the dependency down
    (one that is down fails both)."""
    started = time.perf_counter()
    deadline = started + limit
    for attempt in (1, 2):
        try:
            await asyncio.wait_for(check(), timeout=max(deadline - time.perf_counter(), 0.0))
        except TimeoutError:
            return {"name": name, "ok": False, "error": f"no answer within {limit}s"}
        except Exception as exc:  # noqa: BLE001 - report any failure of the dependency
            if attempt == 1 and time.perf_counter() < deadline:
                continue
            return {"name": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        break
    return {"name": name, "ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@router.get(
    "/readyz",
    summary="Readiness: Redis, Qdrant, Ollama and LightRAG answer",
    response_model=Readiness,
    responses={
        503: {"description": "Not ready: a dependency failed its check", "model": Readiness},
        **error_responses(500),
    },
)
async def readyz(services: ServicesDep) -> JSONResponse:
    timeout = services.settings.orchestrator.readiness_timeout
    checks: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("redis", services.redis.ping),
        ("qdrant", services.vectors.ready),
        ("ollama", services.embedder.ready),
    ]
    if services.lightrag is not None:
        checks.append(("lightrag", services.lightrag.ready))
    results = await asyncio.gather(*(_probe(n, c, timeout) for n, c in checks))
    ok = all(r["ok"] for r in results)
    if not ok:
        log.warning(
            "not ready: %s",
            "; ".join(f"{r['name']}: {r['error']}" for r in results if not r["ok"]),
        )
    return JSONResponse(
        status_code=200 if ok else 503,
        content={
            "status": "ready" if ok else "not ready",
            "checks": {r.pop("name"): r for r in results},
        },
    )
