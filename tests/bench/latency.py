"""Sections 1, 2 and 5: the latency of a call through the MCP server against its floor.

1. ``qdrant_find`` through the MCP server (MCP SDK client, one session, sequential calls)
   against the same search done directly: embed the query with the ``ollama`` client at the
   same Ollama and ``query_points`` with ``qdrant-client`` on the same collection. That is the
   work the MCP path does, minus the MCP server and the orchestrator, so the ratio is what
   the two services cost. ``POST /search`` on the orchestrator is measured too (against the
   same floor), to show which of the two layers costs what.
2. ``lightrag_query`` through the MCP server (→ orchestrator → LightRAG service) against
   ``POST /query`` on the LightRAG service itself: the floor is the LightRAG work, so the
   ratio is what the MCP server and the orchestrator add. ``POST /lightrag/query`` on the
   orchestrator is measured as the intermediate layer.
5. The circuit breaker's fast-fail while it is open: ``get_job_status`` on an MCP server
   whose orchestrator URL is a closed port, after a few calls opened its breaker. The floor
   is an MCP ping on the same session: the protocol round trip that any answer costs, so the
   ratio is what the breaker check and the error answer add. The server's own
   ``tool_duration_seconds`` histogram gives the time spent inside the server.

Every path is warmed up first; the measured calls then alternate between the paths (the
order rotates every round) so that machine noise falls on all of them alike. Every loop is
bounded by a sample count and a time budget.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import ollama
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import AsyncQdrantClient

from shield_rag.settings import Settings, load_settings
from tests.bench.context import BenchContext
from tests.bench.stats import Figure, percentiles
from tests.demo_common import MCP_QUESTION, QUESTIONS
from tests.mcp.server import McpServer
from tests.support.mcp import session, text_of
from tests.support.procs import free_port
from tests.support.wait import eventually

Call = Callable[[int], Awaitable[None]]

SEARCH_LIMIT = 5
SEARCH_QUERIES = [
    *(q for kind, q in QUESTIONS if kind == "search"),
    MCP_QUESTION,
    "Which telescope mirror was resurfaced last winter?",
    "How many apple varieties grow in the orchard?",
    "What does the harbour master check before a night arrival?",
    "field notes about the survey station and its instruments",
]
LIGHTRAG_MODE = "hybrid"
LIGHTRAG_QUERIES = [
    *(q for kind, q in QUESTIONS if kind == "lightrag"),
    "Who approves every night arrival at the Port of Elsmere?",
    "When does the orchard harvest start?",
]
BREAKER_THRESHOLD = 3
FAST_FAIL = "no request was sent"  # in the tool error of a call the open breaker refused
WARMUP = 5


class ToolFailed(RuntimeError):
    """An MCP tool call returned an error where the benchmark expects an answer."""


def _answer(tool: str, result: Any) -> Any:
    if getattr(result, "is_error", False):
        raise ToolFailed(f"{tool} failed: {text_of(result)[:300]}")
    return result


async def warm(paths: dict[str, Call], rounds: int) -> None:
    """Call every path ``rounds`` times: connections opened, lazy imports and caches filled."""
    for i in range(rounds):
        for call in paths.values():
            await call(i)


async def alternate(
    paths: dict[str, Call],
    count: int,
    budget_s: float,
    progress: Callable[[str], None],
    what: str,
) -> dict[str, list[float]]:
    """Latency samples (ms) of ``count`` rounds; each round calls every path once, in an
    order that rotates every round. Stops early (with at least 2 rounds) after ``budget_s``."""
    names = list(paths)
    samples: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.monotonic() + budget_s
    step = max(count // 4, 1)
    for i in range(count):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            await paths[name](i)
            samples[name].append((time.perf_counter() - started) * 1000)
        done = i + 1
        if done % step == 0 or done == count:
            progress(f"  {what}: {done}/{count} rounds")
        if done >= 2 and time.monotonic() > deadline:
            progress(f"  {what}: time budget of {budget_s:.0f} s reached after {done} rounds")
            break
    return samples


def _budget_note(samples: list[float], count: int) -> list[str]:
    if len(samples) < count:
        return [f"stopped at {len(samples)} of {count} planned samples (time budget)"]
    return []


def latency_figure(
    section: str,
    name: str,
    floor_name: str,
    measured: list[float],
    floor: list[float],
    notes: list[str] | None = None,
) -> Figure:
    return Figure(
        section=section,
        name=name,
        floor_name=floor_name,
        unit="ms",
        measured=percentiles(measured),
        floor=percentiles(floor),
        samples=len(measured),
        floor_samples=len(floor),
        notes=notes or [],
    )


def _stack_and_mcp(ctx: BenchContext) -> tuple[Settings, McpServer]:
    """The stack's settings and its MCP server, which sections 1 and 2 both need."""
    if ctx.mcp is None:
        raise RuntimeError("the MCP server is not running (see the set-up notes)")
    return load_settings(ctx.stack.config_path), ctx.mcp


# -- 1. qdrant_find ---------------------------------------------------------------------------
def run_qdrant_find(ctx: BenchContext) -> list[Figure]:
    return asyncio.run(_qdrant_find(ctx))


async def _qdrant_find(ctx: BenchContext) -> list[Figure]:
    settings, mcp = _stack_and_mcp(ctx)
    count = ctx.scaled(200, 20)
    embedder = ollama.AsyncClient(host=str(settings.ollama.url), timeout=settings.ollama.timeout)
    api_key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
    with warnings.catch_warnings():  # an API key over plain HTTP is what the services do too
        warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
        qdrant = AsyncQdrantClient(
            url=str(settings.qdrant.url),
            api_key=api_key,
            timeout=int(settings.qdrant.timeout),
            prefer_grpc=False,
            check_compatibility=False,
        )
    hits: list[int] = []

    def query(i: int) -> str:
        return SEARCH_QUERIES[i % len(SEARCH_QUERIES)]

    async with (
        httpx.AsyncClient(base_url=ctx.stack.base_url, timeout=30) as orchestrator,
        session(mcp.url, mcp.token) as s,
    ):

        async def via_mcp(i: int) -> None:
            result = _answer(
                "qdrant_find",
                await s.call_tool("qdrant_find", {"query": query(i), "limit": SEARCH_LIMIT}),
            )
            hits.append(len((result.structured_content or {}).get("results", [])))

        async def via_orchestrator(i: int) -> None:
            r = await orchestrator.post("/search", json={"query": query(i), "limit": SEARCH_LIMIT})
            r.raise_for_status()

        async def direct(i: int) -> None:
            res = await embedder.embed(
                model=settings.ollama.embed_model,
                input=[query(i)],
                keep_alive=settings.ollama.keep_alive,
            )
            await qdrant.query_points(
                settings.qdrant.collection,
                query=list(res.embeddings[0]),
                limit=SEARCH_LIMIT,
                with_payload=True,
            )

        paths = {"mcp": via_mcp, "orchestrator": via_orchestrator, "direct": direct}
        try:
            await warm(paths, WARMUP)
            hits.clear()
            ctx.progress(f"  qdrant_find: {count} rounds of MCP, POST /search and direct")
            samples = await alternate(
                paths, count, 120 if not ctx.quick else 15, ctx.progress, "qdrant_find"
            )
        finally:
            await qdrant.close()
    found = sum(1 for h in hits if h) / max(len(hits), 1)
    floor_name = (
        "the same search directly: ollama client embed + qdrant-client query_points "
        f"(limit {SEARCH_LIMIT}) on the same collection"
    )
    notes = [
        f"qdrant_find: {len(SEARCH_QUERIES)} queries in rotation, limit {SEARCH_LIMIT}; "
        f"{found:.0%} of the MCP calls returned at least one hit from the seeded documents.",
        *_budget_note(samples["mcp"], count),
    ]
    return [
        latency_figure(
            "1. qdrant_find",
            "qdrant_find through the MCP server (MCP → orchestrator → Ollama + Qdrant)",
            floor_name,
            samples["mcp"],
            samples["direct"],
            notes,
        ),
        latency_figure(
            "1. qdrant_find",
            "POST /search on the orchestrator (HTTP → Ollama + Qdrant), no MCP server",
            floor_name,
            samples["orchestrator"],
            samples["direct"],
        ),
    ]


# -- 2. lightrag_query ------------------------------------------------------------------------
def run_lightrag_query(ctx: BenchContext) -> list[Figure]:
    return asyncio.run(_lightrag_query(ctx))


async def _lightrag_query(ctx: BenchContext) -> list[Figure]:
    settings, mcp = _stack_and_mcp(ctx)
    count = ctx.scaled(30, 5)
    headers = {}
    if settings.lightrag.api_key is not None:
        headers["X-API-Key"] = settings.lightrag.api_key.get_secret_value()
    answered: list[int] = []

    def body(i: int) -> dict[str, str]:
        return {"query": LIGHTRAG_QUERIES[i % len(LIGHTRAG_QUERIES)], "mode": LIGHTRAG_MODE}

    async with (
        httpx.AsyncClient(
            base_url=str(settings.lightrag.url).rstrip("/"),
            headers=headers,
            timeout=settings.lightrag.timeout,
        ) as lightrag,
        httpx.AsyncClient(base_url=ctx.stack.base_url, timeout=settings.lightrag.timeout) as orch,
        session(mcp.url, mcp.token) as s,
    ):

        async def via_mcp(i: int) -> None:
            result = _answer("lightrag_query", await s.call_tool("lightrag_query", body(i)))
            answered.append(len(str((result.structured_content or {}).get("response", ""))))

        async def via_orchestrator(i: int) -> None:
            (await orch.post("/lightrag/query", json=body(i))).raise_for_status()

        async def direct(i: int) -> None:
            (await lightrag.post("/query", json=body(i))).raise_for_status()

        paths = {"mcp": via_mcp, "orchestrator": via_orchestrator, "direct": direct}
        await warm(paths, min(WARMUP, len(LIGHTRAG_QUERIES)))
        answered.clear()
        ctx.progress(f"  lightrag_query: {count} rounds of MCP, orchestrator and direct")
        samples = await alternate(
            paths, count, 150 if not ctx.quick else 20, ctx.progress, "lightrag_query"
        )
    floor_name = f"POST /query on the LightRAG service directly (mode {LIGHTRAG_MODE})"
    notes = [
        f"lightrag_query: {len(LIGHTRAG_QUERIES)} questions in rotation, mode {LIGHTRAG_MODE}; "
        f"{sum(1 for a in answered if a) / max(len(answered), 1):.0%} of the MCP answers were "
        "non-empty. LightRAG's LLM cache is on (its default), and every path was warmed up "
        "with every question, so all three are served alike and the ratio is the transport "
        "and service overhead.",
        *_budget_note(samples["mcp"], count),
    ]
    return [
        latency_figure(
            "2. lightrag_query",
            "lightrag_query through the MCP server (MCP → orchestrator → LightRAG)",
            floor_name,
            samples["mcp"],
            samples["direct"],
            notes,
        ),
        latency_figure(
            "2. lightrag_query",
            "POST /lightrag/query on the orchestrator (HTTP → LightRAG), no MCP server",
            floor_name,
            samples["orchestrator"],
            samples["direct"],
        ),
    ]


# -- 5. breaker fast-fail ---------------------------------------------------------------------
def run_breaker(ctx: BenchContext) -> list[Figure]:
    closed = free_port()  # nothing listens there: every call is refused at once
    server = McpServer(
        ctx.stack,
        ctx.root,
        orchestrator_url=f"http://127.0.0.1:{closed}",
        breaker_failure_threshold=BREAKER_THRESHOLD,
        breaker_reset_seconds=600,
    )
    ctx.progress(f"  starting a second MCP server with its orchestrator at closed port {closed}")
    server.start()
    try:
        return asyncio.run(_breaker(ctx, server))
    finally:
        server.stop()


def histogram(text: str, name: str, labels: dict[str, str]) -> dict[str, float]:
    """One Prometheus histogram's series: ``le`` bounds (as strings), ``count`` and ``sum``."""
    series: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if any(sample.labels.get(k) != v for k, v in labels.items()):
                continue
            if sample.name == f"{name}_bucket":
                series[sample.labels["le"]] = float(sample.value)
            elif sample.name in (f"{name}_count", f"{name}_sum"):
                series[sample.name.rsplit("_", 1)[1]] = float(sample.value)
    return series


def server_side_notes(before: dict[str, float], after: dict[str, float]) -> list[str]:
    """What the server's ``tool_duration_seconds`` says about the measured calls."""
    calls = after.get("count", 0.0) - before.get("count", 0.0)
    if calls <= 0:
        return ["the server's tool_duration_seconds histogram recorded none of the calls"]
    mean_ms = (after.get("sum", 0.0) - before.get("sum", 0.0)) / calls * 1000
    bounds = sorted((float(le), le) for le in after if le not in ("count", "sum") and le != "+Inf")
    notes = [
        f"inside the MCP server (tool_duration_seconds sum/count over {calls:.0f} calls): "
        f"mean {mean_ms:.3f} ms per fast-failed call; seed target: under 1 ms "
        f"({'met' if mean_ms < 1 else 'NOT met'} on the mean)."
    ]
    if not bounds:
        return notes
    at_most_1ms = [b for b in bounds if b[0] <= 0.001]
    bound, le = at_most_1ms[-1] if at_most_1ms else bounds[0]
    share = (after.get(le, 0.0) - before.get(le, 0.0)) / calls
    notes.append(
        f"{share:.1%} of them took at most {bound * 1000:g} ms by the histogram"
        + (
            ""
            if at_most_1ms
            else f" (its smallest bucket is {bound * 1000:g} ms, so the share under 1 ms "
            "cannot be read from it; the mean above is the in-server figure)"
        )
        + "."
    )
    return notes


async def _breaker(ctx: BenchContext, server: McpServer) -> list[Figure]:
    count = ctx.scaled(300, 30)
    job_id = uuid.uuid4().hex
    labels = {"tool": "get_job_status"}
    async with session(server.url, server.token) as s:
        for _ in range(BREAKER_THRESHOLD):
            result = await s.call_tool("get_job_status", {"job_id": job_id})
            if not result.is_error:
                raise RuntimeError("get_job_status succeeded against a closed port")
        await eventually(lambda: server.breaker_state() == 2, 10, "the breaker to open")
        ctx.progress(f"  breaker open after {BREAKER_THRESHOLD} refused calls")

        async def fast_fail(_: int) -> None:
            result = await s.call_tool("get_job_status", {"job_id": job_id})
            if not result.is_error or FAST_FAIL not in text_of(result):
                raise RuntimeError(f"expected a fast-fail, got: {text_of(result)[:300]}")

        async def ping(_: int) -> None:
            await s.send_ping()

        paths: dict[str, Call] = {"fast_fail": fast_fail, "ping": ping}
        await warm(paths, 10)
        before = histogram(server.metrics(), "tool_duration_seconds", labels)
        samples = await alternate(
            paths, count, 60 if not ctx.quick else 10, ctx.progress, "breaker fast-fail"
        )
        after = histogram(server.metrics(), "tool_duration_seconds", labels)
        if server.breaker_state() != 2:
            raise RuntimeError("the breaker left the open state during the measurement")
    notes = [
        "the MCP server's orchestrator_url is a closed port on 127.0.0.1; "
        f"breaker_failure_threshold {BREAKER_THRESHOLD}, breaker_reset_seconds 600, so it "
        "stays open for the whole measurement.",
        *server_side_notes(before, after),
        *_budget_note(samples["fast_fail"], count),
    ]
    return [
        latency_figure(
            "5. breaker fast-fail",
            "get_job_status failing fast on the open breaker, MCP round trip",
            "MCP ping (send_ping) on the same session",
            samples["fast_fail"],
            samples["ping"],
            notes,
        )
    ]
