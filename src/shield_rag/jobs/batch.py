"""Calls of one Lua script made at the same moment go to Redis in one write.

Concurrent accepts each run the job creation script. Sent one by one, each pays a
connection taken from the pool, a socket write (a system call that, on loopback, also
runs the receiving side's network stack) and redis-py's call path. :class:`ScriptBatch`
sends the calls made in the same turn of the event loop together, as a pipeline without a
transaction on one connection: each call is still its own script run — atomic, with its
own reply or its own error — and Redis runs them in the order they were made. A call
alone in its turn is sent as before, by its caller. An error of the whole write (Redis
unreachable after the client's retries) is every call's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

__all__ = ["ScriptBatch"]

_Call = tuple[Sequence[Any], Sequence[Any], "asyncio.Future[Any]"]
_ALONE = object()  # a call's future result: no other call came, its caller sends it


class ScriptBatch:
    """``await batch(keys=..., args=...)``: :class:`AsyncScript`'s call, batched."""

    def __init__(self, redis: Redis, script: AsyncScript) -> None:
        self._redis = redis
        self._script = script
        self._pending: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, *, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) == 1:
            # After the callbacks already due in this turn: the requests parsed with this
            # one reach their own call first.
            loop.call_soon(self._flush)
        result = await future
        if result is _ALONE:
            return await self._script(keys=keys, args=args)
        return result

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if len(batch) == 1:
            if not batch[0][2].done():
                batch[0][2].set_result(_ALONE)
            return
        # A task of its own: a caller that goes away (its request cancelled) must not take
        # the others' replies with it.
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            replies = await self._execute(batch)
            forgotten = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if forgotten:
                # Redis lost its scripts (a restart, or this client's first call): load it
                # once, then send again the calls it did not run.
                self._script.sha = await self._redis.script_load(self._script.script)
                again = await self._execute([batch[i] for i in forgotten])
                for i, reply in zip(forgotten, again, strict=True):
                    replies[i] = reply
            for (_unused, _unused, future), reply in zip(batch, replies, strict=True):
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except BaseException as exc:
            for _unused, _unused, future in batch:
                if not future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise

    async def _execute(self, batch: list[_Call]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _unused in batch:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))
