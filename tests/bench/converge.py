"""Section 7: what re-running ``playbooks/site.yml`` costs on a host it has converged already.

Measured: ``ansible-playbook -i inventories/local playbooks/site.yml`` on the demo's systemd
container (``shield-demo``, reached with the podman connection), with the secrets, extra vars
and environment of ``tests/demo-stack.sh`` step 4. Each run must report ``changed=0`` in its
PLAY RECAP; a changed task means the host was not converged, and the section fails naming it.

Floor: ``tests/bench/noop.yml`` on the same inventory and host with the same arguments, one
play with become and fact gathering as each of site.yml's plays has them, and one ping. That
is what any playbook run costs before a role does anything (Ansible's start-up, the inventory,
the podman connection, fact gathering), so the ratio is what site.yml's own checks of every
task on an unchanged host add to that.

The container is reused when it runs, its stack services are active and tests/demo-stack.sh
recorded it as converged with the current wheelhouse; otherwise ``tests/demo-stack.sh deploy``
deploys it first (timed, reported as a note, not a figure). The runs alternate, starting and
ending with the no-op play, so both see the same machine: ``--quick`` and a full run do one
re-converge (about three minutes on 2 cores: it fits the full run's 15-minute budget on a
fresh machine, which includes the deploy), ``SHIELD_BENCH_CONVERGE_ROUNDS`` asks for more.
The container is left running.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.context import BenchContext
from tests.bench.stats import Figure

SECTION = "7. site.yml re-converge"
# Each bound is far above what a run takes on 2 cores: a fresh deploy about 8 minutes, a
# re-converge a few, the no-op play seconds, the artifacts seconds once cached.
ARTIFACTS_TIMEOUT = 1800.0
DEPLOY_TIMEOUT = 3600.0
CONVERGE_TIMEOUT = 1200.0
NOOP_TIMEOUT = 300.0
PODMAN_TIMEOUT = 60.0

_RECAP = re.compile(
    r"^(?P<host>\S+)\s*: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)",
    re.MULTILINE,
)


def _kill(proc: subprocess.Popen[bytes]) -> None:
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


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], log: Path, timeout: float) -> float:
    """Run ``cmd`` with its output in ``log``; return its wall time in seconds. Raises when it
    exits non-zero or outlasts ``timeout`` (then its whole process group is ended)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise RuntimeError(
                f"{shlex.join(cmd)}: still running after {timeout:.0f} s, ended (log {log})"
            ) from None
        seconds = time.monotonic() - start
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{shlex.join(cmd)} exited {rc} (log {log}):\n{tail}")
    return seconds


def _demo_env(ctx: BenchContext, artifacts: Path, log: Path) -> dict[str, str]:
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
    _run(cmd, cwd=ctx.repo, env=env, log=log, timeout=ARTIFACTS_TIMEOUT)
    pairs = (item.partition("=") for item in dump.read_text().split("\0") if "=" in item)
    dump.unlink()
    return {key: value for key, _, value in pairs}


def _podman(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=PODMAN_TIMEOUT,
        check=False,
    )


def _not_converged(container: str, marker: Path, env: dict[str, str]) -> str | None:
    """Why ``container`` cannot be measured as it is, or None when it can."""
    fmt = "{{.State.Running}} {{.Id}}"
    inspect = _podman(env, "container", "inspect", "--format", fmt, container)
    if inspect.returncode != 0:
        return f"no container {container}"
    running, _, cid = inspect.stdout.strip().partition(" ")
    if running != "true":
        return f"container {container} is not running"
    recorded = marker.read_text().strip() if marker.exists() else ""
    if recorded != f"{cid} {env['SHIELD_WHEELHOUSE_ARCHIVE']}":
        return f"{marker} does not record {container} converged with the current wheelhouse"
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


def _recap(log: Path, host: str) -> dict[str, int]:
    """The PLAY RECAP counters of ``host`` in an ansible-playbook log."""
    text = log.read_text(errors="replace")
    _, _, recap = text.rpartition("PLAY RECAP")
    for match in _RECAP.finditer(recap):
        if match["host"] == host:
            return {k: int(v) for k, v in match.groupdict().items() if k != "host"}
    raise RuntimeError(f"no PLAY RECAP line for {host} in {log}")


def _changed_tasks(log: Path) -> list[str]:
    """The tasks (and handlers) that reported ``changed`` in an ansible-playbook log."""
    task, changed = "", []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.rstrip("* ")
        elif line.startswith("changed: "):
            changed.append(task)
    return changed


def _spread(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples):.1f} s, min {min(samples):.1f} s, "
        f"max {max(samples):.1f} s over {len(samples)} runs"
    )


def run(ctx: BenchContext) -> list[Figure]:
    container = os.environ.get("SHIELD_DEMO_CONTAINER", "shield-demo")  # as tests/demo-stack.sh
    state = ctx.repo / ".cache/demo" / container
    logs = ctx.root / "converge"
    n = int(os.environ.get("SHIELD_BENCH_CONVERGE_ROUNDS", "1"))
    if not 1 <= n <= 10:
        raise RuntimeError(f"SHIELD_BENCH_CONVERGE_ROUNDS={n}: give 1 to 10 rounds")

    ctx.progress(f"{SECTION}: the demo's artifacts (base image, wheelhouse, Qdrant stand-in)")
    env = _demo_env(ctx, state / "artifacts", logs / "artifacts.log")
    notes: list[str] = []
    reason = _not_converged(container, state / "converged", env)
    if reason is None:
        ctx.progress(f"{SECTION}: reusing the converged demo container {container}")
        notes.append(f"Reused the demo container {container}, converged before this run.")
    else:
        ctx.progress(f"{SECTION}: {reason}; deploying it (tests/demo-stack.sh deploy, ~8 min)")
        deploy_log = logs / "deploy.log"
        cmd = ["bash", "tests/demo-stack.sh", "deploy"]
        seconds = _run(cmd, cwd=ctx.repo, env=env, log=deploy_log, timeout=DEPLOY_TIMEOUT)
        ctx.progress(f"{SECTION}: deployed in {seconds:.0f} s")
        notes.append(
            f"The demo container {container} was deployed first ({reason}): "
            f"tests/demo-stack.sh deploy took {seconds:.0f} s (artifacts, container, stand-ins, "
            "site.yml); not part of the figure."
        )
        # The deploy rebuilt the Qdrant stand-in's archive: its checksum is that build's now.
        env = _demo_env(ctx, state / "artifacts", logs / "artifacts.log")

    # tests/demo-stack.sh step 4's arguments, for site.yml and the no-op play alike.
    args = ["-i", "inventories/local", "-e", f"@{state / 'secrets.yml'}"]
    args += ["-e", f"qdrant_archive_local_path={env['SHIELD_QDRANT_ARCHIVE']}"]
    args += ["-e", f"qdrant_version={env['SHIELD_QDRANT_VERSION']}"]
    args += ["-e", f"qdrant_archive_sha256={env['SHIELD_QDRANT_SHA256']}"]
    if container != "shield-demo":
        args += ["-e", f"ansible_host={container}"]
    playbook = [str(Path(sys.executable).parent / "ansible-playbook"), *args]
    env["ANSIBLE_NOCOLOR"] = "1"

    converge: list[float] = []
    noop: list[float] = []
    recap: dict[str, int] = {}

    def noop_play(i: int) -> None:
        log = logs / f"noop-{i}.log"
        cmd = [*playbook, "tests/bench/noop.yml"]
        noop.append(_run(cmd, cwd=ctx.repo, env=env, log=log, timeout=NOOP_TIMEOUT))
        ctx.progress(f"{SECTION}: no-op play {i}/{n + 1}: {noop[-1]:.1f} s")

    for i in range(1, n + 1):
        noop_play(i)
        site_log = logs / f"site-{i}.log"
        cmd = [*playbook, "playbooks/site.yml"]
        converge.append(_run(cmd, cwd=ctx.repo, env=env, log=site_log, timeout=CONVERGE_TIMEOUT))
        recap = _recap(site_log, "shield-demo")  # the inventory's host, whatever the container
        if recap["changed"] or recap["failed"] or recap["unreachable"]:
            tasks = "\n  ".join(_changed_tasks(site_log)) or "(none listed)"
            raise RuntimeError(
                f"site.yml re-converge {i} on {container} reported {recap}: the host was not "
                f"converged (log {site_log}). Changed tasks:\n  {tasks}"
            )
        ctx.progress(f"{SECTION}: re-converge {i}/{n}: {converge[-1]:.1f} s, changed=0")
    noop_play(n + 1)

    plays = sum(line.startswith("PLAY [") for line in site_log.read_text().splitlines())
    tasks = recap["ok"] + recap["skipped"]
    per_task = (statistics.median(converge) - statistics.median(noop)) / max(tasks, 1)
    notes += [
        f"site.yml re-converge: {_spread(converge)}; every run changed=0 "
        f"({plays} plays, ok={recap['ok']}, skipped={recap['skipped']} per run).",
        f"No-op play (facts + ping, tests/bench/noop.yml): {_spread(noop)}.",
        f"Over the floor that is {per_task:.2f} s per task of the {tasks} the re-converge "
        "ran; the podman connection runs each module with several `podman exec` calls and "
        "cannot pipeline (SSH with pipelining makes one round trip per task).",
        f"The container {container} is left running; `make demo-stop` removes it.",
    ]
    return [
        Figure(
            section=SECTION,
            name=f"site.yml re-converge on the converged demo host {container} (changed=0)",
            floor_name="a no-op play on the same host (become, fact gathering, one ping)",
            unit="s",
            measured={"value": statistics.median(converge)},
            floor={"value": statistics.median(noop)},
            samples=len(converge),
            floor_samples=len(noop),
            notes=notes,
        )
    ]
