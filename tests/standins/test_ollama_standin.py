"""The Ollama stand-in speaks Ollama's API as the official client uses it.

Set ``SHIELD_TEST_OLLAMA_URL`` to run the wire-API tests against a real Ollama (with
``all-minilm`` and ``qwen2.5:0.5b`` pulled); the tests of the stand-in's deterministic
behaviour (exact texts, LightRAG prompt formats) are skipped then.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest
from lightrag.operate import _process_extraction_result
from lightrag.prompt import PROMPTS

from tests.standins.ollama.launch import URL_ENV, start_ollama
from tests.support.vectors import cosine, norm

pytestmark = pytest.mark.integration

EMBED = "all-minilm"
LLM = "qwen2.5:0.5b"
DIM = 384
standin_only = pytest.mark.skipif(
    bool(os.environ.get(URL_ENV)), reason="checks the stand-in's deterministic behaviour"
)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base = start_ollama(tmp_path_factory.mktemp("ollama"), embed_dim=DIM)
    yield base
    if proc is not None:
        proc.stop()


@pytest.fixture
def client(url: str) -> ollama.Client:
    return ollama.Client(host=url)


@pytest.fixture
def aclient(url: str) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=url)


def test_root_version_tags_and_show_answer_like_ollama(url: str, client: ollama.Client) -> None:
    root = httpx.get(url + "/")
    assert root.status_code == 200
    assert root.text == "Ollama is running"
    assert httpx.get(url + "/api/version").json()["version"]
    names = {m.model for m in client.list().models}
    assert {f"{EMBED}:latest", LLM} <= names
    shown = client.show(EMBED)
    assert shown.details is not None
    assert shown.modelinfo


def test_pull_of_known_model_succeeds_and_unknown_is_404(client: ollama.Client) -> None:
    assert client.pull(EMBED).status == "success"
    with pytest.raises(ollama.ResponseError) as err:
        client.pull("no-such-model-xyz")
    assert err.value.status_code in (404, 500)


def test_embed_single_string_gives_one_unit_vector_of_model_dimension(
    client: ollama.Client,
) -> None:
    resp = client.embed(model=EMBED, input="The harbour opens at dawn.")
    assert len(resp.embeddings) == 1
    assert len(resp.embeddings[0]) == DIM
    assert math.isclose(norm(resp.embeddings[0]), 1.0, rel_tol=1e-3)
    assert resp.model == EMBED
    assert resp.prompt_eval_count
    assert resp.prompt_eval_count > 0
    assert resp.total_duration is not None


async def test_embed_batch_keeps_order_and_matches_single_embeddings(
    aclient: ollama.AsyncClient,
) -> None:
    texts = ["red apples in autumn", "network switches and routers", "red apples in autumn"]
    batch = await aclient.embed(model=EMBED, input=texts)
    assert len(batch.embeddings) == 3
    single = await aclient.embed(model=EMBED, input=texts[1])
    assert cosine(batch.embeddings[1], single.embeddings[0]) > 0.999
    assert cosine(batch.embeddings[0], batch.embeddings[2]) > 0.999
    assert cosine(batch.embeddings[0], batch.embeddings[1]) < 0.9


def test_similar_texts_are_closer_than_unrelated_ones(client: ollama.Client) -> None:
    query, near, far = client.embed(
        model=EMBED,
        input=[
            "How tall is the lighthouse on Granite Point?",
            "The lighthouse on Granite Point is 40 metres tall.",
            "Sourdough bread needs a long fermentation.",
        ],
    ).embeddings
    assert cosine(query, near) > cosine(query, far) + 0.2


@standin_only
def test_embed_dimensions_field_sets_the_vector_size(client: ollama.Client) -> None:
    resp = client.embed(model=EMBED, input=["abc def"], dimensions=64)
    assert len(resp.embeddings[0]) == 64


def test_legacy_embeddings_endpoint_returns_one_embedding(client: ollama.Client) -> None:
    resp = client.embeddings(model=EMBED, prompt="legacy endpoint text")
    assert len(resp.embedding) == DIM


def test_chat_without_stream_returns_one_done_message_with_counts(client: ollama.Client) -> None:
    resp = client.chat(model=LLM, messages=[{"role": "user", "content": "Say hello to Ada."}])
    assert resp.done is True
    assert resp.message.role == "assistant"
    assert resp.message.content
    assert resp.prompt_eval_count
    assert resp.eval_count


async def test_chat_stream_yields_chunks_then_done_with_counts(
    aclient: ollama.AsyncClient,
) -> None:
    messages = [{"role": "user", "content": "Describe the river crossing at Elm Ford today."}]
    parts = [c async for c in await aclient.chat(model=LLM, messages=messages, stream=True)]
    assert len(parts) >= 2
    assert all(p.done is False for p in parts[:-1])
    assert parts[-1].done is True
    assert parts[-1].eval_count
    assert parts[-1].prompt_eval_count
    streamed = "".join(p.message.content or "" for p in parts)
    assert streamed.strip()
    if not os.environ.get(URL_ENV):  # the stand-in is deterministic
        whole = await aclient.chat(model=LLM, messages=messages)
        assert streamed == whole.message.content


def test_generate_with_and_without_stream(client: ollama.Client) -> None:
    whole = client.generate(model=LLM, prompt="Name a colour.")
    assert whole.done is True
    assert whole.response
    parts = list(client.generate(model=LLM, prompt="Name a colour.", stream=True))
    assert parts[-1].done is True
    assert "".join(p.response or "" for p in parts).strip()


@standin_only
def test_num_predict_cuts_the_reply_with_done_reason_length(client: ollama.Client) -> None:
    resp = client.generate(
        model=LLM, prompt="one two three four five six seven", options={"num_predict": 3}
    )
    assert resp.done_reason == "length"
    assert resp.eval_count == 3


UNKNOWN = "no-such-model-xyz"
UNKNOWN_MODEL_CALLS = {
    "embed": lambda c: c.embed(model=UNKNOWN, input="x"),
    "chat": lambda c: c.chat(model=UNKNOWN, messages=[{"role": "user", "content": "x"}]),
    "generate": lambda c: c.generate(model=UNKNOWN, prompt="x"),
    "show": lambda c: c.show(UNKNOWN),
}


@pytest.mark.parametrize("call", sorted(UNKNOWN_MODEL_CALLS))
def test_unknown_model_is_404_with_ollama_error_text(client: ollama.Client, call: str) -> None:
    model = UNKNOWN
    with pytest.raises(ollama.ResponseError) as err:
        UNKNOWN_MODEL_CALLS[call](client)
    assert err.value.status_code == 404
    assert model in err.value.error
    assert "not found" in err.value.error


async def test_unknown_model_is_404_for_the_async_client(aclient: ollama.AsyncClient) -> None:
    with pytest.raises(ollama.ResponseError) as err:
        await aclient.embed(model="no-such-model-xyz", input="x")
    assert err.value.status_code == 404


def test_launcher_uses_the_real_ollama_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:1/")
    proc, base = start_ollama(tmp_path)
    assert proc is None
    assert base == "http://127.0.0.1:1"
    assert not (tmp_path / "ollama-standin.log").exists()


# --- LightRAG's prompt formats (lightrag/prompt.py) ----------------------------------------

DOC = (
    "The Zorblax crystal from Quentara glows bright violet. "
    "Professor Hilda Marsh studied the Zorblax crystal at the Quentara Institute."
)


def extraction_prompts() -> tuple[str, str]:
    ctx = {
        "tuple_delimiter": PROMPTS["DEFAULT_TUPLE_DELIMITER"],
        "completion_delimiter": PROMPTS["DEFAULT_COMPLETION_DELIMITER"],
        "entity_types_guidance": PROMPTS["default_entity_types_guidance"],
        "language": "English",
        "max_total_records": 100,
        "max_entity_records": 40,
    }
    examples = "\n".join(PROMPTS["entity_extraction_examples"]).format(**ctx)
    system = PROMPTS["entity_extraction_system_prompt"].format(**ctx, examples=examples)
    user = PROMPTS["entity_extraction_user_prompt"].format(
        **ctx, input_text=DOC, heading_context_block=""
    )
    return system, user


@standin_only
async def test_entity_extraction_answer_parses_with_lightrags_parser(
    client: ollama.Client,
) -> None:
    system, user = extraction_prompts()
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    answer = client.chat(model=LLM, messages=messages).message.content or ""
    assert answer.rstrip().endswith(PROMPTS["DEFAULT_COMPLETION_DELIMITER"])
    nodes, edges = await _process_extraction_result(answer, "chunk-1", 0, "doc.txt")
    assert {"Zorblax", "Quentara", "Professor Hilda Marsh", "Quentara Institute"} <= set(nodes)
    assert nodes["Professor Hilda Marsh"][0]["entity_type"] == "person"
    assert nodes["Quentara Institute"][0]["entity_type"] == "organization"
    assert any({"Zorblax", "Quentara"} == set(pair) for pair in edges)
    assert all("glows bright violet" in d["description"] for d in nodes["Quentara"])

    # Gleaning: everything was found already, so nothing new but the completion signal.
    glean = PROMPTS["entity_continue_extraction_user_prompt"].format(
        max_total_records=100,
        max_entity_records=40,
        completion_delimiter=PROMPTS["DEFAULT_COMPLETION_DELIMITER"],
        language="English",
    )
    history = [*messages, {"role": "assistant", "content": answer}]
    more = client.chat(model=LLM, messages=[*history, {"role": "user", "content": glean}])
    assert more.message.content.strip() == PROMPTS["DEFAULT_COMPLETION_DELIMITER"]


@standin_only
def test_entity_extraction_in_json_mode_returns_lightrags_json(client: ollama.Client) -> None:
    ctx = {
        "entity_types_guidance": PROMPTS["default_entity_types_guidance"],
        "language": "English",
        "max_total_records": 100,
        "max_entity_records": 40,
        "examples": "\n".join(PROMPTS["entity_extraction_json_examples"]),
    }
    system = PROMPTS["entity_extraction_json_system_prompt"].format(**ctx)
    user = PROMPTS["entity_extraction_json_user_prompt"].format(
        **ctx, input_text=DOC, heading_context_block=""
    )
    resp = client.chat(
        model=LLM,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        format="json",
    )
    data = json.loads(resp.message.content or "")
    assert "Zorblax" in {e["name"] for e in data["entities"]}
    assert data["relationships"]
    assert set(data["relationships"][0]) == {"source", "target", "keywords", "description"}


@standin_only
def test_keyword_extraction_answers_json_from_the_query(client: ollama.Client) -> None:
    prompt = PROMPTS["keywords_extraction"].format(
        query="Who studied the Zorblax crystal?",
        examples="\n".join(PROMPTS["keywords_extraction_examples"]),
        language="English",
    )
    resp = client.chat(model=LLM, messages=[{"role": "user", "content": prompt}], format="json")
    data = json.loads(resp.message.content or "")
    assert "Zorblax" in data["low_level_keywords"]
    assert "crystal" in data["high_level_keywords"]
    assert "who" not in data["high_level_keywords"]


@standin_only
def test_summary_keeps_distinct_sentences_within_the_budget(client: ollama.Client) -> None:
    descriptions = [
        "Zorblax is a crystal.",
        "Zorblax is a crystal.",
        "Zorblax glows violet in the dark.",
    ]
    prompt = PROMPTS["summarize_entity_descriptions"].format(
        summary_length=50,
        language="English",
        description_type="Entity",
        description_name="Zorblax",
        description_list="\n".join(json.dumps({"Description": d}) for d in descriptions),
    )
    text = client.generate(model=LLM, prompt=prompt).response or ""
    assert text == "Zorblax is a crystal. Zorblax glows violet in the dark."


@standin_only
def test_rag_answer_quotes_the_best_matching_context_sentence(client: ollama.Client) -> None:
    chunks = [
        {"reference_id": "1", "content": "The Grendel Dam was built by the Tarsk Water Agency."},
        {"reference_id": "2", "content": DOC},
    ]
    context = PROMPTS["naive_query_context"].format(
        text_chunks_str="\n".join(json.dumps(c) for c in chunks),
        reference_list_str="[1] dam.txt\n[2] crystal.txt",
    )
    system = PROMPTS["naive_rag_response"].format(
        response_type="Multiple Paragraphs", user_prompt="", content_data=context
    )
    resp = client.chat(
        model=LLM,
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": "What colour does the Zorblax crystal glow?"},
        ],
    )
    answer = resp.message.content or ""
    assert answer.startswith("The Zorblax crystal from Quentara glows bright violet.")
    assert "Grendel" not in answer
    assert "[2] crystal.txt" in answer
    assert "[1] dam.txt" not in answer
