"""Crawling and chunking for ingest jobs."""

from __future__ import annotations

import ipaddress

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from shield_rag.settings.base import _Section


class CrawlSettings(_Section):
    user_agent: str = Field(
        "ShieldRAG/0.1 (+https://galaxy.ansible.com/shield/rag)",
        description="User-Agent header the crawler sends, also the name robots.txt rules are "
        "matched against; include a contact URL of your own.",
    )
    respect_robots_txt: bool = Field(
        True,
        description="Whether the crawler obeys robots.txt; set false only for sites you run.",
    )
    default_max_pages: int = Field(
        10,
        ge=1,
        description="Pages crawled when a request gives no max_pages; it must not exceed "
        "max_pages_limit.",
    )
    max_pages_limit: int = Field(
        200,
        ge=1,
        description="Most pages one crawl request may ask for.",
    )
    default_max_depth: int = Field(
        2,
        ge=0,
        description="Link depth followed when a request gives no max_depth (0: the start page "
        "only); it must not exceed max_depth_limit.",
    )
    max_depth_limit: int = Field(
        5,
        ge=0,
        description="Greatest link depth one crawl request may ask for.",
    )
    max_response_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest page or document the crawler downloads, in bytes (default "
        "10 MiB); larger ones are skipped.",
    )
    request_timeout: float = Field(
        15.0,
        gt=0,
        description="Seconds allowed for fetching one page or document.",
    )
    total_timeout: float = Field(
        300.0,
        gt=0,
        description="Time budget of a whole crawl in seconds; when it runs out the crawl "
        "stops and keeps the pages fetched so far.",
    )
    max_redirects: int = Field(
        5,
        ge=0,
        le=20,
        description="Most HTTP redirects followed for one URL (the SSRF guard checks every hop).",
    )
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDR networks the SSRF guard lets the crawler fetch although they are not "
        "globally routable (e.g. an intranet's 10.0.0.0/8); empty allows public addresses only.",
    )

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is not a CIDR network: {exc}") from exc
        return v

    @model_validator(mode="after")
    def _limits(self) -> CrawlSettings:
        if self.default_max_pages > self.max_pages_limit:
            raise ValueError("default_max_pages must not exceed max_pages_limit")
        if self.default_max_depth > self.max_depth_limit:
            raise ValueError("default_max_depth must not exceed max_depth_limit")
        return self


class ChunkSettings(_Section):
    max_chars: int = Field(
        1500,
        ge=100,
        description="Largest chunk, in characters, the workers split a document into before "
        "embedding it; keep it within the embedding model's input limit.",
    )
    overlap_chars: int = Field(
        150,
        ge=0,
        description="Characters neighbouring chunks share, so a passage cut at a boundary is "
        "still found; it must be smaller than max_chars.",
    )

    @model_validator(mode="after")
    def _overlap(self) -> ChunkSettings:
        if self.overlap_chars >= self.max_chars:
            raise ValueError("overlap_chars must be smaller than max_chars")
        return self
