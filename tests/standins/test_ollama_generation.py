"""The Ollama stand-in's LLMs as a managed resource needs them (issue 19), option style:
per-model pace (``--llm-latency``), real durations in the final frame, a failing model
(``--llm-fail``), and the generation log that shows a streamed reply stopped when its client
went away (``/standin/generations``, stand-in only).

Every check here is of the stand-in's own knobs, so the module is skipped against a real
Ollama (``SHIELD_TEST_OLLAMA_URL``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest

from tests.standins.ollama.introspect import (
    clear_generations,
    generation,
    generations,
    hang_up_after_first_chunk,
)
from tests.standins.ollama.launch import URL_ENV, start_ollama
from tests.standins.ollama.ollama_standin.generations import KEPT
from tests.support.wait import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(os.environ.get(URL_ENV)), reason="the stand-in's own knobs"),
]

FAST, FAST_LATENCY = "qwen2.5:0.5b", 0.01
# Configured as "llama3.2:latest", asked for as "llama3.2": names match canonically.
SLOW, SLOW_LATENCY = "llama3.2", 0.1
FAILING = "smollm2:135m"
UNPACED = "qwen2.5:1.5b"  # no latency: as fast as it can
RUNNER_DIED = "llama runner process has terminated: exit status 2 (stand-in: --llm-fail)"
# 18 words; the reply is "Stand-in reply: " and these: 20 words, 5 chunks of up to 4 words.
PROMPT = "the ferry to Skye leaves at nine and returns at six unless the harbour is shut by storms"


def ns(duration: int | None) -> int:
    """A duration of the final frame, which the stand-in always gives (nanoseconds)."""
    assert isinstance(duration, int), duration
    return duration


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base = start_ollama(
        tmp_path_factory.mktemp("ollama-generation"),
        extra_args=[
            *("--llm-latency", f"{FAST}={FAST_LATENCY}"),
            *("--llm-latency", f"llama3.2:latest={SLOW_LATENCY}"),
            *("--llm-fail", FAILING),
        ],
    )
    assert proc is not None
    yield base
    proc.stop()


@pytest.fixture(autouse=True)
def empty_log(url: str) -> None:
    clear_generations(url)


def streamed_chat(url: str, model: str, prompt: str) -> tuple[list[Any], float]:
    """The frames of a streamed chat and the client's wall time for it, in seconds."""
    client = ollama.Client(host=url)
    began = time.perf_counter()
    messages = [{"role": "user", "content": prompt}]
    frames = list(client.chat(model=model, messages=messages, stream=True))
    return frames, time.perf_counter() - began


def test_slow_model_takes_longer_and_reports_a_larger_eval_duration(url: str) -> None:
    fast, fast_wall = streamed_chat(url, FAST, PROMPT)
    slow, slow_wall = streamed_chat(url, SLOW, PROMPT)
    chunks = len(slow) - 1
    assert chunks == len(fast) - 1 == 5
    assert fast[-1].eval_count == slow[-1].eval_count == 20
    # asyncio.sleep never ends early: the slow model's pace is a floor for both measures.
    floor_ns = chunks * SLOW_LATENCY * 1e9
    assert ns(slow[-1].eval_duration) >= floor_ns
    assert slow_wall >= chunks * SLOW_LATENCY
    assert ns(slow[-1].eval_duration) > ns(fast[-1].eval_duration)
    assert slow_wall > fast_wall
    assert ns(fast[-1].eval_duration) >= chunks * FAST_LATENCY * 1e9


@pytest.mark.parametrize("stream", [True, False])
def test_final_frame_carries_measured_durations(url: str, stream: bool) -> None:
    client = ollama.Client(host=url)
    if stream:
        final = list(client.generate(model=SLOW, prompt=PROMPT, stream=True))[-1]
    else:
        final = client.generate(model=SLOW, prompt=PROMPT)
    assert final.done is True
    load, prompt, produce = (
        ns(final.load_duration),
        ns(final.prompt_eval_duration),
        ns(final.eval_duration),
    )
    assert min(load, prompt, produce) > 0
    assert ns(final.total_duration) >= load + prompt + produce
    assert produce >= 5 * SLOW_LATENCY * 1e9


def test_non_streamed_reply_waits_as_long_as_the_streamed_one(url: str) -> None:
    streamed, _unused = streamed_chat(url, SLOW, PROMPT)
    chunks = len(streamed) - 1
    client = ollama.Client(host=url)
    began = time.perf_counter()
    whole = client.chat(model=SLOW, messages=[{"role": "user", "content": PROMPT}])
    wall = time.perf_counter() - began
    assert whole.message.content == "".join(f.message.content for f in streamed)
    assert ns(whole.eval_duration) >= chunks * SLOW_LATENCY * 1e9
    assert wall >= chunks * SLOW_LATENCY
    assert whole.eval_count == streamed[-1].eval_count
    first, second = generations(url)
    assert (first["stream"], second["stream"]) == (True, False)
    for record in (first, second):
        assert record["chunks_total"] == record["chunks_sent"] == chunks
        assert record["finished"] is True
        assert record["aborted"] is False


def test_failing_model_answers_500_and_stays_installed(url: str) -> None:
    client = ollama.Client(host=url)
    for path, body in (
        ("/api/chat", {"messages": [{"role": "user", "content": "hello"}]}),
        ("/api/generate", {"prompt": "hello", "stream": False}),
        ("/api/generate", {"prompt": ""}),  # loading it fails too
    ):
        resp = httpx.post(url + path, json={"model": FAILING, **body}, timeout=10)
        assert resp.status_code == 500, (path, body)
        assert resp.json() == {"error": RUNNER_DIED}
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model=FAILING, messages=[{"role": "user", "content": "hello"}])
    assert err.value.status_code == 500
    assert RUNNER_DIED in str(err.value)
    # another model works meanwhile; the failing one is still installed and described
    assert client.chat(model=UNPACED, messages=[{"role": "user", "content": "hi"}]).done
    assert FAILING in {m.model for m in client.list().models}
    assert client.show(FAILING).details is not None
    assert all(m.model != FAILING for m in client.ps().models)
    records = generations(url)
    failed = [r for r in records if r["model"] == FAILING]
    assert len(failed) == 3  # the two generations and the client's chat; not the load
    assert all(r["chunks_sent"] == 0 and not r["finished"] for r in failed)
    assert all(not r["aborted"] for r in failed)
    assert [r["endpoint"] for r in failed] == ["chat", "generate", "chat"]


@pytest.mark.parametrize("endpoint", ["chat", "generate"])
def test_client_going_away_stops_the_streamed_generation(url: str, endpoint: str) -> None:
    long_prompt = " ".join([PROMPT] * 3)  # a reply of 56 words: 14 chunks, 1.4 s when slow
    first = hang_up_after_first_chunk(url, endpoint, SLOW, long_prompt)
    assert first["done"] is False
    (record,) = generations(url)
    assert (record["endpoint"], record["stream"], record["chunks_total"]) == (endpoint, True, 14)
    aborted = wait_until(
        lambda: (r := generation(url, record["id"]))["aborted"] and r,
        10,
        "the stand-in to record the streamed generation as aborted",
    )
    assert 1 <= aborted["chunks_sent"] < aborted["chunks_total"]
    assert aborted["finished"] is False
    # A whole reply of 5 chunks at the same pace takes longer than the aborted one would need
    # to produce more: its chunk count must not have moved meanwhile.
    streamed_chat(url, SLOW, PROMPT)
    assert generation(url, record["id"]) == aborted


def test_log_records_only_generations_and_keeps_the_last_ones(url: str) -> None:
    client = ollama.Client(host=url)
    client.generate(model=UNPACED, prompt="")  # load only: no generation
    with pytest.raises(ollama.ResponseError):
        client.chat(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(ollama.ResponseError):
        client.generate(model="all-minilm", prompt="an embedding model does not generate")
    assert generations(url) == []
    with httpx.Client(base_url=url, timeout=10) as http:
        for i in range(KEPT + 5):
            body = {"model": UNPACED, "prompt": f"call {i}", "stream": False}
            http.post("/api/generate", json=body).raise_for_status()
    records = generations(url)
    assert len(records) == KEPT
    ids = [r["id"] for r in records]
    assert ids == list(range(ids[0], ids[0] + KEPT))
    assert records[-1] == {
        "id": ids[-1],
        "model": UNPACED,
        "endpoint": "generate",
        "stream": False,
        "chunks_total": 1,
        "chunks_sent": 1,
        "finished": True,
        "aborted": False,
        "prompt_eval_count": 2,
        "eval_count": 4,
    }
    clear_generations(url)
    assert generations(url) == []
