"""Sections 1 and 2: the latency of a call through the MCP server against its floor.

1. ``qdrant_find`` through the MCP server (MCP SDK client, one session, sequential calls)
   against the same search done directly: embed the query with the ``ollama`` client at the
   same Ollama and ``query_points`` with ``qdrant-client`` on the same collection, over
   keep-alive connections as the orchestrator's clients are. That is the work the MCP path
   does, minus the MCP server and the orchestrator, so the ratio is what the two services
   cost. ``POST /search`` on the orchestrator is measured too (against the
   same floor), to show which of the two layers costs what, and so is the same
   ``tools/call`` POSTed by a plain HTTP client on a session of its own
   (:class:`tests.bench.rawmcp.RawSession`): the difference to the SDK's call is what the
   MCP SDK's client costs (its transport, and the check of every result against the
   tool's output schema), which an agent using that client waits for too. Two references
   show what the MCP layer itself charges: an MCP ``ping`` on the SDK's session (the
   transport's round trip), and a ``tools/call`` of a tool that does nothing on a bare
   FastMCP server (:mod:`tests.bench.baremcp`) through the same SDK client; that call plus
   ``POST /search`` is the least a search through an MCP server built on FastMCP can cost,
   which a note reports against the floor.
   Targets (issue 16): ``qdrant_find`` through MCP at most 1.5x the floor at p50,
   ``POST /search`` at most 1.15x.
2. ``lightrag_query`` through the MCP server (→ orchestrator → LightRAG service) against
   ``POST /query`` on the LightRAG service itself: the floor is the LightRAG work, so the
   ratio is what the MCP server and the orchestrator add. ``POST /lightrag/query`` on the
   orchestrator is measured as the intermediate layer.

Section 5 (the breaker's fast-fail) is in ``tests.bench.breaker``; how the paths are warmed
up and measured is in ``tests.bench.measure``.
"""

from __future__ import annotations

import asyncio
import statistics
import warnings

import httpx
import ollama
from qdrant_client import AsyncQdrantClient

from shield_rag.clients.vectorstore import QDRANT_HTTP_LIMITS
from shield_rag.settings import Settings, load_settings
from tests.bench.baremcp import BareMcp
from tests.bench.context import BenchContext
from tests.bench.measure import WARMUP, alternate, answer, budget_note, latency_figure, warm
from tests.bench.rawmcp import RawSession
from tests.bench.stats import Figure
from tests.demo_common import MCP_QUESTION, QUESTIONS
from tests.mcp.server import McpServer
from tests.support.mcp import session

SEARCH_LIMIT = 5
SEARCH_QUERIES = [
    *(q for kind, q in QUESTIONS if kind == "search"),
    MCP_QUESTION,
    "Which telescope mirror was resurfaced last winter?",
    "How many apple varieties grow in the orchard?",
    "What does the harbour master check before a night arrival?",
    "field notes about the survey station and its instruments",
]
# The bounds issue 16 sets on the medians' ratios to the direct floor.
MCP_TARGET_RATIO = 1.5
SEARCH_TARGET_RATIO = 1.15
LIGHTRAG_MODE = "hybrid"
LIGHTRAG_QUERIES = [
    *(q for kind, q in QUESTIONS if kind == "lightrag"),
    "Who approves every night arrival at the Port of Elsmere?",
    "When does the orchard harvest start?",
]


def _stack_and_mcp(ctx: BenchContext) -> tuple[Settings, McpServer]:
    """The stack's settings and its MCP server, which sections 1 and 2 both need."""
    if ctx.mcp is None:
        raise RuntimeError("the MCP server is not running (see the set-up notes)")
    return load_settings(ctx.stack.config_path), ctx.mcp


# -- 1. qdrant_find ---------------------------------------------------------------------------
def run_qdrant_find(ctx: BenchContext) -> list[Figure]:
    return asyncio.run(_qdrant_find(ctx))


def _qdrant_client(settings: Settings) -> AsyncQdrantClient:
    """qdrant-client on the stack's Qdrant, pooled as the orchestrator's client is."""
    api_key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
    with warnings.catch_warnings():  # an API key over plain HTTP is what the services do too
        warnings.filterwarnings("ignore", "Api key is used with an insecure connection")
        return AsyncQdrantClient(
            url=str(settings.qdrant.url),
            api_key=api_key,
            timeout=int(settings.qdrant.timeout),
            prefer_grpc=False,
            check_compatibility=False,
            # The orchestrator's pool: keep-alive on, as on the measured side. Left to its
            # default, qdrant-client opens a new connection per request to 127.0.0.1, which
            # made the floor slower than the search it is the floor of.
            limits=QDRANT_HTTP_LIMITS,
        )


async def _qdrant_find(ctx: BenchContext) -> list[Figure]:
    settings, mcp = _stack_and_mcp(ctx)
    count = ctx.scaled(200, 20)
    embedder = ollama.AsyncClient(host=str(settings.ollama.url), timeout=settings.ollama.timeout)
    qdrant = _qdrant_client(settings)
    hits: list[int] = []

    def query(i: int) -> str:
        return SEARCH_QUERIES[i % len(SEARCH_QUERIES)]

    try:
        with BareMcp(ctx.root / "logs") as bare_server:
            async with (
                embedder,
                httpx.AsyncClient(base_url=ctx.stack.base_url, timeout=30) as orchestrator,
                session(mcp.url, mcp.token) as s,
                session(bare_server.url, None) as bare,
                RawSession(mcp.url, mcp.token) as raw,
            ):

                async def via_mcp(i: int) -> None:
                    arguments = {"query": query(i), "limit": SEARCH_LIMIT}
                    result = answer("qdrant_find", await s.call_tool("qdrant_find", arguments))
                    hits.append(len((result.structured_content or {}).get("results", [])))

                async def via_raw_mcp(i: int) -> None:
                    await raw.call_tool("qdrant_find", {"query": query(i), "limit": SEARCH_LIMIT})

                async def bare_echo(i: int) -> None:
                    answer("echo", await bare.call_tool("echo", {"text": query(i)}))

                async def ping(i: int) -> None:
                    await s.send_ping()

                async def via_orchestrator(i: int) -> None:
                    body = {"query": query(i), "limit": SEARCH_LIMIT}
                    (await orchestrator.post("/search", json=body)).raise_for_status()

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

                paths = {
                    "mcp": via_mcp,
                    "raw_mcp": via_raw_mcp,
                    "bare_echo": bare_echo,
                    "ping": ping,
                    "orchestrator": via_orchestrator,
                    "direct": direct,
                }
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
        *budget_note(samples["mcp"], count),
        _transport_note(samples),
    ]
    return [
        latency_figure(
            "1. qdrant_find",
            "qdrant_find through the MCP server (MCP → orchestrator → Ollama + Qdrant)",
            floor_name,
            samples["mcp"],
            samples["direct"],
            notes,
            p50_ratio=MCP_TARGET_RATIO,
        ),
        latency_figure(
            "1. qdrant_find",
            "the same tools/call POSTed by a plain HTTP client (httpx), no MCP SDK client",
            floor_name,
            samples["raw_mcp"],
            samples["direct"],
        ),
        latency_figure(
            "1. qdrant_find",
            "POST /search on the orchestrator (HTTP → Ollama + Qdrant), no MCP server",
            floor_name,
            samples["orchestrator"],
            samples["direct"],
            p50_ratio=SEARCH_TARGET_RATIO,
        ),
        latency_figure(
            "1. qdrant_find",
            "MCP ping on the same SDK session: the MCP transport's round trip (SDK client, the "
            "server's HTTP middleware and session), no tool and no search",
            floor_name,
            samples["ping"],
            samples["direct"],
        ),
        latency_figure(
            "1. qdrant_find",
            "a tool that does nothing (echo) on a bare FastMCP server (tests/bench/baremcp.py: "
            "no auth, no middleware), through the same SDK client: what FastMCP and the SDK "
            "charge per tool call",
            floor_name,
            samples["bare_echo"],
            samples["direct"],
        ),
    ]


def _transport_note(samples: dict[str, list[float]]) -> str:
    """The least a search through an MCP server built on FastMCP and called with the SDK can
    cost (a tool call that does nothing, plus the orchestrator's search), against the floor
    and against qdrant_find."""
    p50 = {path: statistics.median(values) for path, values in samples.items()}
    least = p50["bare_echo"] + p50["orchestrator"]
    bound = MCP_TARGET_RATIO * p50["direct"]
    return (
        f"The least a search through MCP can cost with FastMCP and the SDK's client: a tool "
        f"call that does nothing on a bare FastMCP server (p50 {p50['bare_echo']:.2f} ms) plus "
        f"the orchestrator's search (POST /search p50 {p50['orchestrator']:.2f} ms) = "
        f"{least:.2f} ms, {least / p50['direct']:.2f}x the direct floor "
        f"({p50['direct']:.2f} ms; {MCP_TARGET_RATIO:g}x is {bound:.2f} ms), before the MCP "
        f"server sends its request to the orchestrator. qdrant_find through MCP (p50 "
        f"{p50['mcp']:.2f} ms) costs {p50['mcp'] - least:.2f} ms more: that request, the "
        "caller's identity, metrics, the result's model and its check against the tool's "
        f"output schema in the client. The MCP ping on shield-mcp (p50 {p50['ping']:.2f} ms) "
        "is the transport's round trip alone."
    )


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
            result = answer("lightrag_query", await s.call_tool("lightrag_query", body(i)))
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
        *budget_note(samples["mcp"], count),
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
