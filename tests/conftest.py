"""Fixtures shared by more than one test package (the rest live in tests/support), and how
``make pytest`` splits the tests between its pytest-xdist workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.site import SiteServer

# make pytest runs ``-n 2 --dist loadfile``: a test module runs whole on one worker, so its
# module-scoped fixtures (a stack, a stand-in server) start once; each package below runs whole
# on one worker too, for its package- or session-scoped processes. Apart from that, the
# workers share nothing: each test has its own ports (tests.support.procs.free_port, a block
# per worker), Redis and other processes, and directories (tmp_path, per worker).
WHOLE_PACKAGES = (
    "tests/integration/",  # the session-scoped stack
    "tests/lightrag/",  # one LightRAG service, Qdrant and Ollama for the package
    "tests/standins/test_qdrant/",  # one Qdrant stand-in for the package
)
# Handed out first (then the rest, the most tests first): few tests but minutes of them, which
# would leave one worker running alone at the end if they came last.
LONG_FIRST = (
    "tests/integration/",
    "tests/unit/test_backup_s3_play.py",
    "tests/monitoring/test_config.py",
    "tests/unit/test_edge_lab_ca.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with each of WHOLE_PACKAGES as one file and LONG_FIRST first."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LoadFileAndPackageScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return next((p for p in WHOLE_PACKAGES if path.startswith(p)), path)

        def _assign_work_unit(self, node: Any) -> None:
            for scope in reversed(LONG_FIRST):
                if scope in self.workqueue:
                    self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return LoadFileAndPackageScheduling(config, log)


@pytest.fixture(scope="module")
def site() -> Iterator[SiteServer]:
    """The small local web site the crawl tests fetch (tests/support/site.py), one per module:
    a module's checks of what was fetched see only its own requests."""
    server = SiteServer().start()
    yield server
    server.stop()
