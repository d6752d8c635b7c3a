"""Converge receipts on the converged host: site.yml with ``shield_converge_receipts`` on (the
default outside Molecule) runs every role once and records the host; the next run finds the
host as recorded and ends every play at once; a file edited by hand and a stopped unit make
the next run run the roles again, which repair both.

Runs with the modules that change the host (``CHAOS``), after the checks of the converged
host: it edits a settings file and stops the MCP server, and leaves both repaired.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.molecule import Run, playbook

CHAOS = True
RECEIPTS = ("-e", "shield_converge_receipts=true")
HOST = "shield-node-1"
SETTINGS = "/etc/shield-rag/orchestrator.yml"
# What the roles print when they run: the first task of every role.
ROLE_RAN = "Validating arguments against arg spec"


def recap(run: Run) -> dict[str, int]:
    match = re.search(rf"^{HOST}\s*:\s*(.*)$", run.output, re.MULTILINE)
    assert match, run.output[-3000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def said(run: Run, text: str) -> bool:
    """Whether the run printed ``text`` (the YAML callback folds long messages over lines)."""
    return text in " ".join(run.output.split())


def site() -> Run:
    run = playbook("site", *RECEIPTS)
    assert run.rc == 0, run.output[-5000:]
    assert recap(run)["failed"] == 0
    return run


def test_an_unchanged_host_is_left_at_once_and_a_changed_one_repaired(host: Any) -> None:
    full = site()
    assert ROLE_RAN in full.output
    assert recap(full)["changed"] == 0  # the scenario converged it already

    unchanged = site()
    assert "Leave the host as its last full converge left it" in unchanged.output
    assert ROLE_RAN not in unchanged.output
    assert recap(unchanged)["changed"] == 0
    assert recap(unchanged)["ok"] < recap(full)["ok"] // 10

    written = host.file(SETTINGS).content_string
    assert host.run(f"echo '# edited by hand' >> {SETTINGS}").rc == 0
    assert host.run("systemctl stop shield-mcp.service").rc == 0
    repaired = site()
    assert said(repaired, f"{SETTINGS}: content differs"), repaired.output[-5000:]
    assert said(repaired, "shield-mcp.service: enabled and inactive")
    assert ROLE_RAN in repaired.output
    assert host.file(SETTINGS).content_string == written
    assert host.service("shield-mcp.service").is_running

    again = site()
    assert ROLE_RAN not in again.output
    assert recap(again)["changed"] == 0
