"""shield-lightrag's calls to Ollama's chat API: one shared client, counts on every call.

Every LLM call of the service goes through :class:`OllamaChat`: LightRAG's own roles at
ingest (entity extraction and description summaries, through :meth:`OllamaChat.role_function`,
handed to LightRAG as its role functions) and the query path's keyword and answer calls
(``answer.py``). Each call names its model, so the model can change per call, and returns
Ollama's own counts as a :class:`~shield_rag.llm.usage.Usage`. One ``ollama.AsyncClient`` per
process (one connection pool; ``lightrag_service.ca_bundle`` trusted besides certifi's CAs);
query-path calls share one bound of ``lightrag_service.llm_max_async`` calls at once.

Any failure of one model's call (not served: 404, 5xx, unreachable, too slow) is
:class:`ModelFailed`, naming the model, so a router can fall back to another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
from lightrag.utils import TruncatedResponse

from shield_rag.llm.usage import Usage, UsageTotals
from shield_rag.settings import Settings
from shield_rag.tls import client_context

log = logging.getLogger("shield_rag.lightrag_service")

UsageSink = Callable[[Usage], None]
Messages = list[dict[str, str]]


class ModelFailed(Exception):
    """One call of ``model`` failed; ``timeout`` when it took too long."""

    def __init__(self, model: str, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.model = model
        self.message = message
        self.timeout = timeout


@dataclass(frozen=True)
class Reply:
    text: str
    usage: Usage
    truncated: bool


def messages_of(prompt: str, system_prompt: str | None, history: Any = None) -> Messages:
    """Chat messages as LightRAG's ollama binding builds them."""
    messages: Messages = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for item in history or []:
        messages.append({"role": str(item.get("role")), "content": str(item.get("content"))})
    messages.append({"role": "user", "content": prompt})
    return messages


def _format_of(kwargs: Mapping[str, Any]) -> str | dict[str, Any] | None:
    """Ollama's ``format`` from LightRAG's OpenAI-style ``response_format`` (or legacy flags)."""
    if kwargs.get("format") is not None:
        value: str | dict[str, Any] = kwargs["format"]
        return value
    response_format = kwargs.get("response_format")
    if isinstance(response_format, Mapping):
        if response_format.get("type") == "json_object":
            return "json"
        schema = response_format.get("json_schema")
        if response_format.get("type") == "json_schema" and isinstance(schema, Mapping):
            return dict(schema.get("schema", schema))
    if kwargs.get("keyword_extraction") or kwargs.get("entity_extraction"):
        return "json"
    return None


class OllamaChat:
    """The service's Ollama chat client (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        svc = settings.lightrag_service
        self.url = str(settings.ollama.url).rstrip("/")
        self.timeout = settings.ollama.timeout
        self.keep_alive = settings.ollama.keep_alive
        self.options: dict[str, Any] = {"num_ctx": svc.llm_context_size}
        self.client = ollama.AsyncClient(
            host=self.url,
            timeout=self.timeout,
            verify=client_context(svc.ca_bundle),
            headers={"User-Agent": "shield-lightrag"},
        )
        self.slots = asyncio.Semaphore(svc.llm_max_async)

    def _failure(self, model: str, exc: BaseException, limit: float) -> ModelFailed:
        """``exc``, raised by a call of ``model`` bounded by ``limit`` seconds, in words."""
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code < 0:  # an error line inside a stream
                return ModelFailed(model, f"{model}: Ollama reported: {exc.error}")
            return ModelFailed(model, f"{model}: Ollama answered {exc.status_code}: {exc.error}")
        if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
            return ModelFailed(model, f"{model}: no answer within {limit:g}s", timeout=True)
        return ModelFailed(
            model, f"{model}: Ollama at {self.url} unreachable: {exc or type(exc).__name__}"
        )

    def failure(self, model: str, exc: BaseException) -> str:
        """Why a call of ``model`` failed, in words."""
        return self._failure(model, exc, self.timeout).message

    def _request(self, model: str, messages: Messages, fmt: Any, options: Any) -> dict[str, Any]:
        merged = dict(self.options)
        if isinstance(options, Mapping):
            merged |= dict(options)
        return {
            "model": model,
            "messages": messages,
            "format": fmt,
            "options": merged,
            "keep_alive": self.keep_alive,
        }

    async def chat(
        self,
        model: str,
        role: str,
        messages: Messages,
        *,
        fmt: Any = None,
        options: Any = None,
        time_limit: float | None = None,
    ) -> Reply:
        """One non-streamed call; ``time_limit`` (default ``ollama.timeout``) bounds it."""
        limit = time_limit or self.timeout
        request = self._request(model, messages, fmt, options)
        try:
            async with asyncio.timeout(limit):
                response = await self.client.chat(**request, stream=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is this model's
            raise self._failure(model, exc, limit) from exc
        usage = Usage.from_ollama(model, role, response)
        text = response.message.content or ""
        return Reply(text, usage, response.done_reason == "length")

    async def stream(
        self, model: str, role: str, messages: Messages, *, first_timeout: float | None = None
    ) -> tuple[ollama.ChatResponse, AsyncGenerator[ollama.ChatResponse, None]]:
        """Start a streamed call: its first frame (awaited within ``first_timeout``) and the
        open stream of the rest. Close the stream (``aclose``) to stop Ollama at once."""
        limit = first_timeout or self.timeout
        request = self._request(model, messages, None, None)
        frames: Any = None
        try:
            async with asyncio.timeout(limit):
                frames = await self.client.chat(**request, stream=True)
                first = await anext(frames)
        except asyncio.CancelledError:
            if frames is not None:
                await frames.aclose()
            raise
        except Exception as exc:  # every failure is this model's
            if frames is not None:
                with contextlib.suppress(Exception):
                    await frames.aclose()
            raise self._failure(model, exc, limit) from exc
        return first, frames

    def role_function(
        self, model: str, role: str, sink: UsageSink, *, timeout: float | None = None
    ) -> Callable[..., Any]:
        """A LightRAG LLM function (``func(prompt, system_prompt=, history_messages=, ...)``)
        answering with ``model`` (each call within ``timeout``, default ``ollama.timeout``)
        and handing each call's usage to ``sink``."""

        async def complete(
            prompt: str,
            system_prompt: str | None = None,
            history_messages: Any = None,
            **kwargs: Any,
        ) -> str:
            options: dict[str, Any] = {}
            if isinstance(kwargs.get("options"), Mapping):
                options |= kwargs["options"]
            if kwargs.get("max_tokens") is not None:
                options.setdefault("num_predict", kwargs["max_tokens"])
            messages = messages_of(prompt, system_prompt, history_messages)
            reply = await self.chat(
                model, role, messages, fmt=_format_of(kwargs), options=options, time_limit=timeout
            )
            sink(reply.usage)
            if reply.truncated:
                if not reply.text.strip():
                    raise ModelFailed(
                        model, f"{model}: empty answer cut off by the token limit (num_predict)"
                    )
                partial: str = TruncatedResponse(reply.text)
                return partial
            return reply.text

        complete.__name__ = f"ollama_{role}"
        return complete

    async def close(self) -> None:
        await self.client.close()  # type: ignore[no-untyped-call]


class WriteUsage:
    """Usage of LightRAG's own LLM calls (extraction, summaries) during the running write.

    Writes run one at a time (the engine's write lock), so whatever LightRAG's queue workers
    call while one runs belongs to it; calls outside a write are only logged.
    """

    def __init__(self) -> None:
        self.current: UsageTotals | None = None

    def record(self, usage: Usage) -> None:
        if self.current is not None:
            self.current.add(usage)
        else:
            log.debug("LLM call outside a write: %s", usage)

    @contextlib.contextmanager
    def gather(self) -> Iterator[UsageTotals]:
        """Collect the usage of the calls made inside the block."""
        self.current = totals = UsageTotals()
        try:
            yield totals
        finally:
            self.current = None
