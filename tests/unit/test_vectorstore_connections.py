"""The Qdrant client keeps its connection open between requests, also for a Qdrant on
127.0.0.1 (where qdrant-client's own default turns keep-alive off)."""

from __future__ import annotations

import asyncio
import json

from shield_rag.clients.vectorstore import VectorStore
from shield_rag.settings import QdrantSettings

_BODY = json.dumps({"result": {"collections": []}, "status": "ok", "time": 0.0}).encode()


class _KeepAliveServer:
    """A minimal HTTP/1.1 server answering every request with Qdrant's empty collection list,
    keeping each connection open; it counts the connections it accepted."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").lower().split("\r\n")
                length = next(
                    (int(h.split(":", 1)[1]) for h in lines if h.startswith("content-length:")), 0
                )
                await reader.readexactly(length)
                self.requests += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def test_requests_to_a_local_qdrant_share_one_connection() -> None:
    server = _KeepAliveServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    store = VectorStore(QdrantSettings(url=f"http://127.0.0.1:{port}"))
    try:
        for _unused in range(3):
            await store.ready()
    finally:
        await store.close()
        listener.close()
        await listener.wait_closed()
    assert server.requests == 3
    assert server.connections == 1
