"""``shield-smoke``: one smoke call against a service that has just (re)started.

An upgrade gate runs it on the host, from the new release's virtualenv, before it moves on to
the next host::

    SHIELD_SMOKE_API_KEY=... shield-smoke search --url http://127.0.0.1:8600 [--query TEXT]
    SHIELD_SMOKE_TOKEN=... shield-smoke tools --url http://127.0.0.1:8601/mcp [--expect A,B]

``search`` POSTs one small search (``limit`` 1) to the orchestrator's ``/search``: a 200 with
a well-formed answer proves the orchestrator, the embedder and Qdrant answer together (no hit
is fine: a fresh deployment holds no document). The orchestrator's API key is read from
``SHIELD_SMOKE_API_KEY`` and sent as ``Authorization: Bearer``; no key is sent when it is
unset or empty.

``tools`` opens one MCP session (the MCP SDK client, streamable HTTP), lists the tools and
checks that every name of ``--expect`` (default: the six tools of a read-write server) is
there. The bearer token is read from ``SHIELD_SMOKE_TOKEN`` when it is set (the MCP server may
run without one on loopback).

Secrets are read from the environment only, never from the command line (which ``ps`` and the
Ansible log show), and never printed. Each check is one request or one session, bounded by
``--timeout`` seconds overall (default 10). Proxy variables (``HTTP_PROXY``...) are ignored:
the gate calls the service it runs next to. An https URL is checked against certifi's CAs and
those of ``--ca-bundle`` (or ``SHIELD_SMOKE_CA_BUNDLE``), a PEM file naming a private CA.

Exit status: 0 passed (one JSON line on stdout: the check, the URL, what was seen and the
milliseconds taken); 1 failed (one line on stderr naming the check, the URL and the cause);
2 usage error, or a secret variable that cannot be sent (the variable named, not its value).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2
import mcp_types
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from pydantic import ValidationError

from shield_rag import startup
from shield_rag.api.errors import ErrorBody
from shield_rag.api.fields import is_blank
from shield_rag.api.search import SearchRequest, SearchResponse
from shield_rag.tls import bundle_problem, client_context

PROG = "shield-smoke"
API_KEY_ENV = "SHIELD_SMOKE_API_KEY"
TOKEN_ENV = "SHIELD_SMOKE_TOKEN"  # noqa: S105 - the name of a variable, not a secret
CA_BUNDLE_ENV = "SHIELD_SMOKE_CA_BUNDLE"
DEFAULT_QUERY = "shield smoke test"
DEFAULT_TIMEOUT = 10.0
# The tools of a read-write Shield MCP server the gate checks by default (wait_for_job too
# exists; a read-only server has no crawl_web, ingest_doc or qdrant_store).
DEFAULT_TOOLS = (
    "crawl_web",
    "ingest_doc",
    "qdrant_find",
    "qdrant_store",
    "lightrag_query",
    "get_job_status",
)
EXIT_OK = 0
EXIT_FAILED = 1
_MAX_DETAIL = 300


class SmokeFailed(Exception):
    """The check did not pass; the message says why (without the URL or the check)."""


def _secret(name: str) -> str | None:
    """The secret in the environment variable ``name`` (None when unset or blank); one that
    cannot be sent in a header is a refusal that names the variable, never the value."""
    value = os.environ.get(name, "").strip()
    if value and not (value.isascii() and value.isprintable() and " " not in value):
        raise startup.Refused(f"{name} must be printable ASCII without spaces")
    return value or None


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 1)


def _error_text(response: httpx.Response) -> str:
    """The HTTP status and what the body says: the orchestrator's ``code`` and ``detail``
    when it is an :class:`ErrorBody`, else the start of the body."""
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        text = " ".join(response.text.split())[:_MAX_DETAIL]
        return f"HTTP {response.status_code}" + (f": {text}" if text else "")
    cause = f"{body.code.value} ({body.dependency})" if body.dependency else body.code.value
    return f"HTTP {response.status_code} {cause}: {body.detail[:_MAX_DETAIL]}"


def _connection_error(exc: BaseException) -> str:
    """Why a connection failed, in words an operator greps for."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else f"cannot connect: {text}"


async def search(
    url: str,
    query: str,
    api_key: str | None,
    seconds: float,
    verify: ssl.SSLContext | bool = True,
) -> dict[str, Any]:
    """One ``POST <url>/search``; the result line of a 200 with a well-formed answer."""
    endpoint = url.rstrip("/") + "/search"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = SearchRequest(query=query, limit=1).model_dump(mode="json", exclude_none=True)
    start = time.monotonic()
    # The caller bounds the whole call; httpx's own timeout bounds each phase the same.
    async with httpx.AsyncClient(
        timeout=seconds, trust_env=False, headers=headers, verify=verify
    ) as client:
        try:
            response = await client.post(endpoint, json=body)
        except httpx.TimeoutException:
            raise TimeoutError from None
        except httpx.TransportError as exc:
            raise SmokeFailed(_connection_error(exc)) from None
    if response.status_code != 200:
        hint = ""
        if response.status_code == 401:
            hint = f" (set {API_KEY_ENV})" if api_key is None else f" (check {API_KEY_ENV})"
        raise SmokeFailed(_error_text(response) + hint)
    try:
        answer = SearchResponse.model_validate_json(response.content)
    except ValidationError as exc:
        raise SmokeFailed(
            f"HTTP 200 but not a search answer: {exc.error_count()} problem(s), first "
            f"{'.'.join(map(str, exc.errors()[0]['loc'])) or 'body'}: {exc.errors()[0]['msg']}"
        ) from None
    return {
        "check": "search",
        "url": endpoint,
        "status": response.status_code,
        "hits": len(answer.results),
        "ms": _ms(start),
    }


def _refusal(status: int, text: str) -> str:
    """An MCP server's HTTP error: the status and its message (an OAuth ``error`` and
    ``error_description``, a JSON-RPC ``error.message``, or the start of the body)."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):  # JSON-RPC
            message = str(error.get("message", ""))
        else:
            # The first sentence: FastMCP goes on about OAuth clients re-registering.
            described = str(body.get("error_description") or body.get("detail") or "")
            parts = (error, described.split(". ", maxsplit=1)[0].removesuffix("."))
            message = ": ".join(str(part) for part in parts if part)
    else:
        message = text
    message = " ".join(message.split())[:_MAX_DETAIL]
    return f"HTTP {status}" + (f": {message}" if message else "")


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``exc`` itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def list_tools(
    url: str, token: str | None, seconds: float, verify: ssl.SSLContext | bool = True
) -> list[str]:
    """The tool names of the MCP server at ``url``, over one initialized session."""
    refusals: list[str] = []  # the HTTP errors the server answered, with what they say

    async def record(response: httpx2.Response) -> None:
        if response.status_code >= 400:
            await response.aread()  # kept: the SDK reads the same content after this hook
            refusals.append(_refusal(response.status_code, response.text))

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    names: list[str] = []
    try:
        async with (
            httpx2.AsyncClient(
                headers=headers,
                timeout=seconds,
                trust_env=False,
                verify=verify,
                event_hooks={"response": [record]},
            ) as http,
            streamable_http_client(url, http_client=http) as streams,
            ClientSession(*streams) as session,
        ):
            await session.initialize()
            cursor: str | None = None
            while True:
                params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                names += [tool.name for tool in page.tools]
                cursor = page.next_cursor
                if not cursor:
                    break
    except Exception as exc:  # noqa: BLE001 - every failure is the check's, said in one line
        if refusals:
            hint = ""
            if refusals[0].startswith("HTTP 401"):
                hint = f" (set {TOKEN_ENV})" if token is None else f" (check {TOKEN_ENV})"
            elif refusals[0].startswith(("HTTP 404", "HTTP 405")):
                hint = " (is the URL the MCP endpoint, such as http://127.0.0.1:8601/mcp?)"
            raise SmokeFailed(refusals[0] + hint) from None
        leaves = _leaves(exc)
        if any(isinstance(leaf, httpx2.TimeoutException | TimeoutError) for leaf in leaves):
            raise TimeoutError from None
        for leaf in leaves:
            if isinstance(leaf, httpx2.TransportError | OSError):
                raise SmokeFailed(_connection_error(leaf)) from None
        leaf = leaves[0]
        raise SmokeFailed(f"{type(leaf).__name__}: {leaf}"[:_MAX_DETAIL]) from None
    return names


async def tools(
    url: str,
    expect: Sequence[str],
    token: str | None,
    seconds: float,
    verify: ssl.SSLContext | bool = True,
) -> dict[str, Any]:
    """The result line of a session that lists every tool of ``expect``."""
    start = time.monotonic()
    names = await list_tools(url, token, seconds, verify)
    missing = [name for name in expect if name not in names]
    if missing:
        raise SmokeFailed(
            f"missing tools: {', '.join(missing)} (listed: {', '.join(sorted(names)) or 'none'})"
        )
    return {"check": "tools", "url": url, "tools": sorted(names), "ms": _ms(start)}


async def run(args: argparse.Namespace, secret: str | None) -> dict[str, Any]:
    """The check ``args`` name, within ``args.timeout`` seconds overall."""
    verify = client_context(getattr(args, "ca_bundle", None) or None)
    try:
        async with asyncio.timeout(args.timeout):
            if args.check == "search":
                return await search(args.url, args.query, secret, args.timeout, verify)
            return await tools(args.url, args.expect, secret, args.timeout, verify)
    except TimeoutError:
        raise SmokeFailed(f"timed out after {args.timeout:g} s") from None


def _url(value: str) -> str:
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        ok = False
    if not ok or not value.isprintable():
        raise argparse.ArgumentTypeError(f"not an http(s) URL with a host: {value!r}")
    return value


def _timeout(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError(f"seconds between 0 and 3600 expected, got {value!r}")
    return seconds


def _names(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("at least one tool name expected")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    checks = parser.add_subparsers(dest="check", required=True, metavar="{search,tools}")
    timeout = argparse.ArgumentParser(add_help=False)
    timeout.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        help=f"seconds for the whole check (default {DEFAULT_TIMEOUT:g})",
    )
    timeout.add_argument(
        "--ca-bundle",
        default=os.environ.get(CA_BUNDLE_ENV) or None,
        help=f"PEM file of private CAs trusted besides certifi's for an https URL "
        f"(default: ${CA_BUNDLE_ENV})",
    )
    found = checks.add_parser(
        "search",
        parents=[timeout],
        help=f"POST <url>/search with limit 1 (API key: ${API_KEY_ENV})",
    )
    found.add_argument("--url", type=_url, required=True, help="the orchestrator's base URL")
    found.add_argument("--query", default=DEFAULT_QUERY, help="the text to search for")
    listed = checks.add_parser(
        "tools",
        parents=[timeout],
        help=f"list the MCP server's tools (bearer token: ${TOKEN_ENV})",
    )
    listed.add_argument("--url", type=_url, required=True, help="the MCP endpoint URL")
    listed.add_argument(
        "--expect",
        type=_names,
        default=list(DEFAULT_TOOLS),
        help=f"comma-separated tool names that must be listed (default {','.join(DEFAULT_TOOLS)})",
    )
    return parser


@startup.entry_point(PROG)
def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.check == "search":
        if is_blank(args.query) or len(args.query) > 8192:
            parser.error(
                "--query: at most 8192 characters, not all whitespace or control characters"
            )
        args.query = args.query.strip()
    if args.ca_bundle:
        problem = bundle_problem(Path(args.ca_bundle))
        if problem:
            parser.error(f"--ca-bundle ({CA_BUNDLE_ENV}): CA bundle {problem}")
    secret = _secret(API_KEY_ENV if args.check == "search" else TOKEN_ENV)
    if not logging.getLogger().handlers:
        # What the libraries log would reach stderr through logging's last resort handler;
        # the cause of a failure is in the one line below.
        logging.getLogger().addHandler(logging.NullHandler())
    url = args.url.rstrip("/") + "/search" if args.check == "search" else args.url
    try:
        line = asyncio.run(run(args, secret))
    except SmokeFailed as exc:
        message = f"{PROG}: {args.check} {url}: failed: {exc}"
        print(_redact(" ".join(message.split()), secret), file=sys.stderr)
        return EXIT_FAILED
    print(_redact(json.dumps(line), secret))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
