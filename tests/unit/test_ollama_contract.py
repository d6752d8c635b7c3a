"""The concurrency contract with Ollama: the filter shield.rag.ollama_contract and the play that
runs it before any change (playbooks/preflight.yml, site.yml's first play), on inventories of
our own and on the example inventories the docs ship."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from plugins.filter.ollama_contract import ollama_contract

from tests.support.modules import ROOT, link_collection

OLLAMA = {"num_parallel": 4, "max_loaded_models": 3, "max_queue": 512, "source": "ollama-1"}


def stack(workers=((2, 1, 1),), llm=2, embed=2, **ollama) -> dict:
    return {
        "workers": [
            {"host": f"w{i}", "instances": n, "concurrency": c, "graph_concurrency": g}
            for i, (n, c, g) in enumerate(workers, 1)
        ],
        "lightrag": {"llm_max_async": llm, "embedding_max_async": embed, "llm_model": "qwen2.5"},
        "ollama": {**OLLAMA, "embedding_model": "all-minilm", **ollama},
    }


def test_the_defaults_fit_what_ollama_serves_by_default() -> None:
    result = ollama_contract(stack())
    assert (result["llm"], result["graph"], result["embedding"]) == (2, 2, 4)
    assert result["errors"] == [] and result["warnings"] == []
    assert result["models"] == ["all-minilm:latest", "qwen2.5:latest"]


def test_more_llm_calls_than_ollama_serves_is_refused_naming_the_variables() -> None:
    result = ollama_contract(stack(llm=6, workers=((2, 1, 1),)))
    assert len(result["errors"]) == 1
    assert "up to 6 LLM calls" in result["errors"][0]
    assert "lightrag_llm_max_async" in result["errors"][0]
    assert "ollama_num_parallel" in result["errors"][0]


def test_graph_slots_beyond_lightrags_llm_calls_are_refused_per_host() -> None:
    result = ollama_contract(stack(workers=((4, 2, 1), (2, 1, 0))))
    assert len(result["errors"]) == 1
    error = result["errors"][0]
    assert "up to 4 graph stages" in error
    assert "w1 8 embedding, 4 graph; w2 2 embedding, 0 graph" in error
    assert "orchestrator_workers_graph_concurrency" in error


def test_graph_slots_do_not_count_without_lightrag() -> None:
    data = stack(workers=((8, 1, 1),))
    data["lightrag"] = None
    result = ollama_contract(data)
    assert result["graph"] == 0 and result["llm"] == 0
    data = stack(workers=((8, 1, 1),))
    data["workers"][0]["lightrag_enabled"] = False
    assert ollama_contract(data)["graph"] == 0


def test_embeddings_beyond_parallel_warn_and_beyond_the_queue_are_refused() -> None:
    warned = ollama_contract(stack(workers=((4, 2, 0),)))
    assert warned["errors"] == []
    assert "Up to 10 embedding calls at once against 4" in warned["warnings"][0]
    refused = ollama_contract(stack(workers=((4, 2, 0),), max_queue=5))
    assert "would refuse the rest with 503" in refused["errors"][0]


def test_models_beyond_max_loaded_are_refused() -> None:
    result = ollama_contract(stack(keep_loaded=["llama3.2", "bge-m3"]))
    assert "uses 4 models" in result["errors"][0]
    assert "ollama_max_loaded_models" in result["errors"][0]
    # The same model named with and without its tag counts once.
    assert len(ollama_contract(stack(keep_loaded=["all-minilm:latest"]))["models"]) == 2


def test_the_extraction_and_router_models_are_models_the_stack_uses() -> None:
    routed = stack()
    routed["lightrag"] |= {"extract_model": "qwen2.5", "tier_models": ["qwen2.5:0.5b"]}
    result = ollama_contract(routed)
    assert result["models"] == ["all-minilm:latest", "qwen2.5:0.5b", "qwen2.5:latest"]
    assert not result["errors"]
    routed["lightrag"]["tier_models"] = ["qwen2.5:0.5b", "llama3.2"]
    refused = ollama_contract(routed)
    assert "uses 4 models" in refused["errors"][0] and "llama3.2:latest" in refused["errors"][0]


@pytest.mark.parametrize("bad", ["two", -1, None])
def test_a_count_that_is_not_a_whole_number_is_named(bad: object) -> None:
    with pytest.raises(AnsibleFilterError, match="w1: orchestrator_workers_instances"):
        ollama_contract(stack(workers=((bad, 1, 1),)))


def play(tmp: Path, inventory: Path) -> tuple[int, str]:
    collections = link_collection(tmp / "collections")
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "local-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
    }
    env.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(inventory),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "--check",
            str(ROOT / "playbooks" / "preflight.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("inventory", ["local", "production"])
def test_the_example_inventories_pass(tmp_path: Path, inventory: str) -> None:
    rc, output = play(tmp_path, ROOT / "inventories" / inventory)
    assert rc == 0, output
    assert "Ollama serves 4 in parallel per model" in output, output


def write_inventory(tmp: Path, groups: dict) -> Path:
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"children": groups}}), encoding="utf-8")
    return path


def test_the_play_reads_each_host_and_falls_back_to_the_role_defaults(tmp_path: Path) -> None:
    inventory = write_inventory(
        tmp_path,
        {
            "lightrag": {"hosts": {"rag-1": {}}},
            # w1 sets nothing: 2 instances x 1 graph slot by the role's defaults.
            "workers": {"hosts": {"w1": {}, "w2": {"orchestrator_workers_instances": 3}}},
            "ollama": {"hosts": {"ollama-1": {"ollama_num_parallel": 8}}},
        },
    )
    rc, output = play(tmp_path, inventory)
    assert rc != 0, output
    assert "Nothing was changed. The workers run up to 5 graph stages at once" in output, output
    assert "w1 2 embedding, 2 graph; w2 3 embedding, 3 graph" in output, output


def test_an_ollama_host_that_serves_less_than_lightrag_sends_is_refused(tmp_path: Path) -> None:
    inventory = write_inventory(
        tmp_path,
        {
            "lightrag": {"hosts": {"rag-1": {"lightrag_llm_max_async": 3}}},
            "workers": {"hosts": {"w1": {}}},
            "ollama": {"hosts": {"ollama-1": {"ollama_num_parallel": 2}}},
        },
    )
    rc, output = play(tmp_path, inventory)
    assert rc != 0, output
    assert "LightRAG sends up to 3 LLM calls at once" in output, output
    assert "Ollama on ollama-1 serves 2 per model" in output, output


def test_the_play_counts_the_router_tiers_and_the_extraction_model(tmp_path: Path) -> None:
    tiers = [
        {"name": "small", "model": "qwen2.5:1.5b", "max_prompt_tokens": 2000},
        {"name": "large", "model": "llama3.2", "max_prompt_tokens": None},
    ]
    lightrag = {"lightrag_router_tiers": tiers, "lightrag_extract_model": "qwen2.5:1.5b"}
    groups = {
        "lightrag": {"hosts": {"rag-1": lightrag}},
        "workers": {"hosts": {"w1": {}}},
        "ollama": {"hosts": {"ollama-1": {"ollama_max_loaded_models": 4}}},
    }
    rc, output = play(tmp_path, write_inventory(tmp_path, groups))
    assert rc == 0, output
    assert "models all-minilm:latest, llama3.2:latest, qwen2.5:0.5b, qwen2.5:1.5b;" in output
    groups["ollama"]["hosts"]["ollama-1"]["ollama_max_loaded_models"] = 3
    rc, output = play(tmp_path, write_inventory(tmp_path, groups))
    assert rc != 0 and "The stack uses 4 models" in output, output
