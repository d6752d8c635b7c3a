"""``POST /query/stream``: the answer as NDJSON lines, as Ollama produces it.

Lines: ``{"delta": str}`` for each piece, then ``{"done": true, "usage": [...],
"routing": {...}}``; or, when the answer cannot be given, ``{"error": str, "status": 502}``.
Refusals found before streaming starts (unknown model, query too short, not ready) are
ordinary HTTP errors. Under ``auto`` a failing model hands over to the next candidate only
until the first piece arrives; a failure after that ends the stream with an error line.

A client that goes away stops the work at once: the server cancels :meth:`AnswerStream.lines`
wherever it waits (for Ollama's first piece or the next one), and the Ollama stream is then
closed (its connection dropped, so Ollama stops generating) rather than read to its end. The
pieces are awaited in this generator's own task, never in a helper task that a cancellation
could leave running with the stream in hand. The answer-call slot
(``lightrag_service.llm_max_async``) is held while a stream runs.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import ollama

from shield_rag.llm.usage import Usage

from .answer import Answerer, Prepared
from .errors import OperationError


def line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data) + "\n").encode()


@dataclass
class Opened:
    model: str
    cached: str | None
    first: ollama.ChatResponse | None
    frames: AsyncGenerator[ollama.ChatResponse, None] | None


class AnswerStream:
    """One prepared query's answer, streamed (see the module docstring)."""

    def __init__(self, answerer: Answerer, prep: Prepared, mode: str) -> None:
        self.answerer = answerer
        self.prep = prep
        self.mode = mode
        self.slot_held = False
        self.opened: Opened | None = None  # set as soon as Ollama's stream is open

    async def _open(self) -> Opened:
        chat, prep = self.answerer.chat, self.prep

        async def start(model: str) -> Opened:
            cached = await self.answerer.cached_answer(model, self.mode, prep.messages)
            if cached is not None:
                return Opened(model, cached, None, None)
            await chat.slots.acquire()
            try:
                limit = self.answerer.time_limit(prep.attempts.auto)
                first, frames = await chat.stream(
                    model, "query", prep.messages, first_timeout=limit
                )
            except BaseException:
                chat.slots.release()
                raise
            self.slot_held = True
            self.opened = Opened(model, None, first, frames)
            return self.opened

        return await prep.attempts.run("answer", prep.decision.candidates, start)

    def _done(self, model: str | None, cached: bool = False) -> bytes:
        routing = None if model is None else Answerer.routing(self.prep, model, cached)
        return line({"done": True, "usage": self.prep.usage.as_dicts(), "routing": routing})

    async def lines(self) -> AsyncIterator[bytes]:
        """The NDJSON lines."""
        if self.prep.done is not None:
            yield line({"delta": self.prep.done})
            yield self._done(None)
            return
        try:
            try:
                opened = await self._open()
            except OperationError as exc:
                yield line({"error": exc.message, "status": exc.status_code})
                return
            if opened.cached is not None:
                yield line({"delta": opened.cached})
                yield self._done(opened.model, cached=True)
                return
            async for piece in self._pieces(opened):
                yield piece
        finally:
            frames = self.opened.frames if self.opened is not None else None
            if frames is not None:
                # The server cancels this generator when the client goes away, and inside a
                # cancelled anyio scope every await is cancelled again: shielded, the close of
                # Ollama's stream (what stops its generation) does happen.
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await frames.aclose()
            if self.slot_held:
                self.answerer.chat.slots.release()
                self.slot_held = False

    async def _pieces(self, opened: Opened) -> AsyncIterator[bytes]:
        assert opened.frames is not None
        frame: ollama.ChatResponse | None = opened.first
        parts: list[str] = []
        while frame is not None:
            piece = frame.message.content or ""
            if piece:
                parts.append(piece)
                yield line({"delta": piece})
            if frame.done:
                break
            try:
                frame = await anext(opened.frames, None)
            except Exception as exc:  # noqa: BLE001 - Ollama failed mid-answer: too late to fall back
                if self.prep.attempts.auto:
                    self.answerer.router.failed(opened.model)
                failure = self.answerer.chat.failure(opened.model, exc)
                yield line({"error": f"model failed mid-answer: {failure}", "status": 502})
                return
        if frame is None:  # the stream ended without its final frame
            yield line({"error": f"{opened.model}: the answer ended early", "status": 502})
            return
        self.prep.usage.add(Usage.from_ollama(opened.model, "query", frame))
        if frame.done_reason != "length":
            await self.answerer.save_answer(
                opened.model, self.mode, self.prep.messages, "".join(parts)
            )
        yield self._done(opened.model)
