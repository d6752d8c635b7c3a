"""The accept's track_url base, computed once per (scheme, server, root path, Host header),
is the one Starlette's ``request.base_url`` gives for every request."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.requests import Request

from shield_rag.orchestrator.routes.ingest_http import request_base


def _scope(scheme: str, host: bytes | None, root: str, server: Any) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if host is not None:
        headers.append((b"host", host))
    return {
        "type": "http",
        "method": "POST",
        "scheme": scheme,
        "server": server,
        "path": f"{root}/ingest-async",
        "root_path": root,
        "query_string": b"a=1",
        "headers": headers,
    }


@pytest.mark.parametrize(
    ("scheme", "host", "root", "server"),
    [
        ("http", b"127.0.0.1:8000", "", ("127.0.0.1", 8000)),
        ("https", b"api.example.test", "/shield", ("10.0.0.1", 443)),
        ("http", None, "", ("127.0.0.1", 8080)),
        ("https", None, "/r/", ("127.0.0.1", 443)),
        ("http", b"[::1]:9000", "", None),
        ("http", None, "", None),
    ],
)
def test_the_base_is_starlettes(scheme: str, host: bytes | None, root: str, server: Any) -> None:
    expected = str(Request(_scope(scheme, host, root, server)).base_url).rstrip("/")
    for _unused in range(2):  # computed, then from the cache
        assert request_base(Request(_scope(scheme, host, root, server))) == expected
