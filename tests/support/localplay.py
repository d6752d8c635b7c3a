"""Running a play of the test's own with ansible-playbook, this checkout as shield.rag.

The play and its inventory are written under a directory of the caller's own, which also holds
Ansible's own files (home, temporary directories) and the collections path; the hosts run on
the local connection with this Python (the caller's inventory says so).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from tests.support.modules import link_collection

ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
# Host variables of a host that runs on this machine with this Python.
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


def role_play(title: str, tasks_from: str = "main") -> str:
    """A play that runs, on every host, the entry point ``tasks_from`` of the role its host
    variable ``role_under_test`` names, after the minimal facts some role defaults read (the
    architecture picks a release checksum)."""
    return f"""\
- name: {title}
  hosts: all
  gather_facts: false
  tasks:
    - name: Read the facts some defaults use (the architecture)
      ansible.builtin.setup:
        gather_subset: [min]

    - name: Run the role
      ansible.builtin.include_role:
        name: "shield.rag.{{{{ role_under_test }}}}"
        tasks_from: {tasks_from}
"""


class Played(NamedTuple):
    returncode: int
    output: str  # standard output and error, the recap included


def run_play(
    workdir: Path,
    play: str,
    inventory: dict[str, Any],
    *,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Played:
    """Run ``play`` (YAML text) against ``inventory`` (an inventory as a mapping), with
    ``args`` after them on the command line; ``env`` adds to the environment (e.g.
    ANSIBLE_ROLES_PATH)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "play.yml").write_text(play, encoding="utf-8")
    (workdir / "inventory.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    environ = {
        **os.environ,
        "ANSIBLE_HOME": str(workdir / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(workdir / "local-tmp"),
        "ANSIBLE_REMOTE_TMP": str(workdir / "remote-tmp"),
        "ANSIBLE_COLLECTIONS_PATH": str(link_collection(workdir / "collections")),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORKS": "10",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        **(env or {}),
    }
    environ.pop("ANSIBLE_CONFIG", None)
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "inventory.yml", "play.yml", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=workdir,
        timeout=300,
        check=False,
    )
    return Played(done.returncode, done.stdout + done.stderr)
