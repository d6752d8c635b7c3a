"""A query, answered with the model the caller asked for and every call's usage counted.

LightRAG 1.5.7 takes no per-call model, and its LLM calls run in queue workers that do not
carry the caller's context, so the query path makes its own calls around LightRAG's
retrieval:

1. keywords (modes local, global, hybrid, mix): LightRAG's ``extract_keywords_only`` with a
   per-call keyword function (our :class:`~.llm.OllamaChat`, the call's model, its usage
   counted) and that model's cache identity, so LightRAG's keyword cache keeps working;
2. retrieval: ``aquery_llm`` with ``only_need_prompt`` and the keywords, which returns
   exactly the prompt LightRAG would send — its system prompt (with the retrieved context)
   followed by ``"\\n\\n---User Query---\\n\\n" + query``; that known suffix is cut off;
3. the answer: the system prompt and the query sent to the chosen model by us, so model
   choice, fallback and counts are ours (answers are cached per model and prompt in
   LightRAG's cache, as LightRAG caches its own, when ``enable_llm_cache`` is on).

Models: ``None`` is ``ollama.llm_model``; a name is that model only (its failure is a 502
naming it); ``"auto"`` asks the :class:`~shield_rag.llm.router.Router`, and a failing model
hands over to the next candidate (recorded in ``routing.fallbacks``) and rests for
``router.cooldown_seconds``. Keywords, a small task, go to the smallest tier under auto.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lightrag.base import QueryParam
from lightrag.lightrag import LightRAG
from lightrag.operate import extract_keywords_only
from lightrag.prompt import PROMPTS
from lightrag.utils import CacheData, compute_args_hash, handle_cache, save_to_cache

from shield_rag.llm.router import Decision, Router
from shield_rag.llm.usage import Usage, UsageTotals
from shield_rag.settings import Settings

from .errors import OperationError
from .llm import Messages, ModelFailed, OllamaChat, messages_of

AUTO = "auto"
PROMPT_SUFFIX = "\n\n---User Query---\n\n"
KEYWORD_MODES = frozenset({"local", "global", "hybrid", "mix"})
ANSWER_CACHE_VERSION = "shield-answer-1"
T = TypeVar("T")


@dataclass
class QueryOutcome:
    """The answer, what every call used, and how the answering model was chosen (None when
    no answer call was needed: only_need_context, or nothing retrieved)."""

    response: str
    usage: UsageTotals
    routing: dict[str, Any] | None


@dataclass
class Attempts:
    """Tries models in order; under auto a failure rests the model and is recorded."""

    router: Router
    auto: bool
    fallbacks: list[dict[str, str]] = field(default_factory=list)

    async def run(self, what: str, models: list[str], call: Callable[[str], Awaitable[T]]) -> T:
        errors: list[str] = []
        for model in models:
            try:
                result = await call(model)
            except ModelFailed as exc:
                if not self.auto:
                    raise OperationError(
                        f"model {model!r} failed ({what}): {exc.message}", 502
                    ) from exc
                self.router.failed(model)
                self.fallbacks.append({"model": model, "error": f"{what}: {exc.message}"})
                errors.append(exc.message)
                continue
            if self.auto:
                self.router.succeeded(model)
            return result
        raise OperationError(
            f"every model auto routing tried failed ({what}): " + "; ".join(errors), 502
        )


@dataclass
class Prepared:
    """A query ready for its answer call (``done`` set: answered already, no call needed)."""

    messages: Messages
    decision: Decision
    attempts: Attempts
    usage: UsageTotals
    done: str | None = None


class Answerer:
    """Runs queries (see the module docstring)."""

    def __init__(self, settings: Settings, rag: LightRAG, chat: OllamaChat, router: Router):
        self.settings = settings
        self.rag = rag
        self.chat = chat
        self.router = router
        self.default_model = settings.ollama.llm_model
        self.attempt_timeout = settings.router.attempt_timeout_seconds or settings.ollama.timeout

    def time_limit(self, auto: bool) -> float:
        """Seconds one call may take: router.attempt_timeout_seconds under auto (then the
        next model is tried), else ollama.timeout."""
        return self.attempt_timeout if auto else self.settings.ollama.timeout

    def _keyword_models(self, model: str | None) -> list[str]:
        if model == AUTO:
            return self.router.keyword_candidates()
        return [model or self.default_model]

    def _decide(self, model: str | None, query: str, mode: str, system: str) -> Decision:
        if model == AUTO:
            tokens = len(self.rag.tokenizer.encode(f"{system}\n{query}"))
            return self.router.decide(query, mode, tokens)
        if model is None:
            reason = "no model requested: the default model (ollama.llm_model)"
            return Decision(None, self.default_model, reason, [self.default_model])
        return Decision(None, model, "model requested by the caller", [model])

    async def _keywords(
        self, query: str, mode: str, model: str, attempts: Attempts, usage: UsageTotals
    ) -> tuple[list[str], list[str]]:
        # The configuration aquery_llm builds for each query, with this call's keyword
        # function and that model's cache identity.
        config = self.rag._build_global_config()
        calls: list[Usage] = []
        limit = self.time_limit(attempts.auto)
        complete = self.chat.role_function(model, "keyword", calls.append, timeout=limit)

        async def keyword(*args: Any, **kwargs: Any) -> str:
            kwargs.pop("_priority", None)
            async with self.chat.slots:
                return str(await complete(*args, **kwargs))

        config["role_llm_funcs"] = {**config["role_llm_funcs"], "keyword": keyword}
        identities = dict(config["llm_cache_identities"])
        identities["keyword"] = {**identities["keyword"], "model": model}
        config["llm_cache_identities"] = identities
        param = QueryParam(mode=mode)
        hl, ll = await extract_keywords_only(query, param, config, self.rag.llm_response_cache)
        for item in calls:
            usage.add(item)
        return list(hl), list(ll)

    def _param(self, mode: str, options: dict[str, Any], only_context: bool) -> QueryParam:
        param = QueryParam(mode=mode, stream=False)
        param.enable_rerank = False  # no rerank model is configured
        param.only_need_context = only_context
        param.only_need_prompt = not only_context
        for key in ("top_k", "chunk_top_k", "response_type"):
            if options.get(key):
                setattr(param, key, options[key])
        return param

    async def prepare(
        self, query: str, mode: str, model: str | None, options: dict[str, Any]
    ) -> Prepared:
        """Keywords and retrieval: the messages to answer, and how to choose the model."""
        usage = UsageTotals()
        attempts = Attempts(self.router, model == AUTO)
        query = query.strip()
        param = self._param(mode, options, bool(options.get("only_need_context")))
        if mode == "bypass":
            decision = self._decide(model, query, mode, "")
            return Prepared(messages_of(query, None), decision, attempts, usage)
        if mode in KEYWORD_MODES:

            async def extract(name: str) -> tuple[list[str], list[str]]:
                return await self._keywords(query, mode, name, attempts, usage)

            hl, ll = await attempts.run("keywords", self._keyword_models(model), extract)
            if not hl and not ll:  # as LightRAG's kg_query does
                if len(query) >= 50:
                    return self._no_answer(attempts, usage, PROMPTS["fail_response"])
                ll = [query]
            param.hl_keywords, param.ll_keywords = hl, ll
        result = await self.rag.aquery_llm(query, param=param)
        content = (result.get("llm_response") or {}).get("content")
        if result.get("status") == "failure":
            if (result.get("metadata") or {}).get("failure_reason") == "no_results":
                return self._no_answer(attempts, usage, str(content))
            raise OperationError(f"LightRAG {result.get('message') or 'query failed'}", 502)
        if content is None:
            raise OperationError("LightRAG returned no prompt for the query", 502)
        content = str(content)
        if param.only_need_context:
            return self._no_answer(attempts, usage, content)
        suffix = PROMPT_SUFFIX + query
        if not content.endswith(suffix):
            if content == PROMPTS["fail_response"]:
                return self._no_answer(attempts, usage, content)
            raise OperationError(
                "LightRAG's prompt does not end with the user query as lightrag-hku 1.5.7 "
                "builds it; this service needs updating for the installed LightRAG",
                500,
            )
        system = content[: -len(suffix)]
        decision = self._decide(model, query, mode, system)
        return Prepared(messages_of(query, system), decision, attempts, usage)

    def _no_answer(self, attempts: Attempts, usage: UsageTotals, text: str) -> Prepared:
        decision = Decision(None, "", "no answer call needed", [])
        return Prepared([], decision, attempts, usage, done=text)

    def _cache_key(self, model: str, mode: str, messages: Messages) -> str:
        parts = [f"{m['role']}:{m['content']}" for m in messages]
        return str(compute_args_hash(ANSWER_CACHE_VERSION, model, mode, *parts))

    async def cached_answer(self, model: str, mode: str, messages: Messages) -> str | None:
        """``model``'s answer to these messages from LightRAG's LLM cache, if kept."""
        key = self._cache_key(model, mode, messages)
        query = messages[-1]["content"]
        cached = await handle_cache(self.rag.llm_response_cache, key, query, mode, "query")
        return None if cached is None else str(cached[0])

    async def save_answer(self, model: str, mode: str, messages: Messages, text: str) -> None:
        key = self._cache_key(model, mode, messages)
        data = CacheData(key, text, prompt=messages[-1]["content"], mode=mode, cache_type="query")
        await save_to_cache(self.rag.llm_response_cache, data)

    async def _answer_with(self, model: str, mode: str, prep: Prepared) -> tuple[str, bool]:
        messages, usage = prep.messages, prep.usage
        cached = await self.cached_answer(model, mode, messages)
        if cached is not None:
            return cached, True
        limit = self.time_limit(prep.attempts.auto)
        async with self.chat.slots:
            reply = await self.chat.chat(model, "query", messages, time_limit=limit)
        usage.add(reply.usage)
        if not reply.truncated:
            await self.save_answer(model, mode, messages, reply.text)
        return reply.text, False

    @staticmethod
    def routing(prep: Prepared, model: str, cached: bool = False) -> dict[str, Any]:
        return {
            "tier": prep.decision.tier,
            "model": model,
            "reason": prep.decision.reason,
            "fallbacks": prep.attempts.fallbacks,
            "cached": cached,
        }

    async def answer(
        self, query: str, mode: str, model: str | None, options: dict[str, Any]
    ) -> QueryOutcome:
        """Answer ``query`` (see the module docstring). Raises OperationError."""
        prep = await self.prepare(query, mode, model, options)
        if prep.done is not None:
            return QueryOutcome(prep.done, prep.usage, None)
        chosen: list[str] = []

        async def call(name: str) -> tuple[str, bool]:
            chosen.append(name)
            return await self._answer_with(name, mode, prep)

        text, cached = await prep.attempts.run("answer", prep.decision.candidates, call)
        return QueryOutcome(text, prep.usage, self.routing(prep, chosen[-1], cached))
