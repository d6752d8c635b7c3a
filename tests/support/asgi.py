"""An ASGI app under uvicorn in the test's own event loop, on 127.0.0.1."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Literal, Self

import uvicorn

from tests.support.procs import free_port
from tests.support.wait import eventually


class ServedApp:
    """``app`` under uvicorn on 127.0.0.1:``port`` (a free one unless given), at ``base``.
    ``await start()`` returns once it serves; ``await stop()`` waits for its shutdown;
    ``async with`` does both."""

    def __init__(
        self, app: Any, *, port: int | None = None, lifespan: Literal["on", "off"] = "on"
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, lifespan=lifespan
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> Self:
        self.task = asyncio.create_task(self.server.serve())
        await eventually(lambda: self.server.started, 10, "uvicorn serving")
        return self

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
