"""The tier router: a table of queries and the tiers they get, cooldown and fallback order
(fake clock), the routing settings' checks, and usage merging."""

from __future__ import annotations

import pytest
from ollama import ChatResponse, Message
from pydantic import ValidationError

from shield_rag.llm.router import Router, question_type
from shield_rag.llm.usage import Usage, UsageTotals
from shield_rag.settings import RouterSettings, Tier

TIERS = [
    {"name": "small", "model": "qwen2.5:0.5b", "max_prompt_tokens": 1500},
    {"name": "medium", "model": "qwen2.5:1.5b", "max_prompt_tokens": 4000},
    {"name": "large", "model": "llama3.2", "max_prompt_tokens": None},
]
LONG = "Tell me " + "about the dam and the river " * 5 + "please"  # > 25 words, no cue


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def router(cooldown: float = 60.0, clock: Clock | None = None) -> Router:
    settings = RouterSettings(tiers=[Tier(**t) for t in TIERS], cooldown_seconds=cooldown)
    return Router(settings, clock or Clock())


@pytest.mark.parametrize(
    ("query", "mode", "tokens", "tier"),
    [
        # size alone: the smallest tier that takes the prompt
        ("What is the Grendel Dam?", "naive", 800, "small"),
        ("What is the Grendel Dam?", "naive", 1500, "small"),
        ("What is the Grendel Dam?", "naive", 1501, "medium"),
        ("What is the Grendel Dam?", "mix", 3000, "medium"),
        ("What is the Grendel Dam?", "naive", 9000, "large"),
        # a lookup never goes below the size tier, nor up
        ("Who built the Grendel Dam?", "global", 800, "small"),
        ("List the engineers of the agency", "hybrid", 2000, "medium"),
        # analytical (2) + heavy mode (1) = 3 points: one tier up
        ("Why does the Velmora River flood?", "mix", 800, "medium"),
        ("Compare the dam and the crystal", "global", 2000, "large"),
        ("Explain the relationship between Marsh and Quentara", "hybrid", 800, "medium"),
        # analytical in a light mode: 2 points, no bump
        ("Why does the Velmora River flood?", "naive", 800, "small"),
        ("How does the dam work?", "local", 800, "small"),
        # analytical + long question in a light mode: 3 points
        ("Why " + LONG, "naive", 800, "medium"),
        # "how many" is a lookup, not an analysis
        ("How many engineers built the Grendel Dam?", "mix", 800, "small"),
        # no cue: a long question in a heavy mode is 2 points
        (LONG, "mix", 800, "small"),
        # the last tier cannot go higher
        ("Evaluate the trade-offs of the dam", "mix", 9000, "large"),
    ],
)
def test_queries_get_their_tier(query: str, mode: str, tokens: int, tier: str) -> None:
    decision = router().decide(query, mode, tokens)
    assert decision.tier == tier, decision.reason
    expected = next(t["model"] for t in TIERS if t["name"] == tier)
    assert decision.model == expected == decision.candidates[0]


def test_reason_says_why_in_words() -> None:
    decision = router().decide("Compare the dam and the crystal", "global", 1830)
    assert decision.reason == (
        "prompt 1,830 tokens > tier small's 1,500; analytical question; global mode; "
        "3 points: one tier up to large"
    )
    small = router().decide("What is it?", "naive", 20)
    assert small.reason == "prompt 20 tokens fits tier small's 1,500; lookup question"


def test_question_types() -> None:
    assert question_type("What are the pros and cons of the dam?") == "analytical"
    assert question_type("Define the Zorblax crystal") == "lookup"
    assert question_type("Zorblax crystal colour") == "plain"
    assert question_type("How old is Hilda Marsh?") == "lookup"


def test_candidates_run_up_then_down() -> None:
    r = router()
    assert r.decide("What is it?", "naive", 2000).candidates == [
        "qwen2.5:1.5b",
        "llama3.2",
        "qwen2.5:0.5b",
    ]
    assert r.decide("What is it?", "naive", 9000).candidates == [
        "llama3.2",
        "qwen2.5:1.5b",
        "qwen2.5:0.5b",
    ]
    assert r.keyword_candidates() == ["qwen2.5:0.5b", "qwen2.5:1.5b", "llama3.2"]


def test_a_failed_model_rests_for_the_cooldown_then_returns() -> None:
    clock = Clock()
    r = router(cooldown=60, clock=clock)
    r.failed("qwen2.5:0.5b")
    decision = r.decide("What is it?", "naive", 100)
    assert decision.tier == "small"
    assert decision.candidates == ["qwen2.5:1.5b", "llama3.2"]
    assert decision.model == "qwen2.5:1.5b"
    assert "cooling down: qwen2.5:0.5b (60s left)" in decision.reason
    assert r.cooling() == {"qwen2.5:0.5b": 60.0}
    clock.now += 59.5
    assert r.cooling() == {"qwen2.5:0.5b": 0.5}
    clock.now += 0.5
    assert r.cooling() == {}
    assert r.decide("What is it?", "naive", 100).candidates[0] == "qwen2.5:0.5b"


def test_success_ends_a_rest_and_all_resting_keeps_the_order() -> None:
    r = router()
    for tier in TIERS:
        r.failed(str(tier["model"]))
    assert r.decide("What is it?", "naive", 2000).candidates == [
        "qwen2.5:1.5b",
        "llama3.2",
        "qwen2.5:0.5b",
    ]
    r.succeeded("llama3.2")
    assert r.decide("What is it?", "naive", 2000).candidates == ["llama3.2"]


def test_no_tiers_means_the_default_model() -> None:
    r = Router(RouterSettings(), default_model="qwen2.5:0.5b")
    decision = r.decide("Why?", "mix", 99999)
    assert decision.tier is None and decision.candidates == ["qwen2.5:0.5b"]
    assert "no tiers configured (router.tiers)" in decision.reason
    assert r.keyword_candidates() == ["qwen2.5:0.5b"]


def test_tiers_sharing_a_model_are_tried_once() -> None:
    settings = RouterSettings(
        tiers=[
            Tier(name="a", model="m1", max_prompt_tokens=10),
            Tier(name="b", model="m1", max_prompt_tokens=20),
            Tier(name="c", model="m2"),
        ]
    )
    assert Router(settings).decide("x", "naive", 15).candidates == ["m1", "m2"]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (
            [{"name": "a", "model": "m", "max_prompt_tokens": 5}, {"name": "a", "model": "n"}],
            "names must be unique; repeated: a",
        ),
        (
            [{"name": "a", "model": "m"}, {"name": "b", "model": "n"}],
            "only the last tier may have max_prompt_tokens null; tier 'a' is not last",
        ),
        (
            [{"name": "a", "model": "m", "max_prompt_tokens": 5}],
            "the last tier ('a') must have max_prompt_tokens null",
        ),
        (
            [
                {"name": "a", "model": "m", "max_prompt_tokens": 500},
                {"name": "b", "model": "n", "max_prompt_tokens": 500},
                {"name": "c", "model": "o"},
            ],
            "max_prompt_tokens must increase from tier to tier; tier 'b' (500) follows 'a'",
        ),
        ([{"name": "Big Tier", "model": "m"}], "String should match pattern"),
    ],
)
def test_bad_tiers_are_refused_with_a_clear_message(tiers: list[dict], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        RouterSettings(tiers=tiers)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_usage_from_ollama_and_merged_per_model_and_role() -> None:
    response = ChatResponse(
        model="m",
        message=Message(role="assistant", content="hi"),
        done=True,
        prompt_eval_count=12,
        eval_count=3,
        total_duration=1_500_000_000,
    )
    first = Usage.from_ollama("m", "query", response)
    assert (first.prompt_tokens, first.completion_tokens, first.compute_seconds) == (12, 3, 1.5)
    bare = Usage.from_ollama("m", "query", {"done": True})  # counts missing: 0
    assert (bare.prompt_tokens, bare.completion_tokens, bare.compute_seconds) == (0, 0, 0.0)
    totals = UsageTotals([first, bare, Usage("k", "keyword", 5, 1, 0.25)])
    assert totals.as_dicts() == [
        {
            "model": "m",
            "role": "query",
            "prompt_tokens": 12,
            "completion_tokens": 3,
            "compute_seconds": 1.5,
            "calls": 2,
        },
        {
            "model": "k",
            "role": "keyword",
            "prompt_tokens": 5,
            "completion_tokens": 1,
            "compute_seconds": 0.25,
            "calls": 1,
        },
    ]
    assert first.prompt_tokens == 12  # merging copies, the inputs stay as they were
    assert Usage.from_dict(totals.as_dicts()[0]) == Usage("m", "query", 12, 3, 1.5, 2)
