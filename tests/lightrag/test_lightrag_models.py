"""Per-call models in shield-lightrag: the default, a named model, ``auto`` through router
tiers with fallback and cooldown, Ollama's counts returned with every query and insert, and
graph extraction with its own model (ollama.extract_model). Against the Ollama stand-in,
whose counts are words (a real Ollama counts tokens)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ollama import ChatResponse, Message

from shield_rag.clients.lightrag import LightRAGClient
from shield_rag.errors import DependencyRejected
from shield_rag.lightrag_service.answer import Attempts, Prepared
from shield_rag.lightrag_service.llm import OllamaChat, Reply
from shield_rag.lightrag_service.streaming import AnswerStream
from shield_rag.llm.router import Decision, Router
from shield_rag.llm.usage import Usage, UsageTotals
from shield_rag.settings import LightRAGSettings, RouterSettings, Settings
from tests.lightrag.corpus import API_KEY, DOC_A, FACT_A
from tests.lightrag.launch import LightRAGProcess, start_lightrag
from tests.standins.qdrant.launch import QdrantServer
from tests.support.httpserver import JsonServer, serving
from tests.support.tokens import unique

pytestmark = pytest.mark.integration

DEFAULT, SMALL, LARGE, EXTRACT = "qwen2.5:0.5b", "qwen2.5:0.5b", "llama3.2", "qwen2.5:1.5b"
# not in the stand-in's catalog: they answer 404
GHOST, GHOST_B = "ghost-model:1b", "ghost-model-b:1b"
TIERS = [
    {"name": "tiny", "model": GHOST, "max_prompt_tokens": 20},
    {"name": "mini", "model": GHOST_B, "max_prompt_tokens": 40},
    {"name": "small", "model": SMALL, "max_prompt_tokens": 400},
    {"name": "large", "model": LARGE, "max_prompt_tokens": None},
]
WORDS = "Zorblax crystal Quentara Institute professor Hilda Marsh violet glow "


def fresh(question: str) -> str:
    """The question with a marker of its own: no cached keywords or answer apply."""
    return f"{question} ({unique('q', 3)})"


def by_role(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["role"]: entry for entry in body["usage"]}


def counted(entry: dict[str, Any], model: str) -> None:
    assert entry["model"] == model
    assert entry["prompt_tokens"] > 0 and entry["completion_tokens"] > 0
    assert entry["calls"] >= 1 and entry["compute_seconds"] > 0


# -- the package's service: no tiers, ollama.llm_model answers ------------------------------


def test_the_default_model_answers_and_its_counts_come_back(
    indexed: dict[str, dict[str, Any]], client: httpx.Client
) -> None:
    r = client.post("/query", json={"query": fresh("What colour does the Zorblax crystal glow?")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert FACT_A in body["response"]
    roles = by_role(body)
    counted(roles["keyword"], DEFAULT)
    counted(roles["query"], DEFAULT)
    assert body["routing"] == {
        "tier": None,
        "model": DEFAULT,
        "reason": "no model requested: the default model (ollama.llm_model)",
        "fallbacks": [],
        "cached": False,
    }


def test_inserts_return_the_usage_of_extraction(indexed: dict[str, dict[str, Any]]) -> None:
    for answer in indexed.values():
        extract = by_role(answer)["extract"]
        counted(extract, DEFAULT)  # ollama.extract_model unset: llm_model


def test_a_named_model_answers_every_call_of_the_query(
    indexed: dict[str, dict[str, Any]], client: httpx.Client
) -> None:
    question = fresh("What colour does the Zorblax crystal glow?")
    r = client.post("/query", json={"query": question, "mode": "hybrid", "model": LARGE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert FACT_A in body["response"]
    counted(by_role(body)["keyword"], LARGE)
    counted(by_role(body)["query"], LARGE)
    assert body["routing"]["model"] == LARGE and body["routing"]["tier"] is None
    # the same question again: the answer and keywords come from the cache, nothing is spent
    again = client.post("/query", json={"query": question, "mode": "hybrid", "model": LARGE})
    assert again.json()["response"] == body["response"]
    assert again.json()["usage"] == [] and again.json()["routing"]["cached"] is True


def test_an_unknown_model_is_refused_naming_the_available_ones(client: httpx.Client) -> None:
    r = client.post("/query", json={"query": "Who built the Grendel Dam?", "model": GHOST})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert f"model '{GHOST}' is not served by Ollama; available:" in detail
    assert DEFAULT in detail and "llama3.2:latest" in detail
    bad = client.post("/query", json={"query": "Who built the Grendel Dam?", "model": "../x"})
    assert bad.status_code == 422


async def test_the_orchestrator_client_gets_the_answer_usage_and_routing(
    service: LightRAGProcess, indexed: dict[str, dict[str, Any]]
) -> None:
    settings = LightRAGSettings(url=service.url, api_key=API_KEY)  # type: ignore[arg-type]
    lightrag = LightRAGClient(settings)
    try:
        question = fresh("What colour does the Zorblax crystal glow?")
        result = await lightrag.query(question, "naive", model=LARGE)
        assert FACT_A in result.response
        assert [(u["model"], u["role"]) for u in result.usage] == [(LARGE, "query")]
        assert result.routing is not None and result.routing["model"] == LARGE
        with pytest.raises(DependencyRejected) as err:
            await lightrag.query(question, "naive", model=GHOST)
        assert err.value.status == 422 and "available" in str(err.value)
    finally:
        await lightrag.close()


def stream(client: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", "/query/stream", json=body) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(text) for text in r.iter_lines() if text]


def test_a_streamed_answer_comes_in_pieces_then_its_counts(
    indexed: dict[str, dict[str, Any]], client: httpx.Client
) -> None:
    question = fresh("What colour does the Zorblax crystal glow?")
    lines = stream(client, {"query": question, "mode": "naive"})
    *deltas, done = lines
    assert len(deltas) > 1 and all(set(d) == {"delta"} for d in deltas)
    text = "".join(d["delta"] for d in deltas)
    assert FACT_A in text
    assert done["done"] is True and done["routing"]["model"] == DEFAULT
    counted(by_role(done)["query"], DEFAULT)
    # the streamed answer was kept: the same question answers it from the cache
    again = client.post("/query", json={"query": question, "mode": "naive"})
    assert again.json()["response"] == text and again.json()["routing"]["cached"] is True
    refused = client.post("/query/stream", json={"query": question, "model": GHOST})
    assert refused.status_code == 422 and "available" in refused.json()["detail"]


# -- a service with router tiers and its own extraction model -------------------------------


@pytest.fixture(scope="module")
def routed(
    tmp: Path, qdrant: QdrantServer, ollama_url: str
) -> Iterator[tuple[LightRAGProcess, httpx.Client]]:
    svc = start_lightrag(
        tmp,
        qdrant_url=qdrant.url,
        qdrant_api_key=qdrant.api_key,
        ollama_url=ollama_url,
        api_key=API_KEY,
        workspace=unique("r", 4),
        name="lightrag-routed",
        sections={
            "ollama": {"extract_model": EXTRACT},
            "router": {"tiers": TIERS, "cooldown_seconds": 600},
        },
    )
    try:
        with svc.client() as c:
            doc_id, source, text = DOC_A
            r = c.post("/documents/text", json={"text": text, "file_source": source, "id": doc_id})
            assert r.status_code == 200, r.text
            counted(by_role(r.json())["extract"], EXTRACT)
            yield svc, c
    finally:
        svc.stop()


def test_health_shows_the_tiers_and_the_extract_model(
    routed: tuple[LightRAGProcess, httpx.Client],
) -> None:
    config = httpx.get(f"{routed[0].url}/health").json()["configuration"]
    assert config["extract_model"] == EXTRACT and config["llm_model"] == DEFAULT
    assert [t["name"] for t in config["router"]["tiers"]] == ["tiny", "mini", "small", "large"]
    assert config["router"]["tiers"][2] == TIERS[2]


def test_a_stream_falls_back_before_its_first_piece(
    routed: tuple[LightRAGProcess, httpx.Client],
) -> None:
    _unused, client = routed
    *deltas, done = stream(client, {"query": fresh(WORDS), "mode": "bypass", "model": "auto"})
    assert deltas and done["done"] is True
    routing = done["routing"]
    assert routing["tier"] == "mini" and routing["model"] == SMALL
    assert [f["model"] for f in routing["fallbacks"]] == [GHOST_B]
    counted(by_role(done)["query"], SMALL)


def test_auto_falls_back_from_a_failing_model_which_then_rests(
    routed: tuple[LightRAGProcess, httpx.Client],
) -> None:
    _unused, client = routed
    first = client.post(
        "/query", json={"query": fresh("Zorblax?"), "mode": "bypass", "model": "auto"}
    )
    assert first.status_code == 200, first.text
    routing = first.json()["routing"]
    assert routing["tier"] == "tiny" and routing["model"] == SMALL
    assert [f["model"] for f in routing["fallbacks"]] == [GHOST]
    assert "404" in routing["fallbacks"][0]["error"]
    counted(by_role(first.json())["query"], SMALL)
    assert (
        GHOST in httpx.get(f"{routed[0].url}/health").json()["configuration"]["router"]["cooling"]
    )
    # the failed model rests: the next call does not try it
    second = client.post(
        "/query", json={"query": fresh("Zorblax?"), "mode": "bypass", "model": "auto"}
    )
    routing = second.json()["routing"]
    assert routing["tier"] == "tiny" and routing["model"] == SMALL and routing["fallbacks"] == []
    assert f"cooling down: {GHOST} (" in routing["reason"]


def test_auto_picks_the_tier_by_prompt_size(routed: tuple[LightRAGProcess, httpx.Client]) -> None:
    _unused, client = routed
    # bypass: the prompt is the query alone, 21 to 400 tokens: tier small
    mid = client.post("/query", json={"query": fresh(WORDS * 4), "mode": "bypass", "model": "auto"})
    assert mid.json()["routing"]["tier"] == "small", mid.text
    assert mid.json()["routing"]["reason"].startswith("prompt ")
    assert "> tier mini's 40" in mid.json()["routing"]["reason"]
    # a RAG prompt (LightRAG's system prompt and the retrieved context) passes 400 tokens
    question = fresh("What colour does the Zorblax crystal glow?")
    rag = client.post("/query", json={"query": question, "mode": "naive", "model": "auto"})
    assert rag.status_code == 200, rag.text
    routing = rag.json()["routing"]
    assert routing["tier"] == "large" and routing["model"] == LARGE, routing
    assert "> tier small's 400" in routing["reason"]
    assert FACT_A in rag.json()["response"]
    counted(by_role(rag.json())["query"], LARGE)
    # keywords (mix) go to the smallest tier whose model is not resting
    mixed = client.post("/query", json={"query": question, "mode": "mix", "model": "auto"})
    assert mixed.status_code == 200, mixed.text
    assert by_role(mixed.json())["keyword"]["model"] == SMALL


# -- a client that leaves a stream stops Ollama's (in process, with a stream that never ends)


class EndlessChat:
    """Ollama sending a first piece, then computing the next one forever."""

    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(1)
        self.closed = asyncio.Event()

    async def stream(
        self, model: str, role: str, messages: Any, *, first_timeout: float | None = None
    ) -> tuple[ChatResponse, AsyncGenerator[ChatResponse, None]]:
        async def frames() -> AsyncGenerator[ChatResponse, None]:
            try:
                await asyncio.Event().wait()
                yield ChatResponse(model=model, done=True)
            finally:
                self.closed.set()  # the HTTP stream to Ollama is closed here

        first = ChatResponse(model=model, message=Message(role="assistant", content="The"))
        return first, frames()


class Answers:
    def __init__(self, chat: EndlessChat, router: Router) -> None:
        self.chat, self.router = chat, router

    def time_limit(self, auto: bool) -> float:
        return 5.0

    async def cached_answer(self, *args: Any) -> None:
        return None


async def test_a_client_that_leaves_stops_the_ollama_stream_at_once() -> None:
    """The server cancels the task reading the lines when its client goes away (as Starlette
    does): the wait for Ollama's next piece ends, its stream is closed, the slot is free."""
    chat, got = EndlessChat(), asyncio.Event()
    router = Router(RouterSettings())
    decision = Decision(None, "m", "asked", ["m"])
    messages = [{"role": "user", "content": "q"}]
    prep = Prepared(messages, decision, Attempts(router, False), UsageTotals())
    lines = AnswerStream(Answers(chat, router), prep, "bypass").lines()  # type: ignore[arg-type]
    received: list[Any] = []

    async def serve() -> None:
        async for raw in lines:
            received.append(json.loads(raw))
            got.set()

    serving_task = asyncio.ensure_future(serve())
    await asyncio.wait_for(got.wait(), 5)
    assert received == [{"delta": "The"}]
    serving_task.cancel()  # the client left while the model computes its next piece
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(serving_task, 5)
    assert chat.closed.is_set()  # the stream to Ollama is closed
    assert not chat.slots.locked()  # the answer slot is free again
    assert received == [{"delta": "The"}]


async def test_a_model_too_slow_hands_over_within_the_attempt_timeout() -> None:
    """An Ollama that never answers for one model: auto gives up on it after
    router.attempt_timeout_seconds (not ollama.timeout), tries the next and rests it."""

    def answer(method: str, path: str, body: Any) -> Any:
        if body["model"] == "slow":
            return None  # never answers
        reply = {"role": "assistant", "content": "hi"}
        counts = {"prompt_eval_count": 3, "eval_count": 1, "total_duration": 2_000_000}
        return 200, {"model": body["model"], "message": reply, "done": True, **counts}

    async with serving(JsonServer) as start:
        _unused, url = await start(answer)
        settings = Settings(
            redis={"url": "redis://127.0.0.1:1/0"},  # type: ignore[arg-type]
            qdrant={"url": "http://127.0.0.1:1"},  # type: ignore[arg-type]
            ollama={"url": url, "timeout": 60},  # type: ignore[arg-type]
            # Long enough for "quick" to answer while the tests run at a low priority.
            router={"attempt_timeout_seconds": 2},  # type: ignore[arg-type]
        )
        chat = OllamaChat(settings)
        router = Router(settings.router)
        attempts = Attempts(router, auto=True)
        messages = [{"role": "user", "content": "q"}]

        async def call(model: str) -> Reply:
            return await chat.chat(model, "query", messages, time_limit=2)

        started = time.monotonic()
        reply = await attempts.run("answer", ["slow", "quick"], call)
        assert time.monotonic() - started < 10
        await chat.close()
    assert reply.text == "hi" and reply.usage == Usage("quick", "query", 3, 1, 0.002)
    assert attempts.fallbacks == [{"model": "slow", "error": "answer: slow: no answer within 2s"}]
    assert set(router.cooling()) == {"slow"}


async def test_a_model_failing_mid_stream_ends_it_with_an_error_line() -> None:
    """Too late to fall back once a piece was sent: an error line, and the model rests."""
    frames = [
        {"model": "quick", "message": {"role": "assistant", "content": "The"}, "done": False},
        {"error": "model runner crashed"},
    ]
    body = b"".join(json.dumps(frame).encode() + b"\n" for frame in frames)

    async with serving(JsonServer) as start:
        _unused, url = await start(lambda method, path, request: (200, body))
        settings = Settings(
            redis={"url": "redis://127.0.0.1:1/0"},  # type: ignore[arg-type]
            qdrant={"url": "http://127.0.0.1:1"},  # type: ignore[arg-type]
            ollama={"url": url},  # type: ignore[arg-type]
        )
        chat = OllamaChat(settings)
        router = Router(settings.router)
        decision = Decision("t", "quick", "asked", ["quick", "other"])
        messages = [{"role": "user", "content": "q"}]
        prep = Prepared(messages, decision, Attempts(router, True), UsageTotals())
        answers = Answers(chat, router)  # type: ignore[arg-type]
        stream = AnswerStream(answers, prep, "bypass")  # type: ignore[arg-type]
        lines = [json.loads(raw) async for raw in stream.lines()]
        await chat.close()
    assert lines == [
        {"delta": "The"},
        {
            "error": "model failed mid-answer: quick: Ollama reported: model runner crashed",
            "status": 502,
        },
    ]
    assert set(router.cooling()) == {"quick"} and not chat.slots.locked()
