"""robots.txt handling for the crawler (RFC 9309), parsed by Protego.

robots.txt is fetched through the crawler's :class:`~shield_rag.ingest.fetch.SafeFetcher`, so
the SSRF guard, size limit and timeouts apply to it too. One fetch per origin, cached for the
crawl. Following RFC 9309: a robots.txt that does not exist (any 4xx) or cannot be used
(too large, refused redirect) allows everything; one that is unreachable (5xx, network error)
disallows everything for that origin until the crawl ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from shield_rag.errors import PermanentJobError, TransientJobError

if TYPE_CHECKING:
    from shield_rag.ingest.fetch import SafeFetcher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    allowed: bool
    reason: str = ""
    transient: bool = False


@dataclass(frozen=True, slots=True)
class _Rules:
    parser: Protego | None  # None: everything allowed
    unreachable: str | None = None  # set: everything disallowed, with the reason


class RobotsCache:
    def __init__(self, fetcher: SafeFetcher, user_agent: str) -> None:
        self._fetcher = fetcher
        self._user_agent = user_agent
        self._rules: dict[str, _Rules] = {}

    async def _load(self, origin: str) -> _Rules:
        robots_url = f"{origin}/robots.txt"
        try:
            page = await self._fetcher.fetch(robots_url)
        except TransientJobError as exc:
            log.warning("robots.txt at %s unreachable, not crawling that site: %s", origin, exc)
            return _Rules(None, unreachable=str(exc))
        except PermanentJobError as exc:
            log.info("no usable robots.txt at %s (%s); everything allowed", origin, exc)
            return _Rules(None)
        try:
            return _Rules(Protego.parse(page.content.decode("utf-8", errors="replace")))
        except Exception as exc:  # noqa: BLE001 - a robots.txt the parser chokes on
            log.warning(
                "robots.txt at %s could not be parsed (%s); everything allowed", origin, exc
            )
            return _Rules(None)

    async def check(self, url: str) -> RobotsVerdict:
        parts = urlsplit(url)
        origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        rules = self._rules.get(origin)
        if rules is None:
            rules = await self._load(origin)
            self._rules[origin] = rules
        if rules.unreachable is not None:
            return RobotsVerdict(
                False, f"robots.txt of {origin} could not be fetched ({rules.unreachable})", True
            )
        if rules.parser is None or rules.parser.can_fetch(url, self._user_agent):
            return RobotsVerdict(True)
        return RobotsVerdict(
            False, f"robots.txt of {origin} disallows {url} for user agent {self._user_agent!r}"
        )
