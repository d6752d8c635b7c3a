"""Model files and loaded models of the Ollama STAND-IN's ``serve`` mode: blobs, create,
keep_alive, ``/api/ps`` and OLLAMA_MAX_LOADED_MODELS, used as Ollama's API is used."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import ollama
import pytest

from tests.standins.ollama.launch import start_ollama_serve
from tests.support.procs import ManagedProcess
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

EMBED = "all-minilm"
LLM = "qwen2.5:0.5b"
GGUF = b"GGUF\x03\x00\x00\x00" + b"stand-in test weights" * 8


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    proc, base = _serve(tmp_path, {})
    yield base
    proc.stop()


def _serve(tmp_path: Path, env: dict[str, str]) -> tuple[ManagedProcess, str]:
    return start_ollama_serve(
        tmp_path,
        {
            "OLLAMA_MODELS": str(tmp_path / "models"),
            "SHIELD_OLLAMA_STANDIN_EMBED_MODELS": "shield-embed",
            **env,
        },
    )


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _loaded(client: ollama.Client) -> dict[str, datetime]:
    return {str(m.model): m.expires_at for m in client.ps().models if m.expires_at}


def test_blob_upload_checks_the_digest(url: str, tmp_path: Path) -> None:
    digest = _digest(GGUF)
    assert httpx.head(f"{url}/api/blobs/{digest}").status_code == 404
    wrong = httpx.post(f"{url}/api/blobs/{_digest(b'other')}", content=GGUF)
    assert wrong.status_code == 400
    assert "digest mismatch" in wrong.json()["error"]
    assert httpx.head(f"{url}/api/blobs/{_digest(b'other')}").status_code == 404
    assert not (tmp_path / "models/blobs" / _digest(b"other").replace(":", "-")).exists()
    assert httpx.head(f"{url}/api/blobs/sha256:nothex").status_code == 400

    assert httpx.post(f"{url}/api/blobs/{digest}", content=GGUF).status_code == 201
    assert httpx.head(f"{url}/api/blobs/{digest}").status_code == 200
    stored = tmp_path / "models/blobs" / digest.replace(":", "-")
    assert stored.read_bytes() == GGUF
    assert httpx.post(f"{url}/api/blobs/{digest}", content=GGUF).status_code == 200


def test_create_from_an_uploaded_gguf_with_the_client(url: str, tmp_path: Path) -> None:
    client = ollama.Client(host=url)
    weights = tmp_path / "model.gguf"
    weights.write_bytes(GGUF)
    digest = client.create_blob(weights)
    assert digest == _digest(GGUF)
    created = client.create(
        model="shield-llm",
        files={"model.gguf": digest},
        template="{{ .Prompt }}",
        system="You answer briefly.",
        parameters={"temperature": 0.1, "stop": ["<end>"]},
    )
    assert created.status == "success"
    assert "shield-llm:latest" in {m.model for m in client.list().models}
    shown = client.show("shield-llm")
    assert shown.capabilities == ["completion"]
    assert "temperature 0.1" in (shown.parameters or "")
    assert client.generate(model="shield-llm", prompt="ping pong").response

    # a name the stand-in is told is an embedding model embeds
    assert client.create(model="shield-embed", files={"model.gguf": digest}).status == "success"
    assert client.show("shield-embed").capabilities == ["embedding"]
    assert client.embed(model="shield-embed", input="text").embeddings


def test_create_refuses_what_ollama_refuses(url: str) -> None:
    not_gguf = b"not a gguf file"
    assert httpx.post(f"{url}/api/blobs/{_digest(not_gguf)}", content=not_gguf).is_success
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"model": "m"}, 400, "neither 'from' or 'files' was specified"),
        ({"model": "m", "files": {"m.gguf": _digest(b"absent")}}, 400, "not found"),
        ({"model": "m", "files": {"m.gguf": _digest(not_gguf)}}, 400, "invalid file magic"),
        ({"model": "m", "from": "no-such-model"}, 404, "not found"),
    ]
    for body, status, error in cases:
        resp = httpx.post(f"{url}/api/create", json={**body, "stream": False})
        assert resp.status_code == status, body
        assert error in resp.json()["error"]
    assert httpx.get(f"{url}/api/tags").json() == {"models": []}


def test_create_from_an_installed_model_streams_progress(url: str) -> None:
    client = ollama.Client(host=url)
    client.pull(EMBED)
    lines = list(client.create(model="my-embed:v1", from_=EMBED, stream=True))
    assert lines[-1].status == "success"
    assert any((line.status or "").startswith("using existing layer") for line in lines)
    assert client.show("my-embed:v1").capabilities == ["embedding"]
    assert client.embed(model="my-embed:v1", input="a b").embeddings
    # FROM a catalog model not yet installed: pulled first, as Ollama does
    assert client.create(model="my-llm", from_=LLM, system="Be brief.").status == "success"
    assert {"my-llm:latest", LLM} <= {m.model for m in client.list().models}
    assert client.copy("my-llm", "my-llm:copy").status == "success"
    assert client.show("my-llm:copy").capabilities == ["completion"]


def test_keep_alive_sets_expiry_preloads_and_unloads(url: str) -> None:
    client = ollama.Client(host=url)
    client.pull(EMBED)
    client.pull(LLM)
    assert _loaded(client) == {}

    # Ollama's preload: empty input with keep_alive -1 loads the model for good
    assert client.embed(model=EMBED, input="", keep_alive=-1).embeddings == []
    forever = _loaded(client)[f"{EMBED}:latest"]
    assert forever > datetime.now(UTC) + timedelta(days=365 * 100)

    loaded = client.generate(model=LLM, prompt="", keep_alive="10m")
    assert loaded.done_reason == "load"
    until = _loaded(client)[LLM]
    assert timedelta(minutes=9) < until - datetime.now(UTC) <= timedelta(minutes=10)

    client.generate(model=LLM, prompt="hello", keep_alive=3600)
    assert _loaded(client)[LLM] - datetime.now(UTC) > timedelta(minutes=59)

    unloaded = client.generate(model=LLM, prompt="", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert set(_loaded(client)) == {f"{EMBED}:latest"}

    client.embed(model=EMBED, input="short stay", keep_alive="1s")
    wait_until(lambda: _loaded(client) == {}, 10, "the 1 s keep_alive to expire")

    bad = httpx.post(f"{url}/api/embed", json={"model": EMBED, "input": "x", "keep_alive": "5y"})
    assert bad.status_code == 400


def test_default_keep_alive_comes_from_ollama_keep_alive(tmp_path: Path) -> None:
    proc, url = _serve(tmp_path, {"OLLAMA_KEEP_ALIVE": "2h"})
    try:
        client = ollama.Client(host=url)
        client.pull(EMBED)
        client.embed(model=EMBED, input="words")
        left = _loaded(client)[f"{EMBED}:latest"] - datetime.now(UTC)
        assert timedelta(minutes=119) < left <= timedelta(hours=2)
    finally:
        proc.stop()


def test_least_recently_used_model_is_unloaded_past_the_limit(tmp_path: Path) -> None:
    proc, url = _serve(tmp_path, {"OLLAMA_MAX_LOADED_MODELS": "2"})
    try:
        client = ollama.Client(host=url)
        for model in (EMBED, "nomic-embed-text", "bge-m3"):
            client.pull(model)
        client.embed(model=EMBED, input="one")
        client.embed(model="nomic-embed-text", input="two")
        client.embed(model=EMBED, input="one again")  # now nomic-embed-text is the LRU
        client.embed(model="bge-m3", input="three")
        assert set(_loaded(client)) == {f"{EMBED}:latest", "bge-m3:latest"}
        client.delete("bge-m3")
        assert set(_loaded(client)) == {f"{EMBED}:latest"}
    finally:
        proc.stop()


def test_num_parallel_limits_concurrent_requests_to_a_model(tmp_path: Path) -> None:
    latency = 0.3
    proc, url = _serve(
        tmp_path,
        {"OLLAMA_NUM_PARALLEL": "1", "SHIELD_OLLAMA_STANDIN_EMBED_LATENCY": str(latency)},
    )
    try:
        ollama.Client(host=url).pull(EMBED)

        async def three_at_once() -> float:
            client = ollama.AsyncClient(host=url)
            started = time.monotonic()
            await asyncio.gather(*(client.embed(model=EMBED, input=f"t{i}") for i in range(3)))
            return time.monotonic() - started

        # one at a time: three requests take three compute times, not one
        assert asyncio.run(three_at_once()) >= 3 * latency
    finally:
        proc.stop()
