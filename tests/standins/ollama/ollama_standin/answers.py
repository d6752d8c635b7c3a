"""The deterministic "LLM": which prompt it is, and the answer to each kind."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ollama import (
    Message,
)

from .extraction import CAP_PHRASE_RE, answer_extraction, between, prompt_limit
from .text import QUESTION_STARTS, STOPWORDS, content_tokens, count_words, sentences, words


def answer_keywords(prompt: str) -> str:
    query = (between(prompt, "User Query:", "---Output---") or prompt).strip()
    low: list[str] = []
    for match in CAP_PHRASE_RE.finditer(query):
        phrase = match.group(0)
        first = phrase.split()[0].lower()
        if len(phrase.split()) == 1 and (first in STOPWORDS or first in QUESTION_STARTS):
            continue
        low.append(phrase)
    content = [
        w
        for w in dict.fromkeys(w.lower() for w in words(query))
        if w not in STOPWORDS and w not in QUESTION_STARTS
    ]
    low += [w for w in content if all(w not in p.lower() for p in low)]
    return json.dumps({"high_level_keywords": content, "low_level_keywords": low})


def answer_summary(prompt: str) -> str:
    budget = prompt_limit(prompt, r"must not exceed (\d+) tokens", 500)
    block = between(prompt, "Description List:", "---Output---") or ""
    parts: list[str] = []
    for line in block.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            parts += [str(v) for v in value.values() if isinstance(v, str)]
    unique = list(dict.fromkeys(s for p in parts for s in (sentences(p) or [p])))
    out: list[str] = []
    for sentence in unique:
        if count_words(*out, sentence) > budget:
            break
        out.append(sentence)
    return " ".join(out) or " ".join(" ".join(parts).split()[:budget])


def _context_items(context: str) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """Texts of the context (with their reference id) and the reference list."""
    items: list[tuple[str, str | None]] = []
    refs: dict[str, str] = {}
    for line in context.splitlines():
        line = line.strip()
        ref = re.match(r"^\[(\w+)\]\s+(.+)$", line)
        if ref:
            refs[ref.group(1)] = ref.group(2)
            continue
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        ref_id = obj.get("reference_id")
        for key in ("content", "description"):
            value = obj.get(key)
            if isinstance(value, str):
                for piece in value.split("<SEP>"):
                    items.append((piece, str(ref_id) if ref_id else None))
    return items, refs


def answer_rag(system: str, query: str) -> str:
    context = system.split("---Context---", 1)[1]
    items, refs = _context_items(context)
    wanted = set(content_tokens(query))
    # sentence (lower-cased) -> [score, first position, reference id, sentence]
    table: dict[str, list[Any]] = {}
    for text, ref in items:
        for sentence in sentences(text) or [" ".join(text.split())]:
            key = sentence.lower()
            if key in table:
                table[key][2] = table[key][2] or ref
                continue
            table[key] = [len(wanted & set(content_tokens(sentence))), len(table), ref, sentence]
    ranked = sorted((v for v in table.values() if v[0] > 0), key=lambda v: (-v[0], v[1]))
    if not ranked:
        return "I do not have enough information to answer."
    best = ranked[0][0]
    chosen = [v for v in ranked if v[0] * 4 >= best * 3][:3]
    answer = " ".join(v[3] for v in chosen)
    cited = [r for r in dict.fromkeys(v[2] for v in chosen if v[2]) if r in refs]
    if cited:
        answer += "\n\n### References\n\n" + "\n".join(f"- [{r}] {refs[r]}" for r in cited)
    return answer


def content_of(message: Mapping[str, Any] | Message) -> str:
    value = message.get("content") if isinstance(message, Mapping) else message.content
    return str(value or "")


def role_of(message: Mapping[str, Any] | Message) -> str:
    value = message.get("role") if isinstance(message, Mapping) else message.role
    return str(value or "")


def reply(system: str, messages: list[Mapping[str, Any]], as_json: bool) -> str:
    """The deterministic answer to a conversation (see the module docstring)."""
    user = next((content_of(m) for m in reversed(messages) if role_of(m) == "user"), "")
    history: list[Mapping[str, Any]] = [
        {"role": role_of(m), "content": content_of(m)} for m in messages
    ]
    if "---Input Text---" in user or "Based on the last extraction task" in user:
        return answer_extraction(system, user, history)
    if "keyword extractor" in system + user and "User Query:" in user:
        return answer_keywords(user)
    if "Description List:" in system + user:
        return answer_summary(system + "\n" + user)
    if "---Context---" in system:
        return answer_rag(system, user)
    echo = " ".join(words(user)[:64])
    if as_json:
        return json.dumps({"response": echo})
    return f"Stand-in reply: {echo}" if echo else "Stand-in reply."
