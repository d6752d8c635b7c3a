"""The stand-in's LLM knobs in ``ollama serve`` mode, read from the environment:
``SHIELD_OLLAMA_STANDIN_LLM_LATENCY`` ("model=seconds,..."), ``SHIELD_OLLAMA_STANDIN_FAIL_MODELS``
("a,b"), each also read under issue 19's spelling ``OLLAMA_STANDIN_*``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from tests.standins.ollama.introspect import (
    clear_generations,
    generation,
    generations,
    hang_up_after_first_chunk,
)
from tests.standins.ollama.launch import start_ollama_serve
from tests.standins.ollama.ollama_standin import server
from tests.standins.ollama.ollama_standin.envconfig import parse_latencies, serve_config
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

FAST, SLOW, FAILING, OTHER = "qwen2.5:0.5b", "llama3.2", "smollm2:135m", "qwen2.5:1.5b"
SLOW_LATENCY = 0.1
LATENCY_VAR = "SHIELD_OLLAMA_STANDIN_LLM_LATENCY"
RUNNER_DIED = "llama runner process has terminated: exit status 2 (stand-in: --llm-fail)"
PROMPT = "the ferry to Skye leaves at nine and returns at six unless the harbour is shut by storms"


def ns(duration: int | None) -> int:
    """A duration of the final frame, which the stand-in always gives (nanoseconds)."""
    assert isinstance(duration, int), duration
    return duration


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("ollama-serve-generation")
    proc, base = start_ollama_serve(
        tmp,
        {
            "OLLAMA_MODELS": str(tmp / "models"),
            "SHIELD_OLLAMA_STANDIN_INSTALLED": "all",
            LATENCY_VAR: f"{FAST}=0.01, llama3.2:latest={SLOW_LATENCY}",
            "OLLAMA_STANDIN_FAIL_MODELS": f"{FAILING},some-other-model",
        },
    )
    yield base
    proc.stop()


@pytest.fixture(autouse=True)
def empty_log(url: str) -> None:
    clear_generations(url)


def test_latencies_and_failing_models_are_read_from_either_spelling(tmp_path: Path) -> None:
    cfg = serve_config(
        {
            "OLLAMA_STANDIN_LLM_LATENCY": "qwen2.5:0.5b=0.5 llama3.2=2",
            "SHIELD_OLLAMA_STANDIN_FAIL_MODELS": "a, b:7b",
        }
    )
    assert cfg.llm_latency == {"qwen2.5:0.5b": 0.5, "llama3.2": 2.0}
    assert cfg.llm_fail == ["a", "b:7b"]
    same = {"SHIELD_OLLAMA_STANDIN_FAIL_MODELS": "a", "OLLAMA_STANDIN_FAIL_MODELS": "a"}
    assert serve_config(same).llm_fail == ["a"]
    defaults = serve_config({})
    assert (defaults.llm_latency, defaults.llm_fail) == ({}, [])


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({LATENCY_VAR: "qwen2.5:0.5b"}, LATENCY_VAR),
        ({"OLLAMA_STANDIN_LLM_LATENCY": "m=fast"}, "^OLLAMA_STANDIN_LLM_LATENCY"),
        ({LATENCY_VAR: "m=61"}, LATENCY_VAR),
        ({LATENCY_VAR: "=1"}, LATENCY_VAR),
        (
            {"SHIELD_OLLAMA_STANDIN_FAIL_MODELS": "a", "OLLAMA_STANDIN_FAIL_MODELS": "b"},
            "set only SHIELD_OLLAMA_STANDIN_FAIL_MODELS",
        ),
    ],
)
def test_bad_llm_settings_are_errors_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        serve_config(env)


def test_serve_refuses_a_bad_latency_and_says_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(LATENCY_VAR, "llama3.2=-1")
    monkeypatch.delenv("OLLAMA_STANDIN_LLM_LATENCY", raising=False)
    assert server.serve() == 1
    assert "Error: SHIELD_OLLAMA_STANDIN_LLM_LATENCY: 'llama3.2=-1'" in capsys.readouterr().err


def test_option_style_refuses_a_bad_latency(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        server.options_main(["--llm-latency", "llama3.2"])
    assert exited.value.code == 2
    assert "--llm-latency: 'llama3.2' is not MODEL=SECONDS" in capsys.readouterr().err
    assert parse_latencies("a=0,b=60", "x") == {"a": 0.0, "b": 60.0}


def test_slow_model_is_slower_in_serve_mode(url: str) -> None:
    client = ollama.Client(host=url)
    messages = [{"role": "user", "content": PROMPT}]
    fast = list(client.chat(model=FAST, messages=messages, stream=True))
    slow = list(client.chat(model=SLOW, messages=messages, stream=True))
    assert len(slow) == len(fast) == 6  # 5 chunks and the final frame
    assert ns(slow[-1].eval_duration) >= 5 * SLOW_LATENCY * 1e9
    assert ns(slow[-1].eval_duration) > ns(fast[-1].eval_duration)
    whole = client.generate(model=SLOW, prompt=PROMPT)
    assert ns(whole.eval_duration) >= 5 * SLOW_LATENCY * 1e9
    assert [r["chunks_sent"] for r in generations(url)] == [5, 5, 5]


def test_failing_model_from_the_environment_answers_500(url: str) -> None:
    body = {"model": FAILING, "messages": [{"role": "user", "content": "hi"}], "stream": False}
    resp = httpx.post(url + "/api/chat", json=body, timeout=10)
    assert resp.status_code == 500
    assert resp.json() == {"error": RUNNER_DIED}
    client = ollama.Client(host=url)
    assert client.generate(model=OTHER, prompt="still fine").done
    assert FAILING in {m.model for m in client.list().models}
    assert client.show(FAILING).details is not None
    failed, worked = generations(url)
    assert (failed["model"], failed["chunks_sent"], failed["finished"]) == (FAILING, 0, False)
    assert (worked["model"], worked["finished"]) == (OTHER, True)


def test_client_going_away_stops_the_generation_in_serve_mode(url: str) -> None:
    hang_up_after_first_chunk(url, "generate", SLOW, " ".join([PROMPT] * 3))
    (record,) = generations(url)
    aborted = wait_until(
        lambda: (r := generation(url, record["id"]))["aborted"] and r,
        10,
        "the stand-in to record the streamed generation as aborted",
    )
    assert 1 <= aborted["chunks_sent"] < aborted["chunks_total"] == 14
    ollama.Client(host=url).generate(model=SLOW, prompt=PROMPT)  # 5 chunks at the same pace
    assert generation(url, record["id"]) == aborted
