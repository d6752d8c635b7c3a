"""The deterministic "LLM": entity and relation extraction (LightRAG's extraction prompts)."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .text import (
    CONNECTORS,
    LOC_WORDS,
    ORG_WORDS,
    PERSON_TITLES,
    QUESTION_STARTS,
    STOPWORDS,
    content_tokens,
    normalise,
    sentences,
    words,
)

CAP_PHRASE_RE = re.compile(
    r"\b[A-Z][\w\-]*(?:\s+(?:(?:of|de|la|von|van|der|del|da)\s+)?[A-Z][\w\-]*)*"
)
ROW_SAFE_RE = re.compile(r"<\|[^|>]*\|>|[\r\n]+")


def _clean(text: str) -> str:
    """Make text safe for one delimited row: no newlines, no ``<|...|>`` markers."""
    return " ".join(ROW_SAFE_RE.sub(" ", text).split())


def between(text: str, start: str, end: str) -> str | None:
    i = text.find(start)
    if i < 0:
        return None
    i += len(start)
    j = text.find(end, i)
    return text[i:] if j < 0 else text[i:j]


def _entity_type(name: str, in_location_phrase: bool) -> str:
    lowered = {w.lower().strip(".") for w in name.split()}
    if lowered & ORG_WORDS:
        return "Organization"
    if lowered & LOC_WORDS or in_location_phrase:
        return "Location"
    if lowered & PERSON_TITLES:
        return "Person"
    return "Other"


def find_entities(text: str, max_entities: int) -> list[tuple[str, str, list[str]]]:
    """(name, type, sentences mentioning it) in order of first appearance."""
    sents = sentences(text) or [" ".join(text.split())]
    found: dict[str, tuple[str, str, list[str]]] = {}

    def add(name: str, etype: str, sentence: str) -> None:
        key = name.lower()
        if key not in found:
            found[key] = (name, etype, [])
        if sentence not in found[key][2]:
            found[key][2].append(sentence)

    for sentence in sents:
        for match in CAP_PHRASE_RE.finditer(sentence):
            parts = match.group(0).split()
            while parts and (parts[0].lower() in STOPWORDS or parts[0].lower() in CONNECTORS):
                parts = parts[1:]
            while parts and parts[-1].lower() in CONNECTORS:
                parts = parts[:-1]
            if not parts:
                continue
            name = " ".join(parts)
            at_start = sentence.startswith(match.group(0))
            if len(parts) == 1 and at_start and name.lower() in STOPWORDS | QUESTION_STARTS:
                continue
            before = sentence[: match.start()].split()[-1:]
            in_loc = bool(before) and before[0].lower() in {"in", "at", "near", "from"}
            add(name, _entity_type(name, in_loc), sentence)
    # Repeated other words (and, for texts without names, the commonest ones) become
    # "Concept" entities too.
    taken = {normalise(w) for key in found for w in key.split()}
    counts = Counter(
        w.lower()
        for w in words(text)
        if len(w) >= 4 and w.islower() and w not in STOPWORDS and normalise(w) not in taken
    )
    common = [(w, n) for w, n in counts.most_common(3) if n >= 2 or len(found) < 2]
    for word, _n in common:
        for sentence in sents:
            if re.search(rf"\b{re.escape(word)}\b", sentence, re.IGNORECASE):
                add(word.title(), "Concept", sentence)
    return list(found.values())[:max_entities]


def extract_records(
    text: str, max_total: int, max_entities: int
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    entities = find_entities(text, max_entities)
    ent_rows = [
        {"name": name, "type": etype, "description": _clean(" ".join(sents[:2]))}
        for name, etype, sents in entities
    ]
    ent_rows = ent_rows[:max_total]
    names = [r["name"] for r in ent_rows]
    rel_rows: list[dict[str, str]] = []
    seen: set[frozenset[str]] = set()
    for sentence in sentences(text) or [text]:
        present = [n for n in names if re.search(rf"\b{re.escape(n)}\b", sentence, re.I)]
        for a, b in itertools.pairwise(present):
            pair = frozenset((a.lower(), b.lower()))
            if a.lower() == b.lower() or pair in seen:
                continue
            seen.add(pair)
            skip = {normalise(w) for w in (a + " " + b).split()}
            keywords = [t for t in dict.fromkeys(content_tokens(sentence)) if t not in skip]
            rel_rows.append(
                {
                    "source": a,
                    "target": b,
                    "keywords": ", ".join(keywords[:3]) or "related",
                    "description": _clean(sentence),
                }
            )
    room = max(0, max_total - len(ent_rows))
    return ent_rows, rel_rows[:room]


def prompt_limit(prompt: str, pattern: str, default: int) -> int:
    match = re.search(pattern, prompt)
    return int(match.group(1)) if match else default


def _delimiters(system: str) -> tuple[str, str]:
    tuple_match = re.search(r"Entity row: `entity(.+?)entity_name", system)
    done_match = re.search(r"Output the literal string `(.+?)` only after", system)
    return (
        tuple_match.group(1) if tuple_match else "<|#|>",
        done_match.group(1) if done_match else "<|COMPLETE|>",
    )


def _render_rows(
    ents: list[dict[str, str]], rels: list[dict[str, str]], as_json: bool, system: str
) -> str:
    if as_json:
        return json.dumps({"entities": ents, "relationships": rels}, ensure_ascii=False)
    tup, done = _delimiters(system)
    lines = [tup.join(["entity", e["name"], e["type"], e["description"]]) for e in ents]
    lines += [
        tup.join(["relation", r["source"], r["target"], r["keywords"], r["description"]])
        for r in rels
    ]
    return "\n".join([*lines, done])


def answer_extraction(system: str, user: str, history: list[Mapping[str, Any]]) -> str:
    as_json = "`entities` and `relationships`" in system or "`entities`" in user
    max_total = prompt_limit(user + system, r"at most (\d+) total (?:rows|records)", 100)
    max_ents = prompt_limit(user + system, r"at most (\d+) entity (?:rows|objects)", 40)
    if "---Input Text---" in user:
        text = between(user, "---Input Text---\n```\n", "\n```") or ""
        ents, rels = extract_records(text, max_total, max_ents)
        return _render_rows(ents, rels, as_json, system)
    # Gleaning: find the input text and what was already answered in the history.
    text, previous = "", ""
    for msg in history:
        content = str(msg.get("content") or "")
        if msg.get("role") == "user" and "---Input Text---" in content:
            text = between(content, "---Input Text---\n```\n", "\n```") or ""
        elif msg.get("role") == "assistant":
            previous += content
    ents, rels = extract_records(text, max_total, max_ents)
    ents = [e for e in ents if e["name"] not in previous]
    rels = [r for r in rels if r["description"] not in previous]
    return _render_rows(ents, rels, as_json, system)
