"""The clients of Qdrant, Ollama and LightRAG raise errors naming the dependency, and their
breakers count only the dependency's failures (never a refusal of our input)."""

from __future__ import annotations

from typing import Any

import httpx
import ollama
import pytest
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from shield_rag.breaker import DependencyGuard, is_dependency_failure
from shield_rag.clients.embeddings import Embedder, EmbeddingError
from shield_rag.clients.lightrag import LightRAGClient, LightRAGError
from shield_rag.clients.vectorstore import VectorStore, VectorStoreError
from shield_rag.errors import (
    DependencyMisconfigured,
    DependencyRejected,
    DependencyUnavailable,
    PermanentJobError,
    TransientJobError,
)
from shield_rag.settings import LightRAGSettings, OllamaSettings, QdrantSettings

THRESHOLD = 3


def guard(dependency: Any) -> DependencyGuard:
    return DependencyGuard.counted(dependency, failure_threshold=THRESHOLD, reset_seconds=30)


def test_the_kinds_keep_their_retry_semantics() -> None:
    for cls in (EmbeddingError, LightRAGError, VectorStoreError):
        assert issubclass(cls, DependencyUnavailable) and issubclass(cls, TransientJobError)
    assert issubclass(DependencyRejected, PermanentJobError)
    assert issubclass(DependencyMisconfigured, PermanentJobError)
    assert is_dependency_failure(DependencyUnavailable("qdrant", "down"))
    assert not is_dependency_failure(DependencyUnavailable("qdrant", "open", sent=False))
    assert not is_dependency_failure(DependencyRejected("qdrant", "bad filter", status=400))
    assert not is_dependency_failure(ValueError("x"))


# -- LightRAG -------------------------------------------------------------------------------
class LightRAG:
    def __init__(self) -> None:
        self.calls = 0
        self.answer: httpx.Response | Exception = httpx.Response(200, json={"response": "ok"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def ask(client: LightRAGClient, streamed: bool, query: str = "what is it") -> str:
    """The answer of ``query``, asked plainly or streamed (the same refusals either way)."""
    if not streamed:
        return (await client.query(query, "hybrid")).response
    return "".join([line.get("delta", "") async for line in client.query_stream(query, "hybrid")])


STREAMED = pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])


def lightrag_client(fake: LightRAG) -> LightRAGClient:
    client = LightRAGClient(LightRAGSettings(timeout=2.0), guard("lightrag"))
    client.http = httpx.AsyncClient(base_url="http://lightrag", transport=httpx.MockTransport(fake))
    return client


@pytest.mark.parametrize(
    ("answer", "kind", "timeout"),
    [
        (httpx.Response(500, json={"detail": "boom"}), LightRAGError, False),
        (httpx.Response(502, json={"detail": "ollama down"}), LightRAGError, False),
        (httpx.ConnectError("refused"), LightRAGError, False),
        (httpx.ReadTimeout("slow"), LightRAGError, True),
        (httpx.Response(422, json={"detail": "RAG query is too short"}), DependencyRejected, None),
        (httpx.Response(409, json={"detail": "duplicate"}), DependencyRejected, None),
    ],
)
@STREAMED
async def test_lightrag_failures_and_refusals(
    answer: Any, kind: type, timeout: Any, streamed: bool
) -> None:
    fake = LightRAG()
    fake.answer = answer
    client = lightrag_client(fake)
    with pytest.raises(kind) as err:
        await ask(client, streamed)
    assert err.value.dependency == "lightrag"
    if timeout is not None:
        assert err.value.timeout is timeout
    else:
        assert "RAG query is too short" in str(err.value) or "duplicate" in str(err.value)
    await client.close()


@STREAMED
async def test_lightrag_breaker_opens_on_failures_and_then_sends_nothing(streamed: bool) -> None:
    fake = LightRAG()
    fake.answer = httpx.Response(500, json={"detail": "boom"})
    client = lightrag_client(fake)
    for _unused in range(THRESHOLD):
        with pytest.raises(LightRAGError):
            await ask(client, streamed)
    with pytest.raises(DependencyUnavailable) as err:
        await ask(client, streamed)
    assert err.value.sent is False and err.value.dependency == "lightrag"
    assert err.value.retry_after is not None and 25 <= err.value.retry_after <= 30
    assert fake.calls == THRESHOLD
    await client.close()


@STREAMED
async def test_lightrag_refusals_never_open_its_breaker(streamed: bool) -> None:
    fake = LightRAG()
    fake.answer = httpx.Response(422, json={"detail": "RAG query is too short"})
    client = lightrag_client(fake)
    for _unused in range(THRESHOLD * 4):
        with pytest.raises(DependencyRejected):
            await ask(client, streamed, "ab")
    assert client.guard.breaker is not None and client.guard.breaker.state.label == "closed"
    fake.answer = (
        httpx.Response(200, content=b'{"delta": "fi"}\n{"delta": "ne"}\n{"done": true}\n')
        if streamed
        else httpx.Response(200, json={"response": "fine"})
    )
    assert await ask(client, streamed) == "fine"
    await client.close()


# -- Qdrant ---------------------------------------------------------------------------------
def unexpected(status: int) -> UnexpectedResponse:
    return UnexpectedResponse(
        status, "reason", b'{"status":{"error":"bad filter"}}', httpx.Headers()
    )


async def raising(exc: Exception) -> Any:
    raise exc


@pytest.mark.parametrize(
    ("exc", "kind", "timeout"),
    [
        (unexpected(500), VectorStoreError, False),
        (unexpected(503), VectorStoreError, False),
        (ResponseHandlingException(httpx.ConnectError("refused")), VectorStoreError, False),
        (ResponseHandlingException(httpx.ReadTimeout("slow")), VectorStoreError, True),
        (httpx.ConnectTimeout("slow"), VectorStoreError, True),
        (unexpected(400), DependencyRejected, None),
        (unexpected(404), DependencyRejected, None),
    ],
)
async def test_qdrant_failures_and_refusals(exc: Exception, kind: type, timeout: Any) -> None:
    store = VectorStore(QdrantSettings(url="http://127.0.0.1:1"), guard("qdrant"))
    with pytest.raises(kind) as err:
        await store._call("search", lambda: raising(exc))
    assert err.value.dependency == "qdrant"
    if timeout is not None:
        assert err.value.timeout is timeout
    else:
        assert "bad filter" in str(err.value) and err.value.status == exc.status_code  # type: ignore[attr-defined]
    await store.close()


async def test_qdrant_refusals_never_open_its_breaker_but_failures_do() -> None:
    store = VectorStore(QdrantSettings(url="http://127.0.0.1:1"), guard("qdrant"))
    for _unused in range(THRESHOLD * 4):
        with pytest.raises(DependencyRejected):
            await store._call("search", lambda: raising(unexpected(400)))
    for _unused in range(THRESHOLD):
        with pytest.raises(VectorStoreError):
            await store._call("search", lambda: raising(unexpected(500)))
    called = []

    async def send() -> None:
        called.append(1)

    with pytest.raises(DependencyUnavailable) as err:
        await store._call("search", send)
    assert err.value.sent is False and not called
    await store.close()


# -- Ollama ---------------------------------------------------------------------------------
class FakeOllama:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    async def embed(self, **_unused: Any) -> Any:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def embedder(answer: Any) -> tuple[Embedder, FakeOllama]:
    emb = Embedder(OllamaSettings(url="http://127.0.0.1:1"), 4, guard("ollama"))
    fake = FakeOllama(answer)
    emb.client = fake  # type: ignore[assignment]
    return emb, fake


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (ollama.ResponseError("model crashed", 500), EmbeddingError),
        (httpx.ConnectError("refused"), EmbeddingError),
        (ConnectionError("Failed to connect to Ollama"), EmbeddingError),
        (httpx.ReadTimeout("slow"), EmbeddingError),
        (ollama.ResponseError("input too long", 400), DependencyRejected),
        (ollama.ResponseError('model "x" not found', 404), DependencyRejected),
    ],
)
async def test_ollama_failures_and_refusals(answer: Exception, kind: type) -> None:
    emb, _unused = embedder(answer)
    with pytest.raises(kind) as err:
        await emb.embed(["a text"])
    assert err.value.dependency == "ollama"
    assert getattr(err.value, "timeout", False) is isinstance(answer, httpx.TimeoutException)


async def test_a_wrong_dimension_is_a_misconfiguration_not_a_failure() -> None:
    class Res:
        embeddings = [[0.1, 0.2]]

    emb, fake = embedder(Res())
    for _unused in range(THRESHOLD * 2):
        with pytest.raises(DependencyMisconfigured, match=r"qdrant\.vector_size is 4"):
            await emb.embed(["a text"])
    assert fake.calls == THRESHOLD * 2
    assert emb.guard.breaker is not None and emb.guard.breaker.state.label == "closed"


async def test_a_guard_without_a_breaker_just_calls() -> None:
    plain = DependencyGuard("qdrant")

    async def fail() -> None:
        raise DependencyUnavailable("qdrant", "down")

    for _unused in range(20):
        with pytest.raises(DependencyUnavailable) as err:
            await plain.call(fail)
        assert err.value.sent is True
