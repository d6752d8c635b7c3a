"""Run a snippet that uses Ansible's templar in a child process and read its JSON answer.

Importing ansible inside pytest's process clashes with other import hooks ("need exactly one
FileFinder import hook"), so the unit tests that render a role's own expressions with
Ansible's templar do it in a child interpreter: the snippet reads the job (JSON) on its
standard input and prints its result as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

TIMEOUT = 120.0


def in_ansible(snippet: str, job: dict[str, Any]) -> Any:
    """The JSON ``snippet`` prints when it runs with ``job`` on its standard input."""
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, f"the templar snippet failed:\n{done.stderr}"
    return json.loads(done.stdout)
