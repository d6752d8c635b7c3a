"""``ollama serve`` of the Ollama STAND-IN: configured by Ollama's environment, with models
installed by pulling them (kept in OLLAMA_MODELS), used through the official client."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from tests.standins.ollama.launch import start_ollama_serve
from tests.standins.ollama.ollama_standin.envconfig import (
    keep_alive_seconds,
    parse_duration,
    parse_host,
    serve_config,
)
from tests.support.procs import ManagedProcess
from tests.support.vectors import norm

pytestmark = pytest.mark.integration

EMBED = "all-minilm"
LLM = "qwen2.5:0.5b"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ManagedProcess, str, Path]]:
    models = tmp_path / "models"
    proc, url = start_ollama_serve(
        tmp_path, {"OLLAMA_MODELS": str(models), "SHIELD_OLLAMA_STANDIN_EMBED_DIM": "64"}
    )
    yield proc, url, models
    proc.stop()


def _names(client: ollama.Client) -> set[str]:
    return {str(m.model) for m in client.list().models}


def test_host_values_are_read_as_ollama_reads_them() -> None:
    assert parse_host(None) == ("127.0.0.1", 11434)
    assert parse_host("") == ("127.0.0.1", 11434)
    assert parse_host("0.0.0.0") == ("0.0.0.0", 11434)
    assert parse_host("10.1.2.3:8080") == ("10.1.2.3", 8080)
    assert parse_host("http://127.0.0.1:9999") == ("127.0.0.1", 9999)
    assert parse_host("https://example.org") == ("example.org", 443)
    assert parse_host(":7777") == ("0.0.0.0", 7777)
    assert parse_host("[::1]:5000") == ("::1", 5000)
    assert parse_host("localhost") == ("localhost", 11434)


def test_keep_alive_durations_parse_like_go() -> None:
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("-1m") == -60
    assert keep_alive_seconds("10", 300) == 10
    assert keep_alive_seconds(-1, 300) is None
    assert keep_alive_seconds("-1", 300) is None
    assert keep_alive_seconds("0", 300) == 0
    assert keep_alive_seconds(None, 300) == 300
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("5 minutes")


def test_serve_config_reads_ollama_and_standin_variables(tmp_path: Path) -> None:
    cfg = serve_config(
        {
            "OLLAMA_HOST": "0.0.0.0:1234",
            "OLLAMA_MODELS": str(tmp_path),
            "OLLAMA_KEEP_ALIVE": "1h",
            "OLLAMA_NUM_PARALLEL": "4",
            "OLLAMA_MAX_LOADED_MODELS": "2",
            "SHIELD_OLLAMA_STANDIN_EMBED_DIM": "32",
            "SHIELD_OLLAMA_STANDIN_EMBED_MODELS": "shield-embed, other-embed",
            "SHIELD_OLLAMA_STANDIN_LLM_MODELS": "shield-llm:7b",
        }
    )
    assert (cfg.host, cfg.port, cfg.models_dir) == ("0.0.0.0", 1234, tmp_path)
    assert (cfg.keep_alive, cfg.num_parallel, cfg.max_loaded) == (3600, 4, 2)
    assert cfg.embed_dim == 32
    assert cfg.embed_models == ["shield-embed", "other-embed"]
    assert cfg.llm_models == ["shield-llm:7b"]
    default = serve_config({})
    assert (default.host, default.port, default.models_dir) == ("127.0.0.1", 11434, None)
    assert default.keep_alive == 300
    assert serve_config({"OLLAMA_KEEP_ALIVE": "-1"}).keep_alive is None
    assert serve_config({"OLLAMA_KEEP_ALIVE": "0"}).keep_alive == 0
    assert serve_config({"OLLAMA_KEEP_ALIVE": "90"}).keep_alive == 90
    assert serve_config({"OLLAMA_KEEP_ALIVE": "soon"}).keep_alive == 300
    odd = serve_config({"OLLAMA_MAX_LOADED_MODELS": "x", "OLLAMA_NUM_PARALLEL": "0"})
    assert (odd.max_loaded, odd.num_parallel) == (3, 1)


def test_pull_lists_embeds_then_delete_makes_it_404(
    served: tuple[ManagedProcess, str, Path],
) -> None:
    _unused, url, models = served
    client = ollama.Client(host=url)
    assert _names(client) == set()
    with pytest.raises(ollama.ResponseError) as err:
        client.embed(model=EMBED, input="before the pull")
    assert err.value.status_code == 404
    assert "try pulling it first" in err.value.error

    lines = list(client.pull(EMBED, stream=True))
    assert lines[0].status == "pulling manifest"
    assert lines[-1].status == "success"
    assert any(line.digest and line.completed == line.total for line in lines)
    assert _names(client) == {f"{EMBED}:latest"}
    assert (models / "manifests/registry.ollama.ai/library/all-minilm/latest").is_file()
    assert any((models / "blobs").glob("sha256-*"))

    vectors = client.embed(model=EMBED, input=["harbour at dawn", "ships"]).embeddings
    assert len(vectors) == 2 and len(vectors[0]) == 64
    assert math.isclose(norm(vectors[0]), 1.0, rel_tol=1e-3)
    assert client.show(EMBED).capabilities == ["embedding"]

    assert client.delete(EMBED).status == "success"
    assert _names(client) == set()
    assert not any((models / "blobs").glob("sha256-*"))
    with pytest.raises(ollama.ResponseError) as err:
        client.embed(model=EMBED, input="after the delete")
    assert err.value.status_code == 404
    gone = httpx.request("DELETE", url + "/api/delete", json={"model": EMBED})
    assert gone.status_code == 404
    assert gone.json() == {"error": f"model '{EMBED}' not found"}


def test_llm_endpoints_need_the_model_installed(served: tuple[ManagedProcess, str, Path]) -> None:
    _unused, url, _unused = served
    client = ollama.Client(host=url)
    for call in (
        lambda: client.generate(model=LLM, prompt="hello"),
        lambda: client.chat(model=LLM, messages=[{"role": "user", "content": "hello"}]),
        lambda: client.show(LLM),
    ):
        with pytest.raises(ollama.ResponseError) as err:
            call()
        assert err.value.status_code == 404
    assert client.pull(LLM).status == "success"
    assert (client.generate(model=LLM, prompt="hello there").response or "").startswith("Stand-in")
    assert client.show(LLM).capabilities == ["completion"]
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model=f"{EMBED}:latest", prompt="x")
    assert err.value.status_code == 404


def test_unknown_model_pull_fails_as_ollama_does(
    served: tuple[ManagedProcess, str, Path],
) -> None:
    _unused, url, _unused = served
    flat = httpx.post(url + "/api/pull", json={"model": "no-such-model", "stream": False})
    assert flat.status_code == 500
    assert flat.json() == {"error": "pull model manifest: file does not exist"}
    streamed = httpx.post(url + "/api/pull", json={"model": "no-such-model"})
    assert streamed.status_code == 200
    last = json.loads(streamed.text.splitlines()[-1])
    assert last == {"error": "pull model manifest: file does not exist"}
    with pytest.raises(ollama.ResponseError):
        list(ollama.Client(host=url).pull("no-such-model", stream=True))
    for name in ("../../escape", "a/b/c/d/e", "-dash"):
        bad = httpx.post(url + "/api/pull", json={"model": name, "stream": False})
        assert bad.status_code == 400, name
        assert bad.json() == {"error": "invalid model name"}
        assert httpx.post(url + "/api/embed", json={"model": name, "input": "x"}).status_code == 404


def test_installed_models_survive_a_restart(tmp_path: Path) -> None:
    env = {"OLLAMA_MODELS": str(tmp_path / "models")}
    proc, url = start_ollama_serve(tmp_path, env, name="first")
    try:
        client = ollama.Client(host=url)
        client.pull(EMBED)
        client.pull(LLM)
        client.delete(LLM)
        before = {m.model: m.digest for m in client.list().models}
    finally:
        assert proc.stop() == 0
    proc, url = start_ollama_serve(tmp_path, env, name="second")
    try:
        client = ollama.Client(host=url)
        after = {m.model: m.digest for m in client.list().models}
        assert after == before == {f"{EMBED}:latest": before[f"{EMBED}:latest"]}
        assert client.embed(model=EMBED, input="still here").embeddings
    finally:
        proc.stop()


def test_without_ollama_models_every_catalog_model_is_installed(tmp_path: Path) -> None:
    proc, url = start_ollama_serve(
        tmp_path, {"SHIELD_OLLAMA_STANDIN_LLM_MODELS": "shield-llm:7b"}, name="memory"
    )
    try:
        names = _names(ollama.Client(host=url))
        assert {f"{EMBED}:latest", LLM, "shield-llm:7b"} <= names
    finally:
        proc.stop()


def test_installed_all_knob_fills_ollama_models_with_the_catalog(tmp_path: Path) -> None:
    models = tmp_path / "models"
    env = {"OLLAMA_MODELS": str(models), "SHIELD_OLLAMA_STANDIN_INSTALLED": "all"}
    proc, url = start_ollama_serve(tmp_path, env, name="preinstalled")
    try:
        assert {f"{EMBED}:latest", LLM} <= _names(ollama.Client(host=url))
        assert (models / "manifests/registry.ollama.ai/library/qwen2.5/0.5b").is_file()
    finally:
        proc.stop()


def test_version_endpoint_and_the_standin_version_knob(tmp_path: Path) -> None:
    proc, url = start_ollama_serve(tmp_path, {"SHIELD_OLLAMA_STANDIN_VERSION": "0.12.9"})
    try:
        assert httpx.get(url + "/api/version").json() == {"version": "0.12.9"}
        assert httpx.get(url + "/").text == "Ollama is running"
    finally:
        proc.stop()
