"""Shared by the Molecule scenarios' testinfra checks (molecule/*/tests).

- ``journal_on_failure``: each scenario's conftest.py binds it to the units it deploys,
  ``pytest_runtest_makereport = journal_on_failure("redis-server shield-mcp ...")``, to print
  the host's recent journal when a test fails;
- ``run_secrets``: the secrets tests/molecule.sh generated for this run (``mcp_token``: the MCP
  server's);
- ``playbook``: a run of one of the collection's playbooks against the scenario's inventory,
  as an operator runs it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET_VARIABLES = [
    "SHIELD_MOLECULE_REDIS_PASSWORD",
    "SHIELD_MOLECULE_QDRANT_API_KEY",
    "SHIELD_MOLECULE_LIGHTRAG_API_KEY",
    "SHIELD_MOLECULE_ORCHESTRATOR_API_KEY",
    "SHIELD_MOLECULE_MCP_TOKEN",
]


def run_secrets() -> dict[str, str]:
    """This run's secrets from the environment; fails (never skips) when one is missing."""
    values = {name: os.environ.get(name, "") for name in SECRET_VARIABLES}
    missing = [name for name, value in values.items() if not value]
    if missing:
        pytest.fail(f"run through tests/molecule.sh: {', '.join(missing)} not set")
    return values


def mcp_token() -> str:
    """The MCP server's bearer token for this run."""
    return run_secrets()["SHIELD_MOLECULE_MCP_TOKEN"]


def _record_failure(report: pytest.TestReport) -> None:
    """Append a failed test's id and the first lines of its error to the file named by
    SHIELD_MOLECULE_FAILURES: tests/molecule.sh prints it after Molecule has destroyed the
    hosts, so the end of a run's log says which check failed and why."""
    path = os.environ.get("SHIELD_MOLECULE_FAILURES")
    if not path:
        return
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    lines = message.splitlines()[:12]
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"FAILED {report.nodeid}\n")
        out.writelines(f"    {line[:300]}\n" for line in lines)


def journal_on_failure(
    units: str, lines: int = 60, fixtures: tuple[str, ...] = ("host",)
) -> Callable[..., Iterator[None]]:
    """A ``pytest_runtest_makereport`` hook wrapper that appends ``journalctl -n <lines>`` of
    ``units`` (space separated, globs allowed) to the report of a failed test, from each
    testinfra host among the test's ``fixtures``."""
    selectors = " ".join(f"-u '{unit}'" for unit in units.split())

    @pytest.hookimpl(hookwrapper=True)
    def hook(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report = outcome.get_result()
        if not report.failed:
            return
        _record_failure(report)
        if report.when != "call":
            return
        funcargs = getattr(item, "funcargs", {})
        for name in fixtures:
            if name in funcargs:
                host: Any = funcargs[name]
                journal = host.run(f"journalctl --no-pager -n {lines} {selectors}").stdout
                report.sections.append((f"journal ({name})", journal))

    return hook


def figure(check: str, **values: float | int | str) -> None:
    """Print one line of measured figures (the verifier runs pytest with -s, so they land in
    the run's log; the scenario pages under docs/ quote them from the last run)."""
    shown = ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
    print(f"FIGURE {check}: {shown}")


class HonourRetryAfter(httpx.HTTPTransport):
    """Waits out admission control's 429 as a well-behaved client does (Retry-After, at most
    60 s per request): the checks poll many jobs at once, faster than one client's rate limit
    (orchestrator_fastapi_client_requests_per_second), and measure jobs, not the limits."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + 60
        while True:
            response = super().handle_request(request)
            if response.status_code != 429 or time.monotonic() >= deadline:
                return response
            response.read()
            response.close()
            time.sleep(min(5.0, float(response.headers.get("retry-after") or 1)))


_GET = (
    "python3 -c 'import sys, urllib.request as u, urllib.error as e\n"
    "try:\n r = u.urlopen(sys.argv[1], timeout=10)\n"
    "except e.HTTPError as x:\n r = x\n"
    "print(r.status); print(r.read().decode())' {url}"
)


def get_on_host(host: Any, url: str) -> tuple[int, str]:
    """GET a URL from inside a scenario host (testinfra ``host``), with the host's python3:
    (HTTP status, body). For what listens on the host's loopback only."""
    status, _unused, body = host.check_output(_GET.format(url=url)).partition("\n")
    return int(status), body


@dataclass
class Run:
    """An ansible-playbook run: exit status, output, seconds, and when each line came."""

    rc: int
    output: str
    seconds: float
    lines: list[tuple[float, str]] = field(default_factory=list)

    def span(self, start: str, end: str | None = None) -> list[tuple[float, float]]:
        """(start, end) times of each stretch of output from a line containing ``start`` to
        the next such line (or ``end``, or the end of the run)."""
        marks = [t for t, line in self.lines if start in line]
        ends = [t for t, line in self.lines if end and end in line]
        last = self.lines[-1][0] if self.lines else 0.0
        spans = []
        for i, t in enumerate(marks):
            after = [e for e in ends if e > t]
            nxt = marks[i + 1] if i + 1 < len(marks) else last
            spans.append((t, min([nxt, *after])))
        return spans


def playbook(name: str, *args: str, timeout: float = 900) -> Run:
    """Run the collection's playbook ``name`` against the scenario's inventory, with the
    ansible.cfg Molecule wrote (SSH pipelining, this run's key)."""
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(ephemeral / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    command = [
        "ansible-playbook",
        "-i",
        str(ephemeral / "inventory"),
        f"shield.rag.{name}",
        *args,
    ]
    start = time.monotonic()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            for line in proc.stdout:
                lines.append((time.monotonic(), line.rstrip("\n")))
        finally:
            killer.cancel()
        rc = proc.wait()
    return Run(rc, "\n".join(line for _unused, line in lines), time.monotonic() - start, lines)
