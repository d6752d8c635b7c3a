"""``crawl_web`` and ``ingest_doc``: start ingest jobs (HTTP 202 style: a job_id at once)."""

import asyncio
import base64
import binascii
from pathlib import Path
from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from shield_rag.api.fields import JsonInt
from shield_rag.mcp import errors
from shield_rag.mcp.models import AcceptedJob
from shield_rag.mcp.tools.common import Deps, IdempotencyKey, Metadata, guarded

Graph = Annotated[
    bool,
    Field(
        description="Also add the content to the LightRAG knowledge graph (default true); "
        "false indexes it for qdrant_find only: faster, and it works while LightRAG is "
        "unavailable",
    ),
]

WRITE = {"read_only_hint": False, "destructive_hint": False, "idempotent_hint": False}
NEXT_STEP = (
    "call wait_for_job(job_id) to wait with progress, or get_job_status(job_id) to check; "
    "the content is searchable with qdrant_find once phases.vectors is succeeded (the job "
    "itself succeeds when the knowledge graph is done too)"
)


def _accepted(body: dict[str, Any]) -> AcceptedJob:
    return AcceptedJob(
        job_id=body["job_id"],
        status=body["status"],
        kind=body["kind"],
        track_url=body["track_url"],
        events_url=body["events_url"],
        created=bool(body.get("created", True)),
        next_step=NEXT_STEP,
    )


def _check_url(tool: str, url: str) -> str:
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise errors.invalid(tool, [f"url: must start with http:// or https:// (got {url!r:.80})"])
    return url


def _read_file(deps: Deps, raw: str) -> tuple[str, bytes]:
    tool = "ingest_doc"
    roots = [r.resolve() for r in deps.settings.file_roots]
    if not roots:
        raise errors.invalid(
            tool,
            [
                "file_path: this server reads no local files (mcp.file_roots is empty); "
                "send the document as text or content_base64, or give its url"
            ],
        )
    try:
        path = Path(raw).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise errors.invalid(tool, [f"file_path: {raw!r} does not exist"]) from None
    if not any(path.is_relative_to(root) for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise errors.invalid(tool, [f"file_path: must be inside one of {shown} (mcp.file_roots)"])
    if not path.is_file():
        raise errors.invalid(tool, [f"file_path: {raw!r} is not a regular file"])
    size = path.stat().st_size
    if size > deps.settings.max_file_bytes:
        raise errors.invalid(
            tool,
            [f"file_path: {size} bytes is over the {deps.settings.max_file_bytes} byte limit"],
        )
    return path.name, path.read_bytes()


def register(mcp: FastMCP, deps: Deps) -> None:
    if deps.settings.read_only:
        return
    client = deps.orchestrator

    @mcp.tool(annotations={**WRITE, "open_world_hint": True}, tags={"write"})
    async def crawl_web(
        url: Annotated[
            str,
            Field(
                min_length=1,
                max_length=2048,
                description="http(s) URL of the first page, e.g. https://docs.example.com/",
            ),
        ],
        allowed_domains: Annotated[
            list[Annotated[str, Field(min_length=1, max_length=253)]] | None,
            Field(
                max_length=50,
                description="Host names the crawl may visit (sub-domains included); default: "
                "only the start URL's host",
            ),
        ] = None,
        max_pages: Annotated[
            JsonInt | None,
            Field(
                ge=1,
                description="Most pages to fetch; default and upper limit are set by "
                "the server (crawl.default_max_pages, crawl.max_pages_limit)",
            ),
        ] = None,
        max_depth: Annotated[
            JsonInt | None,
            Field(
                ge=0,
                description="Most links to follow from the start page (0: that page "
                "only); default set by the server (crawl.default_max_depth)",
            ),
        ] = None,
        metadata: Metadata = None,
        idempotency_key: IdempotencyKey = None,
        graph: Graph = True,
    ) -> AcceptedJob:
        """Crawl a web site into the knowledge base, in the background.

        Fetches url and the pages it links to on the allowed domains (robots.txt respected;
        private and loopback addresses refused), extracts their text, chunks and embeds it
        into the vector store and the LightRAG knowledge graph. Returns at once with a
        job_id: follow it with wait_for_job or get_job_status, then search with qdrant_find
        or ask lightrag_query.
        """
        body: dict[str, Any] = {"type": "url", "url": _check_url("crawl_web", url)}
        if allowed_domains is not None:
            body["allowed_domains"] = allowed_domains
        if max_pages is not None:
            body["max_pages"] = max_pages
        if max_depth is not None:
            body["max_depth"] = max_depth
        if metadata:
            body["metadata"] = metadata
        if not graph:
            body["graph"] = False
        return _accepted(await guarded("crawl_web", client.ingest_json(body, idempotency_key)))

    @mcp.tool(annotations=WRITE, tags={"write"})
    async def ingest_doc(
        text: Annotated[
            str | None,
            Field(min_length=1, description="The document's text (plain text or Markdown)"),
        ] = None,
        url: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=2048,
                description="http(s) URL of one document (HTML page, PDF, DOCX, TXT, "
                "Markdown); only that URL is fetched, use crawl_web to follow links",
            ),
        ] = None,
        file_path: Annotated[
            str | None,
            Field(
                min_length=1,
                description="Path of a file on the MCP server's host (PDF, DOCX, TXT, HTML, "
                "Markdown), allowed only under the directories in mcp.file_roots",
            ),
        ] = None,
        content_base64: Annotated[
            str | None,
            Field(
                min_length=4,
                description="A file's bytes, base64 encoded (PDF, DOCX, TXT, HTML, "
                "Markdown); give filename too so its type can be told",
            ),
        ] = None,
        filename: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=255,
                description="Name of the file sent as content_base64, e.g. report.pdf",
            ),
        ] = None,
        title: Annotated[
            str | None,
            Field(max_length=512, description="Title to store with the document"),
        ] = None,
        source: Annotated[
            str | None,
            Field(
                max_length=2048,
                description="Stable name for a text document; ingesting the same source "
                "again replaces the earlier version",
            ),
        ] = None,
        metadata: Metadata = None,
        idempotency_key: IdempotencyKey = None,
        graph: Graph = True,
    ) -> AcceptedJob:
        """Add one document to the knowledge base, in the background.

        Give exactly one of: text, url, file_path, or content_base64 (+ filename). The
        document is extracted, chunked and embedded into the vector store and the LightRAG
        knowledge graph. Returns at once with a job_id: follow it with wait_for_job or
        get_job_status, then search with qdrant_find or ask lightrag_query.
        """
        tool = "ingest_doc"
        given = [
            name
            for name, value in (
                ("text", text),
                ("url", url),
                ("file_path", file_path),
                ("content_base64", content_base64),
            )
            if value is not None
        ]
        if len(given) != 1:
            got = ", ".join(given) or "none of them"
            raise errors.invalid(
                tool, [f"give exactly one of text, url, file_path or content_base64 (got {got})"]
            )
        problems = []
        if filename is not None and content_base64 is None:
            problems.append("filename: only used with content_base64")
        if source is not None and text is None:
            problems.append("source: only used with text (files and URLs are named by themselves)")
        if url is not None and title is not None:
            problems.append("title: not used with url (the page's own title is stored)")
        if problems:
            raise errors.invalid(tool, problems)
        if text is not None:
            body: dict[str, Any] = {"type": "text", "text": text, "metadata": metadata or {}}
            if not graph:
                body["graph"] = False
            if title is not None:
                body["title"] = title
            if source is not None:
                body["source"] = source
            return _accepted(await guarded(tool, client.ingest_json(body, idempotency_key)))
        if url is not None:
            body = {
                "type": "url",
                "url": _check_url(tool, url),
                "max_pages": 1,
                "max_depth": 0,
                "metadata": metadata or {},
            }
            if not graph:
                body["graph"] = False
            return _accepted(await guarded(tool, client.ingest_json(body, idempotency_key)))
        if file_path is not None:
            name, blob = await asyncio.to_thread(_read_file, deps, file_path)
        else:
            assert content_base64 is not None
            try:
                blob = base64.b64decode(content_base64, validate=True)
            except (binascii.Error, ValueError):
                raise errors.invalid(
                    tool, ["content_base64: not valid base64 (standard alphabet, with padding)"]
                ) from None
            if len(blob) > deps.settings.max_file_bytes:
                raise errors.invalid(
                    tool,
                    [
                        f"content_base64: {len(blob)} bytes is over the "
                        f"{deps.settings.max_file_bytes} byte limit"
                    ],
                )
            name = filename or "document"
        return _accepted(
            await guarded(
                tool,
                client.ingest_upload(
                    name,
                    blob,
                    title=title,
                    metadata=metadata or {},
                    idempotency_key=idempotency_key,
                    graph=graph,
                ),
            )
        )
