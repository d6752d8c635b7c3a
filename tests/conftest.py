"""Fixtures shared by more than one test package (the rest live in tests/support)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.site import SiteServer


@pytest.fixture(scope="module")
def site() -> Iterator[SiteServer]:
    """The small local web site the crawl tests fetch (tests/support/site.py), one per module:
    a module's checks of what was fetched see only its own requests."""
    server = SiteServer().start()
    yield server
    server.stop()
