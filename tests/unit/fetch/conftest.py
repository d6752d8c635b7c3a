"""Fixtures of the fetch tests. Nothing here sends traffic anywhere but 127.0.0.1: name
resolution is replaced by a fake and every request that reaches httpx's transport is recorded
and checked (``wire``, used by every test)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.unit.fetch.support import (
    Site,
    Wire,
)


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site().start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    w = Wire(names={"localhost": ["127.0.0.1"], "site.test": ["127.0.0.1"]})
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            pass
        else:  # a numeric address: no DNS query is made
            return real_getaddrinfo(host, port, *args, **kwargs)
        w.lookups.append(name)
        answers = w.names.get(name)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        fam = socket.AF_INET
        return [(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port)) for a in answers]

    real_send = httpx.AsyncHTTPTransport.handle_async_request

    async def spy(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        w.requests.append(request)
        assert request.url.host == "127.0.0.1", f"request to {request.url} escaped the test"
        return await real_send(self, request)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", spy)
    yield w
    assert all(r.url.host == "127.0.0.1" for r in w.requests)
