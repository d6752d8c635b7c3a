"""The shield.rag.ollama_models module (plugins/modules/ollama_models.py), run as Ansible runs it.

The module runs against a small fake Ollama of this file on 127.0.0.1 (an ephemeral port): a
dict of installed models, a "registry" of models that can be pulled, the blobs uploaded and the
loaded models with their expiry. It implements only the calls the module makes, the way Ollama
answers them (ndjson progress for pulls, ``{"error": ...}`` bodies), and records every request,
so the tests check both what the module printed and what it asked.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.modules import ROOT, Endpoint, Modules, serving
from tests.support.procs import free_port

RunModule = Callable[..., dict]
MODULE = ROOT / "plugins" / "modules" / "ollama_models.py"

NEVER = "2318-03-12T04:05:06.123456789Z"  # what Ollama shows for keep_alive -1
SOON = "2026-12-06T03:00:00Z"
EMBED = {"capabilities": ["embedding"], "dimension": 384}
CHAT = {"capabilities": ["completion"]}


@dataclass
class State:
    installed: dict[str, dict] = field(default_factory=dict)
    registry: dict[str, dict] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)

    def calls(self, method: str, path: str) -> list[Any]:
        """The bodies of the requests ``method path`` (path: a prefix), in order."""
        return [b for m, p, b in self.requests if m == method and p.startswith(path)]

    def changing(self) -> list[tuple[str, str]]:
        """The requests that change something (anything but listing and showing)."""
        reads = {("GET", "/api/tags"), ("GET", "/api/ps"), ("POST", "/api/show")}
        return [(m, p) for m, p, _unused in self.requests if (m, p) not in reads and m != "HEAD"]


class FakeOllama(Endpoint):
    state = State()

    def json(self, status: int, data: object) -> None:
        self.answer(status, json.dumps(data).encode())

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def missing(self, name: str) -> None:
        self.json(404, {"error": f"model '{name}' not found"})

    def do_HEAD(self) -> None:
        self.state.requests.append(("HEAD", self.path, None))
        digest = self.path.removeprefix("/api/blobs/sha256:")
        self.send_response(200 if digest in self.state.blobs else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.state.requests.append(("GET", self.path, None))
        if self.path == "/api/tags":
            models = [{"name": n, "model": n, "size": 1} for n in self.state.installed]
            self.json(200, {"models": models})
        elif self.path == "/api/ps":
            running = [
                {"name": n, "model": n, "expires_at": e} for n, e in self.state.loaded.items()
            ]
            self.json(200, {"models": running})
        else:
            self.json(404, {"error": "404 page not found"})

    def do_DELETE(self) -> None:
        body = json.loads(self.body())
        self.state.requests.append(("DELETE", self.path, body))
        if body["model"] not in self.state.installed:
            self.json(404, {"error": f"model '{body['model']}' not found"})
            return
        del self.state.installed[body["model"]]
        self.state.loaded.pop(body["model"], None)
        self.answer(200, b"")

    def do_POST(self) -> None:
        raw = self.body()
        if self.path.startswith("/api/blobs/sha256:"):
            got = hashlib.sha256(raw).hexdigest()
            self.state.requests.append(("POST", self.path, {"sha256": got, "size": len(raw)}))
            if self.path != f"/api/blobs/sha256:{got}":
                self.json(400, {"error": "digest mismatch"})
                return
            self.state.blobs[got] = raw
            self.answer(201, b"")
            return
        body = json.loads(raw)
        self.state.requests.append(("POST", self.path, body))
        handler = {
            "/api/pull": self.pull,
            "/api/create": self.create,
            "/api/show": self.show,
            "/api/embed": self.embed,
            "/api/generate": self.generate,
        }[self.path]
        handler(body)

    def pull(self, body: dict) -> None:
        name = body["model"]
        lines = [{"status": "pulling manifest"}]
        if name not in self.state.registry:
            lines.append({"error": "pull model manifest: file does not exist"})
        elif self.state.registry[name].get("breaks"):
            lines.append({"status": "pulling 6a0746a1ec1a", "completed": 10, "total": 99})
        else:
            lines += [{"status": "verifying sha256 digest"}, {"status": "success"}]
            self.state.installed[name] = dict(self.state.registry[name])
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            data = json.dumps(line).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.write(b"0\r\n\r\n")

    def create(self, body: dict) -> None:
        for digest in body["files"].values():
            blob = self.state.blobs.get(digest.removeprefix("sha256:"))
            if blob is None:
                self.json(400, {"error": f"blob {digest} not found"})
                return
            if not blob.startswith(b"GGUF"):
                self.json(400, {"error": "invalid file magic"})
                return
        self.state.installed[body["model"]] = dict(CHAT, created=body)
        self.json(200, {"status": "success"})

    def show(self, body: dict) -> None:
        model = self.state.installed.get(body["model"])
        if model is None:
            self.missing(body["model"])
        elif "capabilities" in model:
            self.json(200, {"capabilities": model["capabilities"]})
        else:
            self.json(200, {"details": {}})  # an older Ollama: no capabilities

    def load(self, body: dict) -> bool:
        name = body["model"]
        if name not in self.state.installed:
            self.missing(name)
            return False
        self.state.loaded[name] = NEVER if body.get("keep_alive") == -1 else SOON
        return True

    def embed(self, body: dict) -> None:
        model = self.state.installed.get(body["model"], {})
        if model and "embedding" not in model.get("capabilities", ["embedding"]):
            self.json(400, {"error": f'"{body["model"]}" does not support embeddings'})
        elif self.load(body):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            vectors = [[0.25] * model.get("dimension", 8) for _unused in texts]
            self.json(200, {"model": body["model"], "embeddings": vectors})

    def generate(self, body: dict) -> None:
        if self.load(body):
            self.json(200, {"model": body["model"], "response": "", "done": True})


@pytest.fixture
def ollama() -> Iterator[tuple[str, State]]:
    """The fake Ollama's URL and its state (fresh for each test)."""
    FakeOllama.state = State()
    with serving(FakeOllama) as url:
        yield url, FakeOllama.state


@pytest.fixture
def run_module(modules: Modules, ollama: tuple[str, State]) -> RunModule:
    """Runs shield.rag.ollama_models against the fake Ollama: run_module(args, check=...)."""

    def run(args: dict[str, Any], **kwargs: Any) -> dict:
        return modules.run("ollama_models", {"url": ollama[0], "timeout": 30, **args}, **kwargs)

    return run


def ok(result: dict) -> dict:
    assert not result.get("failed"), result
    return result


def test_pulls_the_missing_models_only(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.installed = {"all-minilm:latest": dict(EMBED), "old:7b": dict(CHAT)}
    state.registry = {"all-minilm:latest": dict(EMBED), "qwen2.5:0.5b": dict(CHAT)}

    result = ok(run_module({"models": [{"name": "all-minilm"}, {"name": "qwen2.5:0.5b"}]}))

    assert result["changed"] is True
    assert result["pulled"] == ["qwen2.5:0.5b"]
    assert result["installed"] == ["all-minilm:latest", "old:7b", "qwen2.5:0.5b"]
    assert (result["created"], result["deleted"], result["loaded"]) == ([], [], [])
    assert result["embedding_dimension"] is None
    assert state.calls("POST", "/api/pull") == [{"model": "qwen2.5:0.5b", "stream": True}]
    assert "old:7b" in state.installed  # no prune: an undeclared model stays


def test_a_second_run_changes_nothing(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.registry = {"all-minilm:latest": dict(EMBED), "qwen2.5:0.5b": dict(CHAT)}
    args = {"models": [{"name": "all-minilm:latest"}, {"name": "qwen2.5:0.5b"}], "prune": True}
    assert ok(run_module(args))["changed"] is True
    state.requests.clear()

    again = ok(run_module(args))

    assert again["changed"] is False
    assert again["installed"] == ["all-minilm:latest", "qwen2.5:0.5b"]
    assert (again["pulled"], again["deleted"]) == ([], [])
    assert state.changing() == []


def test_prune_deletes_the_undeclared_models_only(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.installed = {n: dict(CHAT) for n in ("keep:latest", "gone:1b", "also-gone:latest")}
    state.registry = {"new:latest": dict(CHAT)}

    result = ok(run_module({"models": [{"name": "keep"}, {"name": "new"}], "prune": True}))

    assert result["deleted"] == ["also-gone:latest", "gone:1b"]
    assert result["pulled"] == ["new:latest"]
    assert result["installed"] == ["keep:latest", "new:latest"]
    assert sorted(state.installed) == ["keep:latest", "new:latest"]
    deletes = state.calls("DELETE", "/api/delete")
    assert sorted(d["model"] for d in deletes) == ["also-gone:latest", "gone:1b"]


def test_a_gguf_file_is_uploaded_once_then_created(
    run_module: RunModule, ollama, tmp_path: Path
) -> None:
    _unused, state = ollama
    gguf = tmp_path / "tiny-q4.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(3 * 1024 * 1024 + 17))
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    spec = {
        "name": "tiny",
        "gguf": str(gguf),
        "parameters": {"num_ctx": 2048, "stop": ["<|end|>"]},
        "system": "Answer from the context only.",
        "template": "{{ .Prompt }}",
    }

    result = ok(run_module({"models": [spec]}))

    assert result["created"] == ["tiny:latest"]
    assert result["pulled"] == []
    assert state.calls("POST", "/api/blobs/") == [{"sha256": digest, "size": gguf.stat().st_size}]
    assert state.blobs[digest] == gguf.read_bytes()
    assert state.calls("POST", "/api/create") == [
        {
            "model": "tiny:latest",
            "files": {"tiny-q4.gguf": f"sha256:{digest}"},
            "parameters": {"num_ctx": 2048, "stop": ["<|end|>"]},
            "system": "Answer from the context only.",
            "template": "{{ .Prompt }}",
            "stream": False,
        }
    ]

    # A second model of the same file: Ollama has the blob, nothing is uploaded again.
    state.requests.clear()
    second = ok(run_module({"models": [spec, {"name": "tiny:copy", "gguf": str(gguf)}]}))
    assert second["created"] == ["tiny:copy"]
    assert state.calls("HEAD", "/api/blobs/") == [None]
    assert state.calls("POST", "/api/blobs/") == []
    assert [c["model"] for c in state.calls("POST", "/api/create")] == ["tiny:copy"]
    assert state.calls("POST", "/api/pull") == []


def test_a_gguf_model_that_cannot_be_created_fails_naming_it(
    run_module: RunModule, ollama, tmp_path: Path
) -> None:
    _unused, state = ollama
    bad = tmp_path / "not-a-model.gguf"
    bad.write_bytes(b"<html>a download that went wrong</html>")

    result = run_module({"models": [{"name": "broken", "gguf": str(bad)}]})

    assert result["failed"] is True
    assert result["msg"] == f"Creating broken:latest from {bad} failed: invalid file magic"
    assert (result["created"], result["installed"]) == ([], [])
    assert state.installed == {}

    missing = tmp_path / "missing.gguf"
    state.requests.clear()
    for check in (False, True):
        result = run_module({"models": [{"name": "gone", "gguf": str(missing)}]}, check=check)
        assert result["failed"] is True
        assert result["msg"] == f"Creating gone:latest from {missing} failed: no such file"
    assert state.changing() == []


def test_keep_loaded_loads_what_is_not_kept_loaded_already(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.installed = {
        "all-minilm:latest": dict(EMBED),  # loaded, but for 5 minutes only
        "qwen2.5:0.5b": dict(CHAT),  # not loaded
        "nomic-embed-text:latest": dict(EMBED),  # loaded for good already
        "legacy:latest": {"dimension": 16},  # an Ollama without capabilities: embed is tried
    }
    state.loaded = {"all-minilm:latest": SOON, "nomic-embed-text:latest": NEVER}
    names = ["all-minilm", "qwen2.5:0.5b", "nomic-embed-text", "legacy"]
    args = {"models": [{"name": n, "keep_loaded": True} for n in names]}

    result = ok(run_module(args))

    assert result["changed"] is True
    assert result["loaded"] == ["all-minilm:latest", "qwen2.5:0.5b", "legacy:latest"]
    assert state.calls("POST", "/api/embed") == [
        {"model": "all-minilm:latest", "input": [], "keep_alive": -1},
        {"model": "legacy:latest", "input": [], "keep_alive": -1},
    ]
    assert state.calls("POST", "/api/generate") == [
        {"model": "qwen2.5:0.5b", "prompt": "", "keep_alive": -1, "stream": False}
    ]
    assert set(state.loaded.values()) == {NEVER}

    again = ok(run_module(args))
    assert (again["changed"], again["loaded"]) == (False, [])


def test_embed_check_returns_the_dimension(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.installed = {"all-minilm:latest": dict(EMBED)}
    args = {
        "models": [{"name": "all-minilm", "keep_loaded": True}],
        "embed_check": {"model": "all-minilm", "dimension": 384},
    }

    result = ok(run_module(args))

    assert result["embedding_dimension"] == 384
    check = state.calls("POST", "/api/embed")[-1]
    assert check["model"] == "all-minilm:latest"
    assert check["input"]
    assert check["keep_alive"] == -1  # the check does not cut the model's keep_alive short
    assert state.loaded == {"all-minilm:latest": NEVER}


def test_embed_check_names_model_and_both_dimensions(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.installed = {"all-minilm:latest": dict(EMBED), "qwen2.5:0.5b": dict(CHAT)}

    result = run_module({"embed_check": {"model": "all-minilm", "dimension": 768}})

    assert result["failed"] is True
    assert "all-minilm:latest" in result["msg"]
    assert "dimension 384" in result["msg"]
    assert "expected 768" in result["msg"]
    assert result["embedding_dimension"] == 384

    absent = run_module({"embed_check": {"model": "nomic-embed-text", "dimension": 768}})
    assert absent["failed"] is True
    assert absent["msg"] == (
        "embed_check: nomic-embed-text:latest gave no embedding: "
        "model 'nomic-embed-text:latest' not found"
    )
    assert absent["embedding_dimension"] is None

    chat = run_module({"embed_check": {"model": "qwen2.5:0.5b", "dimension": 384}})
    assert chat["failed"] is True
    assert chat["msg"] == (
        'embed_check: qwen2.5:0.5b gave no embedding: "qwen2.5:0.5b" does not support embeddings'
    )


def test_check_mode_reports_and_changes_nothing(
    run_module: RunModule, ollama, tmp_path: Path
) -> None:
    _unused, state = ollama
    gguf = tmp_path / "offline.gguf"
    gguf.write_bytes(b"GGUF offline model")
    state.installed = {"all-minilm:latest": dict(EMBED), "stale:latest": dict(CHAT)}
    state.registry = {"qwen2.5:0.5b": dict(CHAT)}
    args = {
        "models": [
            {"name": "all-minilm", "keep_loaded": True},
            {"name": "qwen2.5:0.5b", "keep_loaded": True},
            {"name": "offline", "gguf": str(gguf)},
        ],
        "prune": True,
        "embed_check": {"model": "qwen2.5:0.5b", "dimension": 384},
    }
    before = (dict(state.installed), dict(state.loaded), dict(state.blobs))

    result = ok(run_module(args, check=True, diff=True))

    assert result["changed"] is True
    assert result["pulled"] == ["qwen2.5:0.5b"]
    assert result["created"] == ["offline:latest"]
    assert result["deleted"] == ["stale:latest"]
    assert result["loaded"] == ["all-minilm:latest", "qwen2.5:0.5b"]
    assert result["installed"] == ["all-minilm:latest", "offline:latest", "qwen2.5:0.5b"]
    assert "embed_check skipped" in result["msg"]
    assert result["embedding_dimension"] is None
    assert result["diff"] == {
        "before": {"installed": ["all-minilm:latest", "stale:latest"]},
        "after": {"installed": ["all-minilm:latest", "offline:latest", "qwen2.5:0.5b"]},
    }
    assert state.changing() == []
    assert (state.installed, state.loaded, state.blobs) == before


def test_check_mode_runs_the_embed_check_of_an_installed_model(
    run_module: RunModule, ollama
) -> None:
    _unused, state = ollama
    state.installed = {"all-minilm:latest": dict(EMBED)}
    result = run_module({"embed_check": {"model": "all-minilm", "dimension": 1024}}, check=True)
    assert result["failed"] is True
    assert "dimension 384, expected 1024" in result["msg"]


def test_check_mode_embed_check_leaves_the_keep_alive_alone(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.installed = {"all-minilm:latest": dict(EMBED), "bge:latest": dict(EMBED, dimension=8)}
    state.loaded = {"bge:latest": NEVER}  # kept loaded by someone else, not declared so here
    declared = {"models": [{"name": "all-minilm", "keep_loaded": True}, {"name": "bge"}]}

    result = ok(
        run_module(
            {**declared, "embed_check": {"model": "all-minilm", "dimension": 384}}, check=True
        )
    )
    assert result["loaded"] == ["all-minilm:latest"]
    assert result["embedding_dimension"] == 384
    assert "keep_alive" not in state.calls("POST", "/api/embed")[-1]  # not loaded for good
    assert state.loaded["all-minilm:latest"] == SOON  # by Ollama, for its usual time

    kept = ok(run_module({**declared, "embed_check": {"model": "bge", "dimension": 8}}))
    assert kept["embedding_dimension"] == 8
    assert state.calls("POST", "/api/embed")[-1]["keep_alive"] == -1
    assert state.loaded["bge:latest"] == NEVER


def test_an_unknown_model_fails_with_ollamas_error(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.registry = {"all-minilm:latest": dict(EMBED)}

    result = run_module({"models": [{"name": "all-minilm"}, {"name": "qwen2.5:0.5b"}]})

    assert result["failed"] is True
    assert result["msg"] == (
        "Pulling qwen2.5:0.5b from the registry failed: pull model manifest: file does not exist"
    )
    assert result["pulled"] == ["all-minilm:latest"]  # done before it
    assert result["changed"] is True


def test_a_pull_that_ends_without_success_fails(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.registry = {"cut:latest": {"breaks": True}}
    result = run_module({"models": [{"name": "cut"}]})
    assert result["failed"] is True
    assert "Pulling cut:latest from the registry failed" in result["msg"]
    assert "'pulling 6a0746a1ec1a', not 'success'" in result["msg"]
    assert result["pulled"] == []


def test_an_unreachable_ollama_is_named_by_its_url(modules: Modules) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = modules.run("ollama_models", {"url": url, "models": [{"name": "all-minilm"}]})
    assert result["failed"] is True
    assert result["msg"].startswith(f"Listing the models of Ollama at {url} failed: ")
    assert f"cannot reach Ollama at {url}/api/tags" in result["msg"]


def test_arguments_that_cannot_work_change_nothing(run_module: RunModule, ollama) -> None:
    _unused, state = ollama
    state.installed = {"a:latest": dict(CHAT), "b:latest": dict(EMBED)}

    pruned = run_module(
        {"models": [{"name": "a"}], "prune": True, "embed_check": {"model": "b", "dimension": 8}}
    )
    assert pruned["failed"] is True
    assert "embed_check.model b:latest is not in models" in pruned["msg"]

    templated = run_module({"models": [{"name": "a", "template": "{{ .Prompt }}"}]})
    assert templated["failed"] is True
    assert "a: template need gguf" in templated["msg"]
    assert sorted(state.installed) == ["a:latest", "b:latest"]
    assert state.changing() == []


def test_through_ansible(modules: Modules, ollama) -> None:
    url, state = ollama
    state.installed = {"stale:latest": dict(CHAT)}
    state.registry = {"all-minilm:latest": dict(EMBED)}
    args = {
        "url": url,
        "models": [{"name": "all-minilm", "keep_loaded": True}],
        "prune": True,
        "embed_check": {"model": "all-minilm", "dimension": 384},
    }

    result = modules.adhoc("ollama_models", args)

    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["pulled"] == ["all-minilm:latest"]
    assert result["deleted"] == ["stale:latest"]
    assert result["loaded"] == ["all-minilm:latest"]
    assert result["installed"] == ["all-minilm:latest"]
    assert result["embedding_dimension"] == 384
    assert state.loaded == {"all-minilm:latest": NEVER}

    again = modules.adhoc("ollama_models", args)
    assert not again.get("failed"), again
    assert again["changed"] is False


def test_return_values_are_documented() -> None:
    """RETURN names every key the module returns (test_module_docs checks the options)."""
    tree = ast.parse(MODULE.read_text(encoding="utf-8"))
    (text,) = (
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "RETURN" for t in node.targets)
    )
    returned = yaml.safe_load(ast.literal_eval(text))
    assert set(returned) == {
        "installed",
        "pulled",
        "created",
        "deleted",
        "loaded",
        "embedding_dimension",
        "msg",
    }
