"""The model catalog against the Ollama stand-in (``ollama serve`` with a models directory,
so models can be pulled and removed while the catalog holds its cached list)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shield_rag.errors import DependencyUnavailable
from shield_rag.llm.catalog import ModelCatalog, UnknownModel, canonical
from tests.standins.ollama.launch import start_ollama_serve
from tests.support.procs import free_port

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    proc, url = start_ollama_serve(tmp_path, {"OLLAMA_MODELS": str(tmp_path / "models")})
    try:
        for model in ("qwen2.5:0.5b", "llama3.2"):
            r = httpx.post(f"{url}/api/pull", json={"model": model, "stream": False}, timeout=30)
            assert r.status_code == 200, r.text
        yield url
    finally:
        proc.stop()


def test_a_name_and_its_latest_tag_are_one_model() -> None:
    assert canonical("llama3.2") == canonical("llama3.2:latest") == "llama3.2:latest"
    assert canonical("qwen2.5:0.5b") == "qwen2.5:0.5b"
    assert (
        canonical("registry.example:5000/team/model") == "registry.example:5000/team/model:latest"
    )


async def test_lists_checks_and_refuses_naming_the_models(served: str) -> None:
    catalog = ModelCatalog(served, ttl=60)
    try:
        assert await catalog.models() == ["llama3.2:latest", "qwen2.5:0.5b"]
        await catalog.check("llama3.2")
        await catalog.check("llama3.2:latest")
        await catalog.check("qwen2.5:0.5b")
        with pytest.raises(UnknownModel) as err:
            await catalog.check("qwen2.5:1.5b")  # in the registry, not pulled
        assert err.value.model == "qwen2.5:1.5b"
        assert err.value.available == ["llama3.2:latest", "qwen2.5:0.5b"]
        assert str(err.value) == (
            "model 'qwen2.5:1.5b' is not served by Ollama; available: llama3.2:latest, qwen2.5:0.5b"
        )
    finally:
        await catalog.close()


async def test_the_list_is_cached_for_the_ttl_and_a_miss_looks_again(served: str) -> None:
    clock = Clock()
    catalog = ModelCatalog(served, ttl=60, clock=clock)
    try:
        assert "qwen2.5:0.5b" in await catalog.models()
        removed = httpx.request("DELETE", f"{served}/api/delete", json={"model": "qwen2.5:0.5b"})
        assert removed.status_code == 200
        clock.now = 59.0
        assert "qwen2.5:0.5b" in await catalog.models()  # cached
        clock.now = 60.0
        assert "qwen2.5:0.5b" not in await catalog.models()  # expired: asked again
        # a model pulled while the list is fresh is found: a miss refreshes once
        pulled = httpx.post(
            f"{served}/api/pull", json={"model": "smollm2:135m", "stream": False}, timeout=30
        )
        assert pulled.status_code == 200
        await catalog.check("smollm2:135m")
        assert "smollm2:135m" in await catalog.models()
    finally:
        await catalog.close()


async def test_unreachable_ollama_is_a_dependency_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    catalog = ModelCatalog(url, ttl=60, timeout=2.0)
    try:
        with pytest.raises(DependencyUnavailable) as err:
            await catalog.check("llama3.2")
        assert err.value.dependency == "ollama"
        assert url in str(err.value) and "unreachable" in str(err.value)
    finally:
        await catalog.close()
