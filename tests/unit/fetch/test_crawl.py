"""crawl against a local test site: pages, depth, robots.txt, limits, domains, time budget.

Nothing here sends traffic anywhere but 127.0.0.1 (``conftest.py``)."""

from __future__ import annotations

import logging

import pytest

from shield_rag.errors import PermanentJobError, TransientJobError
from shield_rag.ingest.fetch import check_crawl_limits, crawl
from shield_rag.ingest.ssrf import SSRFError
from shield_rag.settings import CrawlSettings
from tests.unit.fetch.support import (
    DOCX_BYTES,
    PDF_BYTES,
    Site,
    Wire,
    collect,
    local_settings,
)


async def test_crawl_site(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shield_rag.ingest")
    pages = await collect(
        crawl(f"{site.base}/", max_pages=50, max_depth=2, settings=local_settings())
    )
    finals = [p.final_url.removeprefix(site.base) for p in pages]
    assert finals[0] == "/"
    assert sorted(finals) == sorted(["/", "/a", "/b", "/doc.pdf", "/doc.docx", "/notes.txt", "/c"])
    paths = site.paths()
    assert paths.count("/robots.txt") == 1
    assert "/private/secret" not in paths  # disallowed by robots.txt
    assert "/d" not in paths  # depth 3
    assert "/logo.png" not in paths  # never a document: not fetched
    assert paths.count("/a") == 1  # fragment variant de-duplicated
    assert "/image" in paths  # fetched, but an image is not yielded
    by_path = {p.final_url.removeprefix(site.base): p for p in pages}
    assert by_path["/doc.pdf"].content == PDF_BYTES
    assert by_path["/doc.docx"].content == DOCX_BYTES
    log = caplog.text
    assert "robots.txt" in log
    assert "10.255.255.1" in log  # the refused redirect was skipped and logged
    assert "HTTP 404" in log


async def test_crawl_respects_max_pages_and_depth(site: Site) -> None:
    settings = local_settings()
    pages = await collect(crawl(f"{site.base}/", max_pages=2, max_depth=2, settings=settings))
    assert len(pages) == 2
    only_start = await collect(crawl(f"{site.base}/", max_pages=10, max_depth=0, settings=settings))
    assert [p.final_url for p in only_start] == [f"{site.base}/"]


async def test_crawl_can_ignore_robots(site: Site) -> None:
    settings = local_settings(respect_robots_txt=False)
    pages = await collect(crawl(f"{site.base}/", max_pages=50, max_depth=1, settings=settings))
    assert f"{site.base}/private/secret" in [p.final_url for p in pages]
    assert "/robots.txt" not in site.paths()


@pytest.mark.parametrize(
    ("max_pages", "max_depth", "needle"),
    [
        (0, 1, "max_pages must be between 1 and 200 (crawl.max_pages_limit), got 0"),
        (201, 1, "got 201"),
        (5, 6, "max_depth must be between 0 and 5 (crawl.max_depth_limit), got 6"),
        (5, -1, "got -1"),
    ],
)
async def test_crawl_limits_are_validated(max_pages: int, max_depth: int, needle: str) -> None:
    with pytest.raises(PermanentJobError) as err:
        await collect(
            crawl(
                "http://site.test/",
                max_pages=max_pages,
                max_depth=max_depth,
                settings=local_settings(),
            )
        )
    assert needle in str(err.value)


def test_crawl_limit_defaults() -> None:
    assert check_crawl_limits(None, None, CrawlSettings()) == (10, 2)


@pytest.mark.parametrize(
    ("path", "error", "needle"),
    [
        ("/missing", PermanentJobError, "HTTP 404"),
        ("/error", TransientJobError, "HTTP 503"),
        ("/private/secret", PermanentJobError, "robots.txt of http://127.0.0.1:"),
        ("/redirect-internal", SSRFError, "10.255.255.1 is a private address"),
        ("/image", PermanentJobError, "unsupported type (image/png)"),
    ],
)
async def test_crawl_start_page_failures_propagate(
    site: Site, path: str, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as err:
        await collect(
            crawl(f"{site.base}{path}", max_pages=5, max_depth=1, settings=local_settings())
        )
    assert needle in str(err.value)


async def test_crawl_with_default_settings_refuses_loopback(site: Site, wire: Wire) -> None:
    with pytest.raises(SSRFError, match="loopback"):
        await collect(crawl(f"{site.base}/", max_pages=5, max_depth=1, settings=CrawlSettings()))
    assert wire.requests == []


async def test_unreachable_robots_txt_makes_the_start_page_transient() -> None:
    site = Site(robots_status=503).start()
    try:
        with pytest.raises(TransientJobError, match=r"robots\.txt of .* could not be fetched"):
            await collect(
                crawl(f"{site.base}/", max_pages=5, max_depth=1, settings=local_settings())
            )
        assert site.paths() == ["/robots.txt"]
    finally:
        site.stop()


async def test_missing_robots_txt_allows_everything() -> None:
    site = Site(robots_status=404).start()
    try:
        pages = await collect(
            crawl(f"{site.base}/", max_pages=50, max_depth=1, settings=local_settings())
        )
        assert f"{site.base}/private/secret" in [p.final_url for p in pages]
    finally:
        site.stop()


async def test_crawl_stops_when_the_time_budget_is_spent(site: Site) -> None:
    settings = local_settings(request_timeout=30.0, total_timeout=2.0)
    pages = await collect(
        crawl(f"{site.base}/to-slow", max_pages=5, max_depth=1, settings=settings)
    )
    assert [p.final_url for p in pages] == [f"{site.base}/to-slow"]
    assert "/slow" in site.paths()


async def test_crawl_stays_within_allowed_domains(site: Site, wire: Wire) -> None:
    wire.names["docs.site.test"] = ["127.0.0.1"]
    base = f"http://docs.site.test:{site.port}"
    settings = local_settings()
    pages = await collect(
        crawl(
            f"{base}/a",
            allowed_domains=[".site.test"],
            max_pages=10,
            max_depth=1,
            settings=settings,
        )
    )
    assert [p.final_url for p in pages] == [f"{base}/a", f"{base}/c", f"{base}/"]
    assert {host for _path, host in site.requests} == {f"docs.site.test:{site.port}"}
    with pytest.raises(PermanentJobError, match="outside allowed_domains"):
        await collect(
            crawl(
                f"{base}/a",
                allowed_domains=["other.test"],
                max_pages=5,
                max_depth=1,
                settings=settings,
            )
        )
