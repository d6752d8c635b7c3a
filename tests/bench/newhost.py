"""Section 7 (c): the first deploy of a new host with warm caches.

``tests/demo-stack.sh deploy`` on a container of its own, ``shield-bench-new`` (created, the
stand-ins and site.yml over SSH, then removed with its state directory), on free ports, so the
demo container it runs beside is left alone. :mod:`tests.bench.converge` times it and reports it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.bench import playlog
from tests.bench.context import BenchContext

NEW_HOST = "shield-bench-new"  # the container (c) creates and removes, and only it
# Far above what a run takes on 2 cores: a fresh deploy a few minutes, a stop seconds.
NEW_HOST_TIMEOUT = 1800.0
STOP_TIMEOUT = 120.0


def new_host_env(env: dict[str, str]) -> dict[str, str]:
    """The environment of (c)'s deploy: its own container, over SSH, on free ports (the demo's
    defaults are taken by the demo container; a port set for the demo is not the new host's)."""
    new = {k: v for k, v in env.items() if not re.fullmatch(r"SHIELD_DEMO_\w+_PORT", k)}
    new["SHIELD_DEMO_CONTAINER"] = NEW_HOST
    new["SHIELD_DEMO_CONNECTION"] = "ssh"
    return new


def remove(ctx: BenchContext, env: dict[str, str], logs: Path) -> None:
    """Remove (c)'s container, by its name (``tests/demo-stack.sh stop``), and its state."""
    cmd = ["bash", "tests/demo-stack.sh", "stop"]
    playlog.run(cmd, cwd=ctx.repo, env=env, log=logs / "new-host-stop.log", timeout=STOP_TIMEOUT)
    shutil.rmtree(ctx.repo / ".cache/demo" / NEW_HOST, ignore_errors=True)


def deploy(ctx: BenchContext, env: dict[str, str], logs: Path) -> tuple[float, list[str]]:
    """(c): deploy a new container with warm caches; its wall time and notes. The container
    (``shield-bench-new``) and its state directory are removed before (a leftover of an
    interrupted run) and after."""
    env = new_host_env(env)
    remove(ctx, env, logs)
    log = logs / "new-host-deploy.log"
    cmd = ["bash", "tests/demo-stack.sh", "deploy"]
    try:
        seconds = playlog.run(cmd, cwd=ctx.repo, env=env, log=log, timeout=NEW_HOST_TIMEOUT)
        times = playlog.deployed(log)
        state = ctx.repo / ".cache/demo" / NEW_HOST
        recap = playlog.recap(state / "logs/site.log", "shield-demo")
        standins = playlog.recap(state / "logs/standins.log", "shield-demo")
        if recap["failed"] or recap["unreachable"]:
            raise RuntimeError(f"site.yml on the new host {NEW_HOST} reported {recap} (log {log})")
    finally:
        remove(ctx, env, logs)
    notes = [
        f"New host: `tests/demo-stack.sh deploy` on a new container {NEW_HOST} in {seconds:.0f} s"
        f" with the base image, the wheelhouse and the stand-in archive built before: "
        f"{times['container']} s to the container answering SSH (artifacts checked, container "
        f"created, systemd and sshd up), the stand-ins (changed={standins['changed']}), "
        f"site.yml over SSH in {times['converge']} s (ok={recap['ok']}, "
        f"changed={recap['changed']}, skipped={recap['skipped']}). {NEW_HOST} and its state "
        "directory were removed afterwards."
    ]
    return seconds, notes
