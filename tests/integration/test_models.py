"""Models as a managed resource through the orchestrator's API: the model per call, the
router with a failing tier, budgets under concurrent calls and across a restart, and the
accounting of every call by client and model.

The Ollama stand-in serves the chat models at two speeds (llama3.2 slower) and one of the
router's tiers (smollm2:135m) fails like a dead runner; its counts are words.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.stack import Stack, metric_value, running_stack
from tests.standins.ollama.introspect import generations
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

DEFAULT, LARGE, BROKEN = "qwen2.5:0.5b", "llama3.2", "smollm2:135m"
SLOW = "qwen2.5:1.5b"  # half a second per piece: a streamed answer a client can leave
KEYS = {name: secrets.token_hex(24) for name in ("alice", "bob", "ops")}
ALICE_TOKENS = 1500  # alice's daily budget: a few answers' worth
CLIENTS = {
    "alice": {
        "scopes": ["read", "write"],
        "budget": {"period": "daily", "max_tokens": ALICE_TOKENS},
    },
    "bob": {"scopes": ["read", "write"]},
    "ops": {"scopes": ["read", "write", "admin"]},
}
TIERS = [
    {"name": "small", "model": BROKEN, "max_prompt_tokens": 100000},
    {"name": "large", "model": LARGE, "max_prompt_tokens": None},
]
DOC = (
    "The Harbour Ferry Company runs the night ferry between Northport and Eastbay. "
    "The ferry carries 340 bicycles and leaves Northport at 22:15 every evening. "
    "Captain Mara Lind commands the ferry; the company was founded in 1911."
)


def _auth(client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[client]}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    clients = {
        name: {"key_sha256": hashlib.sha256(KEYS[name].encode()).hexdigest(), **spec}
        for name, spec in CLIENTS.items()
    }
    overrides = {
        "orchestrator": {"clients": clients},
        "router": {"tiers": TIERS, "cooldown_seconds": 300},
        "features": {"refresh_seconds": 0.2},
        "accounting": {"prices": {LARGE: {"input_per_million": 2, "output_per_million": 6}}},
    }
    with running_stack(
        tmp_path_factory.mktemp("models"),
        workers=1,
        settings_overrides=overrides,
        ollama_args=[
            *("--llm-latency", f"{LARGE}=0.01"),
            *("--llm-latency", f"{SLOW}=0.5"),
            *("--llm-fail", BROKEN),
        ],
    ) as s:
        with s.http() as http:
            job = http.post(
                "/ingest-async",
                json={"type": "text", "text": DOC, "source": "ferry.txt"},
                headers=_auth("ops"),
            ).json()["job_id"]
            wait_until(
                lambda: (
                    http.get(f"/jobs/{job}", headers=_auth("ops")).json()["status"] == "succeeded"
                ),
                120,
                "the document indexed",
            )
        yield s


def ask(stack: Stack, client: str, **body: Any) -> httpx.Response:
    query = body.pop("query", f"When does the ferry leave Northport? ({uuid.uuid4().hex[:8]})")
    with stack.http(timeout=60) as http:
        return http.post("/lightrag/query", json={"query": query, **body}, headers=_auth(client))


def _feature(stack: Stack, name: str, enabled: bool | None) -> None:
    with stack.http() as http:
        if enabled is None:
            http.delete(f"/admin/features/{name}", headers=_auth("ops")).raise_for_status()
        else:
            http.put(
                f"/admin/features/{name}", json={"enabled": enabled}, headers=_auth("ops")
            ).raise_for_status()
        want = {"router": False}.get(name, True) if enabled is None else enabled
        wait_until(
            lambda: (
                next(
                    f["enabled"]
                    for f in http.get("/features", headers=_auth("bob")).json()["features"]
                    if f["name"] == name
                )
                is want
            ),
            10,
            f"feature {name}",
        )


def test_the_default_model_answers_and_the_call_is_accounted(stack: Stack) -> None:
    before = stack.metrics(stack.orch_metrics_port)
    resp = ask(stack, "bob")
    assert resp.status_code == 200, resp.text
    answer = resp.json()
    assert answer["client"] == "bob"
    assert answer["routing"]["model"] == DEFAULT and answer["routing"]["tier"] is None
    query = [u for u in answer["usage"] if u["role"] == "query"]
    assert query and query[0]["model"] == DEFAULT and query[0]["prompt_tokens"] > 0
    after = stack.metrics(stack.orch_metrics_port)
    labels = {"client": "bob", "model": DEFAULT, "role": "query", "direction": "in"}
    grew = (metric_value(after, "shield_llm_tokens_total", labels) or 0) - (
        metric_value(before, "shield_llm_tokens_total", labels) or 0
    )
    assert grew == query[0]["prompt_tokens"]


def test_a_named_model_answers_and_its_price_is_counted(stack: Stack) -> None:
    resp = ask(stack, "bob", model=LARGE)
    assert resp.status_code == 200, resp.text
    assert resp.json()["routing"]["model"] == LARGE
    cost = metric_value(
        stack.metrics(stack.orch_metrics_port),
        "shield_llm_cost_total",
        {"client": "bob", "model": LARGE},
    )
    assert cost is not None and cost > 0


def test_an_unknown_model_is_refused_naming_the_served_ones(stack: Stack) -> None:
    resp = ask(stack, "bob", model="no-such-model:7b")
    assert resp.status_code == 422, resp.text
    assert "no-such-model:7b" in resp.text and DEFAULT in resp.text


def test_model_choice_off_refuses_a_named_model(stack: Stack) -> None:
    _feature(stack, "model_choice", False)
    try:
        resp = ask(stack, "bob", model=LARGE)
        assert resp.status_code == 501 and "features.model_choice" in resp.text
        assert ask(stack, "bob").status_code == 200  # no model named: still answered
    finally:
        _feature(stack, "model_choice", None)


def test_the_router_falls_back_from_a_failing_tier_and_says_so(stack: Stack) -> None:
    assert ask(stack, "bob", model="auto").status_code == 501  # router feature off
    _feature(stack, "router", True)
    try:
        resp = ask(stack, "bob")  # no model named: "auto" while the router is on
        assert resp.status_code == 200, resp.text
        routing = resp.json()["routing"]
        assert routing["model"] == LARGE and routing["tier"] in ("small", "large")
        assert routing["reason"]
        assert [f["model"] for f in routing["fallbacks"]] in ([BROKEN], [])
        decisions = metric_value(
            stack.metrics(stack.orch_metrics_port),
            "shield_router_decisions_total",
            {"model": LARGE},
        )
        assert decisions is not None and decisions >= 1
    finally:
        _feature(stack, "router", None)


def _spent(stack: Stack, client: str) -> int:
    redis = stack.redis_cli()
    keys = [k for k in redis.keys(f"shield:budget:*:{client}") if k.count(b"-") == 2]
    assert len(keys) == 1, keys  # the day's hash
    return int(redis.hget(keys[0], "tokens") or 0)


def test_a_budget_holds_under_concurrent_calls_and_across_a_restart(stack: Stack) -> None:
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _unused: ask(stack, "alice"), range(20)))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {200, 429}, statuses
    # a call in progress holds more than alice's budget, so the burst may end below it: the
    # calls that follow, one at a time, are admitted until the spend reaches it (bounded)
    for _attempt in range(20):
        if _spent(stack, "alice") >= ALICE_TOKENS:
            break
        answers.append(ask(stack, "alice"))
        assert answers[-1].status_code == 200, answers[-1].text
    largest = max(
        sum(u["prompt_tokens"] + u["completion_tokens"] for u in r.json()["usage"])
        for r in answers
        if r.status_code == 200
    )
    spent = _spent(stack, "alice")
    assert ALICE_TOKENS <= spent < ALICE_TOKENS + largest, (spent, largest)
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["code"] == "budget_exceeded"
    assert "client 'alice'" in refused.json()["detail"] and "resets at" in refused.json()["detail"]
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    assert ask(stack, "bob").status_code == 200  # one client's budget is not another's
    remaining = metric_value(
        stack.metrics(stack.orch_metrics_port), "shield_budget_remaining_ratio", {"client": "alice"}
    )
    assert remaining == 0
    # the budget lives in Redis: a restarted orchestrator still refuses alice
    assert stack.orchestrator is not None
    stack.orchestrator.stop()
    stack.start_orchestrator()
    # the new process shows alice's budget before she calls: the gauges are read from Redis
    wait_until(
        lambda: (
            metric_value(
                stack.metrics(stack.orch_metrics_port),
                "shield_budget_remaining_ratio",
                {"client": "alice"},
            )
            == 0
        ),
        15,
        "alice's budget gauge after the restart",
    )
    again = ask(stack, "alice")
    assert again.status_code == 429 and again.json()["code"] == "budget_exceeded"
    assert _spent(stack, "alice") == spent


def _events(resp: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    event = "message"
    for line in resp.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            yield event, json.loads(line.split(":", 1)[1])
            event = "message"


def test_a_streamed_answer_arrives_in_pieces_and_is_accounted(stack: Stack) -> None:
    query = f"When does the ferry leave Northport? ({uuid.uuid4().hex[:8]})"
    with (
        stack.http(timeout=60) as http,
        http.stream(
            "POST", "/lightrag/query/stream", json={"query": query}, headers=_auth("bob")
        ) as resp,
    ):
        assert resp.status_code == 200, resp.read()
        events = list(_events(resp))
    kinds = [kind for kind, _unused in events]
    assert kinds[-1] == "done" and kinds.count("delta") >= 2 and set(kinds) == {"delta", "done"}
    done = events[-1][1]
    assert done["response"] == "".join(data["text"] for kind, data in events if kind == "delta")
    assert done["client"] == "bob" and done["routing"]["model"] == DEFAULT
    assert any(u["role"] == "query" and u["completion_tokens"] > 0 for u in done["usage"])


def test_a_client_leaving_a_streamed_answer_stops_the_generation(stack: Stack) -> None:
    query = f"When does the ferry leave Northport? ({uuid.uuid4().hex[:8]})"
    seen = {g["id"] for g in generations(stack.ollama_url)}
    with (
        stack.http(timeout=60) as http,
        http.stream(
            "POST",
            "/lightrag/query/stream",
            json={"query": query, "model": SLOW},
            headers=_auth("bob"),
        ) as resp,
    ):
        assert resp.status_code == 200, resp.read()
        first = next(_events(resp))
        assert first[0] == "delta"
    # the client has gone: the orchestrator closes its stream to shield-lightrag, which closes
    # its stream to Ollama, and the model stops between two pieces of its answer

    def ended() -> dict[str, Any] | None:
        fresh = [
            g
            for g in generations(stack.ollama_url)
            if g["id"] not in seen and g["model"] == SLOW and g["stream"]
        ]
        return fresh[0] if fresh and (fresh[0]["aborted"] or fresh[0]["finished"]) else None

    record = wait_until(ended, 30, "the slow model's streamed generation ended")
    assert record["aborted"] and not record["finished"], record
    assert record["chunks_sent"] < record["chunks_total"], record


def test_streaming_off_is_refused_before_any_stream(stack: Stack) -> None:
    _feature(stack, "streaming", False)
    try:
        with stack.http() as http:
            resp = http.post(
                "/lightrag/query/stream", json={"query": "when?"}, headers=_auth("bob")
            )
        assert resp.status_code == 501 and "features.streaming" in resp.text
    finally:
        _feature(stack, "streaming", None)
