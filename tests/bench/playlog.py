"""Running ``ansible-playbook`` (and the demo script) for section 7 and reading its log:
the wall time of a command run in its own process group, the PLAY RECAP counters, the tasks
that reported ``changed``, and the times ``tests/demo-stack.sh deploy`` prints."""

from __future__ import annotations

import os
import re
import resource
import shlex
import signal
import subprocess
import time
from pathlib import Path

DEPLOYED = re.compile(
    r"^demo: deployed in (?P<total>\d+) s \(artifacts and container (?P<container>\d+) s, "
    r"converge (?P<converge>\d+) s\)",
    re.MULTILINE,
)

RECAP = re.compile(
    r"^(?P<host>\S+)\s*: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.MULTILINE,
)


def kill(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` and everything it started (its own process group)."""
    for sig, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    timeout: float,
    cpu: list[float] | None = None,
) -> float:
    """Run ``cmd`` with its output in ``log``; return its wall time in seconds. Raises when it
    exits non-zero or outlasts ``timeout`` (then its whole process group is ended).

    cpu: when given, the CPU seconds (user + system) of ``cmd`` and of every process it
    started and waited for (ansible-playbook's workers, ssh) are appended to it: the children's
    usage this process reaped while ``cmd`` ran, which is ``cmd``'s alone when nothing else of
    this process ends meanwhile (section 7 runs its commands one at a time)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
            raise RuntimeError(
                f"{shlex.join(cmd)}: still running after {timeout:.0f} s, ended (log {log})"
            ) from None
        seconds = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{shlex.join(cmd)} exited {rc} (log {log}):\n{tail}")
    return seconds


def recap(log: Path, host: str) -> dict[str, int]:
    """The PLAY RECAP counters of ``host`` in an ansible-playbook log."""
    text = log.read_text(errors="replace")
    _unused, _unused, recap = text.rpartition("PLAY RECAP")
    for match in RECAP.finditer(recap):
        if match["host"] == host:
            return {k: int(v) for k, v in match.groupdict().items() if k != "host"}
    raise RuntimeError(f"no PLAY RECAP line for {host} in {log}")


def changed_tasks(log: Path) -> list[str]:
    """The tasks (and handlers) that reported ``changed`` in an ansible-playbook log."""
    task, changed = "", []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.rstrip("* ")
        elif line.startswith("changed: "):
            changed.append(task)
    return changed


def deployed(log: Path) -> dict[str, int]:
    """The times ``tests/demo-stack.sh deploy`` printed at its end (seconds): ``total``,
    ``container`` (artifacts and container) and ``converge`` (site.yml)."""
    match = DEPLOYED.search(log.read_text(errors="replace"))
    if match is None:
        raise RuntimeError(f"no 'demo: deployed in' line in {log}")
    return {k: int(v) for k, v in match.groupdict().items()}
