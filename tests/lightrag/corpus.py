"""Documents, questions, API key and timings shared by the shield-lightrag service tests."""

from __future__ import annotations

from tests.support.tokens import unique

API_KEY = unique("lightrag-test-key-", 8)
# Both sources end in index.html: LightRAG alone would keep only that basename and refuse
# the second document.
DOC_A = (
    "doc-crystal",
    "https://docs.example/crystal/index.html",
    "The Zorblax crystal from Quentara glows bright violet. "
    "Professor Hilda Marsh studied the Zorblax crystal at the Quentara Institute in 1987.",
)
DOC_B = (
    "doc-dam",
    "https://wiki.example/dam/index.html",
    "The Velmora River floods every spring near Tarsk City. "
    "Engineers of the Tarsk Water Agency built the Grendel Dam to hold back the floods.",
)
FACT_A, QUESTION_A = "glows bright violet", "What colour does the Zorblax crystal glow?"
FACT_B, QUESTION_B = "built the Grendel Dam", "Who built the Grendel Dam?"
MODES = ["naive", "local", "global", "hybrid", "mix"]
TIMINGS: dict[str, float] = {}
