"""Fetch web pages safely and crawl a site breadth-first.

:class:`SafeFetcher` never lets httpx resolve a host name: it resolves and checks the name
itself (:func:`~shield_rag.ingest.ssrf.resolve_checked`) and sends the request to the checked
IP address, with the original ``Host`` header and TLS server name (SNI, also used for
certificate verification). A DNS answer that changes between check and connect (DNS
rebinding) therefore cannot redirect the request. Redirects are followed by hand and every
hop is checked again. Connections are not kept alive, so a TLS connection verified for one
host is never reused for another host on the same address.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from shield_rag.errors import PermanentJobError, ShieldError, TransientJobError
from shield_rag.ingest.extract import HTML, detect_type
from shield_rag.ingest.links import (
    DomainRule,
    extract_links,
    has_skipped_extension,
    normalise_url,
    url_filename,
)
from shield_rag.ingest.robots import RobotsCache
from shield_rag.ingest.ssrf import DEFAULT_PORTS, SSRFError, resolve_checked, validate_url
from shield_rag.settings import CrawlSettings

log = logging.getLogger(__name__)

RETRYABLE_4XX = frozenset({408, 425, 429})
ACCEPT = (
    "text/html,application/xhtml+xml,application/pdf,"
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document,"
    "text/plain,text/markdown;q=0.9,*/*;q=0.5"
)


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # the URL asked for (normalised)
    final_url: str  # the URL after redirects
    status: int
    content_type: str | None  # the Content-Type header as sent, parameters included
    content: bytes


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    content_type: str | None
    content: bytes
    location: str | None = None


def _is_cert_error(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLCertVerificationError):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


class SafeFetcher:
    """Fetch URLs through the SSRF guard, with size, time and redirect limits."""

    def __init__(self, settings: CrawlSettings) -> None:
        self.settings = settings
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.request_timeout),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would bypass the address pinning
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
        )

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> FetchedPage:
        """GET ``url``; raises SSRFError, PermanentJobError or TransientJobError."""
        allowed = self.settings.allowed_networks
        start = validate_url(url, allowed)
        current = start
        for _hop in range(self.settings.max_redirects + 1):
            try:
                async with asyncio.timeout(self.settings.request_timeout):
                    resp = await self._request(current)
            except TimeoutError as exc:
                raise TransientJobError(
                    f"timed out after {self.settings.request_timeout:g}s fetching {current} "
                    "(crawl.request_timeout)"
                ) from exc
            if resp.location is None:
                return FetchedPage(start, current, resp.status, resp.content_type, resp.content)
            target = urljoin(current, resp.location)
            try:
                current = validate_url(target, allowed)
            except SSRFError as exc:
                raise SSRFError(
                    f"{current} redirects to {target}, which is refused: {exc}"
                ) from exc
            log.debug("redirect %s -> %s", start, current)
        raise PermanentJobError(
            f"{start} redirected more than {self.settings.max_redirects} times "
            "(crawl.max_redirects)"
        )

    async def _request(self, url: str) -> _Response:
        parts = urlsplit(url)
        host = parts.hostname
        assert host is not None  # validate_url guarantees it
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        addresses = await resolve_checked(host, port, self.settings.allowed_networks)
        ip = addresses[0]
        ip_host = f"[{ip.compressed}]" if ip.version == 6 else str(ip)
        pinned = urlunsplit((parts.scheme, f"{ip_host}:{port}", parts.path, parts.query, ""))
        extensions: dict[str, str] = {}
        if parts.scheme == "https" and ip_host.strip("[]") != host:
            extensions["sni_hostname"] = host
        try:
            async with self._client.stream(
                "GET", pinned, headers={"Host": parts.netloc}, extensions=extensions
            ) as response:
                return await self._read(url, response)
        except httpx.TimeoutException as exc:
            raise TransientJobError(
                f"timed out after {self.settings.request_timeout:g}s fetching {url} "
                "(crawl.request_timeout)"
            ) from exc
        except httpx.DecodingError as exc:
            raise PermanentJobError(f"the response of {url} could not be decoded: {exc}") from exc
        except httpx.ConnectError as exc:
            if _is_cert_error(exc):
                raise PermanentJobError(
                    f"the TLS certificate of {host} is not valid: {exc}"
                ) from exc
            raise TransientJobError(f"could not connect to {url} ({ip}): {exc}") from exc
        except httpx.RequestError as exc:
            raise TransientJobError(f"fetching {url} failed: {type(exc).__name__}: {exc}") from exc

    async def _read(self, url: str, response: httpx.Response) -> _Response:
        status = response.status_code
        content_type = response.headers.get("content-type")
        if 300 <= status < 400:
            location = response.headers.get("location")
            if not location:
                raise PermanentJobError(f"HTTP {status} from {url} without a Location header")
            return _Response(status, content_type, b"", location.strip())
        if status >= 400:
            what = f"HTTP {status} {response.reason_phrase} from {url}".rstrip()
            if status >= 500 or status in RETRYABLE_4XX:
                raise TransientJobError(f"{what}; will retry")
            raise PermanentJobError(what)
        limit = self.settings.max_response_bytes
        too_big = f"{url} is larger than {limit} bytes (crawl.max_response_bytes)"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PermanentJobError(too_big)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > limit:
                raise PermanentJobError(too_big)
        return _Response(status, content_type, bytes(body))


def check_crawl_limits(
    max_pages: int | None, max_depth: int | None, settings: CrawlSettings
) -> tuple[int, int]:
    """Apply defaults and limits; raise PermanentJobError naming the setting on violation."""
    pages = settings.default_max_pages if max_pages is None else max_pages
    depth = settings.default_max_depth if max_depth is None else max_depth
    if not 1 <= pages <= settings.max_pages_limit:
        raise PermanentJobError(
            f"max_pages must be between 1 and {settings.max_pages_limit} "
            f"(crawl.max_pages_limit), got {pages}"
        )
    if not 0 <= depth <= settings.max_depth_limit:
        raise PermanentJobError(
            f"max_depth must be between 0 and {settings.max_depth_limit} "
            f"(crawl.max_depth_limit), got {depth}"
        )
    return pages, depth


async def crawl(
    start_url: str,
    *,
    allowed_domains: Sequence[str] | None = None,
    max_pages: int | None = None,
    max_depth: int | None = None,
    settings: CrawlSettings,
) -> AsyncIterator[FetchedPage]:
    """Crawl breadth-first from ``start_url`` and yield every readable document found.

    Yields HTML pages and the PDF/DOCX/text/Markdown documents they link to (links are only
    followed from HTML). See :class:`~shield_rag.ingest.links.DomainRule` for which hosts are
    visited. The start page must succeed: its error is raised. Later pages that fail (HTTP
    errors, refused by the SSRF guard or robots.txt, too large, unsupported type) are logged
    and skipped. When ``crawl.total_timeout`` runs out, the crawl stops with what it has.
    """
    pages_limit, depth_limit = check_crawl_limits(max_pages, max_depth, settings)
    start = validate_url(start_url, settings.allowed_networks)
    rule = DomainRule(allowed_domains, urlsplit(start).hostname or "")
    if not rule.allows(start):
        raise PermanentJobError(
            f"the start URL {start} is outside allowed_domains ({rule.describe()})"
        )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.total_timeout
    async with SafeFetcher(settings) as fetcher:
        robots = RobotsCache(fetcher, settings.user_agent) if settings.respect_robots_txt else None
        queue: deque[tuple[str, int]] = deque([(start, 0)])
        queued = {start}
        yielded: set[str] = set()
        first = True
        while queue and len(yielded) < pages_limit:
            url, depth = queue.popleft()
            is_start, first = first, False
            try:
                page = await _visit(fetcher, robots, url, deadline - loop.time())
            except TimeoutError as exc:
                if is_start:
                    raise TransientJobError(
                        f"crawl time budget of {settings.total_timeout:g}s ran out before "
                        f"{url} was fetched (crawl.total_timeout)"
                    ) from exc
                log.warning("crawl of %s stopped: total time budget spent", start)
                return
            except ShieldError as exc:
                if is_start:
                    raise
                log.info("skipping %s: %s", url, exc)
                continue
            final = normalise_url(page.final_url) or page.final_url
            if not rule.allows(final):
                if is_start and not rule.explicit:
                    rule.add_exact(urlsplit(final).hostname or "")
                elif is_start:
                    raise PermanentJobError(
                        f"the start URL {start} redirects to {final}, outside allowed_domains "
                        f"({rule.describe()})"
                    )
                else:
                    log.info("skipping %s: redirects outside the allowed domains", url)
                    continue
            if final in yielded:
                continue
            try:
                kind = detect_type(page.content, page.content_type, url_filename(final))
            except PermanentJobError as exc:
                if is_start:
                    raise
                log.info("skipping %s: %s", url, exc)
                continue
            yielded.add(final)
            queued.add(final)
            if kind == HTML and depth < depth_limit:
                for link in extract_links(page.content, page.final_url):
                    if link in queued or not rule.allows(link) or has_skipped_extension(link):
                        continue
                    queued.add(link)
                    queue.append((link, depth + 1))
            yield page


async def _visit(
    fetcher: SafeFetcher, robots: RobotsCache | None, url: str, remaining: float
) -> FetchedPage:
    """robots.txt check and fetch within ``remaining`` seconds (TimeoutError past that)."""
    if remaining <= 0:
        raise TimeoutError
    async with asyncio.timeout(remaining):
        if robots is not None:
            verdict = await robots.check(url)
            if not verdict.allowed:
                cls = TransientJobError if verdict.transient else PermanentJobError
                raise cls(verdict.reason)
        return await fetcher.fetch(url)
