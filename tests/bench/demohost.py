"""Section 7's demo host: the environment tests/demo-stack.sh deploys with, and whether the
demo container is converged as it recorded (else :mod:`tests.bench.converge` deploys it first).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.bench import playlog
from tests.bench.context import BenchContext

# Far above what each takes on 2 cores: the artifacts seconds once cached, podman seconds.
ARTIFACTS_TIMEOUT = 1800.0
PODMAN_TIMEOUT = 60.0
CONNECTIONS = ("ssh", "podman")  # tests/demo-stack.sh's SHIELD_DEMO_CONNECTION values


def demo_env(ctx: BenchContext, artifacts: Path, log: Path) -> dict[str, str]:
    """The environment tests/demo-stack.sh deploys with: the project's virtualenv and Ansible
    paths (as the Makefile exports them), podman's configuration and the artifacts'
    SHIELD_* paths, from its own scripts (tests/images/podman-env.sh, tests/stack-artifacts.sh)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("ANSIBLE_HOME", str(ctx.repo / ".cache/ansible"))
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ctx.repo / ".cache/collections"))
    paths = [Path(p) for p in env["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep) if p]
    links = [(p / "ansible_collections/shield/rag").resolve() for p in paths]
    if ctx.repo.resolve() not in links:
        raise RuntimeError(
            f"shield.rag does not resolve to {ctx.repo} in ANSIBLE_COLLECTIONS_PATH="
            f"{env['ANSIBLE_COLLECTIONS_PATH']}: run it through make (make bench), which links it"
        )
    dump = log.with_suffix(".env")
    script = (
        "set -euo pipefail; . tests/images/podman-env.sh; . tests/stack-artifacts.sh; "
        'shield_stack_artifacts "$1"; env -0 >"$2"'
    )
    cmd = ["bash", "-c", script, "bash", str(artifacts), str(dump)]
    playlog.run(cmd, cwd=ctx.repo, env=env, log=log, timeout=ARTIFACTS_TIMEOUT)
    pairs = (item.partition("=") for item in dump.read_text().split("\0") if "=" in item)
    dump.unlink()
    return {key: value for key, _unused, value in pairs}


def _podman(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=PODMAN_TIMEOUT,
        check=False,
    )


def not_converged(container: str, state: Path, env: dict[str, str]) -> str | None:
    """Why ``container`` cannot be measured as it is, or None when it can."""
    fmt = "{{.State.Running}} {{.Id}}"
    inspect = _podman(env, "container", "inspect", "--format", fmt, container)
    if inspect.returncode != 0:
        return f"no container {container}"
    running, _unused, cid = inspect.stdout.strip().partition(" ")
    if running != "true":
        return f"container {container} is not running"
    marker = state / "converged"
    recorded = marker.read_text().strip() if marker.exists() else ""
    if recorded != f"{cid} {env['SHIELD_WHEELHOUSE_ARCHIVE']}":
        return (
            f"the demo state file {marker.parent.name}/{marker.name} does not record {container}"
            " converged with the current wheelhouse"
        )
    missing = [c for c in CONNECTIONS if not (state / f"connection-{c}.yml").exists()]
    if missing:
        return f"tests/demo-stack.sh wrote no {' or '.join(missing)} connection for {container}"
    units = _podman(
        env, "exec", container, "systemctl", "list-units", "--all", "--plain", "--no-legend",
        "shield-*.service", "qdrant.service", "redis-server.service",
    )  # fmt: skip
    rows = [line.split() for line in units.stdout.splitlines() if line.strip()]
    if units.returncode != 0 or not any(row[0].startswith("shield-") for row in rows):
        return f"no shield-* services in {container}"
    inactive = [row[0] for row in rows if len(row) < 3 or row[2] != "active"]
    if inactive:
        return f"services not active in {container}: {', '.join(inactive)}"
    return None
