"""Section 9: what model management costs per call: the router and the budget check.

It runs on a small stack of its own (LightRAG on, no workers; the Ollama stand-in), so its
clients and router settings touch no other section: two orchestrator clients, ``plain`` (no
budget) and ``budgeted`` (a daily token budget far above what the run spends), the feature
``router`` on, and one router tier naming the server's default model, so a routed call and an
unrouted one are answered by the same model.

Every path is the same ``POST /lightrag/query`` (the same question, so LightRAG's answer cache
answers and the model's time does not hide the overheads; retrieval still runs every time):

- floor: ``plain``, naming the default model (checked against the cached Ollama catalog, no
  router decision, no budget);
- routed: ``plain``, ``model: auto``: the router classifies the query and picks the tier;
- budgeted: ``budgeted``, naming the model: the budget is held before the call (a Lua script
  in Redis) and settled after it (another), and the usage is accounted;
- both: ``budgeted`` with ``model: auto``.

Each is reported against the floor, measured alternately in the same run (tests.bench.measure).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

import httpx

from tests.bench.context import BenchContext
from tests.bench.measure import WARMUP, Call, alternate, budget_note, latency_figure, warm
from tests.bench.stats import Figure
from tests.integration.stack import Stack
from tests.support.wait import wait_until

SECTION = "9. models"
MODEL = "qwen2.5:0.5b"  # the stand-in's default chat model, the stack's ollama.llm_model
QUESTION = "When does the night ferry leave Northport, and who commands it?"
DOC = (
    "The Harbour Ferry Company runs the night ferry between Northport and Eastbay. "
    "It leaves Northport at 22:15 every evening; Captain Mara Lind commands it."
)
KEYS = {name: secrets.token_hex(24) for name in ("plain", "budgeted")}
PATHS = {
    "floor": ("plain", MODEL),
    "routed": ("plain", "auto"),
    "budgeted": ("budgeted", MODEL),
    "both": ("budgeted", "auto"),
}
FLOOR_NAME = f"the same call by a client without a budget, naming {MODEL} (no router)"
NAMES = {
    "routed": "POST /lightrag/query with model auto (the router's decision)",
    "budgeted": "POST /lightrag/query by a client with a budget (hold before, settle after)",
    "both": "POST /lightrag/query with model auto, by a client with a budget",
}


def _overrides() -> dict[str, dict[str, object]]:
    def client(budget: dict[str, object] | None) -> dict[str, object]:
        return {"scopes": ["read", "write"], "budget": budget}

    clients = {
        "plain": client(None),
        "budgeted": client({"period": "daily", "max_tokens": 10**12}),
    }
    for name, spec in clients.items():
        spec["key_sha256"] = hashlib.sha256(KEYS[name].encode()).hexdigest()
    return {
        "orchestrator": {"clients": clients},
        "features": {"router": True},
        "router": {"tiers": [{"name": "only", "model": MODEL, "max_prompt_tokens": None}]},
    }


def run(ctx: BenchContext) -> list[Figure]:
    stack = Stack(ctx.root / "models", workers=1, settings_overrides=_overrides())
    ctx.progress("  starting the section's own stack (two clients, the router on)")
    try:
        stack.start()
        with httpx.Client(base_url=stack.base_url, timeout=60, headers=_auth("plain")) as http:
            accepted = http.post(
                "/ingest-async", json={"type": "text", "text": DOC, "source": "ferry.txt"}
            )
            accepted.raise_for_status()
            job = accepted.json()["job_id"]
            wait_until(
                lambda: http.get(f"/jobs/{job}").json()["status"] == "succeeded",
                120,
                "the section's document indexed",
            )
        return asyncio.run(_measure(ctx, stack))
    finally:
        stack.stop()


async def _measure(ctx: BenchContext, stack: Stack) -> list[Figure]:
    count = ctx.scaled(150, 15)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as http:

        def path(client: str, model: str) -> Call:
            async def call(_unused: int) -> None:
                resp = await http.post(
                    "/lightrag/query",
                    json={"query": QUESTION, "mode": "hybrid", "model": model},
                    headers=_auth(client),
                )
                if resp.status_code != 200:
                    raise RuntimeError(f"{client}/{model}: {resp.status_code} {resp.text[:300]}")

            return call

        paths = {name: path(*spec) for name, spec in PATHS.items()}
        await warm(paths, WARMUP)
        samples = await alternate(paths, count, 60 if ctx.quick else 240, ctx.progress, "models")
    floor = samples.pop("floor")
    return [
        latency_figure(
            SECTION, NAMES[name], FLOOR_NAME, measured, floor, budget_note(measured, count)
        )
        for name, measured in samples.items()
    ]


def _auth(client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[client]}"}
