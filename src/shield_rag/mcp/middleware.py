"""FastMCP middleware around every tool call: metrics, argument errors an agent can act on,
and who the caller is (sent to the orchestrator as ``X-Shield-Client`` and
``X-Shield-Scopes``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import mcp_types as mt
from fastmcp.exceptions import ToolError
from fastmcp.exceptions import ValidationError as ArgumentError
from fastmcp.server.dependencies import get_access_token
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import Tool, ToolResult
from pydantic import ValidationError

from shield_rag.features import FeatureDisabled, FeatureFlags
from shield_rag.mcp import errors, metrics
from shield_rag.mcp.auth import NAMED
from shield_rag.mcp.calls import CALLER, McpCaller, client_header


class ToolCallMiddleware(Middleware):
    """Counts and times each call by tool and outcome, and rewrites pydantic's argument
    errors into one line per argument that says what to change."""

    def __init__(self, tool_names: set[str]) -> None:
        self.tool_names = tool_names
        # The metric children by label values, looked up once (``labels()`` takes a lock).
        self._calls: dict[tuple[str, str], Any] = {}
        self._durations: dict[str, Any] = {}

    def _record(self, label: str, status: str, seconds: float) -> None:
        calls = self._calls.get((label, status))
        if calls is None:
            calls = self._calls[label, status] = metrics.TOOL_CALLS.labels(label, status)
        duration = self._durations.get(label)
        if duration is None:
            duration = self._durations[label] = metrics.TOOL_DURATION.labels(label)
        calls.inc()
        duration.observe(seconds)

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        name = context.message.name
        label = name if name in self.tool_names else "unknown"
        status = "error"
        started = time.perf_counter()
        token = CALLER.set(_caller(context))
        try:
            result = await call_next(context)
            status = "success"
            return result
        except ArgumentError as exc:
            status = "invalid"
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                raise errors.from_validation(name, cause, await _params(context, name)) from None
            raise errors.invalid(name, [str(exc)]) from None
        except errors.InvalidArguments:
            status = "invalid"
            raise
        except errors.Unavailable:
            status = "unavailable"
            raise
        except errors.Limited:
            status = "limited"
            raise
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        except ToolError:
            raise
        finally:
            CALLER.reset(token)
            self._record(label, status, time.perf_counter() - started)


async def _params(context: MiddlewareContext[Any], name: str) -> list[str]:
    if context.fastmcp_context is None:
        return []
    tool = await context.fastmcp_context.fastmcp.get_tool(name)
    if tool is None:
        return []
    return sorted(tool.parameters.get("properties", {}))


def _caller(context: MiddlewareContext[Any]) -> McpCaller:
    """Who calls: with auth on, the access token's client (a named token's as it is, with its
    scopes; the shared auth_token's as ``mcp:shield-mcp-client``), else the MCP client's
    declared name (``clientInfo.name``) as ``mcp:<name>``."""
    access = get_access_token()
    if access is not None and access.client_id:
        scopes = " ".join(access.scopes)
        if access.claims.get(NAMED):
            return McpCaller(str(access.client_id), scopes)
        return McpCaller(client_header(str(access.client_id)), scopes)
    ctx = context.fastmcp_context
    if ctx is None:
        return McpCaller(client_header(None))
    try:
        params = ctx.session.client_params
    except (RuntimeError, AttributeError, ValueError):
        return McpCaller(client_header(None))
    info = getattr(params, "client_info", None) if params is not None else None
    return McpCaller(client_header(getattr(info, "name", None)))


# The tools a runtime feature flag switches off (the orchestrator refuses their calls too).
FEATURE_TOOLS: dict[str, frozenset[str]] = {
    "write_tools": frozenset({"crawl_web", "ingest_doc", "qdrant_store"}),
    "crawling": frozenset({"crawl_web"}),
}


class FeatureMiddleware(Middleware):
    """Hides the tools of a feature that is turned off and refuses their calls with the
    feature's own message (how to turn it back on), as the orchestrator would."""

    def __init__(self, flags: FeatureFlags) -> None:
        self.flags = flags

    def _off(self, tool: str) -> str | None:
        for feature, tools in FEATURE_TOOLS.items():
            if tool in tools and not self.flags.enabled(feature):
                return feature
        return None

    async def on_list_tools(
        self,
        context: MiddlewareContext[mt.ListToolsRequest],
        call_next: CallNext[mt.ListToolsRequest, Sequence[Tool]],
    ) -> Sequence[Tool]:
        tools = await call_next(context)
        return [t for t in tools if self._off(t.name) is None]

    async def on_call_tool(
        self,
        context: MiddlewareContext[mt.CallToolRequestParams],
        call_next: CallNext[mt.CallToolRequestParams, ToolResult],
    ) -> ToolResult:
        feature = self._off(context.message.name)
        if feature is not None:
            raise ToolError(f"{context.message.name}: {FeatureDisabled(feature)}")
        return await call_next(context)
