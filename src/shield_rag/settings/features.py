"""The ``features`` section: which optional features are on when nothing else says so.

These are the inventory's defaults. An admin may turn a feature on or off at runtime (the
orchestrator's ``PUT /admin/features/{name}``); the change is kept in Redis and every service
applies it within ``refresh_seconds`` (see :mod:`shield_rag.features`). A feature that is off
answers a clear ``feature_disabled`` error naming its setting, never a 500.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic import Field

from shield_rag.settings.base import _Section

FeatureName = Literal[
    "router", "model_choice", "graph_indexing", "crawling", "write_tools", "streaming"
]

# Every feature that can be switched, in the order documentation and listings show them.
FEATURE_NAMES: Final[tuple[FeatureName, ...]] = get_args(FeatureName)

# One line per feature: what turning it off stops (for docs, error messages and listings).
FEATURE_DESCRIPTIONS: Final[dict[FeatureName, str]] = {
    "router": 'Model routing: the model "auto" lets a router choose the model per request.',
    "model_choice": "Callers may name the model a call uses; when off, every call uses the "
    "configured model and a named one is refused.",
    "graph_indexing": "Workers run the LightRAG graph stage after the vector phase; when off, "
    "documents are stored as vectors only and the graph stage is skipped.",
    "crawling": "Crawl jobs: URL ingest that follows links, and the MCP tool crawl_web.",
    "write_tools": "Writes through the MCP server and the API: ingest, store and cancel.",
    "streaming": "Streamed answers (server-sent events) from the query endpoints and tools.",
}


class FeatureSettings(_Section):
    router: bool = Field(
        False,
        description='Whether the model "auto" is served by the router, which chooses a model '
        "per request, off by default so that calls use the configured model (changeable at "
        "runtime: PUT /admin/features/router).",
    )
    model_choice: bool = Field(
        True,
        description="Whether callers may name the model a call uses; when false a call that "
        "names one is refused with feature_disabled (changeable at runtime: "
        "PUT /admin/features/model_choice).",
    )
    graph_indexing: bool = Field(
        True,
        description="Whether the workers run the LightRAG graph stage of ingest jobs; when "
        "false documents are stored as vectors only (changeable at runtime: "
        "PUT /admin/features/graph_indexing).",
    )
    crawling: bool = Field(
        True,
        description="Whether crawl jobs (URL ingest that follows links, the MCP tool "
        "crawl_web) are accepted; when false they are refused with feature_disabled "
        "(changeable at runtime: PUT /admin/features/crawling).",
    )
    write_tools: bool = Field(
        True,
        description="Whether ingest, store and cancel are accepted through the MCP server and "
        "the API; false makes the stack read-only (changeable at runtime: "
        "PUT /admin/features/write_tools).",
    )
    streaming: bool = Field(
        True,
        description="Whether answers may be streamed (server-sent events); when false a "
        "streamed request is refused with feature_disabled (changeable at runtime: "
        "PUT /admin/features/streaming).",
    )
    refresh_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How often (seconds) each service re-reads the runtime changes from Redis "
        "(the MCP server: from the orchestrator's GET /features); a change is applied "
        "everywhere within about this long, and a re-read that finds nothing changed costs "
        "one Redis GET.",
    )

    def default(self, name: str) -> bool:
        """The inventory's value of feature ``name`` (ValueError for an unknown name)."""
        check_feature_name(name)
        value: bool = getattr(self, name)
        return value


def check_feature_name(name: str) -> FeatureName:
    """``name`` as a feature name; ValueError naming the known ones when it is none."""
    if name not in FEATURE_NAMES:
        raise ValueError(f"unknown feature {name!r}; the features are: {', '.join(FEATURE_NAMES)}")
    return name
